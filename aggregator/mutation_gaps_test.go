package aggregator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// The tests in this file each pin a behaviour that a mutation of the aggregator's code
// changed without any other test noticing (see the mutation-testing report).

// shardCount stops at 64 shards however many CPUs and statements there are.
func TestShardCountCappedAt64(t *testing.T) {
	for _, tt := range []struct{ maxOpen, procs, want int }{
		{1 << 20, 17, 64}, // 4 per CPU would be 68
		{1 << 20, 64, 64},
		{8192, 64, 64}, // room for 128 shards of minEntriesPerShard
	} {
		assert.Equal(t, tt.want, shardCount(tt.maxOpen, tt.procs), "%+v", tt)
	}
}

// An event handed to Handle after Close is counted as Dropped.Closed, whatever it is:
// Close stops accepting before an event is looked at, so an event that would have been
// invalid is not counted as Invalid (Stats: "Closed: events handed to Handle after Close
// began").
func TestEventsAfterCloseAreCountedAsClosed(t *testing.T) {
	for _, tt := range []struct {
		name string
		ev   telemetry.Event
	}{
		{"unknown kind", telemetry.Event{Kind: 42, SessionID: "s"}},
		{"zero kind", telemetry.Event{StatementID: "q1"}},
		{"statement start without an id", telemetry.Event{Kind: telemetry.KindStatementStart}},
		{"chunk without an id", telemetry.Event{Kind: telemetry.KindChunk}},
		{"connection open", connOpen("s")},
		{"statement start", start("q1")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newTest(t, newFake())
			require.NoError(t, a.Close(context.Background()))
			a.Handle(tt.ev)
			s := a.Stats()
			assert.Equal(t, int64(1), s.Received)
			assert.Equal(t, int64(1), s.Dropped.Closed)
			assert.Zero(t, s.Dropped.Invalid)
		})
	}
}

// A statement's session is the first one its events name: a later event without a
// session, or (a sink fed directly) naming another, does not replace it. Only the
// finishing completion's own session stamps the log.
func TestStatementKeepsTheFirstSessionItHears(t *testing.T) {
	chunkIn := func(session string) telemetry.Event {
		ev := chunk("q1", 0, time.Millisecond, false)
		ev.SessionID = session
		return ev
	}
	done := complete("q1")
	done.SessionID = ""
	for _, tt := range []struct {
		name  string
		chunk telemetry.Event
	}{
		{"a later event without a session", chunkIn("")},
		{"a later event naming another session", chunkIn("other")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp)
			a.Handle(start("q1")) // sess-1
			a.Handle(tt.chunk)
			a.Handle(done)
			flush(t, a)
			logs := exp.logs()
			require.Len(t, logs, 1)
			assert.Equal(t, "sess-1", driverLog(logs[0]).SessionID)
		})
	}
}

// Only a statement.start is reported Latency after its Time (the driver call that ran
// it): a statement opened by another event, such as a chunk whose Latency is its
// download time, was seen at the event's Time, and its StatementTTL runs from there.
func TestStatementTTLOfAStatementOpenedByAnotherEvent(t *testing.T) {
	for _, tt := range []struct {
		name        string
		ev          telemetry.Event
		wantEvicted int64
	}{
		{"chunk: seen at its Time", chunk("q1", 0, 30*time.Minute, false), 1},
		{"start: seen at its Time plus Latency", start("q1"), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			exp, clock := newFake(), newClock()
			a := newTest(t, exp, WithClock(clock.Now), WithStatementTTL(time.Hour))
			ev := tt.ev
			ev.Time, ev.Latency = clock.Now(), 30*time.Minute
			a.Handle(ev)
			clock.Advance(61 * time.Minute)
			flush(t, a)
			s := a.Stats()
			assert.Equal(t, tt.wantEvicted, s.Evicted.TTL)
			assert.Len(t, exp.logs(), int(tt.wantEvicted))
			assert.Equal(t, 1-int(tt.wantEvicted), s.OpenStatements)
		})
	}
}

