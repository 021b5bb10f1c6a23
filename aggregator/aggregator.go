// Package aggregator turns telemetry events into Databricks telemetry logs and hands
// them, in batches, to a telemetry.Exporter (SPEC §2).
//
// Connection events become one log each. Statement events are aggregated per statement
// id: chunk downloads and polls accumulate, and the statement becomes one log when it
// completes, fails terminally, or is evicted (too many open statements, StatementTTL, or
// Close). A completion may carry its statement's start instead of following one: a
// caller that holds starts back (the driver does, for a query whose rows are read at
// once) hands the held ones over when the aggregator asks (AddHandOver), before every
// sweep and at Close, so that statements left open still reach TTL and Close.
// Retryable errors wait on their statement and are exported with it, in the batch of its
// log (a batch ends early rather than part them; see WithBatchSize); terminal errors
// finish their statement and flush at once. An evicted statement's log goes at its
// eviction: its later chunks and completion are dropped (counted as late), its later
// errors logged on their own. Each shard remembers its last max(64,
// MaxOpenStatements/shards) evicted statements, at most 4096 (those a terminal error
// finished too): the later events of a statement evicted before them, which no memory
// bound can keep, open it again, and its completion logs it a second time, with what came
// after its eviction.
//
// Handle, the hot path, is a short in-memory step under one of several shard locks; it
// never waits for an export. A finished statement's log waits in its shard's outbox, so
// that statements on different shards share no lock: the export queue's lock is taken
// once per outbox of logs, not per statement. A statement whose completion is its only
// event needs no aggregation: a producer with an Outbox of its own (the driver has one
// per connection) hands it there, and its log is built without a shard. One goroutine,
// started by New and stopped by Close, exports one batch at a time: when BatchSize logs
// are queued, on the FlushInterval timer, after a terminal error, on Flush and on Close.
// Memory is bounded (MaxOpenStatements, MaxPendingLogs, MaxErrorsPerStatement) and every
// drop is counted in Stats.
package aggregator

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbtelemetry/dbtelemetry/internal/quietlog"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/rs/zerolog"
)

// ErrClosed is returned by Flush after Close.
var ErrClosed = errors.New("aggregator: closed")

// minEntriesPerShard keeps shards big enough that evicting the oldest statement of the
// shard that needs room stays close to evicting the oldest statement overall.
const minEntriesPerShard = 64

// maxTombstonesPerShard bounds the evicted statements a shard remembers (see
// shard.tombstone), whatever MaxOpenStatements says: at most 64 shards × 4096 ids.
const maxTombstonesPerShard = 4096

// Aggregator implements telemetry.Sink. Create it with New and stop it with Close.
type Aggregator struct {
	exp    telemetry.Exporter
	cfg    telemetry.Config
	log    zerolog.Logger
	now    func() time.Time
	logCtx logContext

	seed   maphash.Seed
	shards []shard
	mask   uint64
	q      queue

	outboxCap int // see stage

	// openStmts counts the open statements of all shards: MaxOpenStatements bounds their
	// total, not each shard's share, so that uneven hashing evicts nothing early. A
	// statement reserves its place here before its entry exists (see reserveOpen) and
	// gives it back in finish. It has cache lines of its own: every emitter writes it.
	_         [64]byte
	openStmts atomic.Int64
	_         [64]byte

	// boxes are the open Outboxes, emptied with the shards' outboxes (see collect); the
	// events of those that closed count in receivedOther. boxLogs counts the places the
	// Outboxes take (boxCredit at a time), at most boxRoom: what the shards' outboxes
	// leave of half of MaxPendingLogs (see outboxCap), however many Outboxes. boxRecs is
	// where an Outbox's records are built as it is emptied (see Outbox.drain), reused.
	boxMu   sync.Mutex
	boxes   map[*Outbox]struct{}
	boxLogs atomic.Int64
	boxRoom int64
	// boxCredit is how many places of boxRoom an Outbox takes at a time (see
	// Outbox.take): the constant boxCredit, or less where a shard's outbox or the room
	// is smaller.
	boxCredit int64
	boxRecs   []record

	closed   atomic.Bool
	flushNow atomic.Bool
	kick     chan struct{}
	flushReq chan chan error
	stop     chan struct{}
	done     chan struct{}

	runCtx    context.Context
	cancelRun context.CancelFunc
	closing   atomic.Bool   // the first Close has begun
	handers   handers       // see AddHandOver
	closeDone chan struct{} // closed when the first Close returns, closeErr set
	closeErr  error

	// counters
	receivedOther atomic.Int64 // events that touch no shard
	droppedClosed atomic.Int64
	invalid       atomic.Int64
	exported      atomic.Int64
	exportFailed  atomic.Int64
	batches       atomic.Int64
	batchesFailed atomic.Int64
	panics        atomic.Int64

	// owned by the export goroutine
	recBuf []record
	blocks []logBlock // what the logs of a batch point to, reused (see buildLogs)
	ids    []byte     // a batch's log ids, reused
	rnd    []byte     // their random bytes, reused
	logBuf []*telemetry.FrontendLog
}

