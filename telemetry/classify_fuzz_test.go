package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	pkgerrors "github.com/pkg/errors"
)

// fuzzStatusErr carries an HTTP status, as the exporter's errors do.
type fuzzStatusErr struct {
	msg    string
	status int
}

func (e fuzzStatusErr) Error() string   { return e.msg }
func (e fuzzStatusErr) StatusCode() int { return e.status }

// fuzzStateErr carries a SQLSTATE the way other drivers do (SQLState()).
type fuzzStateErr struct{ msg, state string }

func (e fuzzStateErr) Error() string    { return e.msg }
func (e fuzzStateErr) SQLState() string { return e.state }

// fuzzExecErr stands for the Databricks driver's execution error.
type fuzzExecErr struct {
	msg, state string
	retryable  bool
}

func (e *fuzzExecErr) Error() string                    { return "databricks: execution error: " + e.msg }
func (e *fuzzExecErr) CorrelationId() string            { return "" }
func (e *fuzzExecErr) ConnectionId() string             { return "" }
func (e *fuzzExecErr) StackTrace() pkgerrors.StackTrace { return nil }
func (e *fuzzExecErr) Cause() error                     { return nil }
func (e *fuzzExecErr) IsRetryable() bool                { return e.retryable }
func (e *fuzzExecErr) RetryAfter() time.Duration        { return 0 }
func (e *fuzzExecErr) QueryId() string                  { return "q" }
func (e *fuzzExecErr) SqlState() string                 { return e.state }
func (e *fuzzExecErr) Is(target error) bool {
	return target == dbsqlerr.ExecutionError || target == dbsqlerr.DatabricksError
}

var _ dbsqlerr.DBExecutionError = (*fuzzExecErr)(nil)

// fuzzError builds an error of the kind chosen by kind from the fuzzed parts, wrapped
// depth times.
func fuzzError(kind uint8, msg string, status int, state string, depth uint8) error {
	var err error
	switch kind % 8 {
	case 0:
		err = errors.New(msg)
	case 1:
		err = fuzzStatusErr{msg: msg, status: status}
	case 2:
		err = fuzzStateErr{msg: msg, state: state}
	case 3:
		err = &fuzzExecErr{msg: msg, state: state, retryable: status%2 == 0}
	case 4:
		err = &net.OpError{Op: "dial", Net: "tcp", Err: errors.New(msg)}
	case 5:
		err = fmt.Errorf("%s: %w", msg, context.DeadlineExceeded)
	case 6:
		err = fmt.Errorf("%s: %w", msg, io.ErrUnexpectedEOF)
	case 7:
		err = pkgerrors.Wrap(errors.New(msg), "request")
	}
	for i := range depth % 4 {
		err = fmt.Errorf("layer %d: %w", i, err)
	}
	return err
}

var fuzzBases = map[string]bool{"sqlstate": true, "http": true, "context": true, "network": true, "driver": true, "message": true, "default": true}

// FuzzClassify: for any error a driver, a server or the network can produce, Classify
// never panics, always names it, reports a well-formed SQLSTATE, decides a typed HTTP
// status exactly as SPEC §1 says, is deterministic, and does not change its verdict
// when the error is wrapped.
func FuzzClassify(f *testing.F) {
	for _, s := range []struct {
		kind   uint8
		msg    string
		status int
		state  string
		depth  uint8
	}{
		{0, "connection refused", 0, "", 0},
		{1, "unexpected status", 503, "", 1},
		{1, "throttled", 429, "", 0},
		{1, "nope", 404, "", 2},
		{1, "odd", 99, "", 0},
		{2, "dup key", 0, "23505", 0},
		{3, "[TABLE_OR_VIEW_NOT_FOUND] x SQLSTATE: 42P01", 0, "42P01", 1},
		{3, "cancelled", 1, "HY008", 0},
		{3, "strange", 0, "  08s01 ", 0},
		{0, "HTTP status 502 Bad Gateway", 0, "", 0},
		{0, "sqlstate=22012 division by zero", 0, "", 3},
		{4, "reset by peer", 0, "", 0},
		{5, "slow", 0, "", 1},
		{6, "cut", 0, "", 0},
		{7, "authentication failed: invalid access token", 401, "", 2},
		{0, strings.Repeat("timeout ", 600) + "syntax error", 0, "", 0},
	} {
		f.Add(s.kind, s.msg, s.status, s.state, s.depth)
	}
	f.Fuzz(func(t *testing.T, kind uint8, msg string, status int, state string, depth uint8) {
		err := fuzzError(kind, msg, status, state, depth)
		c := Classify(err)
		if c.Name == "" || !fuzzBases[c.Basis] {
			t.Fatalf("Classify(%v) = %+v: no name or an unknown basis", err, c)
		}
		if c.SQLState != "" && normSQLState(c.SQLState) != c.SQLState {
			t.Fatalf("malformed SQLSTATE %q", c.SQLState)
		}
		if again := Classify(err); again != c {
			t.Fatalf("not deterministic: %+v then %+v", c, again)
		}
		if len(msg) < 4000 {
			if wrapped := Classify(fmt.Errorf("op: %w", err)); wrapped != c {
				t.Fatalf("wrapping changed the verdict: %+v, then %+v", c, wrapped)
			}
		}
		// A typed HTTP status decides as SPEC §1 says, unless a SQLSTATE came first.
		if kind%8 == 1 && c.Basis == "http" && status >= 400 && status < 600 {
			want, ok := map[int]bool{400: true, 401: true, 403: true, 404: true, 429: false, 500: false, 502: false, 503: false, 504: false}[status]
			if !ok {
				want = status < 500
			}
			if c.HTTPStatus != status || c.Terminal != want {
				t.Fatalf("status %d classified %+v; want terminal=%v", status, c, want)
			}
		}
		if kind%8 == 1 && status >= 400 && status < 600 && c.Basis != "http" && c.Basis != "sqlstate" {
			t.Fatalf("status %d ignored: %+v", status, c)
		}
		if IsOutcome(err) && !errors.Is(err, context.Canceled) && err != io.EOF { //nolint:errorlint // the bare sentinel
			t.Fatalf("IsOutcome(%v) for a failure", err)
		}
	})
}
