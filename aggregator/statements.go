package aggregator

import (
	"sync"
	"time"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// entry aggregates one open statement. Entries of a shard form a list in the order the
// aggregator first heard of them, so the oldest (for capacity and TTL eviction) is at
// the head (events of concurrent emitters may arrive microseconds out of the order of
// their times, which moves an eviction by as much).
type entry struct {
	id, session string
	created     time.Time // when the statement began: its start's Time, else seen
	seen        time.Time // when the event that opened it happened; StatementTTL runs from it
	stmt        stmtData
	errs        []errData // retryable errors held until the statement finishes
	prev, next  *entry
}

// shard is one lock-protected part of the open statements, chosen by a hash of the
// statement id, so that concurrent emitters rarely contend.
type shard struct {
	mu     sync.Mutex
	m      map[string]*entry
	head   *entry
	tail   *entry
	closed bool
	free   []*entry
	outbox []record // finished logs on their way to the export queue (see stage)
	// evicted remembers the ids of the statements evicted last (at most len(evictedIDs)),
	// whose log has gone: their later events are dropped, not logged again (see
	// Aggregator.handleStatement).
	evicted    map[string]struct{}
	evictedIDs []string // a ring of up to evictedCap ids, oldest at evictedAt; grows with use
	evictedAt  int
	evictedCap int
	// counters, guarded by mu
	received, errLimit, closedDrops     int64
	lateDrops                           int64
	evictCapacity, evictTTL, evictClose int64
	_                                   [64]byte // keep shards on separate cache lines
}

const maxFreeEntries = 64

func (s *shard) newEntry(id, session string, created, seen time.Time) *entry {
	var e *entry
	if n := len(s.free); n > 0 {
		e = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		e = &entry{}
	}
	e.id, e.session, e.created, e.seen = id, session, created, seen
	e.prev = s.tail
	if s.tail != nil {
		s.tail.next = e
	} else {
		s.head = e
	}
	s.tail = e
	s.m[id] = e
	return e
}

// remove unlinks e from the shard; the caller recycles it with release once the records
// it yields are built.
func (s *shard) remove(e *entry) {
	delete(s.m, e.id)
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (s *shard) release(e *entry) {
	errs := e.errs[:0]
	clear(e.errs)
	*e = entry{}
	if cap(errs) <= 8 {
		e.errs = errs // keep a small buffer, drop big ones
	}
	if len(s.free) < maxFreeEntries {
		s.free = append(s.free, e)
	}
}

// mergeStatement folds the statement fields of ev into d.
func mergeStatement(d *stmtData, ev *telemetry.Event) {
	switch ev.Kind {
	case telemetry.KindStatementStart:
		if ev.OperationType != "" {
			d.opType = ev.OperationType
		}
		if ev.StatementType != "" {
			d.stmtType = ev.StatementType
		}
		if !ev.Time.IsZero() {
			d.started = ev.Time
		}
		if ev.ResultFormat != "" {
			d.resultFormat = ev.ResultFormat // the completion may say it again, or later
		}
		if ev.ResultReadyLatency > 0 {
			d.ready = ev.ResultReadyLatency // known once the driver call returned; the completion says it again
		}
	case telemetry.KindChunk:
		d.chunks++ // its bytes and index have no field in the log
		d.compressed = d.compressed || ev.Compressed
		// In whole milliseconds, as the log carries them (and as the driver's built-in
		// telemetry sums them): a sum of unrounded latencies could exceed the slowest
		// chunk's milliseconds times the chunks.
		l := ev.Latency.Truncate(time.Millisecond)
		if d.chunks == 1 {
			d.initial = l
		}
		d.slowest = max(d.slowest, l)
		d.sum += l
	case telemetry.KindStatementComplete:
		if ev.ResultFormat != "" {
			d.resultFormat = ev.ResultFormat
		}
		if ev.OperationType != "" && d.opType == "" {
			d.opType = ev.OperationType
		}
		if ev.StatementType != "" && d.stmtType == "" {
			d.stmtType = ev.StatementType
		}
		d.ready = ev.ResultReadyLatency
		d.consume = ev.ConsumptionLatency
		d.chunksPresent = max(d.chunksPresent, ev.ChunksPresent)
		d.compressed = d.compressed || ev.Compressed
	}
	d.polls += ev.PollCount
	d.pollLatency += ev.PollLatency
	d.retries = max(d.retries, ev.RetryCount)
}

// statementRecord turns a finished entry (nil when the statement was never seen open)
// into its record. ev is the event that finished it, nil for an eviction.
func statementRecord(e *entry, ev *telemetry.Event, now time.Time) record {
	var rec record
	fillStatementRecord(&rec, e, ev, now)
	return rec
}

// fillStatementRecord is statementRecord into *rec, which is zero: a slot of an outbox,
// so that the record is written once, where it waits.
func fillStatementRecord(rec *record, e *entry, ev *telemetry.Event, now time.Time) {
	rec.kind, rec.at = recStatement, now
	if e != nil {
		rec.sessionID, rec.statementID, rec.stmt = e.session, e.id, e.stmt
	}
	if ev != nil {
		if rec.statementID == "" {
			rec.statementID = ev.StatementID
		}
		if ev.SessionID != "" {
			rec.sessionID = ev.SessionID
		}
		if ev.Kind == telemetry.KindStatementComplete {
			mergeStatement(&rec.stmt, ev)
			rec.latency = ev.Latency
		}
		if ev.HasError() || ev.Kind == telemetry.KindError {
			rec.err = errFromEvent(ev)
		}
	}
	if rec.latency <= 0 {
		// No statement.complete (eviction, terminal error): time since the start.
		switch {
		case !rec.stmt.started.IsZero():
			rec.latency = now.Sub(rec.stmt.started)
		case e != nil:
			rec.latency = now.Sub(e.created)
		}
		rec.latency = max(rec.latency, 0)
	}
}

// wasEvicted reports whether the statement id is among the last evicted, or finished by
// a terminal error (see tombstone).
func (s *shard) wasEvicted(id string) bool {
	if len(s.evicted) == 0 {
		return false
	}
	_, ok := s.evicted[id]
	return ok
}

// tombstone remembers that the statement id was evicted, or finished by a terminal
// error: its log has gone. The oldest id is forgotten when the ring is full.
func (s *shard) tombstone(id string) {
	if s.wasEvicted(id) {
		return // once in the ring: a second copy would outlive the first's delete
	}
	if s.evicted == nil {
		s.evicted = make(map[string]struct{})
	}
	s.evicted[id] = struct{}{}
	if len(s.evictedIDs) < s.evictedCap { // not full: the oldest stays at evictedAt (0)
		s.evictedIDs = append(s.evictedIDs, id)
		return
	}
	delete(s.evicted, s.evictedIDs[s.evictedAt])
	s.evictedIDs[s.evictedAt] = id
	s.evictedAt = (s.evictedAt + 1) % len(s.evictedIDs)
}
