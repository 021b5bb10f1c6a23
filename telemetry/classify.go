package telemetry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
)

// Error names produced by Classify. They follow the categories the Go driver's own
// telemetry sends (internal/errors/category.go), so both land in the same buckets.
const (
	ErrNameTimeout         = "timeout"
	ErrNameCancelled       = "cancelled"
	ErrNameConnection      = "connection_error"
	ErrNameAuth            = "auth_error"
	ErrNamePermission      = "permission_error"
	ErrNameNotFound        = "not_found"
	ErrNameSyntax          = "syntax_error"
	ErrNameInvalidRequest  = "invalid_request"
	ErrNameRateLimit       = "rate_limit_exceeded"
	ErrNameServer          = "server_error"
	ErrNameData            = "data_error"
	ErrNameTransaction     = "transaction_rollback"
	ErrNameUnsupported     = "unsupported_operation"
	ErrNameConstraint      = "constraint_violation"
	ErrNameTLS             = "tls_error"
	ErrNameDNS             = "dns_error"
	ErrNameExecution       = "execution_error"
	ErrNameRequest         = "request_error"
	ErrNameDriver          = "driver_error"
	ErrNameRetryableDriver = "retryable_error"
	ErrNameGeneric         = "error"
)

// Class is the classifier's verdict on an error.
type Class struct {
	// Name is a stable snake_case category (the ErrName* constants); "" for a nil error.
	Name string
	// SQLState is the error's SQLSTATE when the driver or the message carries one.
	SQLState string
	// HTTPStatus is the HTTP status behind the error, when one is known.
	HTTPStatus int
	// Terminal means retrying will not help; otherwise the error is retryable.
	Terminal bool
	// Basis names the evidence the verdict rests on: "sqlstate", "http", "context",
	// "network", "driver", "message" or "default". It is for debugging and tests.
	Basis string
}

// Retryable reports whether retrying may help (a non-nil error that is not terminal).
func (c Class) Retryable() bool { return c.Name != "" && !c.Terminal }

// StatusCoder is implemented by errors that know the HTTP status behind them. Classify
// also reads an HTTPStatusCode() int method, which the exporter's *StatusError has (its
// StatusCode is a field).
type StatusCoder interface {
	StatusCode() int
}

type httpStatusCoder interface {
	HTTPStatusCode() int
}

type sqlStater interface {
	SQLState() string
}

// IsOutcome reports whether err is an expected outcome rather than a failure:
// driver.ErrSkip and driver.ErrRemoveArgument (the driver declining a fast path),
// io.EOF exactly as returned by Rows.Next (a wrapped EOF is a dropped connection, not the
// end of a result), sql.ErrNoRows, and a context cancelled by the caller. Outcomes are
// not reported as error events.
func IsOutcome(err error) bool {
	if err == nil {
		return false
	}
	if err == io.EOF { //nolint:errorlint // only the bare sentinel marks the end of rows
		return true
	}
	return errors.Is(err, driver.ErrSkip) ||
		errors.Is(err, driver.ErrRemoveArgument) ||
		errors.Is(err, sql.ErrNoRows) ||
		errors.Is(err, context.Canceled)
}

