package telemetry

import (
	"context"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	pkgerrors "github.com/pkg/errors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeDBError mimics the driver's unexported error types (internal/errors): it implements
// the public DBError interface and matches its sentinel through Is.
type fakeDBError struct {
	msg       string
	sentinel  error
	retryable bool
	cause     error
}

func (e *fakeDBError) Error() string                    { return "databricks: " + e.msg }
func (e *fakeDBError) CorrelationId() string            { return "corr" }
func (e *fakeDBError) ConnectionId() string             { return "conn" }
func (e *fakeDBError) StackTrace() pkgerrors.StackTrace { return nil }
func (e *fakeDBError) Cause() error                     { return e.cause }
func (e *fakeDBError) Unwrap() error                    { return e.cause }
func (e *fakeDBError) IsRetryable() bool                { return e.retryable }
func (e *fakeDBError) RetryAfter() time.Duration        { return 0 }
func (e *fakeDBError) Is(target error) bool {
	return target == e.sentinel || target == dbsqlerr.DatabricksError
}

type fakeExecError struct {
	fakeDBError
	sqlState string
}

func (e *fakeExecError) QueryId() string  { return "01ef-query" }
func (e *fakeExecError) SqlState() string { return e.sqlState }

var (
	_ dbsqlerr.DBRequestError   = (*fakeDBError)(nil)
	_ dbsqlerr.DBExecutionError = (*fakeExecError)(nil)
)

func execErr(sqlState, msg string) error {
	return &fakeExecError{fakeDBError: fakeDBError{msg: "execution error: " + msg, sentinel: dbsqlerr.ExecutionError}, sqlState: sqlState}
}

func requestErr(msg string, cause error, retryable bool) error {
	return &fakeDBError{msg: "request error: " + msg, sentinel: dbsqlerr.RequestError, cause: cause, retryable: retryable}
}

func driverErr(msg string) error {
	return &fakeDBError{msg: "driver error: " + msg, sentinel: dbsqlerr.DriverError}
}

type statusErr int

func (e statusErr) Error() string   { return fmt.Sprintf("telemetry export failed (%d)", int(e)) }
func (e statusErr) StatusCode() int { return int(e) }

// httpStatusErr reports its status through HTTPStatusCode(), as some HTTP clients' errors do.
type httpStatusErr int

func (e httpStatusErr) Error() string       { return fmt.Sprintf("request failed (%d)", int(e)) }
func (e httpStatusErr) HTTPStatusCode() int { return int(e) }

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o deadline reached" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

type sqlStateErr string

func (e sqlStateErr) Error() string    { return "pgx-like failure" }
func (e sqlStateErr) SQLState() string { return string(e) }

func opErr(errno syscall.Errno) error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: errno}}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		want     string
		terminal bool
		sqlState string
		status   int
		basis    string
	}{
		// SQLSTATE, from the driver's DBExecutionError.
		{"syntax 42601", execErr("42601", "[PARSE_SYNTAX_ERROR]"), ErrNameSyntax, true, "42601", 0, "sqlstate"},
		{"table not found 42P01", execErr("42P01", "[TABLE_OR_VIEW_NOT_FOUND]"), ErrNameNotFound, true, "42P01", 0, "sqlstate"},
		{"insufficient privilege 42501", execErr("42501", "denied"), ErrNamePermission, true, "42501", 0, "sqlstate"},
		{"division by zero 22012", execErr("22012", "[DIVIDE_BY_ZERO]"), ErrNameData, true, "22012", 0, "sqlstate"},
		{"auth 28000", execErr("28000", "bad login"), ErrNameAuth, true, "28000", 0, "sqlstate"},
		{"connection 08S01", execErr("08S01", "link failure"), ErrNameConnection, false, "08S01", 0, "sqlstate"},
		{"serialization 40001", execErr("40001", "conflict"), ErrNameTransaction, false, "40001", 0, "sqlstate"},
		{"timeout HY008", execErr("HY008", "cancelled by timeout"), ErrNameTimeout, false, "HY008", 0, "sqlstate"},
		{"lower-case sqlstate", execErr("42p01", "x"), ErrNameNotFound, true, "42P01", 0, "sqlstate"},
		{"wrapped twice", fmt.Errorf("query: %w", fmt.Errorf("rows: %w", execErr("42000", "x"))), ErrNameSyntax, true, "42000", 0, "sqlstate"},
		{"pkg/errors wrapped", pkgerrors.Wrap(execErr("22003", "overflow"), "scan"), ErrNameData, true, "22003", 0, "sqlstate"},
		{"joined", errors.Join(errors.New("first"), execErr("42601", "x")), ErrNameSyntax, true, "42601", 0, "sqlstate"},
		{"sqlstate beats http", fmt.Errorf("%w: %w", execErr("42601", "x"), statusErr(503)), ErrNameSyntax, true, "42601", 503, "sqlstate"},
		{"sqlstate in message", execErr("", "[TABLE_OR_VIEW_NOT_FOUND] The table `t` cannot be found. SQLSTATE: 42P01"), ErrNameNotFound, true, "42P01", 0, "sqlstate"},
		{"a Delta commit conflict", execErr("2D521", "[DELTA_CONCURRENT_APPEND.WITHOUT_HINT] Transaction conflict detected. A concurrent UPDATE added data to table t committed at version 7. Please retry the operation."), ErrNameTransaction, false, "2D521", 0, "sqlstate"},
		{"another invalid transaction termination", execErr("2D000", "the transaction ended inside a routine"), ErrNameExecution, true, "2D000", 0, "driver"},
		{"a word after SQLSTATE is no code", errors.New("query failed, no SQLSTATE given"), ErrNameGeneric, false, "", 0, "default"},
		{"the code after a word that is none", errors.New("SQLSTATE known: SQLSTATE 22012"), ErrNameData, true, "22012", 0, "sqlstate"},
		{"SQLState() method", fmt.Errorf("wrap: %w", sqlStateErr("08006")), ErrNameConnection, false, "08006", 0, "sqlstate"},
		{"feature not supported 0A000", execErr("0A000", "[UNSUPPORTED_FEATURE]"), ErrNameUnsupported, true, "0A000", 0, "sqlstate"},
		{"unique violation 23505", execErr("23505", "duplicate key"), ErrNameConstraint, true, "23505", 0, "sqlstate"},
		{"unknown sqlstate class falls through", execErr("XX000", "[INTERNAL_ERROR]"), ErrNameExecution, true, "XX000", 0, "driver"},
		// HTTP status, typed.
		{"http 400", statusErr(400), ErrNameInvalidRequest, true, "", 400, "http"},
		{"http 401", statusErr(401), ErrNameAuth, true, "", 401, "http"},
		{"http 403", statusErr(403), ErrNamePermission, true, "", 403, "http"},
		{"http 404", statusErr(404), ErrNameNotFound, true, "", 404, "http"},
		{"http 409 other 4xx", statusErr(409), ErrNameInvalidRequest, true, "", 409, "http"},
		{"http 429", statusErr(429), ErrNameRateLimit, false, "", 429, "http"},
		{"http 500", statusErr(500), ErrNameServer, false, "", 500, "http"},
		{"http 502", statusErr(502), ErrNameServer, false, "", 502, "http"},
		{"http 503 wrapped", fmt.Errorf("export: %w", statusErr(503)), ErrNameServer, false, "", 503, "http"},
		{"http 504", statusErr(504), ErrNameServer, false, "", 504, "http"},
		{"http 501 other 5xx", statusErr(501), ErrNameServer, false, "", 501, "http"},
		{"http 505 other 5xx", statusErr(505), ErrNameServer, false, "", 505, "http"},
		{"http 507 other 5xx", statusErr(507), ErrNameServer, false, "", 507, "http"},
		{"http 599 other 5xx", statusErr(599), ErrNameServer, false, "", 599, "http"},
		{"HTTPStatusCode() method", fmt.Errorf("export: %w", httpStatusErr(403)), ErrNamePermission, true, "", 403, "http"},
		// HTTP status, as the driver writes it.
		{"driver 503 message", requestErr(`open session request error: Post "http://h/p": request error after 5 attempt(s): unexpected HTTP status 503 Service Unavailable`, nil, false), ErrNameServer, false, "", 503, "http"},
		{"driver 429 message", requestErr("rate limit exceeded (HTTP 429)", nil, false), ErrNameRateLimit, false, "", 429, "http"},
		{"thrift 401 message", errors.New("HTTP Response code: 401"), ErrNameAuth, true, "", 401, "http"},
		// Context and network.
		{"deadline", context.DeadlineExceeded, ErrNameTimeout, false, "", 0, "context"},
		{"deadline wrapped in request error", requestErr("open session", fmt.Errorf("post: %w", context.DeadlineExceeded), false), ErrNameTimeout, false, "", 0, "context"},
		{"cancelled", fmt.Errorf("q: %w", context.Canceled), ErrNameCancelled, true, "", 0, "context"},
		{"connection refused", opErr(syscall.ECONNREFUSED), ErrNameConnection, false, "", 0, "network"},
		{"reset in url.Error", &url.Error{Op: "Post", URL: "http://h", Err: opErr(syscall.ECONNRESET)}, ErrNameConnection, false, "", 0, "network"},
		{"connect timed out (ETIMEDOUT is a Timeout() error)", opErr(syscall.ETIMEDOUT), ErrNameTimeout, false, "", 0, "network"},
		{"bare ETIMEDOUT wrapped", fmt.Errorf("read: %w", syscall.ETIMEDOUT), ErrNameTimeout, false, "", 0, "network"},
		{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), ErrNameConnection, false, "", 0, "network"},
		// Connection errnos found outside a *net.OpError, and an OpError of any cause (SPEC §1).
		{"bare ECONNREFUSED wrapped", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), ErrNameConnection, false, "", 0, "network"},
		{"bare ECONNRESET wrapped", fmt.Errorf("read: %w", syscall.ECONNRESET), ErrNameConnection, false, "", 0, "network"},
		{"bare ECONNABORTED wrapped", fmt.Errorf("read: %w", syscall.ECONNABORTED), ErrNameConnection, false, "", 0, "network"},
		{"bare ENETUNREACH wrapped", fmt.Errorf("dial: %w", syscall.ENETUNREACH), ErrNameConnection, false, "", 0, "network"},
		{"bare ENETDOWN wrapped", fmt.Errorf("dial: %w", syscall.ENETDOWN), ErrNameConnection, false, "", 0, "network"},
		{"net.OpError of another cause", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("weird")}, ErrNameConnection, false, "", 0, "network"},
		{"net timeout", &url.Error{Op: "Post", URL: "http://h", Err: timeoutErr{}}, ErrNameTimeout, false, "", 0, "network"},
		{"dns not found", &net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}, ErrNameDNS, true, "", 0, "network"},
		{"dns temporary", &net.DNSError{Err: "server misbehaving", Name: "h", IsTemporary: true}, ErrNameDNS, false, "", 0, "network"},
		{"unknown authority", &url.Error{Op: "Get", URL: "https://h", Err: x509.UnknownAuthorityError{}}, ErrNameTLS, true, "", 0, "network"},
		{"plain HTTP answer to a TLS hello", requestErr(`open session request error: Post "https://h": http: server gave HTTP response to HTTPS client`, nil, false), ErrNameTLS, true, "", 0, "message"},
		{"unexpected EOF", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), ErrNameConnection, false, "", 0, "network"},
		{"wrapped EOF is a dropped connection", &url.Error{Op: "Post", URL: "http://h", Err: io.EOF}, ErrNameConnection, false, "", 0, "network"},
		// The driver's own verdict.
		{"bad conn", fmt.Errorf("exec: %w", driver.ErrBadConn), ErrNameConnection, false, "", 0, "driver"},
		{"driver says retryable", requestErr("retryableError: something", nil, true), ErrNameRetryableDriver, false, "", 0, "driver"},
		// Message patterns.
		{"message timed out", errors.New("sentinel timed out waiting for operation to complete"), ErrNameTimeout, false, "", 0, "message"},
		{"message permission", errors.New("PERMISSION DENIED for catalog main"), ErrNamePermission, true, "", 0, "message"},
		{"message connection refused", errors.New("Post \"https://h/p\": dial tcp 10.0.0.1:443: connect: connection refused (as text)"), ErrNameConnection, false, "", 0, "message"},
		{"an HTTP/2 stream reset under the driver's execution error", execErr("", `failed to execute query: Post "https://h/sql/1.0/warehouses/w": stream error: stream ID 3; INTERNAL_ERROR; received from peer`), ErrNameConnection, false, "", 0, "message"},
		{"an HTTP/2 GOAWAY", requestErr(`Post "https://h/p": http2: server sent GOAWAY and closed the connection; LastStreamID=5, ErrCode=NO_ERROR, debug=""`, nil, false), ErrNameConnection, false, "", 0, "message"},
		{"an HTTP/2 connection lost", errors.New(`Post "https://h/p": http2: client connection lost`), ErrNameConnection, false, "", 0, "message"},
		{"driver error not implemented", driverErr("not implemented"), ErrNameUnsupported, true, "", 0, "message"},
		{"invalid DSN", driverErr("invalid DSN: invalid format"), ErrNameInvalidRequest, true, "", 0, "message"},
		// The driver's failed CloudFetch download, after its retries.
		{"CloudFetch download 500", driverErr("cloud fetch batch loader failed to download results: HTTP error 500 (after 3 retries)"), ErrNameServer, false, "", 500, "http"},
		{"CloudFetch download 404", driverErr("cloud fetch batch loader failed to download results: HTTP error 404"), ErrNameNotFound, true, "", 404, "http"},
		// Driver types, otherwise unexplained.
		{"request error", requestErr("open session request error", nil, false), ErrNameRequest, true, "", 0, "driver"},
		{"driver error", driverErr("unexpected operation state CLOSED_STATE"), ErrNameDriver, true, "", 0, "driver"},
		{"execution error", execErr("", "failed to execute query"), ErrNameExecution, true, "", 0, "driver"},
		// Unknown.
		{"unknown", errors.New("boom"), ErrNameGeneric, false, "", 0, "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.err)
			assert.Equal(t, tt.want, got.Name, "name")
			assert.Equal(t, tt.terminal, got.Terminal, "terminal")
			assert.Equal(t, !tt.terminal, got.Retryable(), "retryable")
			assert.Equal(t, tt.sqlState, got.SQLState, "sqlstate")
			assert.Equal(t, tt.status, got.HTTPStatus, "http status")
			assert.Equal(t, tt.basis, got.Basis, "basis")
		})
	}
	assert.GreaterOrEqual(t, len(tests), 30)
}