var _ telemetry.Sink = (*Aggregator)(nil)

// New returns a running Aggregator exporting through exp. It starts one goroutine, which
// Close stops. The aggregator does not close exp: the exporter is shared per host and its
// owner closes it.
func New(exp telemetry.Exporter, opts ...Option) *Aggregator {
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	cfg := o.cfg.Normalize()
	if o.sysConfig == nil && o.authenticated {
		o.sysConfig = telemetry.NewSystemConfiguration("")
	}
	a := &Aggregator{
		exp:       exp,
		cfg:       cfg,
		log:       o.log,
		logCtx:    newLogContext(&o),
		seed:      maphash.MakeSeed(),
		q:         queue{max: cfg.MaxPendingLogs},
		kick:      make(chan struct{}, 1),
		flushReq:  make(chan chan error),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		closeDone: make(chan struct{}),
		recBuf:    make([]record, 0, cfg.BatchSize),
		logBuf:    make([]*telemetry.FrontendLog, 0, cfg.BatchSize),
	}
	// The clock is read under shard locks: a caller's clock that panics answers time.Now
	// (the panic is counted) rather than leave a lock held.
	a.now = telemetry.SafeClock(o.now, func() { a.panics.Add(1) })
	n := capShards(shardCount(cfg.MaxOpenStatements, runtime.GOMAXPROCS(0)), cfg.MaxPendingLogs)
	a.shards = make([]shard, n)
	a.mask = uint64(n - 1)
	a.outboxCap = outboxCap(cfg.MaxPendingLogs, n)
	a.boxRoom = int64(max(0, cfg.MaxPendingLogs/2-a.outboxCap*n))
	a.boxCredit = min(boxCredit, int64(a.outboxCap), a.boxRoom)
	for i := range a.shards {
		// Maps start small and grow with use: a shard may hold from none to all of
		// MaxOpenStatements.
		a.shards[i].m = make(map[string]*entry)
		a.shards[i].outbox = make([]record, 0, a.outboxCap)
		a.shards[i].evictedCap = min(max(minEntriesPerShard, cfg.MaxOpenStatements/n), maxTombstonesPerShard)
	}
	a.runCtx, a.cancelRun = context.WithCancel(context.Background())
	go a.run()
	return a
}

// capShards halves n, a power of two, until each shard's outbox can hold a log within
// half of maxPending (see outboxCap): on a machine with many CPUs, a small MaxPendingLogs
// would otherwise let the outboxes take more than half of it, and a full queue could no
// longer drop its oldest log for a new one.
func capShards(n, maxPending int) int {
	for n > 1 && n > maxPending/2 {
		n /= 2
	}
	return n
}

// shardCount is a power of two: up to 4 per CPU, at most 64, and never so many that a
// shard would hold fewer than minEntriesPerShard statements.
func shardCount(maxOpen, procs int) int {
	n := 1
	for n < 4*procs && n < 64 && 2*n*minEntriesPerShard <= maxOpen {
		n *= 2
	}
	return n
}

// dropClosed counts an event received and dropped as Dropped.Closed: one that came
// after Close (or its Outbox's Close), or a completion FinishOpen cannot finish.
func (a *Aggregator) dropClosed() {
	a.receivedOther.Add(1)
	a.droppedClosed.Add(1)
}

func (a *Aggregator) shardFor(id string) *shard {
	if a.mask == 0 {
		return &a.shards[0]
	}
	return &a.shards[maphash.String(a.seed, id)&a.mask]
}