// Classify says whether err is terminal or retryable, names it, and extracts its SQLSTATE
// and HTTP status. The evidence is weighed in this order (SPEC §1):
//
//  1. SQLSTATE, from the driver's DBExecutionError.SqlState() (via errors.As), any
//     SQLState() method, or a "SQLSTATE: XXXXX" marker in the message: class 42, 22, 28
//     (and 0A, 23) terminal; 08, 40, HY008 and 2D521 (a Delta commit conflict)
//     retryable.
//  2. An HTTP status from a StatusCode()/HTTPStatusCode() method: 400, 401, 403, 404 and
//     every other 4xx terminal; 429, 500, 502, 503, 504 and every other 5xx retryable.
//  3. context.DeadlineExceeded and network errors: net.Error timeouts, connection
//     refused/reset/aborted, broken pipe, unreachable hosts, other *net.OpError and an
//     unexpected EOF are retryable; TLS/certificate failures and unknown hosts terminal.
//  4. An HTTP status written in the message ("HTTP status 503", "HTTP 429", ...).
//  5. The driver's own verdict: driver.ErrBadConn and DBError.IsRetryable() retryable.
//  6. Message patterns, as the last resort.
//  7. The driver's error types: DBExecutionError, DBRequestError and DBDriverError not
//     otherwise explained are terminal (the driver already retried what it could).
//  8. Anything else is retryable with the name "error": an unknown failure should wait
//     for its statement rather than force a flush.
//
// A cancelled context is classified as terminal "cancelled", but callers should test
// IsOutcome first: a cancellation by the caller is not an error event.
func Classify(err error) Class {
	if err == nil {
		return Class{}
	}
	c := Class{SQLState: sqlStateOf(err)}

	// 1. SQLSTATE.
	if name, terminal, ok := classifySQLState(c.SQLState); ok {
		c.Name, c.Terminal, c.Basis = name, terminal, "sqlstate"
		c.HTTPStatus = typedHTTPStatus(err)
		return c
	}

	// 2. Typed HTTP status.
	if st := typedHTTPStatus(err); st != 0 {
		if name, terminal, ok := classifyHTTPStatus(st); ok {
			c.HTTPStatus, c.Name, c.Terminal, c.Basis = st, name, terminal, "http"
			return c
		}
	}

	// 3. Context and network.
	if errors.Is(err, context.Canceled) {
		c.Name, c.Terminal, c.Basis = ErrNameCancelled, true, "context"
		return c
	}
	if errors.Is(err, context.DeadlineExceeded) {
		c.Name, c.Terminal, c.Basis = ErrNameTimeout, false, "context"
		return c
	}
	if name, terminal, ok := classifyNetwork(err); ok {
		c.Name, c.Terminal, c.Basis = name, terminal, "network"
		return c
	}

	msg := err.Error()

	// 4. HTTP status in the message.
	if st := messageHTTPStatus(msg); st != 0 {
		if name, terminal, ok := classifyHTTPStatus(st); ok {
			c.HTTPStatus, c.Name, c.Terminal, c.Basis = st, name, terminal, "http"
			return c
		}
	}

	// 5. The driver's own retry verdict.
	if errors.Is(err, driver.ErrBadConn) {
		c.Name, c.Terminal, c.Basis = ErrNameConnection, false, "driver"
		return c
	}
	var dbErr dbsqlerr.DBError
	if errors.As(err, &dbErr) && dbErr.IsRetryable() {
		c.Name, c.Terminal, c.Basis = ErrNameRetryableDriver, false, "driver"
		return c
	}

	// 6. Message patterns.
	if name, terminal, ok := classifyMessage(msg); ok {
		c.Name, c.Terminal, c.Basis = name, terminal, "message"
		return c
	}

	// 7. The driver's error types. DBRequestError and DBDriverError have the same method
	// set as DBError, so they are told apart by the sentinels their Is methods match.
	var execErr dbsqlerr.DBExecutionError
	switch {
	case errors.As(err, &execErr):
		c.Name = ErrNameExecution
	case errors.Is(err, dbsqlerr.RequestError):
		c.Name = ErrNameRequest
	case errors.Is(err, dbsqlerr.DriverError), errors.Is(err, dbsqlerr.DatabricksError):
		c.Name = ErrNameDriver
	}
	if c.Name != "" {
		c.Terminal, c.Basis = true, "driver"
		return c
	}

	// 8. Unknown.
	c.Name, c.Terminal, c.Basis = ErrNameGeneric, false, "default"
	return c
}

var sqlStateRe = regexp.MustCompile(`(?i)\bSQLSTATE[\s:=]*([0-9A-Z]{5})\b`)

