package driver

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"time"

	"github.com/databricks/databricks-sql-go/driverctx"
	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	"github.com/ngrok/sqlmw"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// interceptor turns the sqlmw callbacks into telemetry events. Each hook calls the
// driver exactly as an unwrapped call would and returns its results and errors
// untouched; the statement's state travels in the context from start to end hook.
// Every event goes through the Emitter, which recovers its own panics; the hooks'
// own bookkeeping is guarded by safely.
type interceptor struct {
	sqlmw.NullInterceptor
	c *Connector
}

// safely runs f and swallows a panic in it: telemetry must never reach the caller.
func safely(f func()) {
	defer func() { _ = recover() }()
	f()
}

func (i *interceptor) ConnectorConnect(ctx context.Context, connector driver.Connector) (driver.Conn, error) {
	i.c.attachToDSN()
	// Connector.Connect made the connection's state, for its outer layer to share.
	cs := connFrom(ctx)
	if cs == nil {
		cs = newConnState(i.c)
		ctx = withConn(ctx, cs)
	}
	began := time.Now()
	conn, err := connector.Connect(ctx)
	safely(func() {
		ev := telemetry.Event{
			Kind:       telemetry.KindConnectionOpen,
			Time:       began,
			SessionID:  cs.session(),
			Latency:    time.Since(began),
			Connection: i.c.info.Load(),
			Err:        err,
		}
		i.c.emit(&ev)
	})
	if err != nil {
		return nil, err
	}
	return conn, nil
}

// begin starts a statement: its state, which is also the context of the driver call,
// with the driver's id callbacks (chained to the caller's own, if any) that name it.
func (i *interceptor) begin(ctx context.Context) (*stmtState, context.Context) {
	// The outer connection has put the statement's state in the context already, unless
	// the call came another way.
	st := stmtFrom(ctx)
	if st == nil || st.claimed {
		st = newStmtState(ctx, connFrom(ctx))
		ctx = st
	}
	if st.conn == nil {
		// The statement runs on a connection that was opened before telemetry knew it:
		// a state of its own takes the session the driver names.
		st.conn = newConnState(i.c)
	}
	st.claimed = true
	st.start, st.tick = i.c.clock.now()
	// The caller's callbacks are below the state; the driver fires them several times
	// per call, some with an empty id. Without one of the caller's, the query-id callback
	// is the connection's (see connState.onQueryID): a closure of the statement's own
	// would cost an allocation per statement. A caller's callback is called whenever the
	// driver would call it, a nil one too (its panic is the driver's, unwrapped).
	if userQuery, ok := st.Context.Value(driverctx.QueryIdCallbackKey).(driverctx.IdCallbackFunc); ok {
		st.queryCB = func(id string) {
			st.setID(id)
			userQuery(id)
		}
	}
	onConn := st.conn.onConnID // the connection's session is the statement's
	if userConn, ok := st.Context.Value(driverctx.ConnIdCallbackKey).(driverctx.IdCallbackFunc); ok {
		st.connCB = func(id string) {
			onConn(id)
			userConn(id)
		}
	} else {
		st.connCB = onConn
	}
	return st, ctx
}

func (i *interceptor) ConnQueryContext(ctx context.Context, conn driver.QueryerContext, query string, args []driver.NamedValue) (context.Context, driver.Rows, error) {
	st, sctx := i.begin(ctx)
	st.conn.running.Store(st)
	rows, err := conn.QueryContext(sctx, query, args)
	st.conn.running.Store(nil)
	st.inner = rows
	safely(func() { i.returned(st, telemetry.StatementQuery, err, err == nil) })
	return sctx, rows, err
}

func (i *interceptor) StmtQueryContext(ctx context.Context, stmt driver.StmtQueryContext, _ string, args []driver.NamedValue) (context.Context, driver.Rows, error) {
	st, sctx := i.begin(ctx)
	st.conn.running.Store(st)
	rows, err := stmt.QueryContext(sctx, args)
	st.conn.running.Store(nil)
	st.inner = rows
	safely(func() { i.returned(st, telemetry.StatementQuery, err, err == nil) })
	return sctx, rows, err
}