// Handle takes one event. It never blocks on an export and never returns an error: what
// cannot be kept is counted in Stats. Events after Close are dropped and counted.
func (a *Aggregator) Handle(ev telemetry.Event) {
	if a.closed.Load() {
		a.dropClosed()
		return
	}
	switch ev.Kind {
	case telemetry.KindStatementStart, telemetry.KindChunk, telemetry.KindStatementComplete:
		if ev.StatementID == "" {
			a.receivedOther.Add(1)
			if ev.Kind == telemetry.KindStatementComplete {
				// Nothing to aggregate with; the completion alone is still worth a log.
				rec := statementRecord(nil, &ev, a.eventTime(&ev))
				a.enqueue(&rec)
				if ev.Terminal {
					a.requestFlush() // it carries its terminal error
				}
				return
			}
			a.invalid.Add(1)
			return
		}
		a.handleStatement(&ev, anyStatement)
	case telemetry.KindError:
		if ev.StatementID == "" {
			a.receivedOther.Add(1)
			rec := record{kind: recError, at: a.now(), sessionID: ev.SessionID, err: errFromEvent(&ev)}
			a.enqueue(&rec)
			if rec.err.terminal {
				a.requestFlush()
			}
			return
		}
		a.handleStatement(&ev, anyStatement)
	case telemetry.KindConnectionOpen, telemetry.KindConnectionClose:
		a.receivedOther.Add(1)
		rec := record{kind: recConnOpen, at: a.now(), sessionID: ev.SessionID, latency: ev.Latency, conn: ev.Connection}
		if ev.Kind == telemetry.KindConnectionClose {
			rec.kind, rec.conn = recConnClose, nil
		}
		if ev.HasError() {
			rec.err = errFromEvent(&ev)
		}
		a.enqueue(&rec)
		if rec.err.terminal {
			a.requestFlush()
		}
	default:
		a.receivedOther.Add(1)
		a.invalid.Add(1)
	}
}

// FinishOpen takes the statement.complete of a statement whose emitter has stopped
// (its connector closed while the statement ran, on an aggregator its host's other
// connectors keep): it finishes the statement when it is open here, and drops it,
// counted as Dropped.Closed, otherwise. Without it such a statement stayed open until
// StatementTTL or Close evicted it, and its log then carried that much latency.
func (a *Aggregator) FinishOpen(ev telemetry.Event) { a.finishOpen(&ev, openOrDrop) }

// FinishIfOpen takes the statement.complete of a statement whose connector's telemetry
// the server's feature flag switched off while it ran: it finishes the statement when
// its start reached this aggregator (so that its log carries its own latency, not the
// time until StatementTTL or Close evicted it), and ignores it otherwise, as everything
// else emitted while the flag says off: such an event is not telemetry, and no drop.
func (a *Aggregator) FinishIfOpen(ev telemetry.Event) { a.finishOpen(&ev, openOrIgnore) }

// finishOpen applies a statement.complete to its statement if that is open here (mode
// openOrDrop or openOrIgnore); any other event, or one after Close, is not applied, and
// counted as Dropped.Closed with openOrDrop only.
func (a *Aggregator) finishOpen(ev *telemetry.Event, mode int) {
	if a.closed.Load() || ev.Kind != telemetry.KindStatementComplete || ev.StatementID == "" {
		if mode == openOrDrop {
			a.dropClosed()
		}
		return
	}
	a.handleStatement(ev, mode)
}

// Which statements handleStatement applies an event to.
const (
	anyStatement = iota // Handle: an event may open its statement
	openOrDrop          // FinishOpen: only an open statement; another's event is Dropped.Closed
	openOrIgnore        // FinishIfOpen: only an open statement; another's event is not counted
)

