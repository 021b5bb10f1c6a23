package driver

import (
	"context"
	"database/sql/driver"
	"sync/atomic"
	"time"
)

// connState is one connection's telemetry state. It travels in the contexts of the calls
// made on the connection, so that the transport can attribute what it sees.
type connState struct {
	c         *Connector
	sessionID atomic.Pointer[string]
}

func (cs *connState) session() string {
	if cs == nil {
		return ""
	}
	if p := cs.sessionID.Load(); p != nil {
		return *p
	}
	return ""
}

func (cs *connState) setSession(id string) {
	if id != "" && cs.session() != id {
		cs.sessionID.Store(&id)
	}
}

// stmtState is one statement's telemetry state, from its start hook to its end hook.
// The statement goroutine owns the plain fields; the transport (which may run on the
// driver's CloudFetch goroutines) updates only the atomic ones.
type stmtState struct {
	conn    *connState
	session string // set by the driver's conn-id callback at the start of the call
	start   time.Time
	ready   time.Time // the driver returned the rows (or the result)
	id      atomic.Pointer[string]
	rows    int64
	done    bool        // statement.complete was emitted
	claimed bool        // an interceptor hook owns this state
	inner   driver.Rows // the driver's own rows, for the outer layer's Arrow access
	started bool        // statement.start was emitted

	polls     atomic.Int32
	pollNanos atomic.Int64
	retries   atomic.Int32
	chunks    atomic.Int32 // files downloaded
	linksSeen atomic.Int32 // files the server listed
	inline    atomic.Bool  // the server sent Arrow batches inline
}

// sessionID is the statement's session: from the driver's callback, else the connection's.
func (st *stmtState) sessionID() string {
	if st.session != "" {
		return st.session
	}
	return st.conn.session()
}

func (st *stmtState) statementID() string {
	if p := st.id.Load(); p != nil {
		return *p
	}
	return ""
}

type connKey struct{}
type stmtKey struct{}

func withConn(ctx context.Context, cs *connState) context.Context {
	return context.WithValue(ctx, connKey{}, cs)
}

func connFrom(ctx context.Context) *connState {
	cs, _ := ctx.Value(connKey{}).(*connState)
	return cs
}

func withStmt(ctx context.Context, st *stmtState) context.Context {
	return context.WithValue(ctx, stmtKey{}, st)
}

func stmtFrom(ctx context.Context) *stmtState {
	st, _ := ctx.Value(stmtKey{}).(*stmtState)
	return st
}
