package driver

import (
	"context"
	"database/sql/driver"
	"sync"
	"sync/atomic"
	"time"

	"github.com/databricks/databricks-sql-go/driverctx"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
)

// connState is one connection's telemetry state. It travels in the contexts of the calls
// made on the connection, so that the transport can attribute what it sees.
type connState struct {
	c         *Connector
	sessionID atomic.Pointer[string]
	// onConnID is the driver's conn-id callback for this connection's statements, made
	// once so that a statement does not pay for a closure; so is queryCB (onQueryID).
	onConnID driverctx.IdCallbackFunc
	queryCB  driverctx.IdCallbackFunc
	// asking is the statement whose context handed out queryCB last (see onQueryID).
	asking atomic.Pointer[stmtState]
	// held is the statement of this connection whose start is held back while its rows
	// are open (see Connector.hold); nil for none.
	held atomic.Pointer[stmtState]
	// running is the statement whose driver call (an Exec or a Query) runs on the
	// connection: the driver cancels its operation, and closes an Exec's, under a context
	// of its own (see detached.go); nil for none.
	running atomic.Pointer[stmtState]
	// tracked says the connector knows the connection (Connector.track), and so hands its
	// held start over when the aggregator sweeps or closes: only then is a start held.
	// Set before the connection is handed out.
	tracked bool
	// box is the connection's own way into the aggregator, for the completions of its
	// statements that had no other event (see Connector.sole); made on the first, and
	// closed when the connection closes (Connector.untrack). database/sql runs one
	// statement at a time on a connection, and closes it after the last.
	box *aggregator.Outbox
}

func newConnState(c *Connector) *connState {
	cs := &connState{c: c}
	cs.onConnID = cs.setSession
	cs.queryCB = cs.onQueryID
	return cs
}