func (i *interceptor) ConnExecContext(ctx context.Context, conn driver.ExecerContext, query string, args []driver.NamedValue) (driver.Result, error) {
	st, sctx := i.begin(ctx)
	st.conn.running.Store(st)
	res, err := conn.ExecContext(sctx, query, args)
	st.conn.running.Store(nil)
	safely(func() { i.returned(st, telemetry.StatementUpdate, err, false) })
	return res, err
}

func (i *interceptor) StmtExecContext(ctx context.Context, stmt driver.StmtExecContext, _ string, args []driver.NamedValue) (driver.Result, error) {
	st, sctx := i.begin(ctx)
	st.conn.running.Store(st)
	res, err := stmt.ExecContext(sctx, args)
	st.conn.running.Store(nil)
	safely(func() { i.returned(st, telemetry.StatementUpdate, err, false) })
	return res, err
}

// returned records the end of the driver call that ran the statement. A query that
// succeeded stays open until its rows are closed; anything else completes now.
func (i *interceptor) returned(st *stmtState, kind string, err error, open bool) {
	st.ready = i.c.clock.since(st.start, st.tick)
	// The error's query id is the context's: the caller's own when it set one, which is
	// no statement id.
	if err != nil && st.statementID() == "" && !st.callerQueryID() {
		var ee dbsqlerr.DBExecutionError
		if errors.As(err, &ee) {
			st.setID(ee.QueryId())
		}
	}
	if err != nil && st.statementID() == "" && st.has(flagSent) && errors.Is(err, context.Canceled) {
		// The driver sent it, and the caller cancelled it before an answer named it. A
		// cancel is an outcome, no error to log (a failure without an id is logged on its
		// own): its log, without an id, says that it ran.
		st.started, st.carried = true, true
		st.exec = kind == telemetry.StatementUpdate
		i.c.complete(st, nil)
		return
	}
	if st.statementID() != "" {
		st.started = true
		st.exec = kind == telemetry.StatementUpdate
		switch {
		case !open:
			st.carried = true // it completes below, and its completion carries the start
		case i.c.hold(st):
		case i.c.gate.off():
			// Dropped if said now (see handOver): its completion carries it.
			st.carried = true
		default:
			i.c.emitStart(st)
		}
	}
	if err != nil {
		i.c.stmtFailed(st, err)
	}
	if !open {
		i.complete(st)
	}
}

// stmtFailed records an error of the statement. A terminal error of a statement the
// server named finishes it at once: its statement.complete carries the error, with what
// the statement did so far (polls, retries, result format, latencies), and
// the aggregator flushes it. A retryable error waits for the completion; the error of a
// statement without an id, or of one already complete, stands alone.
func (c *Connector) stmtFailed(st *stmtState, err error) {
	if telemetry.IsOutcome(err) {
		return
	}
	if st.started && !st.done && telemetry.Classify(err).Terminal {
		c.complete(st, err)
		return
	}
	if st.done {
		// Its log is gone: the error is logged on its own.
		c.emit(&telemetry.Event{Kind: telemetry.KindError, SessionID: st.sessionID(), StatementID: st.statementID(), Err: err, Standalone: true})
		return
	}
	st.erred = true // it waits for the statement's completion, in the aggregator
	c.em.EmitError(st.sessionID(), st.statementID(), err)
}

func (i *interceptor) complete(st *stmtState) { i.c.complete(st, nil) }

