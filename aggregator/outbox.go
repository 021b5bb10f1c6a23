package aggregator

import (
	"sync"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// boxSize is the most logs an Outbox holds before they move to the export queue.
const boxSize = 8

// Outbox is one producer's own way into the aggregator, for the statements that need no
// aggregation: a statement.complete that is its statement's only event (it carries the
// start, and no chunk or error of the statement was or will be handed to the
// aggregator). Such a completion is its statement's whole log. Handle would look the
// statement up under a shard's lock, by a hash of its id, to find nothing; an Outbox
// builds the log at once, in a buffer of its own that the export goroutine empties
// before every export (and that moves to the queue when full), so that producers that
// each have one share no lock but the queue's, taken once per boxSize logs. The driver
// keeps one per connection: database/sql runs one statement at a time on it.
//
// Its logs count like the others (Stats: Received, Queued, Pending) and take their
// places among MaxPendingLogs as they are built. Create it with NewOutbox and close it
// with Close when the producer stops (a connection that closes): an Outbox left open
// stays registered, and keeps its buffer, as long as the aggregator. It is safe for
// concurrent use, though made for one producer at a time.
type Outbox struct {
	a      *Aggregator
	mu     sync.Mutex
	recs   []record // made on the first log
	closed bool
	// counters, guarded by mu; folded into the aggregator's when the Outbox closes
	received int64
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
// Outbox), and builds its log. Any other event (another kind, no statement id, an
// error) goes to Handle instead. Like Handle, it never blocks on an export and never
// fails: what cannot be kept is counted.
func (o *Outbox) Complete(ev *telemetry.Event) {
	a := o.a
	if ev.Kind != telemetry.KindStatementComplete || ev.StatementID == "" || ev.HasError() {
		a.Handle(*ev)
		return
	}
	if a.closed.Load() {
		a.receivedOther.Add(1)
		a.droppedClosed.Add(1)
		return
	}
	at := a.eventTime(ev) // before the lock: a caller's clock may panic
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		a.receivedOther.Add(1)
		a.droppedClosed.Add(1)
		return
	}
	o.received++
	if o.recs == nil {
		o.recs = make([]record, 0, min(boxSize, a.outboxCap))
	}
	var spill record
	rec := &spill
	if n := len(o.recs); n < cap(o.recs) && a.q.reserveOutbox(false) {
		o.recs = o.recs[:n+1]
		rec = &o.recs[n]
	}
	fillStatementRecord(rec, nil, ev, at)
	if rec == &spill {
		// Full, or MaxPendingLogs reached: the queue takes the buffer and applies its
		// drop policy to the new log.
		o.moveLocked(rec)
	}
	a.wakeOnBatch()
}

// moveLocked moves o's logs to the export queue, followed by rec (nil for none); called
// with o.mu held.
func (o *Outbox) moveLocked(rec *record) {
	if len(o.recs) == 0 && rec == nil {
		return
	}
	o.a.q.moveIn(o.recs, rec)
	clear(o.recs)
	o.recs = o.recs[:0]
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

// closeLocked closes o; called with a.boxMu held, so that Stats counts o's logs and
// events once, in o or in the aggregator's counters.
func (o *Outbox) closeLocked() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.closed = true
	o.moveLocked(nil)
	o.recs = nil
	o.a.boxReceived.Add(o.received)
	o.received = 0
}

// collectBoxes moves the logs of every Outbox to the export queue (see collect).
func (a *Aggregator) collectBoxes() {
	a.boxMu.Lock()
	defer a.boxMu.Unlock()
	for o := range a.boxes {
		o.mu.Lock()
		o.moveLocked(nil)
		o.mu.Unlock()
	}
}

// closeBoxes closes every Outbox (see Close), as the aggregator closes.
func (a *Aggregator) closeBoxes() {
	a.boxMu.Lock()
	defer a.boxMu.Unlock()
	for o := range a.boxes {
		o.closeLocked()
	}
	a.boxes = nil
}