func TestClassifyNil(t *testing.T) {
	c := Classify(nil)
	assert.Equal(t, Class{}, c)
	assert.False(t, c.Retryable())
}

func TestIsOutcome(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"ErrSkip", driver.ErrSkip, true},
		{"wrapped ErrSkip", fmt.Errorf("x: %w", driver.ErrSkip), true},
		{"ErrRemoveArgument", driver.ErrRemoveArgument, true},
		{"bare EOF", io.EOF, true},
		{"wrapped EOF is a failure", fmt.Errorf("read: %w", io.EOF), false},
		{"ErrNoRows", sql.ErrNoRows, true},
		{"wrapped ErrNoRows", fmt.Errorf("get user: %w", sql.ErrNoRows), true},
		{"cancelled", context.Canceled, true},
		{"cancelled in request error", requestErr("x", context.Canceled, false), true},
		{"deadline is an error", context.DeadlineExceeded, false},
		{"bad conn is an error", driver.ErrBadConn, false},
		{"plain", errors.New("x"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, IsOutcome(tt.err))
		})
	}
}

// TestClassifyRealDriverErrors classifies errors the driver itself produces when the
// server answers the open-session call with an HTTP error (retries off, so it is fast).
// DBExecutionError values with a SQLSTATE need a Thrift server: the end-to-end tests
// against the local warehouse cover them.
func TestClassifyRealDriverErrors(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{http.StatusBadRequest, ErrNameInvalidRequest},
		{http.StatusUnauthorized, ErrNameAuth},
		{http.StatusForbidden, ErrNamePermission},
		{http.StatusNotFound, ErrNameNotFound},
		{http.StatusTooManyRequests, ErrNameRateLimit},
		{http.StatusInternalServerError, ErrNameServer},
		{http.StatusServiceUnavailable, ErrNameServer},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			u, err := url.Parse(srv.URL)
			require.NoError(t, err)
			conn, err := dbsql.NewConnector(
				dbsql.WithServerHostname("http://"+u.Hostname()),
				dbsql.WithPort(mustAtoi(t, u.Port())),
				dbsql.WithHTTPPath("/sql/1.0/warehouses/abc"),
				dbsql.WithAccessToken("dapi0123456789abcdef0123456789abcdef"),
				dbsql.WithRetries(-1, 0, 0),
			)
			require.NoError(t, err)
			db := sql.OpenDB(conn)
			defer db.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = db.PingContext(ctx)
			require.Error(t, err)

			var reqErr dbsqlerr.DBRequestError
			require.ErrorAs(t, err, &reqErr, "the driver reports a DBRequestError")
			c := Classify(err)
			assert.Equal(t, tt.want, c.Name)
			assert.Equal(t, tt.status < 500 && tt.status != http.StatusTooManyRequests, c.Terminal)
			assert.Equal(t, tt.status, c.HTTPStatus)
			assert.False(t, IsOutcome(err))
			red := Redact(err.Error())
			assert.NotContains(t, red, "dapi0123456789abcdef")
			assert.NotContains(t, red, "warehouses/abc\"")
		})
	}
}

func TestClassifyRealConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().(*net.TCPAddr)
	require.NoError(t, l.Close()) // nothing listens there any more
	conn, err := dbsql.NewConnector(
		dbsql.WithServerHostname("http://127.0.0.1"),
		dbsql.WithPort(addr.Port),
		dbsql.WithHTTPPath("/sql/1.0/warehouses/abc"),
		dbsql.WithAccessToken("dapi0123456789abcdef0123456789abcdef"),
		dbsql.WithRetries(-1, 0, 0),
	)
	require.NoError(t, err)
	db := sql.OpenDB(conn)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = db.PingContext(ctx)
	require.Error(t, err)
	c := Classify(err)
	assert.Equal(t, ErrNameConnection, c.Name)
	assert.False(t, c.Terminal)
	assert.Equal(t, "network", c.Basis)
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	_, err := fmt.Sscanf(s, "%d", &n)
	require.NoError(t, err)
	return n
}

func BenchmarkClassify(b *testing.B) {
	errs := []error{
		execErr("42601", "x"),
		fmt.Errorf("wrap: %w", statusErr(503)),
		opErr(syscall.ECONNREFUSED),
		errors.New("something odd happened"),
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = Classify(errs[i%len(errs)])
	}
}