// A Standalone error logs on its own only when its statement's log is gone; when the
// statement is open here it is held with it like any retryable error, and exported
// after the statement's log when the statement completes.
func TestStandaloneErrorOfAnOpenStatementIsHeld(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp)
	a.Handle(start("q1"))
	ev := stmtErr("q1", false)
	ev.Standalone = true
	a.Handle(ev)
	flush(t, a)
	assert.Empty(t, exp.logs(), "held while the statement is open")
	assert.Equal(t, 1, a.Stats().OpenStatements)

	a.Handle(complete("q1"))
	flush(t, a)
	logs := exp.logs()
	require.Len(t, logs, 2)
	assert.Nil(t, driverLog(logs[0]).ErrorInfo, "the statement's log first")
	require.NotNil(t, driverLog(logs[1]).ErrorInfo)
	assert.Equal(t, "q1", driverLog(logs[1]).SQLStatementID)
}

// However small MaxOpenStatements is, a shard remembers at least minEntriesPerShard
// evicted statements: each logs once, and their later completions are dropped as late.
func TestEvictedStatementsRememberedWithASmallLimit(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp, WithMaxOpenStatements(1), WithMaxPendingLogs(1000))
	require.Len(t, a.shards, 1)
	const n = minEntriesPerShard + 1 // each start evicts the one before: 64 evicted
	for i := range n {
		a.Handle(start(fmt.Sprint("q", i)))
	}
	for i := range n {
		a.Handle(complete(fmt.Sprint("q", i)))
	}
	flush(t, a)
	perID := map[string]int{}
	for _, l := range exp.logs() {
		perID[driverLog(l).SQLStatementID]++
	}
	assert.Len(t, perID, n)
	for id, c := range perID {
		assert.Equal(t, 1, c, id)
	}
	s := a.Stats()
	assert.Equal(t, int64(n-1), s.Evicted.Capacity)
	assert.Equal(t, int64(n-1), s.Dropped.Late)
}

// retry_count is the most retries any of the statement's events reported, even when a
// later event (the completion) reports fewer or none.
func TestRetryCountKeepsTheMostReported(t *testing.T) {
	for _, tt := range []struct {
		name    string
		retries []int32 // start, chunk, completion
		want    int64
	}{
		{"the completion reports none", []int32{2, 0, 0}, 2},
		{"a chunk reports the most", []int32{0, 4, 1}, 4},
		{"the completion reports the most", []int32{1, 2, 3}, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp)
			a.Handle(withRetries(start("q1"), tt.retries[0]))
			a.Handle(withRetries(chunk("q1", 0, time.Millisecond, false), tt.retries[1]))
			a.Handle(withRetries(complete("q1"), tt.retries[2]))
			flush(t, a)
			logs := exp.logs()
			require.Len(t, logs, 1)
			assert.Equal(t, tt.want, driverLog(logs[0]).SQLOperation.RetryCount)
		})
	}
}

// A connection log carries its event's auth type; an event that names none keeps the
// aggregator's (WithAuthType).
func TestConnectionLogAuthType(t *testing.T) {
	for _, tt := range []struct {
		name, event, want string
	}{
		{"the event's", "oauth-m2m", "oauth-m2m"},
		{"the aggregator's when the event names none", "", "pat"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp, WithAuthType("pat"))
			ev := connOpen("s")
			ev.Connection.AuthType = tt.event
			a.Handle(ev)
			flush(t, a)
			logs := exp.logs()
			require.Len(t, logs, 1)
			assert.Equal(t, tt.want, driverLog(logs[0]).AuthType)
		})
	}
}

// A nil Option is skipped: New neither panics nor loses the options around it.
func TestNilOptionIsIgnored(t *testing.T) {
	var a *Aggregator
	require.NotPanics(t, func() { a = newTest(t, newFake(), nil, WithBatchSize(7)) })
	assert.Equal(t, 7, a.cfg.BatchSize)
}