// complete emits the statement's completion once, with err when a terminal error ends
// it. Its CloudFetch links are forgotten whenever it is called: a link kept in the
// connector would keep the statement's state for the connector's lifetime.
func (c *Connector) complete(st *stmtState, err error) {
	carried := c.forgetLinks(st)
	if c.detachedN.Load() != 0 {
		c.dropDetached(st)
	}
	if st.done {
		return
	}
	st.done = true
	if cs := st.conn; cs.asking.Load() == st {
		// The connection would keep the statement (its caller's context, its rows) until
		// its next statement asks: an idle connection in the pool, for long.
		cs.asking.CompareAndSwap(st, nil)
	}
	if !st.started {
		return // the server never named it: nothing to complete
	}
	// No less than its result's latency: a reset since returned may have measured the
	// counter's period a little lower (see startClock).
	total := max(c.clock.since(st.start, st.tick), st.ready)
	now := st.start.Add(total)
	format, present := st.resultFormat()
	ev := telemetry.Event{
		Kind:               telemetry.KindStatementComplete,
		Time:               now,
		SessionID:          st.sessionID(),
		StatementID:        st.statementID(),
		Latency:            total,
		ResultFormat:       format,
		PollCount:          st.polls.Load(),
		PollLatency:        time.Duration(st.pollNanos.Load()),
		ResultReadyLatency: st.ready,
		ConsumptionLatency: total - st.ready,
		ChunksPresent:      present,
		RetryCount:         st.retries.Load(),
		Err:                err,
	}
	if carried {
		// No statement.start went: what it would have said comes with the completion.
		ev.OperationType, ev.StatementType = telemetry.OpExecuteStatement, st.statementType()
		if err == nil && !st.erred && st.chunks.Load() == 0 && c.sole(st.conn, &ev) {
			return
		}
	}
	c.emit(&ev)
}

// sole hands ev, the completion of a statement that had no other event (its start
// carried, no chunk, no error), to its connection's Outbox in the aggregator, which
// builds its log without looking the statement up (see aggregator.Outbox). It reports
// false, and hands nothing, where the event must take the emitter's way: the connection
// is not tracked (it would never close its Outbox), or events do not go straight to the
// aggregator now (telemetry off, the emitter's sink not the gate, the server's flag not
// known or off, the gate shut).
//
// No later event of the statement reaches the aggregator: a chunk finds its links gone,
// and an error after the completion is logged on its own (Event.Standalone).
//
// The gate's aggregator is set once (setAggregator), so a connection's Outbox, once
// made, is always of it.
func (c *Connector) sole(cs *connState, ev *telemetry.Event) bool {
	if !cs.tracked || c.em.Sink() != telemetry.Sink(c.gate) {
		return false
	}
	a := c.gate.direct()
	if a == nil {
		return false
	}
	if cs.box == nil {
		cs.box = a.NewOutbox()
	}
	cs.box.Complete(ev)
	return true
}

// statementType is the statement's type for its log.
func (st *stmtState) statementType() string {
	if st.exec {
		return telemetry.StatementUpdate
	}
	return telemetry.StatementQuery
}

// emitStart emits the statement's statement.start. The result format is known from the
// first reply; it is said here as well as at the completion, for a statement whose rows
// are never closed. So are what the driver call did before it returned the rows: its
// polls (taken from the state, so that the completion reports only later ones: each
// poll is reported once), its retries so far and the result's ready latency. A statement
// whose rows are never closed is logged from its start alone (evicted), and lost them.
func (c *Connector) emitStart(st *stmtState) {
	format, _ := st.resultFormat()
	ev := telemetry.Event{
		Kind:               telemetry.KindStatementStart,
		Time:               st.start,
		Latency:            st.ready,
		SessionID:          st.sessionID(),
		StatementID:        st.statementID(),
		OperationType:      telemetry.OpExecuteStatement,
		StatementType:      st.statementType(),
		ResultFormat:       format,
		PollCount:          st.polls.Swap(0),
		PollLatency:        time.Duration(st.pollNanos.Swap(0)),
		ResultReadyLatency: st.ready,
		RetryCount:         st.retries.Load(),
	}
	c.emit(&ev)
}

// resultFormat is the statement's result format as the server's replies so far carried
// it (see rowSetFacts), and the CloudFetch files they listed.
func (st *stmtState) resultFormat() (format string, links int32) {
	links = st.linksSeen.Load()
	switch {
	case links > 0:
		return telemetry.ResultExternalLinks, links
	case st.has(flagInline):
		return telemetry.ResultInlineArrow, links
	}
	return "", links
}

