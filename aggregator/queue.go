package aggregator

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// recKind says which kind of log a record becomes.
type recKind uint8

const (
	recConnOpen recKind = iota + 1
	recConnClose
	recStatement
	recError
)

// stmtData is what a statement accumulates from its events.
type stmtData struct {
	opType, stmtType, resultFormat string
	started                        time.Time // statement.start's Time, if given
	polls                          int32
	pollLatency                    time.Duration
	ready, consume                 time.Duration
	chunksPresent, chunks          int32
	compressed                     bool
	initial, slowest, sum          time.Duration
	retries                        int32 // reported by events (max): retries the driver made
}

// errData is one failure, already classified and redacted by the emitter.
type errData struct {
	name, sqlState, message string
	httpStatus              int
	terminal                bool
}

// errFromEvent is the failure ev carries; it is called only for an error (a KindError
// event, or one whose HasError holds), which is named even when the event is not: a
// Sink fed directly may leave ErrorName and Message empty, and a record without a name
// is no error log (no error_info, and dropped as a non-error log when the queue is full).
func errFromEvent(ev *telemetry.Event) errData {
	name := ev.ErrorName
	if name == "" {
		name = telemetry.ErrNameGeneric
	}
	return errData{name: name, sqlState: ev.SQLState, message: ev.Message, httpStatus: ev.HTTPStatus, terminal: ev.Terminal}
}

// record is a finished log waiting in the queue; it becomes a telemetry.FrontendLog only
// on the export goroutine, so building JSON-ready values never costs the caller.
type record struct {
	seq  uint64
	kind recKind
	// follows marks a held error's log, queued right after its statement's (see
	// Aggregator.finishHeld): pop keeps the two in one batch.
	follows     bool
	at          time.Time // when the log was finished
	sessionID   string
	statementID string
	latency     time.Duration
	conn        *telemetry.ConnectionInfo
	stmt        stmtData
	err         errData
}

func (r *record) hasError() bool { return r.err.name != "" }

// ring is a growable FIFO of records.
type ring struct {
	buf  []record
	head int
	n    int
}