// handleStatement applies a statement event under its shard's lock. Records produced go
// to the shard's outbox while the lock is held (lock order: shard, then queue), so an
// entry can be recycled at once. Which statements it applies ev to, mode says:
// anyStatement, openOrDrop (an event of a statement not open here is dropped as one that
// came after Close) or openOrIgnore (such an event is not even received).
func (a *Aggregator) handleStatement(ev *telemetry.Event, mode int) {
	sh := a.shardFor(ev.StatementID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[ev.StatementID]
	if mode == openOrIgnore && (sh.closed || e == nil) {
		return
	}
	sh.received++
	if sh.closed || (mode == openOrDrop && e == nil) {
		sh.closedDrops++
		return
	}
	// An evicted statement's log has gone, and so has that of a statement a terminal error
	// finished: its later events would log it again, as often as it is evicted (Rows still
	// read after StatementTTL), or once more after the error (its Rows closed). They are
	// dropped, its errors logged on their own (also one its completion carries), like
	// those of a statement that completed.
	if e == nil && sh.wasEvicted(ev.StatementID) && (ev.Kind != telemetry.KindError || !ev.Terminal) {
		a.afterEnd(sh, ev)
		return
	}
	switch {
	case ev.Kind == telemetry.KindStatementComplete:
		a.finish(sh, e, ev)
		if ev.Terminal {
			a.requestFlush() // a completion that carries its terminal error: flushed now
		}
	case ev.Kind == telemetry.KindError && ev.Terminal:
		sh.tombstone(ev.StatementID)
		a.finish(sh, e, ev)
		a.requestFlush()
	case ev.Kind == telemetry.KindError && ev.Standalone && e == nil:
		a.finish(sh, nil, ev) // the statement's log is gone: the error is logged on its own
	default:
		if e == nil {
			var late bool
			if e, late = a.open(sh, ev); e == nil {
				if late { // its log went while the shard was let go (else the shard closed)
					a.afterEnd(sh, ev)
				}
				return
			}
		}
		if e.session == "" {
			e.session = ev.SessionID
		}
		if ev.Kind == telemetry.KindError {
			if len(e.errs) < a.cfg.MaxErrorsPerStatement {
				e.errs = append(e.errs, errFromEvent(ev))
			} else {
				sh.errLimit++
			}
			return
		}
		mergeStatement(&e.stmt, ev)
	}
}

// afterEnd takes an event, other than a terminal error, of a statement whose log has
// gone (evicted, or ended by a terminal error): an error is logged on its own, and so is
// the error a completion carries (the driver reports a terminal error so, on its
// statement's completion: an evicted statement's is flushed at once, as a terminal
// error event's is); anything else is dropped as late. Called with sh.mu held.
func (a *Aggregator) afterEnd(sh *shard, ev *telemetry.Event) {
	switch {
	case ev.Kind == telemetry.KindError:
		a.finish(sh, nil, ev)
	case ev.HasError():
		er := *ev
		er.Kind = telemetry.KindError
		a.finish(sh, nil, &er)
		if ev.Terminal {
			a.requestFlush()
		}
	default:
		sh.lateDrops++
	}
}

// evict finishes sh's oldest statement before its completion; its later events are
// dropped (see handleStatement). Called with sh.mu held.
func (a *Aggregator) evict(sh *shard) {
	sh.tombstone(sh.head.id)
	a.finish(sh, sh.head, nil)
}

// open creates the entry for ev once it has a place among MaxOpenStatements (see
// reserveOpen). Called with sh.mu held; it returns nil, and counts the event as dropped,
// when sh closed while the lock was let go to make room on another shard. It returns nil
// and late, counting nothing, when the statement's log went while the lock was let go (a
// concurrent event evicted it or a terminal error finished it): ev came after its end.
//
// The entry keeps two times (see openTimes): created, when the statement began (for its
// latency), and seen, when the aggregator first heard of it, from which StatementTTL
// runs. The driver emits statement.start only once the server has answered, so a query
// that ran longer than the TTL must not count as expired the moment it arrives.
func (a *Aggregator) open(sh *shard, ev *telemetry.Event) (e *entry, late bool) {
	created, seen := a.openTimes(ev) // before the place is taken: nothing after it may fail
	reserved, unlocked := a.reserveOpen(sh)
	if !reserved {
		sh.closedDrops++
		return nil, false
	}
	if unlocked {
		// An event for the same statement may have opened it meanwhile, or opened and
		// ended it (its log has gone).
		if e := sh.m[ev.StatementID]; e != nil {
			a.openStmts.Add(-1)
			return e, false
		}
		if sh.wasEvicted(ev.StatementID) {
			a.openStmts.Add(-1)
			return nil, true
		}
	}
	return sh.newEntry(ev.StatementID, ev.SessionID, created, seen), false
}

// openTimes are the times of the statement ev opens: created, when it began (the
// start's Time), and seen, when ev happened. A statement.start happened when the driver
// call that ran the statement returned, Latency after its Time; any other event at its
// Time. Without a Time both are the aggregator's clock, read only then: the driver's
// events carry their times, so opening a statement reads no clock.
func (a *Aggregator) openTimes(ev *telemetry.Event) (created, seen time.Time) {
	created = a.eventTime(ev)
	if ev.Kind == telemetry.KindStatementStart && !ev.Time.IsZero() {
		return created, created.Add(ev.Latency)
	}
	return created, created
}

// reserveOpen takes a place for one more open statement in openStmts, which never exceeds
// MaxOpenStatements. When all are taken it evicts the oldest statement of sh or, when sh
// has none, the oldest of the other shards, and tries again. Called with sh.mu held; it
// reports whether it let go of sh.mu meanwhile (only to evict from another shard, as two
// shard locks are never held at once), and reserves nothing when sh closed meanwhile.
func (a *Aggregator) reserveOpen(sh *shard) (reserved, unlocked bool) {
	limit := int64(a.cfg.MaxOpenStatements)
	for {
		// A compare-and-swap rather than add-then-undo: a failed reservation must not
		// make a concurrent one fail while the count is below the limit.
		n := a.openStmts.Load()
		if n < limit {
			if a.openStmts.CompareAndSwap(n, n+1) {
				return true, unlocked
			}
			continue
		}
		if sh.head != nil {
			sh.evictCapacity++
			a.evict(sh) // gives its place back
			continue
		}
		a.unlocked(sh, func() { a.evictOldestElsewhere(sh) })
		unlocked = true
		if sh.closed {
			return false, true
		}
	}
}

// evictOldestElsewhere evicts the oldest statement of the shards other than skip. It is
// rare (skip is empty while the others hold every place) and slow: it looks at each
// shard's head, one shard lock at a time, then locks the oldest one's shard again and
// evicts its head, which by then may be a younger statement. Called with no lock held.
func (a *Aggregator) evictOldestElsewhere(skip *shard) {
	var oldest *shard
	var oldestSeen time.Time
	for i := range a.shards {
		sh := &a.shards[i]
		if sh == skip {
			continue
		}
		sh.mu.Lock()
		if sh.head != nil && (oldest == nil || sh.head.seen.Before(oldestSeen)) {
			oldest, oldestSeen = sh, sh.head.seen
		}
		sh.mu.Unlock()
	}
	if oldest == nil {
		return // every place is reserved by statements about to open: try again
	}
	oldest.mu.Lock()
	defer oldest.mu.Unlock() // finish may panic (a caller's clock): the lock goes all the same
	if oldest.head != nil && !oldest.closed {
		oldest.evictCapacity++
		a.evict(oldest)
	}
}

// unlocked runs fn with sh.mu, which the caller holds, let go; sh.mu is held again when
// it returns or panics, so that the caller's deferred Unlock stays right and a panic
// stays recoverable (unlocking an unlocked mutex is a fatal error).
func (a *Aggregator) unlocked(sh *shard, fn func()) {
	sh.mu.Unlock()
	defer sh.mu.Lock()
	fn()
}

// eventTime is when ev happened: its Time when it carries one (the driver reads the
// clock anyway), else the aggregator's clock. ev may be nil (an eviction).
func (a *Aggregator) eventTime(ev *telemetry.Event) time.Time {
	if ev != nil && !ev.Time.IsZero() {
		return ev.Time
	}
	return a.now()
}

// finish turns e (which may be nil) and the finishing event ev (nil for an eviction) into
// records: the statement's log, then one log per held retryable error. Called with sh.mu held.
func (a *Aggregator) finish(sh *shard, e *entry, ev *telemetry.Event) {
	if e != nil {
		sh.remove(e)
		a.openStmts.Add(-1)
	}
	if e == nil && ev != nil && ev.Kind == telemetry.KindError {
		// A terminal error for a statement never seen open, or an error of one that has
		// completed (Standalone): a standalone error log.
		rec := record{kind: recError, at: a.now(), sessionID: ev.SessionID, statementID: ev.StatementID, err: errFromEvent(ev)}
		a.stage(sh, &rec)
		return
	}
	at := a.eventTime(ev)
	if e != nil && len(e.errs) > 0 {
		a.finishHeld(sh, e, ev, at)
		return
	}
	var spill record
	rec := a.outboxSlot(sh, ev != nil && (ev.HasError() || ev.Kind == telemetry.KindError))
	if rec == nil {
		rec = &spill
	}
	fillStatementRecord(rec, e, ev, at)
	if rec == &spill {
		a.moveOutbox(sh, *rec)
	}
	a.wakeOnBatch()
	if e != nil {
		sh.release(e)
	}
}

// finishHeld is finish for a statement that holds retryable errors: its log and one log
// per error go to the queue as one group, after sh's outbox and under one lock, so that
// they are queued one after the other and leave in one batch (see queue.pop). Called with
// sh.mu held; such statements are rare, so the group is made here.
func (a *Aggregator) finishHeld(sh *shard, e *entry, ev *telemetry.Event, at time.Time) {
	grp := make([]record, 1+len(e.errs))
	fillStatementRecord(&grp[0], e, ev, at)
	for i := range e.errs {
		grp[1+i] = record{kind: recError, follows: true, at: at, sessionID: grp[0].sessionID, statementID: grp[0].statementID, err: e.errs[i]}
	}
	a.moveOutbox(sh, grp...)
	sh.release(e)
	a.wakeOnBatch()
}

// outboxSize is the most logs a shard's outbox holds before they move to the export
// queue; the export goroutine also empties every outbox before it exports.
const outboxSize = 16

// outboxCap is the outbox size for n shards: small enough that the outboxes never hold
// more than half of maxPending.
func outboxCap(maxPending, n int) int {
	return max(1, min(outboxSize, maxPending/(2*n)))
}

// stage keeps rec in sh's outbox; called with sh.mu held. A full outbox, or one whose log
// finds MaxPendingLogs reached, moves to the queue (taking the queue's lock, which
// applies the drop policy); a full batch wakes the exporter.
func (a *Aggregator) stage(sh *shard, rec *record) {
	if slot := a.outboxSlot(sh, rec.hasError()); slot != nil {
		*slot = *rec
	} else {
		a.moveOutbox(sh, *rec)
	}
	a.wakeOnBatch()
}

// outboxSlot takes the next slot of sh's outbox, zero, for a log (with an error or not),
// or returns nil when the outbox is full or the log finds MaxPendingLogs reached (see
// stage); called with sh.mu held.
func (a *Aggregator) outboxSlot(sh *shard, isErr bool) *record {
	n := len(sh.outbox)
	if n >= a.outboxCap || n >= cap(sh.outbox) || !a.q.reserveOutbox(isErr) {
		return nil
	}
	sh.outbox = sh.outbox[:n+1]
	return &sh.outbox[n]
}

// wakeOnBatch wakes the exporter when a batch is full.
func (a *Aggregator) wakeOnBatch() {
	if a.q.waiting() >= a.cfg.BatchSize {
		a.wake()
	}
}

// moveOutbox moves sh's outbox to the export queue, followed by more (pushed as push
// does), under one lock; called with sh.mu held.
func (a *Aggregator) moveOutbox(sh *shard, more ...record) {
	if len(sh.outbox) == 0 && len(more) == 0 {
		return
	}
	a.q.moveIn(sh.outbox, more...)
	clear(sh.outbox)
	sh.outbox = sh.outbox[:0]
}

// collect moves every shard's outbox, and every Outbox, to the export queue: before the
// export goroutine exports, and before a log that belongs to no statement is queued.
func (a *Aggregator) collect() {
	a.collectBoxes()
	for i := range a.shards {
		sh := &a.shards[i]
		sh.mu.Lock()
		a.moveOutbox(sh)
		sh.mu.Unlock()
	}
}

// enqueue queues rec, which belongs to no statement (a connection's log, or an error
// outside any statement), and wakes the exporter when a batch is full. The outboxes go
// first, so that logs leave in the order of their events: a connection's statements
// before its close. Such logs are few (one per connection opened or closed) next to the
// statements'.
func (a *Aggregator) enqueue(rec *record) {
	a.collect()
	if n := a.q.push(rec); n >= a.cfg.BatchSize {
		a.wake()
	}
}

// wake kicks the export goroutine, unless it has been kicked already.
func (a *Aggregator) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// requestFlush asks the export goroutine to export everything queued now.
func (a *Aggregator) requestFlush() {
	a.flushNow.Store(true)
	a.wake()
}

// Flush exports every log queued now (after evicting statements older than StatementTTL)
// and waits for it, bounded by ctx. It returns an error wrapping ctx.Err() when ctx ends
// first, the first export error of the flush if any, and ErrClosed after Close.
func (a *Aggregator) Flush(ctx context.Context) error {
	if a.closed.Load() {
		return ErrClosed
	}
	res := make(chan error, 1)
	select {
	case a.flushReq <- res:
	case <-a.done:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("aggregator: flush: %w", ctx.Err())
	}
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return fmt.Errorf("aggregator: flush: %w", ctx.Err())
	}
}