func sqlStateOf(err error) string {
	var execErr dbsqlerr.DBExecutionError
	if errors.As(err, &execErr) {
		if s := normSQLState(execErr.SqlState()); s != "" {
			return s
		}
	}
	var ss sqlStater
	if errors.As(err, &ss) {
		if s := normSQLState(ss.SQLState()); s != "" {
			return s
		}
	}
	if msg := err.Error(); indexFold(msg, "sqlstate") >= 0 {
		// A code has a digit: in "no SQLSTATE given" the word after it is no code.
		for _, m := range sqlStateRe.FindAllStringSubmatch(msg, -1) {
			if strings.ContainsAny(m[1], "0123456789") {
				return normSQLState(m[1])
			}
		}
	}
	return ""
}

func normSQLState(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) != 5 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if (ch < '0' || ch > '9') && (ch < 'A' || ch > 'Z') {
			return ""
		}
	}
	return s
}

// classifySQLState maps a SQLSTATE to a verdict; ok is false for classes SPEC §1 does
// not decide (the next kind of evidence then decides).
func classifySQLState(s string) (name string, terminal, ok bool) {
	if s == "" {
		return "", false, false
	}
	if s == "HY008" {
		return ErrNameTimeout, false, true
	}
	switch s[:2] {
	case "42":
		switch s {
		case "42501":
			return ErrNamePermission, true, true
		case "42P01", "42S02", "42704", "42703", "42883", "42S22", "42P06", "42P07":
			return ErrNameNotFound, true, true
		}
		return ErrNameSyntax, true, true
	case "22":
		return ErrNameData, true, true
	case "28":
		return ErrNameAuth, true, true
	case "0A":
		return ErrNameUnsupported, true, true
	case "23":
		return ErrNameConstraint, true, true
	case "08":
		return ErrNameConnection, false, true
	case "40":
		return ErrNameTransaction, false, true
	case "2D":
		if s == "2D521" {
			// Delta's commit conflicts (DELTA_CONCURRENT_APPEND, _DELETE_READ, ...,
			// DELTA_PROTOCOL_CHANGED): a concurrent transaction won; the server's
			// message says to retry the operation.
			return ErrNameTransaction, false, true
		}
	}
	return "", false, false
}

// classifyHTTPStatus maps an HTTP status to a verdict; ok is false below 400.
func classifyHTTPStatus(st int) (name string, terminal, ok bool) {
	switch {
	case st == 400:
		return ErrNameInvalidRequest, true, true
	case st == 401:
		return ErrNameAuth, true, true
	case st == 403:
		return ErrNamePermission, true, true
	case st == 404:
		return ErrNameNotFound, true, true
	case st == 429:
		return ErrNameRateLimit, false, true
	case st >= 400 && st < 500:
		return ErrNameInvalidRequest, true, true
	case st >= 500 && st < 600:
		return ErrNameServer, false, true
	}
	return "", false, false
}

func typedHTTPStatus(err error) int {
	var sc StatusCoder
	if errors.As(err, &sc) {
		if st := sc.StatusCode(); st >= 100 && st < 600 {
			return st
		}
	}
	var hc httpStatusCoder
	if errors.As(err, &hc) {
		if st := hc.HTTPStatusCode(); st >= 100 && st < 600 {
			return st
		}
	}
	return 0
}

// httpStatusRe matches how the driver, Thrift and net/http spell a status in a message:
// "unexpected HTTP status 503 Service Unavailable", "HTTP Response code: 401",
// "rate limit exceeded (HTTP 429)", "status code: 502", and the driver's failed
// CloudFetch download, "HTTP error 500 (after 3 retries)".
var httpStatusRe = regexp.MustCompile(`(?i)\b(?:HTTP(?:/\d(?:\.\d)?)?(?:\s+status|\s+response\s+code|\s+error)?|status\s+code)\s*[:=]?\s*([1-5]\d\d)\b`)

func messageHTTPStatus(msg string) int {
	if indexFold(msg, "http") < 0 && indexFold(msg, "status") < 0 {
		return 0
	}
	m := httpStatusRe.FindStringSubmatch(msg)
	if m == nil {
		return 0
	}
	st, err := strconv.Atoi(m[1])
	if err != nil {
		return 0
	}
	return st
}

