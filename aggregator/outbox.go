package aggregator

import (
	"sync"
	"time"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

const (
	// boxCredit is how many places of the Outboxes' room an Outbox takes at a time, at
	// most (see Aggregator.boxCredit).
	boxCredit = 8
	// boxFirst is the size of an Outbox's first ring, boxMax the most logs it holds: its
	// ring doubles when full, up to boxMax.
	boxFirst = 8
	boxMax   = 128
)

// Outbox is one producer's own way into the aggregator, for the statements that need no
// aggregation: a statement.complete that is its statement's only event (it carries the
// start; no chunk or error of the statement was handed to the aggregator before it, and
// none will be after it but errors logged on their own, Event.Standalone). Such a
// completion is its statement's whole log. Handle would look the statement up under a
// shard's lock, by a hash of its id, to find nothing; an Outbox keeps what the log needs
// in a ring of its own, under a lock of its own, and the export goroutine empties every
// Outbox into the export queue before it exports, building the logs' records there. So
// producers that each have one share no lock, and their logs are written once on the
// producer's side, in a slot half a record's size. The driver keeps one per connection:
// database/sql runs one statement at a time on it.
//
// Its logs count like the others (Stats: Received, Queued, Pending) and take their
// places among MaxPendingLogs as they are kept. The Outboxes together hold no more than
// what the shards' outboxes leave of half of MaxPendingLogs, however many there are, so
// that the queue keeps room for its drop policy; a completion beyond, or one that finds
// its Outbox holding boxMax logs, goes to Handle.
// Create it with NewOutbox and close it with Close when the producer stops (a connection
// that closes): an Outbox left open stays registered, and keeps its ring (it doubles as
// logs wait, up to boxMax slots, about 20 KB, with the ids of the logs it last held) as
// long as the aggregator. It is safe for concurrent use, though made for one producer at
// a time.
type Outbox struct {
	a  *Aggregator
	mu sync.Mutex
	// ring holds the logs waiting, ring[head..tail) (indices modulo its length, a power of
	// two); made on the first log. The export goroutine reads them without mu (see
	// drain): the producer writes no slot in [head, tail) before head moves past it.
	ring       []boxSlot
	head, tail uint64
	credit     int64 // places of the Outboxes' room taken and not yet used (see take)
	closed     bool
	// counters, guarded by mu; folded into the aggregator's (receivedOther) when the
	// Outbox closes
	received int64
}

// boxSlot is what the log of a sole completion needs of its event (see boxSlot.record).
type boxSlot struct {
	at                                   time.Time
	sessionID, statementID               string
	opType, stmtType, resultFormat       string
	latency, ready, consume, pollLatency time.Duration
	polls, retries, chunksPresent        int32
	compressed                           bool
}

// set keeps ev, taken at at, in s.
func (s *boxSlot) set(ev *telemetry.Event, at time.Time) {
	*s = boxSlot{
		at: at, sessionID: ev.SessionID, statementID: ev.StatementID,
		opType: ev.OperationType, stmtType: ev.StatementType, resultFormat: ev.ResultFormat,
		latency: ev.Latency, ready: ev.ResultReadyLatency, consume: ev.ConsumptionLatency, pollLatency: ev.PollLatency,
		polls: ev.PollCount, retries: ev.RetryCount, chunksPresent: ev.ChunksPresent,
		compressed: ev.Compressed,
	}
}

// record builds the log Handle would build for the completion s keeps, into *rec (zero).
func (s *boxSlot) record(rec *record) {
	ev := telemetry.Event{
		Kind: telemetry.KindStatementComplete, Time: s.at, SessionID: s.sessionID, StatementID: s.statementID,
		OperationType: s.opType, StatementType: s.stmtType, ResultFormat: s.resultFormat,
		Latency: s.latency, ResultReadyLatency: s.ready, ConsumptionLatency: s.consume, PollLatency: s.pollLatency,
		PollCount: s.polls, RetryCount: s.retries, ChunksPresent: s.chunksPresent,
		Compressed: s.compressed,
	}
	fillStatementRecord(rec, nil, &ev, s.at)
}

// NewOutbox returns an open Outbox of a. On a closed aggregator it returns a closed one,
// not registered: its logs are dropped (counted as Dropped.Closed).
func (a *Aggregator) NewOutbox() *Outbox {
	o := &Outbox{a: a}
	a.boxMu.Lock()
	defer a.boxMu.Unlock()
	if a.closed.Load() { // closeBoxes, under boxMu, follows closed
		o.closed = true
		return o
	}
	if a.boxes == nil {
		a.boxes = make(map[*Outbox]struct{})
	}
	a.boxes[o] = struct{}{}
	return o
}

// Of reports whether o is an Outbox of a.
func (o *Outbox) Of(a *Aggregator) bool { return o != nil && o.a == a }

// Complete takes the statement.complete of a statement that has no other event (see
// Outbox), and keeps what its log needs. Any other event (another kind, no statement id,
// an error) goes to Handle instead, and so does a completion that finds o holding boxMax
// logs, the Outboxes' room taken (see Outbox) or MaxPendingLogs reached: Handle's shards
// keep a room of their own, and apply the queue's drop policy. Like Handle, it never
// blocks on an export and never fails: what cannot be kept is counted.
func (o *Outbox) Complete(ev *telemetry.Event) {
	a := o.a
	if ev.Kind != telemetry.KindStatementComplete || ev.StatementID == "" || ev.HasError() {
		a.Handle(*ev)
		return
	}
	if a.closed.Load() {
		a.dropClosed()
		return
	}
	at := a.eventTime(ev) // before the lock: a caller's clock may panic
	if !o.take(ev, at) {
		a.Handle(*ev)
		return
	}
	a.wakeOnBatch()
}

// take keeps ev's log in o, or counts it as dropped when o is closed. It reports false,
// and takes nothing, when the log has no place: o holds boxMax logs, finds the Outboxes'
// room taken, or MaxPendingLogs is reached.
func (o *Outbox) take(ev *telemetry.Event, at time.Time) bool {
	a := o.a
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		a.dropClosed()
		return true
	}
	if o.tail-o.head == uint64(len(o.ring)) && !o.growLocked() {
		return false
	}
	if o.credit == 0 {
		// The Outbox takes its room among the Outboxes' several places at a time
		// (a.boxCredit), rather than one per log; drain gives back what it did not use.
		if a.boxCredit == 0 || !a.reserveRoom(a.boxCredit) {
			return false
		}
		o.credit = a.boxCredit
	}
	if !a.q.reserveOutbox(false) {
		return false
	}
	o.credit--
	o.received++
	o.ring[o.tail&uint64(len(o.ring)-1)].set(ev, at)
	o.tail++
	return true
}

