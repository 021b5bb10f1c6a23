package driver

import (
	"context"
	"database/sql/driver"
	"time"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// conn sits between sqlmw and the Databricks driver's connection. It puts the
// connection's telemetry state into every call's context and reports Close, which sqlmw
// does not see, as a connection.close event. It implements exactly the optional
// interfaces the driver's connection implements (checked at compile time below).
type conn struct {
	inner driver.Conn
	cs    *connState
}

func newConn(inner driver.Conn, cs *connState) *conn { return &conn{inner: inner, cs: cs} }

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

// ctx is the context of a call on the connection: it must carry the connection's state.
// A statement's own context (see stmtState) does, once it knows its connection.
func (c *conn) ctx(ctx context.Context) context.Context {
	if st := stmtFrom(ctx); st != nil {
		if st.conn == nil {
			st.conn = c.cs
		}
		if st.conn == c.cs && connFrom(ctx) == c.cs {
			return ctx
		}
	}
	return withConn(ctx, c.cs)
}

func (c *conn) Prepare(query string) (driver.Stmt, error) { return c.inner.Prepare(query) }

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.inner.(driver.ConnPrepareContext).PrepareContext(c.ctx(ctx), query)
}

func (c *conn) Begin() (driver.Tx, error) { return c.inner.Begin() } //nolint:staticcheck // forwarded as is

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.inner.(driver.ConnBeginTx).BeginTx(c.ctx(ctx), opts)
}

func (c *conn) Ping(ctx context.Context) error { return c.inner.(driver.Pinger).Ping(c.ctx(ctx)) }

func (c *conn) ResetSession(ctx context.Context) error {
	return c.inner.(driver.SessionResetter).ResetSession(ctx)
}

func (c *conn) IsValid() bool { return c.inner.(driver.Validator).IsValid() }

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.inner.(driver.ExecerContext).ExecContext(c.ctx(ctx), query, args)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.inner.(driver.QueryerContext).QueryContext(c.ctx(ctx), query, args)
}

func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.inner.(driver.NamedValueChecker).CheckNamedValue(nv)
}

func (c *conn) Close() error {
	began := time.Now()
	err := c.inner.Close()
	safely(func() {
		ev := telemetry.Event{
			Kind:      telemetry.KindConnectionClose,
			Time:      began,
			SessionID: c.cs.session(),
			Latency:   time.Since(began),
		}
		c.cs.c.emit(&ev)
		if err != nil {
			c.cs.c.em.EmitError(c.cs.session(), "", err)
		}
	})
	return err
}