func classifyNetwork(err error) (name string, terminal, ok bool) {
	// Certificates and TLS: the same handshake will fail again.
	var unknownAuth x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	var verifyErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	if errors.As(err, &unknownAuth) || errors.As(err, &hostnameErr) || errors.As(err, &invalidCert) ||
		errors.As(err, &verifyErr) || errors.As(err, &recordErr) {
		return ErrNameTLS, true, true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return ErrNameDNS, true, true
		}
		return ErrNameDNS, false, true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return ErrNameTimeout, false, true
	}
	// syscall.ETIMEDOUT is one: syscall.Errno reports Timeout() for it.
	var timeouter interface{ Timeout() bool }
	if errors.As(err, &timeouter) && timeouter.Timeout() {
		return ErrNameTimeout, false, true
	}
	for _, errno := range []syscall.Errno{
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN,
	} {
		if errors.Is(err, errno) {
			return ErrNameConnection, false, true
		}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return ErrNameConnection, false, true
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || (err != io.EOF && errors.Is(err, io.EOF)) { //nolint:errorlint // a wrapped EOF is a dropped connection
		return ErrNameConnection, false, true
	}
	return "", false, false
}

type messagePattern struct {
	substr   string
	name     string
	terminal bool
}

// messagePatterns are tried in order on the lower-cased message; transport trouble first,
// because "invalid" or "not found" may appear in a message that also says "timed out".
var messagePatterns = [...]messagePattern{
	{"timed out", ErrNameTimeout, false},
	{"timeout", ErrNameTimeout, false},
	{"deadline exceeded", ErrNameTimeout, false},
	{"connection refused", ErrNameConnection, false},
	{"connection reset", ErrNameConnection, false},
	{"broken pipe", ErrNameConnection, false},
	{"no route to host", ErrNameConnection, false},
	{"unexpected eof", ErrNameConnection, false},
	// HTTP/2 trouble, which net/http reports in text alone (its error types are not
	// exported): a stream the server or a proxy reset, a connection it went away from.
	{"stream error: stream id", ErrNameConnection, false},
	{"server sent goaway", ErrNameConnection, false},
	{"client connection lost", ErrNameConnection, false},
	// TLS failures whose chain net/http cuts: a server that answers the TLS hello in
	// plain HTTP (a tls.RecordHeaderError that the transport reports as text alone).
	{"server gave http response to https client", ErrNameTLS, true},
	{"too many requests", ErrNameRateLimit, false},
	{"rate limit", ErrNameRateLimit, false},
	{"service unavailable", ErrNameServer, false},
	{"temporarily unavailable", ErrNameServer, false},
	{"bad gateway", ErrNameServer, false},
	{"try again", ErrNameServer, false},
	{"unauthorized", ErrNameAuth, true},
	{"unauthenticated", ErrNameAuth, true},
	{"authentication", ErrNameAuth, true},
	{"invalid access token", ErrNameAuth, true},
	{"forbidden", ErrNamePermission, true},
	{"permission denied", ErrNamePermission, true},
	{"access denied", ErrNamePermission, true},
	{"insufficient privileges", ErrNamePermission, true},
	{"not found", ErrNameNotFound, true},
	{"does not exist", ErrNameNotFound, true},
	{"syntax error", ErrNameSyntax, true},
	{"parse_syntax_error", ErrNameSyntax, true},
	{"bad request", ErrNameInvalidRequest, true},
	{"invalid", ErrNameInvalidRequest, true},
	{"not supported", ErrNameUnsupported, true},
	{"not implemented", ErrNameUnsupported, true},
}

func classifyMessage(msg string) (name string, terminal, ok bool) {
	if len(msg) > 4096 {
		msg = msg[:4096]
	}
	lower := strings.ToLower(msg)
	for _, p := range messagePatterns {
		if strings.Contains(lower, p.substr) {
			return p.name, p.terminal, true
		}
	}
	return "", false, false
}