// Close stops accepting events, finishes every open statement, waits for the export in
// flight and exports the rest, all bounded by ctx (by the CloseTimeout, default 2 s, when
// ctx has no deadline). Shortly before the deadline (a tenth of the time left, at most
// 50 ms) the export in flight is cancelled; its batch is counted as Dropped.ExportFailed
// and what is left as Dropped.Unfinished by the time Close returns (unless the exporter
// ignores its context), and Close returns an error wrapping context.DeadlineExceeded (or
// ctx.Err()); so it does, deterministically, when a hand-over (AddHandOver) was still
// running at that moment. The driver may ignore it, nothing else needs to be done. Close is idempotent: later
// calls return the first call's result, and a call made while the first one is still
// closing waits for it as long as its own ctx allows. It does not close the exporter.
func (a *Aggregator) Close(ctx context.Context) error {
	if a.closing.CompareAndSwap(false, true) {
		defer close(a.closeDone)
		a.closeErr = a.shutdown(ctx)
		return a.closeErr
	}
	select {
	case <-a.closeDone: // first: once closed, a ctx already done changes nothing
		return a.closeErr
	default:
	}
	select {
	case <-a.closeDone:
		return a.closeErr
	case <-ctx.Done():
		return fmt.Errorf("aggregator: close: %w", ctx.Err())
	}
}

