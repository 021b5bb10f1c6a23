package fakedb

import (
	"context"
	"database/sql/driver"
	"sync/atomic"

	"github.com/databricks/databricks-sql-go/driverctx"
)

// conn mirrors dbsql.conn: the same optional interfaces, the same driverctx
// callbacks, no network.
type conn struct {
	connector  *connector
	cfg        *config
	id         string
	stmtPrefix [prefixLen]byte
	stmtSeq    atomic.Uint64
	closed     atomic.Bool
}

// The optional interfaces of dbsql.conn (connection.go), no more, no fewer.
var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
)

// Prepare returns a statement bound to query; nothing is sent anywhere.
func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return &stmt{conn: c, query: query}, nil
}

// PrepareContext is Prepare; like the real driver it ignores ctx.
func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return &stmt{conn: c, query: query}, nil
}

// Close ends the fake session. It is idempotent and counts once.
func (c *conn) Close() error {
	if c.closed.CompareAndSwap(false, true) && c.cfg.counter != nil {
		c.cfg.counter.closed.Add(1)
	}
	return nil
}

// Begin is BeginTx with a background context.
//
// Deprecated: use BeginTx (kept because driver.Conn requires it).
func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx returns a transaction whose Commit and Rollback succeed, or a "not
// implemented" driver error under [WithoutTransactions].
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.cfg.noTx {
		return nil, newNotImplemented()
	}
	return &tx{err: c.cfg.txErr}, nil
}

// Ping runs "select 1" like the real driver and reports a failure as an error
// that is driver.ErrBadConn.
func (c *conn) Ping(ctx context.Context) error {
	ctx = driverctx.NewContextWithConnId(ctx, c.id)
	if !c.cfg.singleIDs && driverctx.QueryIdFromContext(ctx) == "" {
		lookupCallbacks(ctx).fireQuery("", 1) // client.LoggerAndContext(ctx, nil)
	}
	rows, err := c.QueryContext(ctx, "select 1", nil)
	if err != nil {
		return badConnError{err: err}
	}
	return rows.Close()
}

// ResetSession does nothing, as in the real driver.
func (c *conn) ResetSession(ctx context.Context) error { return nil }

// IsValid reports whether the connection is still open.
func (c *conn) IsValid() bool { return !c.closed.Load() }

// CheckNamedValue converts arguments with driver.DefaultParameterConverter.
// (The real driver also accepts dbsql.Parameter; the fake does not import the
// driver package, which would register "databricks".)
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	var err error
	nv.Value, err = driver.DefaultParameterConverter.ConvertValue(nv.Value)
	return err
}

// callbacks are the driverctx callbacks in a statement's context, looked up
// once so that the replayed repeats cost no context allocations; the first
// connection-id and the enrichQueryId firings go through driverctx itself.
type callbacks struct {
	conn, query driverctx.IdCallbackFunc
}

func lookupCallbacks(ctx context.Context) callbacks {
	var cb callbacks
	cb.conn, _ = ctx.Value(driverctx.ConnIdCallbackKey).(driverctx.IdCallbackFunc)
	cb.query, _ = ctx.Value(driverctx.QueryIdCallbackKey).(driverctx.IdCallbackFunc)
	return cb
}

func (cb callbacks) fireConn(id string) {
	if cb.conn != nil {
		cb.conn(id)
	}
}

func (cb callbacks) fireQuery(id string, n int) {
	if cb.query != nil {
		for range n {
			cb.query(id)
		}
	}
}

// statement is a started statement.
type statement struct {
	plan plan
	// replay: fire the real driver's repeated callbacks (cb).
	replay bool
	cb     callbacks
	id     string
}