func (r *ring) push(rec *record) {
	if r.n == len(r.buf) {
		grown := make([]record, max(16, 2*len(r.buf)))
		for i := 0; i < r.n; i++ {
			grown[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = grown, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = *rec
	r.n++
}

func (r *ring) front() *record { return &r.buf[r.head] }

// at returns the record i places behind the front (i < r.n).
func (r *ring) at(i int) *record { return &r.buf[(r.head+i)%len(r.buf)] }

// popInto moves the front record into dst (dst may be nil to drop it).
func (r *ring) popInto(dst *record) {
	if dst != nil {
		*dst = r.buf[r.head]
	}
	r.buf[r.head] = record{} // release its strings
	r.head = (r.head + 1) % len(r.buf)
	r.n--
}

// queue holds the logs awaiting export. Logs with an error wait in their own ring so that
// "drop the oldest non-error log" is O(1); pop merges both by sequence.
//
// At most max logs await export, in the queue and in the shards' outboxes together:
// pending counts both, and a log takes its place in it (reserve, or the drop policy of
// push) before it is kept anywhere. The one excess: an error log that finds only error
// logs in the queue and others in outboxes goes in over max until one of those moves in
// and is dropped (the excess, see excess), at most the outboxes' size.
type queue struct {
	mu      sync.Mutex
	normal  ring
	errs    ring
	seq     uint64
	max     int
	closed  bool
	pending atomic.Int64 // logs awaiting export, in the rings and in outboxes; at most max (plus the excess)
	// outboxErrs counts the error logs among the places reserved for outboxes (counted
	// before the place is taken), so that pending - queued - outboxErrs is the number of
	// non-error logs waiting in outboxes.
	outboxErrs atomic.Int64
	// counters, guarded by mu
	queued, droppedFull, droppedClosed, unfinished int64
}

// reserve takes a place for one log kept outside the queue (in an outbox), without the
// lock. It fails when max logs await export already.
func (q *queue) reserve() bool {
	for {
		p := q.pending.Load()
		if p >= int64(q.max) {
			return false
		}
		if q.pending.CompareAndSwap(p, p+1) {
			return true
		}
	}
}

// reserveOutbox takes a place for a log in an outbox (see reserve), counting it among the
// outboxes' error logs first when it is one.
func (q *queue) reserveOutbox(isErr bool) bool {
	if isErr {
		q.outboxErrs.Add(1)
	}
	if q.reserve() {
		return true
	}
	if isErr {
		q.outboxErrs.Add(-1)
	}
	return false
}

// excess is how many logs await export over max: error logs let in over it while the
// only non-error logs waited in outboxes (see pushLocked). As many of those are dropped
// when they move in, while the excess lasts; an export that made room first ends it.
// Only pushLocked takes pending over max (reserve stops at it), under mu, where excess
// is read.
func (q *queue) excess() int64 { return max(0, q.pending.Load()-int64(q.max)) }

// outboxNormals is the number of non-error logs waiting in outboxes that the excess has
// claimed yet; called with mu held.
func (q *queue) outboxNormals() int64 {
	return q.pending.Load() - int64(q.normal.n+q.errs.n) - q.outboxErrs.Load() - q.excess()
}

// waiting returns how many logs await export, in the queue and in outboxes.
func (q *queue) waiting() int { return int(q.pending.Load()) }

// push appends rec; when max logs await export it drops the oldest log without an error,
// which is rec itself when only error logs wait in the queue. An error log rec then goes
// in over max when logs without an error wait in outboxes (the first of them to move in
// is dropped instead), else it takes the place of the oldest error log; when every place
// is an outbox's, rec is dropped.
// It reports how many logs await export after the push.
func (q *queue) push(rec *record) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pushLocked(rec)
	return q.waiting()
}

// moveIn appends recs, whose places were reserved, then each of more as push does,
// under one lock.
func (q *queue) moveIn(recs []record, more ...record) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range recs {
		isErr := recs[i].hasError()
		if isErr {
			q.outboxErrs.Add(-1)
		}
		switch {
		case q.closed:
			q.droppedClosed++
			q.pending.Add(-1)
		case !isErr && q.excess() > 0:
			// An error log took its place over max (see pushLocked): it goes now.
			q.queued++
			q.droppedFull++
			q.pending.Add(-1)
		default:
			q.add(&recs[i])
		}
	}
	for i := range more {
		q.pushLocked(&more[i])
	}
}

func (q *queue) pushLocked(rec *record) {
	if q.closed {
		q.droppedClosed++
		return
	}
	if !q.reserve() {
		// Full: the oldest log without an error goes (SPEC §2), which is rec itself when
		// only error logs wait; an error log takes the place of the oldest error log when
		// there is no other.
		switch {
		case q.normal.n > 0:
			q.normal.popInto(nil)
		case rec.hasError() && q.outboxNormals() > 0:
			// The non-error logs wait in outboxes, out of reach here (their shards' locks
			// come before this one): rec goes in over max, and the first of them to move
			// in is dropped in its place.
			q.pending.Add(1)
			q.add(rec)
			return
		case q.errs.n > 0 && rec.hasError():
			q.errs.popInto(nil)
		default:
			q.queued++ // rec goes: errors wait, or every place is taken by an outbox's log
			q.droppedFull++
			// It uses up its number all the same: the held errors' logs that follow it
			// must not take the numbers right after another log, and join its group.
			q.seq++
			return
		}
		q.droppedFull++
	}
	q.add(rec)
}

// add appends rec, whose place is taken; called with mu held.
func (q *queue) add(rec *record) {
	q.seq++
	rec.seq = q.seq
	q.queued++
	if rec.hasError() {
		q.errs.push(rec)
	} else {
		q.normal.push(rec)
	}
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.normal.n + q.errs.n
}

// pop appends up to n records to dst, oldest first. A statement's log and the logs of
// its held errors that follow it (record.follows) go together: the batch ends before
// them when they do not fit in what is left of n, and exceeds n only when they alone do
// not fit in n (more held errors than n-1).
func (q *queue) pop(dst []record, n int) []record {
	q.mu.Lock()
	defer q.mu.Unlock()
	before := len(dst)
	for taken := 0; q.normal.n+q.errs.n > 0; taken++ {
		from := q.next()
		if taken > 0 && !q.followsLast(dst[len(dst)-1].seq) && taken+q.groupLen(from) > n {
			break
		}
		dst = append(dst, record{})
		from.popInto(&dst[len(dst)-1])
	}
	q.pending.Add(-int64(len(dst) - before))
	return dst
}

// next returns the ring whose front is the oldest record; called with mu held and a
// record queued.
func (q *queue) next() *ring {
	if q.normal.n == 0 || q.errs.n > 0 && q.errs.front().seq < q.normal.front().seq {
		return &q.errs
	}
	return &q.normal
}

// followsLast reports whether the oldest record is a held error's log queued right after
// the record numbered seq; called with mu held and a record queued. Such logs are error
// logs: they wait in errs.
func (q *queue) followsLast(seq uint64) bool {
	return q.errs.n > 0 && q.errs.front().follows && q.errs.front().seq == seq+1
}

// groupLen is how many records go together from the front of from, the ring of the
// oldest record: it and the held errors' logs queued right after it (see pop); called
// with mu held.
func (q *queue) groupLen(from *ring) int {
	i := 0
	if from == &q.errs {
		i = 1
	}
	n, seq := 1, from.front().seq
	for ; i < q.errs.n; i++ {
		r := q.errs.at(i)
		if !r.follows || r.seq != seq+1 {
			break
		}
		n, seq = n+1, r.seq
	}
	return n
}

// close refuses further pushes and counts what is left as unfinished.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	for q.normal.n > 0 {
		q.normal.popInto(nil)
		q.unfinished++
		q.pending.Add(-1)
	}
	for q.errs.n > 0 {
		q.errs.popInto(nil)
		q.unfinished++
		q.pending.Add(-1)
	}
	q.normal, q.errs = ring{}, ring{} // nothing goes in again: their buffers go
}
