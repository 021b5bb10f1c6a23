package driver_test

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/databricks/databricks-sql-go/auth/tokenprovider"
	"github.com/databricks/databricks-sql-go/driverctx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A connector made with NewConnector (the driver's own options, for sql.OpenDB) describes
// its connection in its logs as one made from a DSN does: host, port, HTTP path, mode and
// auth type, learnt from its first Thrift call.
func TestNewConnectorDescribesItsConnection(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	host, port, err := net.SplitHostPort(srv.Addr())
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)

	for name, open := range map[string]func() *sql.DB{
		"NewConnector": func() *sql.DB {
			c, err := driver.NewConnector(driver.WithConnOptions(connOptions(srv)...), driver.WithTelemetry(true), driver.WithHosts(driver.NewHosts()))
			require.NoError(t, err)
			return sql.OpenDB(c)
		},
		"DSN": func() *sql.DB {
			c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithHosts(driver.NewHosts()))
			require.NoError(t, err)
			return sql.OpenDB(c)
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv.TakeTelemetryRequests()
			db := open()
			var n int
			require.NoError(t, db.QueryRowContext(context.Background(), "SELECT 1").Scan(&n))
			require.NoError(t, db.Close())
			var opened []telemetry.FrontendLog
			for _, l := range decodeLogs(t, srv) {
				assert.Equal(t, "pat", l.Entry.SQLDriverLog.AuthType, "every log")
				if opType(l) == telemetry.OpCreateSession {
					opened = append(opened, l)
				}
			}
			require.Len(t, opened, 1)
			params := opened[0].Entry.SQLDriverLog.DriverConnectionParams
			require.NotNil(t, params)
			assert.Equal(t, warehouse.HTTPPath, params.HTTPPath)
			assert.Equal(t, "THRIFT", params.Mode)
			assert.Equal(t, "pat", params.AuthMech)
			require.NotNil(t, params.HostInfo)
			assert.Equal(t, host, params.HostInfo.HostURL)
			assert.Equal(t, int32(p), params.HostInfo.Port)
		})
	}
}

// Every log of a connection names the authenticator the driver used, as the wire
// format's auth_type does, whether the driver's options or a DSN chose it: the driver's
// options override a DSN's credentials, and so does the auth_type.
func TestAuthTypeFollowsTheDriversAuthenticator(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	token := srv.Token()
	base := connOptions(srv)[:3] // host, port and path: no credentials
	fromOptions := func(auth dbsql.ConnOption) func() (*driver.Connector, error) {
		return func() (*driver.Connector, error) {
			return driver.NewConnector(driver.WithConnOptions(append(base[:3:3], auth)...), driver.WithTelemetry(true), driver.WithHosts(driver.NewHosts()))
		}
	}
	cases := []struct {
		name string
		open func() (*driver.Connector, error)
		want string
	}{
		{"access token", fromOptions(dbsql.WithAccessToken(token)), "pat"},
		{"static token", fromOptions(dbsql.WithStaticToken(token)), "static-token"},
		{"external token", fromOptions(dbsql.WithExternalToken(func() (string, error) { return token, nil })), "external-token"},
		{"token provider", fromOptions(dbsql.WithTokenProvider(tokenprovider.NewCachedTokenProvider(tokenprovider.NewStaticTokenProvider(token)))), "token-provider"},
		{"custom authenticator", fromOptions(dbsql.WithAuthenticator(bearerAuth(token))), "custom"},
		{"DSN", func() (*driver.Connector, error) {
			return driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithHosts(driver.NewHosts()))
		}, "pat"},
		{"DSN, then the driver's option", func() (*driver.Connector, error) {
			return driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithHosts(driver.NewHosts()),
				driver.WithConnOptions(dbsql.WithExternalToken(func() (string, error) { return token, nil })))
		}, "external-token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv.TakeTelemetryRequests()
			c, err := tc.open()
			require.NoError(t, err)
			db := sql.OpenDB(c)
			var n int
			require.NoError(t, db.QueryRowContext(context.Background(), "SELECT 1").Scan(&n))
			require.NoError(t, db.Close())
			logs := decodeLogs(t, srv)
			require.NotEmpty(t, logs)
			opened := 0
			for _, l := range logs {
				assert.Equal(t, tc.want, l.Entry.SQLDriverLog.AuthType, "every log")
				if opType(l) == telemetry.OpCreateSession {
					opened++
					params := l.Entry.SQLDriverLog.DriverConnectionParams
					require.NotNil(t, params)
					assert.Equal(t, tc.want, params.AuthMech)
				}
			}
			assert.Equal(t, 1, opened)
		})
	}
}