func (a *Aggregator) shutdown(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.cfg.CloseTimeout)
		defer cancel()
	}
	dl, _ := ctx.Deadline()
	soon, cancel := context.WithDeadline(ctx, dl.Add(-cancelMargin(time.Until(dl))))
	defer cancel()
	// What callers hold back comes in before the doors close (see AddHandOver), as long
	// as the deadline allows: a hand-over that does not return (a caller's lock held
	// elsewhere) must not hold Close, and what it emits once the doors closed is counted
	// as Dropped.Closed.
	handed := make(chan struct{})
	go func() {
		defer close(handed)
		a.handers.run(a.guard)
	}()
	handedAll := true
	select {
	case <-handed:
	case <-soon.Done():
		handedAll = false // cut short: Close reports its deadline, whatever follows
	}
	a.closed.Store(true)
	// A panic while finishing a shard's statements (none is known: the clock is safe) is
	// counted, and the shard is closed and the export goroutine stopped all the same.
	for i := range a.shards {
		a.guard(func() { a.closeShard(&a.shards[i]) })
	}
	a.guard(a.closeBoxes)
	close(a.stop)
	// The export in flight is cancelled a little before the deadline (cancelMargin), so
	// that the export goroutine has counted what is left (the batch as failed, the rest as
	// unfinished) when Close returns: Stats then adds up. An exporter that ignores its
	// context keeps its batch pending until it returns, and Close keeps its deadline.
	var err error
	select {
	case <-a.done:
	case <-soon.Done():
		select {
		case <-a.done: // ended as the margin began: nothing was cut
		default:
			a.cancelRun() // aborts the export in flight; run then counts what is left
			select {
			case <-a.done:
			case <-ctx.Done():
			}
			if err = ctx.Err(); err == nil {
				err = context.DeadlineExceeded // cut short by the margin before the deadline
			}
		}
	}
	if err == nil && !handedAll {
		if err = ctx.Err(); err == nil {
			err = context.DeadlineExceeded // the hand-over cut short by the margin
		}
	}
	if err == nil {
		return nil
	}
	// Written on a goroutine of its own (a stalled logger must not hold Close); guard counts
	// a panic of the caller's logger in Stats.Panics, as for every other log line.
	quietlog.Debug(a.log, func(ev *zerolog.Event) {
		a.guard(func() { ev.Err(err).Msg("telemetry: aggregator close deadline passed") })
	})
	return fmt.Errorf("aggregator: close: %w", err)
}