// RowsNext sees what ended rows that reach database/sql through sqlmw's layer; the outer
// rows (outerRows.Next) see their own without it.
func (i *interceptor) RowsNext(ctx context.Context, rows driver.Rows, dest []driver.Value) error {
	err := rows.Next(dest)
	if err != nil {
		if st := stmtFrom(ctx); st != nil {
			i.c.rowRead(st, err)
		}
	}
	return err
}

// rowRead records what ended the rows of the statement without a row: their end, or an
// error.
func (c *Connector) rowRead(st *stmtState, err error) {
	if err != nil && err != io.EOF {
		c.rowFailed(st, err)
	}
}

// rowFailed is rowRead's rare path, kept out of line so that rowRead inlines.
//
//go:noinline
func (c *Connector) rowFailed(st *stmtState, err error) {
	safely(func() { c.stmtFailed(st, err) })
}

func (i *interceptor) RowsClose(ctx context.Context, rows driver.Rows) error {
	err := rows.Close()
	if st := stmtFrom(ctx); st != nil {
		safely(func() {
			if err != nil {
				i.c.stmtFailed(st, err)
			}
			i.complete(st)
		})
	}
	return err
}

func (i *interceptor) ConnPing(ctx context.Context, conn driver.Pinger) error {
	err := conn.Ping(ctx)
	if err != nil {
		safely(func() { i.c.em.EmitError(connFrom(ctx).session(), "", err) })
	}
	return err
}

func (i *interceptor) ConnBeginTx(ctx context.Context, conn driver.ConnBeginTx, opts driver.TxOptions) (context.Context, driver.Tx, error) {
	tx, err := conn.BeginTx(ctx, opts)
	if err != nil {
		safely(func() { i.c.em.EmitError(connFrom(ctx).session(), "", err) })
	}
	return ctx, tx, err
}

func (i *interceptor) TxCommit(ctx context.Context, tx driver.Tx) error {
	err := tx.Commit()
	if err != nil {
		safely(func() { i.c.em.EmitError(connFrom(ctx).session(), "", err) })
	}
	return err
}

func (i *interceptor) TxRollback(ctx context.Context, tx driver.Tx) error {
	err := tx.Rollback()
	if err != nil {
		safely(func() { i.c.em.EmitError(connFrom(ctx).session(), "", err) })
	}
	return err
}

// forgetLinks drops the statement's CloudFetch links that were never downloaded (Rows
// closed early), so that the connector does not keep them, nor the statement, until
// Close. It reports whether the statement's start is still to be said, by its completion
// (see Connector.hold), and takes the statement off its connection's held.
//
// A statement the server listed no link for needs no lock: no download can report a
// chunk of it, and a reply of its learnt from later (one whose end the driver read at its
// next call) finds it ended and keeps no link. Ended is set before the links are counted,
// and a reply counts its links before it looks at ended: one of the two sees the other.
func (c *Connector) forgetLinks(st *stmtState) (carried bool) {
	st.ended.Store(true)
	if st.linksSeen.Load() > 0 {
		st.mu.Lock()
		links := st.links
		st.links = nil
		st.linksGone = true
		st.mu.Unlock()
		for _, l := range links {
			c.links.Delete(l)
		}
	}
	return st.takeStart()
}

// takeStart reports whether the completion carries the statement's start, and takes
// the statement off its connection's held. When a hand-over took it first, it waits
// for the hand-over's start to be emitted (under st.mu), so that the completion never
// overtakes it.
func (st *stmtState) takeStart() bool {
	if !st.carried {
		return false
	}
	st.carried = false
	if !st.held || st.conn.held.CompareAndSwap(st, nil) {
		return true
	}
	st.mu.Lock()
	st.mu.Unlock() //nolint:staticcheck // empty critical section: waits for the hand-over
	return false
}