// While error logs wait over max (their non-error logs owed from outboxes), an error
// log moving in from an outbox is kept: only a log without an error pays the excess.
func TestQueueExcessPaidByAnOutboxLogWithoutAnError(t *testing.T) {
	q := queue{max: 2}
	outbox := []record{
		{kind: recError, sessionID: "oe", err: errData{name: "e"}},
		{sessionID: "n1"},
	}
	for i := range outbox {
		require.True(t, q.reserveOutbox(outbox[i].hasError()))
	}
	q.push(&record{kind: recError, sessionID: "e1", err: errData{name: "e"}}) // over max: n1 owes its place
	require.Equal(t, int64(1), q.excess())
	q.moveIn(outbox)
	var names []string
	for _, r := range q.pop(nil, 10) {
		names = append(names, r.sessionID)
	}
	assert.Equal(t, []string{"e1", "oe"}, names, "both error logs kept, n1 dropped")
	assert.Equal(t, int64(1), q.droppedFull)
	assert.Zero(t, q.waiting())
}

// Closing the queue gives back the place of every log it counts as unfinished, with an
// error or not: nothing awaits export afterwards.
func TestQueueCloseReleasesEveryPlace(t *testing.T) {
	for _, tt := range []struct {
		name string
		rec  record
	}{
		{"a log without an error", record{kind: recConnOpen, sessionID: "n"}},
		{"an error log", record{kind: recError, sessionID: "e", err: errData{name: "e"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := queue{max: 10}
			q.push(&tt.rec)
			require.Equal(t, 1, q.waiting())
			q.close()
			assert.Equal(t, int64(1), q.unfinished)
			assert.Zero(t, q.waiting())
			assert.Zero(t, q.len())
		})
	}
}

// A statement's held retryable errors are logged with it, stamped like it: at its
// statement.complete's Time when the completion carries one, or at its eviction.
func TestHeldErrorsStampedWithTheirStatement(t *testing.T) {
	clock := newClock()
	for _, tt := range []struct {
		name string
		end  func(a *Aggregator)
		want time.Time
	}{
		{"completion with a Time", func(a *Aggregator) {
			a.Handle(timedAt(complete("q1"), clock.Now().Add(-time.Minute)))
		}, clock.Now().Add(-time.Minute)},
		{"eviction at Close", func(a *Aggregator) {
			require.NoError(t, a.Close(context.Background()))
		}, clock.Now()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp, WithClock(clock.Now))
			a.Handle(start("q1"))
			a.Handle(stmtErr("q1", false))
			tt.end(a)
			if !a.closed.Load() {
				flush(t, a)
			}
			logs := exp.logs()
			require.Len(t, logs, 2)
			for _, l := range logs {
				assert.Equal(t, tt.want.UnixMilli(), l.Context.ClientContext.TimestampMillis)
			}
		})
	}
}

// An outbox slot is written in place (fillStatementRecord expects it zero): a slot its
// last log left keeps nothing of it, neither its error_info nor its latency.
func TestReusedOutboxSlotKeepsNothingOfItsLastLog(t *testing.T) {
	for _, tt := range []struct {
		name  string
		first func(a *Aggregator)
		check func(t *testing.T, a *Aggregator, exp *fakeExporter, clock *fakeClock)
	}{
		{"an error log's error_info", func(a *Aggregator) {
			a.Handle(start("q1"))
			a.Handle(stmtErr("q1", true))
		}, func(t *testing.T, a *Aggregator, exp *fakeExporter, _ *fakeClock) {
			a.Handle(start("q2"))
			a.Handle(complete("q2"))
			flush(t, a)
			logs := byStatement(exp.logs())
			require.Contains(t, logs, "q2")
			assert.Nil(t, logs["q2"].ErrorInfo)
		}},
		{"a completion's latency", func(a *Aggregator) {
			a.Handle(start("q1"))
			a.Handle(complete("q1")) // 250 ms
		}, func(t *testing.T, a *Aggregator, exp *fakeExporter, clock *fakeClock) {
			a.Handle(start("q2"))
			clock.Advance(3 * time.Second)
			require.NoError(t, a.Close(context.Background())) // evicts q2
			logs := byStatement(exp.logs())
			require.Contains(t, logs, "q2")
			assert.Equal(t, int64(3000), logs["q2"].OperationLatencyMs)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			exp, clock := newFake(), newClock()
			a := newTest(t, exp, WithMaxOpenStatements(minEntriesPerShard), WithClock(clock.Now))
			require.Len(t, a.shards, 1, "one outbox, whose first slot is reused")
			tt.first(a)
			flush(t, a) // the outbox empties into the queue
			tt.check(t, a, exp, clock)
		})
	}
}