// cancelMargin is how long before Close's deadline the export in flight is cancelled,
// for the export goroutine to count what is left: a tenth of the time left, at most
// 50 ms.
func cancelMargin(left time.Duration) time.Duration {
	return max(0, min(left/10, 50*time.Millisecond))
}

// run is the export goroutine.
func (a *Aggregator) run() {
	defer close(a.done)
	defer a.cancelRun()
	ticker := time.NewTicker(a.cfg.FlushInterval)
	defer ticker.Stop()
	for {
		select {
		case <-a.stop:
			for a.q.waiting() > 0 && a.runCtx.Err() == nil {
				if !a.guard(func() { a.exportQueued(true) }) {
					break // a step that panics would panic again: drop the rest
				}
			}
			a.q.close() // Close emptied every outbox before it closed the shards
			a.releaseBuffers()
			return
		case <-ticker.C:
			a.guard(func() {
				a.handers.run(a.guard)
				a.sweepTTL()
				a.exportQueued(true)
			})
		case <-a.kick:
			a.guard(func() { a.exportQueued(a.flushNow.Swap(false)) })
		case res := <-a.flushReq:
			err := errors.New("flush panicked")
			a.guard(func() {
				a.handers.run(a.guard)
				a.sweepTTL()
				err = a.exportQueued(true)
			})
			res <- err
		}
	}
}

// guard runs one step of the export loop and counts a panic in it (a logger or exporter
// the caller supplied may panic): the loop, and the process, go on. It reports whether
// the step finished.
func (a *Aggregator) guard(step func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			a.panics.Add(1)
		}
	}()
	step()
	return true
}

// exportQueued exports the logs queued when it starts, in batches: all of them, or only
// while a full batch waits when all is false (a batch may end short of BatchSize before
// a statement's log and its held errors', which go together: see queue.pop). It returns
// the first export error.
func (a *Aggregator) exportQueued(all bool) error {
	a.collect()
	left := a.q.len()
	var first error
	for a.runCtx.Err() == nil && (left >= a.cfg.BatchSize || all && left > 0) {
		a.recBuf = a.q.pop(a.recBuf[:0], a.cfg.BatchSize)
		if len(a.recBuf) == 0 {
			break
		}
		left -= len(a.recBuf)
		if err := a.export(a.recBuf); err != nil && first == nil {
			first = err
		}
		clear(a.recBuf)
	}
	return first
}

// export sends one batch; failures are counted, never retried here (the exporter retries).
func (a *Aggregator) export(recs []record) error {
	a.logBuf = a.buildLogs(a.logBuf[:0], recs)
	ctx, cancel := context.WithTimeout(a.runCtx, a.cfg.ExportTimeout)
	err := a.safeExport(ctx, a.logBuf)
	cancel()
	clear(a.logBuf)
	a.batches.Add(1)
	if err != nil {
		a.batchesFailed.Add(1)
		a.exportFailed.Add(int64(len(recs)))
		a.log.Debug().Err(err).Int("logs", len(recs)).Msg("telemetry: export failed")
		return fmt.Errorf("aggregator: export: %w", err)
	}
	a.exported.Add(int64(len(recs)))
	return nil
}

