package aggregator

import (
	"sync"
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
	rows                           int64
	polls                          int32
	pollLatency                    time.Duration
	ready, consume                 time.Duration
	chunksPresent, chunks          int32
	maxChunkIndex                  int32
	bytes                          int64
	compressed                     bool
	initial, slowest, sum          time.Duration
	retries                        int32 // reported by events (max)
	retryableSeen                  int32 // retryable errors seen, held or not
}

// errData is one failure, already classified and redacted by the emitter.
type errData struct {
	name, sqlState, message string
	httpStatus              int
	terminal                bool
}

func errFromEvent(ev *telemetry.Event) errData {
	name := ev.ErrorName
	if name == "" && ev.Message != "" {
		name = telemetry.ErrNameGeneric
	}
	return errData{name: name, sqlState: ev.SQLState, message: ev.Message, httpStatus: ev.HTTPStatus, terminal: ev.Terminal}
}

// record is a finished log waiting in the queue; it becomes a telemetry.FrontendLog only
// on the export goroutine, so building JSON-ready values never costs the caller.
type record struct {
	seq         uint64
	kind        recKind
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

// popInto moves the front record into dst (dst may be nil to drop it).
func (r *ring) popInto(dst *record) {
	if dst != nil {
		*dst = r.buf[r.head]
	}
	r.buf[r.head] = record{} // release its strings
	r.head = (r.head + 1) % len(r.buf)
	r.n--
}

// queue holds the logs awaiting export, bounded by max. Logs with an error wait in their
// own ring so that "drop the oldest non-error log" is O(1); pop merges both by sequence.
type queue struct {
	mu     sync.Mutex
	normal ring
	errs   ring
	seq    uint64
	max    int
	closed bool
	// counters, guarded by mu
	queued, droppedFull, droppedClosed, unfinished int64
}

// push appends rec, dropping the oldest non-error log (or, failing that, the oldest error
// log) when the queue is full. It reports the queue length after the push.
func (q *queue) push(rec *record) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		q.droppedClosed++
		return 0
	}
	if q.normal.n+q.errs.n >= q.max {
		if q.normal.n > 0 {
			q.normal.popInto(nil)
		} else {
			q.errs.popInto(nil)
		}
		q.droppedFull++
	}
	q.seq++
	rec.seq = q.seq
	q.queued++
	if rec.hasError() {
		q.errs.push(rec)
	} else {
		q.normal.push(rec)
	}
	return q.normal.n + q.errs.n
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.normal.n + q.errs.n
}

// pop appends up to n records to dst, oldest first.
func (q *queue) pop(dst []record, n int) []record {
	q.mu.Lock()
	defer q.mu.Unlock()
	for ; n > 0 && q.normal.n+q.errs.n > 0; n-- {
		from := &q.normal
		if q.normal.n == 0 || q.errs.n > 0 && q.errs.front().seq < q.normal.front().seq {
			from = &q.errs
		}
		dst = append(dst, record{})
		from.popInto(&dst[len(dst)-1])
	}
	return dst
}

// close refuses further pushes and counts what is left as unfinished.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	for q.normal.n > 0 {
		q.normal.popInto(nil)
		q.unfinished++
	}
	for q.errs.n > 0 {
		q.errs.popInto(nil)
		q.unfinished++
	}
}