// A caller's own conn-id callback in the context that opens a connection still hears the
// session id, beside telemetry's own callback (which names the CREATE_SESSION log).
func TestConnectKeepsTheCallersConnIDCallback(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	exp := &driver.LogCapture{}
	c, err := driver.OpenConnector(srv.DSN(), driver.WithExporter(exp), driver.WithTelemetry(true), driver.WithHosts(driver.NewHosts()))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	var heard []string
	ctx := driverctx.NewContextWithConnIdCallback(context.Background(), func(id string) { heard = append(heard, id) })
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	require.NoError(t, db.Close())
	require.NoError(t, c.Close())
	sessions := srv.Sessions()
	require.Len(t, sessions, 1)
	named := 0
	for _, id := range heard { // the driver also calls it with "" before it knows the session
		if id != "" {
			named++
			assert.Equal(t, sessions[0].ID, id)
		}
	}
	assert.Positive(t, named, "the caller's callback heard the session")
	opened := 0
	for _, l := range exp.Logs() {
		if opType(*l) == telemetry.OpCreateSession {
			opened++
			assert.Equal(t, sessions[0].ID, l.Entry.SQLDriverLog.SessionID)
		}
	}
	assert.Equal(t, 1, opened)
}

// The caller's own driverctx callbacks hear, through the wrapper, every id they hear from
// the driver unwrapped: the sessions and the statements (an Exec, a query read to its end,
// a failed statement), the latter named by the wrapper's chained query-id callback.
func TestCallersIDCallbacksHearWhatTheyHearUnwrapped(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	heard := func(c sqldriver.Connector) (sessions, statements map[string]bool) {
		db := sql.OpenDB(c)
		defer func() { _ = db.Close() }()
		var mu sync.Mutex
		sessions, statements = map[string]bool{}, map[string]bool{}
		note := func(into map[string]bool) driverctx.IdCallbackFunc {
			return func(id string) {
				if id != "" {
					mu.Lock()
					into[id] = true
					mu.Unlock()
				}
			}
		}
		ctx := driverctx.NewContextWithConnIdCallback(context.Background(), note(sessions))
		ctx = driverctx.NewContextWithQueryIdCallback(ctx, note(statements))
		_, err := db.ExecContext(ctx, "SELECT 1")
		require.NoError(t, err)
		rows, err := db.QueryContext(ctx, "SELECT range FROM range(10)")
		require.NoError(t, err)
		for rows.Next() {
		}
		require.NoError(t, rows.Close())
		_, err = db.ExecContext(ctx, "SELECT * FROM no_such_table")
		require.Error(t, err)
		mu.Lock()
		defer mu.Unlock()
		return sessions, statements
	}
	raw, err := dbsql.NewConnector(connOptions(srv)...)
	require.NoError(t, err)
	rawSessions, rawStatements := heard(raw)
	wrapped, err := driver.OpenConnector(srv.DSN(), driver.WithExporter(&driver.LogCapture{}), driver.WithTelemetry(true), driver.WithHosts(driver.NewHosts()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = wrapped.Close() })
	sessions, statements := heard(wrapped)
	require.Len(t, rawStatements, 3, "the driver names each statement: %v", rawStatements)
	assert.Len(t, statements, len(rawStatements), "statements heard: %v", statements)
	assert.Len(t, sessions, len(rawSessions), "sessions heard: %v", sessions)
	assert.NotEmpty(t, sessions)
}