// growLocked doubles o's ring (or makes its first), unless it has boxMax slots already;
// called with o.mu held. The export goroutine may be reading the old ring's slots: both
// only read them.
func (o *Outbox) growLocked() bool {
	n := len(o.ring)
	if n >= boxMax {
		return false
	}
	grown := make([]boxSlot, max(boxFirst, 2*n))
	for i := o.head; i < o.tail; i++ {
		grown[i&uint64(len(grown)-1)] = o.ring[i&uint64(n-1)]
	}
	o.ring = grown
	return true
}

// reserveRoom takes n places of the Outboxes' room (boxRoom), so that the queue, where
// the drop policy applies, keeps its own however many Outboxes there are; it fails when
// fewer are left.
func (a *Aggregator) reserveRoom(n int64) bool {
	for {
		held := a.boxLogs.Load()
		if held+n > a.boxRoom {
			return false
		}
		if a.boxLogs.CompareAndSwap(held, held+n) {
			return true
		}
	}
}

// drain moves o's logs to the export queue, building their records, and gives back
// o's room among the Outboxes'; called with a.boxMu held, which makes one drain at a
// time and keeps Stats from counting the logs twice, in o and in the queue. The records
// are built without o.mu (the producer goes on meanwhile: it writes no slot that waits)
// or the queue's lock.
func (o *Outbox) drain() {
	a := o.a
	o.mu.Lock()
	head, tail, ring, credit := o.head, o.tail, o.ring, o.credit
	o.credit = 0
	o.mu.Unlock()
	if head != tail {
		recs := a.boxRecs[:0]
		for i := head; i < tail; i++ {
			recs = append(recs, record{})
			ring[i&uint64(len(ring)-1)].record(&recs[len(recs)-1])
		}
		a.q.moveIn(recs)
		clear(recs)
		a.boxRecs = recs[:0]
		o.mu.Lock()
		o.head = tail
		o.mu.Unlock()
	}
	// An Outbox's unused room too, which may have outlived a failed place.
	a.boxLogs.Add(-int64(tail-head) - credit)
}

// Close moves o's logs to the export queue and unregisters it; the logs it takes from
// then on are dropped (Dropped.Closed). It is idempotent.
func (o *Outbox) Close() {
	a := o.a
	a.boxMu.Lock()
	defer a.boxMu.Unlock()
	o.closeLocked()
	delete(a.boxes, o)
}

// closeLocked closes o; called with a.boxMu held, so that Stats, which reads
// receivedOther under it too, counts o's logs and events once, in o or in the
// aggregator's counters.
func (o *Outbox) closeLocked() {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true // the logs it takes from now on are dropped
	o.mu.Unlock()
	o.drain()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ring = nil
	o.a.receivedOther.Add(o.received)
	o.received = 0
}

// collectBoxes moves the logs of every Outbox to the export queue (see collect).
func (a *Aggregator) collectBoxes() {
	a.boxMu.Lock()
	defer a.boxMu.Unlock()
	for o := range a.boxes {
		o.drain()
	}
}

// closeBoxes closes every Outbox (see Close), as the aggregator closes.
func (a *Aggregator) closeBoxes() {
	a.boxMu.Lock()
	defer a.boxMu.Unlock()
	for o := range a.boxes {
		o.closeLocked()
	}
	a.boxes, a.boxRecs = nil, nil
}