// onQueryID is the query-id callback of the connection's statements: it names the
// statement whose context handed it out last (stmtState.Value). The driver looks the
// callback up in the statement's context and calls it at once (driverctx's
// NewContextWithQueryId), and database/sql makes one call at a time on a connection, so
// the statement that asked is the one named.
func (cs *connState) onQueryID(id string) {
	if st := cs.asking.Load(); st != nil {
		st.setID(id)
	}
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

// setSession records the connection's session id. The driver repeats it on every call:
// only a new id is stored (and only then allocated).
func (cs *connState) setSession(id string) {
	if id != "" && cs.session() != id {
		s := id
		cs.sessionID.Store(&s)
	}
}

// stmtState is one statement's telemetry state, from its start hook to its end hook.
// It is also the context of the statement's driver calls (one layer over the caller's
// context): it answers for the statement, its connection and the driver's id callbacks,
// where separate context.WithValue layers would cost an allocation each.
//
// The statement goroutine owns the plain fields; the transport (which may run on the
// driver's CloudFetch goroutines) updates only the atomic ones.
//
// The fields are ordered by size, the flags last, so that no padding takes the state
// past the 224-byte allocation size class (it is allocated once per statement).
type stmtState struct {
	context.Context // the caller's context

	conn  *connState
	start time.Time
	tick  int64         // the CPU's counter at start, when the clock times the statement by it (see startClock)
	ready time.Duration // from start until the driver returned the rows (or the result)
	id    atomic.Pointer[string]
	idBuf string      // the first id, which id points to (written once, before id is stored)
	inner driver.Rows // the driver's own rows, for the outer layer's Arrow access

	// The driver's callbacks, as the context hands them out: chained to the caller's own
	// when it has one (nil: the connection's, see Value).
	queryCB driverctx.IdCallbackFunc
	connCB  driverctx.IdCallbackFunc

	outer outerRows // what database/sql reads, allocated with the state

	pollNanos atomic.Int64
	// failedCall is the Content-Length, plus one, of the statement's last Thrift attempt
	// if it failed (0: none): an attempt of the same length next is the driver's retry of
	// it (the length includes the RPC's name), any other call is not.
	failedCall atomic.Int64
	polls      atomic.Int32
	retries    atomic.Int32 // attempts that repeated a failed one (Thrift calls, CloudFetch downloads)
	chunks     atomic.Int32 // files downloaded
	linksSeen  atomic.Int32 // files the server listed
	// mu guards links, and the hand-over of a held start (see Connector.hold).
	mu    sync.Mutex
	links []string      // the links listed, forgotten when the statement completes
	flags atomic.Uint32 // what the transport learnt (stmtFlag), each set once
	// ended is set when the statement completes, before its links are read (see
	// forgetLinks): a reply learnt from later keeps no link.
	ended     atomic.Bool
	linksGone bool // the statement completed: its links are not kept any more

	done    bool // statement.complete was emitted
	claimed bool // an interceptor hook owns this state
	started bool // the server named the statement: its start is recorded (emitted, held or carried)
	exec    bool // an Exec (StatementUpdate), else a query
	// carried says the start has not been emitted: the completion carries it, unless
	// the statement is held and its start was handed over meanwhile (see Connector.hold).
	carried bool
	held    bool // the statement waits in its connection's held
	erred   bool // an error of the statement was emitted on its own (see Connector.sole)
}

// stmtFlag is a fact about a statement that the transport learns (stmtState.flags).
type stmtFlag uint32

const (
	flagSent   stmtFlag = 1 << iota // the driver sent a Thrift call for it (its ExecuteStatement first)
	flagInline                      // the server sent Arrow batches inline
)

// set records f; a fact already known costs a load.
func (st *stmtState) set(f stmtFlag) {
	if st.flags.Load()&uint32(f) == 0 {
		st.flags.Or(uint32(f))
	}
}

// has reports whether f is known.
func (st *stmtState) has(f stmtFlag) bool { return st.flags.Load()&uint32(f) != 0 }

// newStmtState returns a statement's state over ctx, on the connection cs (nil when
// not known: the interceptor's begin makes one).
func newStmtState(ctx context.Context, cs *connState) *stmtState {
	return &stmtState{Context: ctx, conn: cs}
}

// Value answers the statement's own keys and hands the others to the caller's context.
//
// The driver asks for its keys several times per statement. The keys are told apart by
// their types first, then the driver's by their values: an expression switch over the
// interface would compare it with each case through the runtime.
func (st *stmtState) Value(key any) any {
	switch key.(type) {
	case stmtKey:
		return st
	case connKey:
		if st.conn != nil {
			return st.conn
		}
	}
	if k, ok := asKeyOf(key, driverctx.QueryIdCallbackKey); ok {
		switch k {
		case driverctx.QueryIdCallbackKey:
			if st.queryCB != nil {
				return st.queryCB
			}
			if st.claimed && st.conn != nil {
				if st.conn.asking.Load() != st { // the driver asks several times per call
					st.conn.asking.Store(st)
				}
				return st.conn.queryCB
			}
		case driverctx.ConnIdCallbackKey:
			if st.connCB != nil {
				return st.connCB
			}
		}
	}
	return st.Context.Value(key)
}

// asKeyOf is key as a key of like's type: the driver's key type is unexported, and is
// named through one of its keys.
func asKeyOf[K comparable](key any, like K) (K, bool) {
	k, ok := key.(K)
	return k, ok
}

// callerQueryID reports whether the caller's context carries a query id of its own
// (driverctx.NewContextWithQueryId): the driver then names the statement through no
// callback, and the transport reads its id off the ExecuteStatement reply. Asked only
// where it matters, not per statement.
func (st *stmtState) callerQueryID() bool {
	return driverctx.QueryIdFromContext(st.Context) != ""
}

// sessionID is the statement's session: its connection's.
func (st *stmtState) sessionID() string { return st.conn.session() }

func (st *stmtState) statementID() string {
	if p := st.id.Load(); p != nil {
		return *p
	}
	return ""
}

// setID records the statement's id. The driver repeats it (and sends empty ones) many
// times per statement: only the first id and a changed one are stored.
func (st *stmtState) setID(id string) {
	if id == "" {
		return
	}
	p := st.id.Load()
	switch {
	case p == nil:
		st.idBuf = id
		st.id.Store(&st.idBuf)
	case *p != id:
		s := id
		st.id.Store(&s)
	}
}

type connKey struct{}
type stmtKey struct{}

func withConn(ctx context.Context, cs *connState) context.Context {
	return context.WithValue(ctx, connKey{}, cs)
}

func connFrom(ctx context.Context) *connState {
	if st, ok := ctx.(*stmtState); ok && st.conn != nil {
		return st.conn
	}
	cs, _ := ctx.Value(connKey{}).(*connState)
	return cs
}

func stmtFrom(ctx context.Context) *stmtState {
	if st, ok := ctx.(*stmtState); ok {
		return st
	}
	st, _ := ctx.Value(stmtKey{}).(*stmtState)
	return st
}