// bearerAuth is an authenticator of the caller's own: it sends the token as a bearer.
type bearerAuth string

func (b bearerAuth) Authenticate(r *http.Request) error {
	r.Header.Set("Authorization", "Bearer "+string(b))
	return nil
}

// A statement that polls and then fails with a terminal error keeps, in its one log, what
// it did before it failed (its status polls and its latencies) beside its error.
func TestTerminalErrorKeepsTheStatementsFacts(t *testing.T) {
	srv, err := warehouse.NewServer(warehouse.WithAsyncThreshold(10 * time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithHosts(driver.NewHosts()))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	_, err = db.QueryContext(context.Background(), "SELECT CAST(wait_ms(1100)::VARCHAR || 'x' AS INTEGER)")
	require.Error(t, err)
	require.NoError(t, db.Close())

	var failed []telemetry.FrontendLog
	for _, l := range decodeLogs(t, srv) {
		if l.Entry.SQLDriverLog.SQLStatementID != "" {
			failed = append(failed, l)
		}
	}
	require.Len(t, failed, 1, "one log for the statement")
	d := failed[0].Entry.SQLDriverLog
	require.NotNil(t, d.ErrorInfo)
	assert.Equal(t, telemetry.ErrNameData, d.ErrorInfo.ErrorName, "22018: terminal")
	st, ok := srv.Statement(d.SQLStatementID)
	require.True(t, ok)
	require.Positive(t, st.Polls)
	require.NotNil(t, d.SQLOperation.OperationDetail)
	assert.Equal(t, int32(st.Polls), d.SQLOperation.OperationDetail.NOperationStatusCalls, "its polls")
	require.NotNil(t, d.SQLOperation.ResultLatency)
	assert.Positive(t, d.SQLOperation.ResultLatency.ResultSetReadyLatencyMillis, "its latencies")
}

// A connection still in use when its connector closes: what its statements report
// afterwards is dropped, and counted.
func TestEventsAfterCloseAreCounted(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithHosts(driver.NewHosts()))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	var n int
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT 1").Scan(&n), "the query itself runs")
	require.NoError(t, conn.Close())
	require.NoError(t, db.Close())
	assert.GreaterOrEqual(t, c.Stats().Dropped.Closed, int64(2), "its start and completion")
}

// A connector whose host telemetry is never sent to (a private address) drops its events,
// and counts them: whether the DSN switched telemetry on or left it to the server's flag,
// which such a host cannot be asked.
func TestRefusedHostDropsAreCounted(t *testing.T) {
	for _, setting := range []string{"?enableTelemetry=true", ""} {
		t.Run("dsn"+setting, func(t *testing.T) {
			c, err := driver.OpenConnector("token:dapi0123@10.255.255.1:443/sql/1.0/warehouses/x"+setting, driver.WithHosts(driver.NewHosts()))
			require.NoError(t, err)
			db := sql.OpenDB(c)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			require.Error(t, db.PingContext(ctx), "nothing answers there")
			require.NoError(t, db.Close())
			st := c.Stats()
			assert.Zero(t, st.Exported)
			assert.GreaterOrEqual(t, st.Dropped.Closed, int64(1), "its connection.open event: %+v", st.Dropped)
			require.NoError(t, c.Close())
		})
	}
}