func (a *Aggregator) safeExport(ctx context.Context, logs []*telemetry.FrontendLog) (err error) {
	defer func() {
		if r := recover(); r != nil {
			a.panics.Add(1)
			err = fmt.Errorf("exporter panicked: %v", r)
		}
	}()
	if a.exp == nil {
		return errors.New("no exporter")
	}
	return a.exp.Export(ctx, logs)
}

// sweepTTL evicts the statements open longer than StatementTTL, counted on the
// aggregator's clock from when each was first heard of (seen, see openTimes).
func (a *Aggregator) sweepTTL() {
	now := a.now()
	for i := range a.shards {
		a.sweepShard(&a.shards[i], now)
	}
}

func (a *Aggregator) sweepShard(sh *shard, now time.Time) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for sh.head != nil && now.Sub(sh.head.seen) >= a.cfg.StatementTTL {
		sh.evictTTL++
		a.evict(sh)
	}
}

// closeShard finishes sh's open statements, moves its outbox to the queue and closes it.
func (a *Aggregator) closeShard(sh *shard) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.closed = true // first: a panic below still leaves sh closed
	for sh.head != nil {
		sh.evictClose++
		a.finish(sh, sh.head, nil)
	}
	a.moveOutbox(sh)
	// A closed shard takes no statement again (see handleStatement): what it kept for
	// them goes, so that a closed aggregator, which its connector may keep for its Stats
	// (and the driver's own timeout watchers keep the connector for 15 minutes), holds
	// its counters only.
	sh.m, sh.free, sh.outbox = nil, nil, nil
	sh.evicted, sh.evictedIDs, sh.evictedAt = nil, nil, 0
}

// releaseBuffers drops what the export goroutine reuses from batch to batch, as it
// stops: a closed aggregator keeps its counters only (see closeShard).
func (a *Aggregator) releaseBuffers() {
	a.recBuf, a.logBuf, a.blocks, a.ids, a.rnd = nil, nil, nil, nil, nil
}

// Stats returns a snapshot of the counters.
func (a *Aggregator) Stats() Stats {
	var s Stats
	// Every Outbox, every shard and then the queue are locked at once, so that no log
	// moves from an outbox to the queue while they are counted. None is held while the
	// exporter reports its own figures below: a caller's exporter may take its time.
	a.boxMu.Lock()
	s.Outboxes = len(a.boxes)
	for o := range a.boxes {
		o.mu.Lock()
		s.Received += o.received
		s.Queued += int64(o.tail - o.head)
		s.Pending += int(o.tail - o.head)
	}
	for i := range a.shards {
		sh := &a.shards[i]
		sh.mu.Lock()
		s.Received += sh.received
		s.Dropped.ErrorLimit += sh.errLimit
		s.Dropped.Closed += sh.closedDrops
		s.Dropped.Late += sh.lateDrops
		s.Evicted.Capacity += sh.evictCapacity
		s.Evicted.TTL += sh.evictTTL
		s.Evicted.Close += sh.evictClose
		s.OpenStatements += len(sh.m)
		s.Queued += int64(len(sh.outbox))
		s.Pending += len(sh.outbox)
	}
	a.q.mu.Lock()
	s.Queued += a.q.queued
	s.Pending += a.q.normal.n + a.q.errs.n
	s.Dropped.QueueFull = a.q.droppedFull
	s.Dropped.Closed += a.q.droppedClosed
	s.Dropped.Unfinished = a.q.unfinished
	// What left the queue did so under its lock: read under it, the counts of the
	// exports ended hold no log queued after the snapshot (Exported never runs ahead of
	// Queued), and the logs of the export in flight are in no count.
	s.Dropped.ExportFailed = a.exportFailed.Load()
	s.Exported = a.exported.Load()
	a.q.mu.Unlock()
	for i := range a.shards {
		a.shards[i].mu.Unlock()
	}
	for o := range a.boxes {
		o.mu.Unlock()
	}
	// Under boxMu: an Outbox that closes moves its count to receivedOther.
	s.Received += a.receivedOther.Load()
	a.boxMu.Unlock()

	s.Dropped.Closed += a.droppedClosed.Load()
	s.Dropped.Invalid = a.invalid.Load()
	s.Batches = a.batches.Load()
	s.BatchesFailed = a.batchesFailed.Load()
	if sr, ok := a.exp.(telemetry.StatsReporter); ok {
		// A caller's exporter that panics here leaves its figures zero, counted.
		a.guard(func() { s.Exporter = sr.ExportStats() })
		s.Retried = s.Exporter.Retries
		s.Breaker = s.Exporter.Breaker
	}
	s.Panics = a.panics.Load()
	return s
}