// A statement's held errors carry its session and statement id, also those staged after
// the outbox filled up and moved to the queue with the statement's own log.
func TestHeldErrorsKeepTheirIDsAcrossAFullOutbox(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp, WithMaxOpenStatements(minEntriesPerShard))
	require.Len(t, a.shards, 1)
	n := a.outboxCap + 3 // the outbox fills while the errors are staged
	a.Handle(start("q1"))
	for range n {
		a.Handle(stmtErr("q1", false))
	}
	a.Handle(complete("q1"))
	flush(t, a)
	logs := exp.logs()
	require.Len(t, logs, 1+n)
	for i, l := range logs {
		assert.Equal(t, "q1", driverLog(l).SQLStatementID, "log %d", i)
		assert.Equal(t, "sess-1", driverLog(l).SessionID, "log %d", i)
	}
}

// Error logs staged in an outbox count towards a full batch and wake the exporter, as
// statement logs do: standalone errors, and the errors a statement held.
func TestErrorLogsFillingABatchWakeTheExporter(t *testing.T) {
	standalone := func(id string) telemetry.Event {
		ev := stmtErr(id, false)
		ev.Standalone = true
		return ev
	}
	for _, tt := range []struct {
		name   string
		events []telemetry.Event
	}{
		{"standalone errors", []telemetry.Event{standalone("q1"), standalone("q2"), standalone("q3")}},
		{"held errors", []telemetry.Event{start("q1"), stmtErr("q1", false), stmtErr("q1", false), complete("q1")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp, WithBatchSize(3)) // timer 1 h: only a full batch exports
			for _, ev := range tt.events {
				a.Handle(ev)
			}
			require.Eventually(t, func() bool { return len(exp.batchSizes()) == 1 }, 2*time.Second, time.Millisecond,
				"a full batch wakes the exporter")
			assert.Equal(t, []int{3}, exp.batchSizes())
		})
	}
}

// A statement's log that carries its error, named or not, is counted among the outboxes'
// error logs while it waits there: once it moved to the queue the count is back to 0
// (the drop policy reads it as the number of error logs in outboxes).
func TestStatementErrorLogsCountedAsOutboxErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		ev   telemetry.Event
	}{
		{"named terminal error", stmtErr("q1", true)},
		{"unnamed terminal error", telemetry.Event{Kind: telemetry.KindError, SessionID: "s", StatementID: "q1", Terminal: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp)
			a.Handle(start("q1"))
			a.Handle(tt.ev)
			flush(t, a)
			require.Len(t, exp.logs(), 1)
			assert.Zero(t, a.q.outboxErrs.Load())
			assert.Zero(t, a.q.waiting())
		})
	}
}

// A caller's logger that panics while Close reports that its deadline passed is counted
// in Stats.Panics, like a panic in any other of the aggregator's log lines (Stats: "the
// logger"). The exporter ignores its context and returns no error, so Close's own line
// is the only one the logger is asked to write.
func TestCloseDeadlineLogLinePanicIsCounted(t *testing.T) {
	exp := newFake()
	release := exp.block(true)
	a := New(exp, WithBatchSize(1), WithFlushInterval(time.Hour),
		WithLogger(zerolog.New(panicWriter{}).Level(zerolog.DebugLevel)))
	t.Cleanup(func() {
		release()
		<-a.done
	})
	a.Handle(connOpen("s1"))
	<-exp.started
	require.ErrorIs(t, a.Close(ctxFor(t, 100*time.Millisecond)), context.DeadlineExceeded)
	// The line is written on a goroutine of its own (a stalled logger must not hold Close).
	require.Eventually(t, func() bool { return a.Stats().Panics == 1 }, 2*time.Second, time.Millisecond)
}