// A statement still running when its connector closes, on an aggregator the host's
// other connector keeps: its completion finishes it there (one log, with its own
// latency), instead of leaving it open until StatementTTL or the last Close evicts it
// with that much latency. A statement started after the Close is still dropped.
func TestStatementInFlightAtCloseFinishesOnASharedAggregator(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	hosts := driver.NewHosts()
	open := func() (*driver.Connector, *sql.DB) {
		c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithHosts(hosts))
		require.NoError(t, err)
		return c, sql.OpenDB(c)
	}
	c1, db1 := open()
	c2, db2 := open()
	ctx := context.Background()
	require.NoError(t, db2.PingContext(ctx))
	conn, err := db1.Conn(ctx)
	require.NoError(t, err)
	rows, err := db1.QueryContext(ctx, "SELECT range FROM range(10)")
	require.NoError(t, err)
	require.NoError(t, db1.Close())
	for rows.Next() {
	}
	require.NoError(t, rows.Close())
	var n int
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT 2").Scan(&n), "a statement after the Close runs")
	require.NoError(t, conn.Close())
	assert.Zero(t, c2.Stats().OpenStatements, "the statement in flight at Close has finished")
	time.Sleep(1200 * time.Millisecond)
	require.NoError(t, db2.Close())

	var stmts []*telemetry.SQLDriverLog
	for _, l := range decodeLogs(t, srv) {
		if d := l.Entry.SQLDriverLog; d.SQLStatementID != "" {
			stmts = append(stmts, d)
		}
	}
	require.Len(t, stmts, 1, "the statement in flight at Close is logged, the one after it is not")
	assert.Less(t, stmts[0].OperationLatencyMs, int64(1000), "with its own latency, not the time until the last Close")
	assert.Positive(t, c1.Stats().Dropped.Closed, "what came after the Close is counted")
}

// WithExporter alone switches telemetry on: the server's flag, which decides for the
// Databricks service only, is not asked (here it would say off), and the connector's
// logs reach the exporter.
func TestExporterAloneSwitchesTelemetryOn(t *testing.T) {
	srv, err := warehouse.NewServer(warehouse.WithTelemetryFlag(false))
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	exp := &driver.LogCapture{}
	c, err := driver.OpenConnector(srv.DSN(), driver.WithExporter(exp), driver.WithHosts(driver.NewHosts()))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	var n int
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&n))
	require.NoError(t, db.Close())
	assert.Len(t, exp.Logs(), 3, "the connection's open and close, and the statement")
	st := c.Stats()
	assert.Zero(t, st.Dropped.Undecided+st.Dropped.Closed, "nothing dropped: %+v", st.Dropped)
	assert.Zero(t, srv.FeatureFlagRequests(), "the flag is not asked")
	assert.Empty(t, srv.TelemetryRequests(), "nothing goes to the service")
}

// WithSkipTLSHostVerify reaches a server whose certificate is not trusted, as the
// driver's own dbsql.WithSkipTLSHostVerify does unwrapped: the wrapper's transport, which
// replaces the driver's, skips the verification too.
func TestSkipTLSHostVerifyReachesAnUntrustedServer(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		http.Error(w, "no warehouse here", http.StatusNotFound) // not retried by the driver
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // a refused handshake is logged, without this
	srv.StartTLS()
	t.Cleanup(srv.Close)
	dsn := "token:dapi-x@" + srv.Listener.Addr().String() + "/sql/1.0/warehouses/w"
	for _, tc := range []struct {
		name    string
		opts    []driver.Option
		reaches bool
	}{
		{"verified", nil, false},
		{"skipped", []driver.Option{driver.WithSkipTLSHostVerify()}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls.Store(0)
			c, err := driver.OpenConnector(dsn+"?enableTelemetry=false", tc.opts...)
			require.NoError(t, err)
			db := sql.OpenDB(c)
			// Refused, the driver retries the handshake until the context ends.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			require.Error(t, db.PingContext(ctx), "nothing answers Thrift there")
			require.NoError(t, db.Close())
			assert.Equal(t, tc.reaches, calls.Load() > 0, "the server got the driver's call")
		})
	}
}

// A DSN that names the local warehouse LOCALHOST (the resolver takes the name in any
// case) has its telemetry delivered there: the driver judges the host loopback as the
// exporter does, which refuses a loopback host the DSN did not name.
func TestLoopbackNameInAnyCaseGetsTelemetry(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	dsn := strings.Replace(srv.DSN(), "127.0.0.1", "LOCALHOST", 1)
	require.Contains(t, dsn, "@LOCALHOST:")
	db, err := sql.Open("databricks-telemetry", dsn+"?enableTelemetry=true")
	require.NoError(t, err)
	var one int
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&one))
	require.NoError(t, db.Close())
	require.NotEmpty(t, decodeLogs(t, srv), "the statement's log reached the warehouse's ingest")
}