// start begins a statement and fires the driverctx callbacks as
// databricks-sql-go v1.15.1 does up to the point where the statement has
// succeeded or failed (see NewConnector for the sequences; the comments name
// the real driver's call sites).
func (c *conn) start(ctx context.Context, query string) (statement, error) {
	var st statement
	ctx = driverctx.NewContextWithConnId(ctx, c.id) // conn.QueryContext / ExecContext
	callerID := driverctx.QueryIdFromContext(ctx) != ""
	if !c.cfg.singleIDs {
		st.cb = lookupCallbacks(ctx)
		st.replay = !callerID
		if st.replay {
			st.cb.fireQuery("", 1) // client.LoggerAndContext(ctx, nil)
		}
		st.cb.fireConn(c.id) // thrift backend.executeStatement
		if st.replay {
			st.cb.fireQuery("", 2) // LoggerAndContext of the ExecuteStatement RPC
		}
	}
	if err := ctx.Err(); err != nil {
		if st.replay {
			st.cb.fireQuery("", 4)
		}
		// The real driver wraps the transport's context error.
		return st, &ExecutionError{
			SessionID:     c.id,
			CorrelationID: driverctx.CorrelationIdFromContext(ctx),
			Err:           err,
		}
	}
	st.plan = c.cfg.plan(query)
	if st.plan.err != nil && !st.plan.accepted {
		return st, st.plan.err
	}
	st.id = guidWithPrefix(&c.stmtPrefix, c.stmtSeq.Add(1))
	if st.replay {
		// LoggerAndContext of the RPCs that carry the operation handle: the
		// context holds the empty query id, so each fires.
		st.cb.fireQuery(st.id, 3)
	}
	// enrichQueryId: a caller-set query id is never overwritten and then the
	// callback does not fire.
	if !callerID {
		ctx = driverctx.NewContextWithQueryId(ctx, st.id)
	}
	if st.plan.err != nil {
		// The real driver's execution error takes its query id from the
		// context: the caller-set one if there is one.
		return st, withIDs(ctx, st.plan.err, c.id, driverctx.QueryIdFromContext(ctx))
	}
	return st, nil
}

// ExecContext runs a statement that returns no rows; RowsAffected is the
// configured row count.
func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	st, err := c.start(ctx, query)
	if err != nil {
		return nil, err
	}
	return &result{affectedRows: int64(st.plan.rows)}, nil
}

// QueryContext runs a query and returns its rows.
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	st, err := c.start(ctx, query)
	if err != nil {
		return nil, err
	}
	if !c.cfg.singleIDs {
		st.cb.fireQuery(st.id, 1) // rows.NewRows, even with a caller-set id
	}
	return &rows{
		names:  c.connector.names,
		cols:   c.cfg.columns,
		values: c.connector.values,
		total:  st.plan.rows,
	}, nil
}

// stmt mirrors dbsql.stmt: Exec and Query without context are not
// implemented; the context variants run on the connection.
type stmt struct {
	conn  *conn
	query string
}

var (
	_ driver.Stmt             = (*stmt)(nil)
	_ driver.StmtExecContext  = (*stmt)(nil)
	_ driver.StmtQueryContext = (*stmt)(nil)
)

// Close does nothing.
func (s *stmt) Close() error { return nil }

// NumInput returns -1: database/sql does not check argument counts.
func (s *stmt) NumInput() int { return -1 }

// Exec is not implemented, as in the real driver.
//
// Deprecated: use ExecContext.
func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return nil, newNotImplemented()
}

// Query is not implemented, as in the real driver.
//
// Deprecated: use QueryContext.
func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return nil, newNotImplemented()
}

// ExecContext is the connection's ExecContext for the prepared query.
func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.conn.ExecContext(ctx, s.query, args)
}

// QueryContext is the connection's QueryContext for the prepared query.
func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.conn.QueryContext(ctx, s.query, args)
}

// tx is a transaction whose Commit and Rollback succeed, or fail with err
// ([WithTxError]).
type tx struct{ err error }

var _ driver.Tx = (*tx)(nil)

// Commit succeeds, or returns err.
func (t *tx) Commit() error { return t.err }

// Rollback succeeds, or returns err.
func (t *tx) Rollback() error { return t.err }

// result mirrors dbsql.result.
type result struct {
	affectedRows int64
	insertID     int64
}

var _ driver.Result = (*result)(nil)

// LastInsertId returns 0 and no error, exactly as databricks-sql-go v1.15.1
// does (its result.LastInsertId returns the never-set InsertId field).
func (r *result) LastInsertId() (int64, error) { return r.insertID, nil }

// RowsAffected returns the configured row count of the statement.
func (r *result) RowsAffected() (int64, error) { return r.affectedRows, nil }
