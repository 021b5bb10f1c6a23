package fakedb

import (
	"context"
	"database/sql/driver"
	"time"

	"github.com/databricks/databricks-sql-go/driverctx"
	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	"github.com/pkg/errors"
)

// ExecutionError is a statement failure shaped like the real driver's
// execution errors: it implements [dbsqlerr.DBExecutionError], and
// errors.Is(err, dbsqlerr.ExecutionError) and
// errors.Is(err, dbsqlerr.DatabricksError) hold. Pass it to
// [WithQueryError]; empty StatementID, SessionID and CorrelationID are filled
// in (on a copy) when the fake returns it.
type ExecutionError struct {
	// Msg is the server's message.
	Msg string
	// State is the SQLSTATE, e.g. "42P01".
	State string
	// StatementID is returned by QueryId.
	StatementID string
	// SessionID is returned by ConnectionId.
	SessionID string
	// CorrelationID is returned by CorrelationId.
	CorrelationID string
	// Retryable and RetryDelay are returned by IsRetryable and RetryAfter.
	Retryable  bool
	RetryDelay time.Duration
	// Err is the cause, returned by Cause and Unwrap; may be nil.
	Err error
}

var _ dbsqlerr.DBExecutionError = (*ExecutionError)(nil)

// Error formats the error as the real driver does.
func (e *ExecutionError) Error() string {
	s := "databricks: execution error: " + dbsqlerr.ErrQueryExecution
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// CorrelationId returns CorrelationID.
func (e *ExecutionError) CorrelationId() string { return e.CorrelationID }

// ConnectionId returns SessionID.
func (e *ExecutionError) ConnectionId() string { return e.SessionID }

// StackTrace returns nil: the fake records no stack.
func (e *ExecutionError) StackTrace() errors.StackTrace { return nil }

// Cause returns Err.
func (e *ExecutionError) Cause() error { return e.Err }

// Unwrap returns Err.
func (e *ExecutionError) Unwrap() error { return e.Err }

// IsRetryable returns Retryable.
func (e *ExecutionError) IsRetryable() bool { return e.Retryable }

// RetryAfter returns RetryDelay.
func (e *ExecutionError) RetryAfter() time.Duration { return e.RetryDelay }

// QueryId returns StatementID.
func (e *ExecutionError) QueryId() string { return e.StatementID }

// SqlState returns State.
func (e *ExecutionError) SqlState() string { return e.State }

// Is reports whether target is dbsqlerr.ExecutionError or
// dbsqlerr.DatabricksError, like the real driver's executionError.
func (e *ExecutionError) Is(target error) bool {
	return target == dbsqlerr.ExecutionError || target == dbsqlerr.DatabricksError
}

// withIDs returns err, or for an *ExecutionError lacking ids a copy that
// carries the session, statement and correlation ids of the statement.
func withIDs(ctx context.Context, err error, sessionID, statementID string) error {
	ee, ok := err.(*ExecutionError)
	if !ok || (ee.StatementID != "" && ee.SessionID != "" && ee.CorrelationID != "") {
		return err
	}
	cp := *ee
	if cp.StatementID == "" {
		cp.StatementID = statementID
	}
	if cp.SessionID == "" {
		cp.SessionID = sessionID
	}
	if cp.CorrelationID == "" {
		cp.CorrelationID = driverctx.CorrelationIdFromContext(ctx)
	}
	return &cp
}

// driverError is the real driver's "not implemented" driver error: it
// implements dbsqlerr.DBDriverError and is dbsqlerr.DriverError.
type driverError struct {
	msg string
}

var _ dbsqlerr.DBDriverError = (*driverError)(nil)

func newNotImplemented() error { return &driverError{msg: dbsqlerr.ErrNotImplemented} }

func (e *driverError) Error() string                 { return "databricks: driver error: " + e.msg }
func (e *driverError) CorrelationId() string         { return "" }
func (e *driverError) ConnectionId() string          { return "" }
func (e *driverError) StackTrace() errors.StackTrace { return nil }
func (e *driverError) Cause() error                  { return nil }
func (e *driverError) IsRetryable() bool             { return false }
func (e *driverError) RetryAfter() time.Duration     { return 0 }
func (e *driverError) Is(target error) bool {
	return target == dbsqlerr.DriverError || target == dbsqlerr.DatabricksError
}

// badConnError is the real driver's badConnectionError: it is
// driver.ErrBadConn (so database/sql discards the connection) and unwraps to
// the cause.
type badConnError struct {
	err error
}

func (e badConnError) Error() string        { return e.err.Error() }
func (e badConnError) Unwrap() error        { return e.err }
func (e badConnError) Is(target error) bool { return target == driver.ErrBadConn }
