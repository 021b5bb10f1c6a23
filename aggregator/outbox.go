package aggregator

import (
	"sync"
	"time"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// boxSize is the most logs an Outbox holds before they move to the export queue.
const boxSize = 8

// Outbox is one producer's own way into the aggregator, for the statements that need no
// aggregation: a statement.complete that is its statement's only event (it carries the
// start; no chunk or error of the statement was handed to the aggregator before it, and
// none will be after it but errors logged on their own, Event.Standalone). Such a
// completion is its statement's whole log. Handle would look the statement up under a
// shard's lock, by a hash of its id, to find nothing; an Outbox builds the log at once,
// in a buffer of its own that the export goroutine empties before every export (and that
// moves to the queue when full), so that producers that each have one share no lock but
// the queue's, taken once per boxSize logs. The driver keeps one per connection:
// database/sql runs one statement at a time on it.
//
// Its logs count like the others (Stats: Received, Queued, Pending) and take their
// places among MaxPendingLogs as they are built. The Outboxes together hold no more than
// what the shards' outboxes leave of half of MaxPendingLogs, however many there are, so
// that the queue keeps room for its drop policy; a completion beyond goes to Handle.
// Create it with NewOutbox and close it with Close when the producer stops (a connection
// that closes): an Outbox left open stays registered, and keeps its buffer, as long as
// the aggregator. It is safe for concurrent use, though made for one producer at a time.
type Outbox struct {
	a      *Aggregator
	mu     sync.Mutex
	recs   []record // made on the first log
	roomy  bool     // recs holds its room among the Outboxes' (see take)
	closed bool
	// counters, guarded by mu; folded into the aggregator's (receivedOther) when the
	// Outbox closes
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
// error) goes to Handle instead, and so does a completion that finds the Outboxes' room
// taken (see Outbox) or MaxPendingLogs reached: Handle's shards keep a room of their own,
// and apply the queue's drop policy. Like Handle, it never blocks on an export and never
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
	if !o.take(ev, at) {
		a.Handle(*ev)
		return
	}
	a.wakeOnBatch()
}

// take builds ev's log in o, or counts it as dropped when o is closed. It reports false,
// and takes nothing, when the log has no place: o's buffer finds the Outboxes' room
// taken, or MaxPendingLogs is reached.
func (o *Outbox) take(ev *telemetry.Event, at time.Time) bool {
	a := o.a
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		a.receivedOther.Add(1)
		a.droppedClosed.Add(1)
		return true
	}
	if o.recs == nil {
		o.recs = make([]record, 0, min(boxSize, a.outboxCap))
	}
	if len(o.recs) == cap(o.recs) {
		o.moveLocked() // full: its logs go to the queue
	}
	if !o.roomy {
		// The Outbox's buffer takes its room among the Outboxes' as a whole, until it
		// moves: one reservation per buffer of logs rather than per log.
		if !a.reserveRoom(int64(cap(o.recs))) {
			return false
		}
		o.roomy = true
	}
	if !a.q.reserveOutbox(false) {
		return false
	}
	o.received++
	n := len(o.recs)
	o.recs = o.recs[:n+1]
	fillStatementRecord(&o.recs[n], nil, ev, at)
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

// moveLocked moves o's logs to the export queue, and gives their room back; called
// with o.mu held.
func (o *Outbox) moveLocked() {
	if len(o.recs) > 0 {
		o.a.q.moveIn(o.recs, nil)
		clear(o.recs)
		o.recs = o.recs[:0]
	}
	if o.roomy { // an empty buffer too: its room may have outlived a failed reservation
		o.a.boxLogs.Add(-int64(cap(o.recs)))
		o.roomy = false
	}
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
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.closed = true
	o.moveLocked()
	o.recs = nil
	o.a.receivedOther.Add(o.received)
	o.received = 0
}

// collectBoxes moves the logs of every Outbox to the export queue (see collect).
func (a *Aggregator) collectBoxes() {
	a.boxMu.Lock()
	defer a.boxMu.Unlock()
	for o := range a.boxes {
		o.mu.Lock()
		o.moveLocked()
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
