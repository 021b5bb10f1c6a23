package aggregator

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// An error handed straight to the sink without a name or message (the emitter names
// every error; a Sink user need not) is an error log with the generic name wherever it
// lands: on its statement, held, on its own, or on a connection's log. Without a name it
// would be a log with no error_info at all, and would queue as a droppable non-error log.
func TestUnnamedErrorsAreErrorLogsEverywhere(t *testing.T) {
	bare := func(stmt string, terminal bool) telemetry.Event {
		return telemetry.Event{Kind: telemetry.KindError, SessionID: "s", StatementID: stmt, Terminal: terminal}
	}
	tests := []struct {
		name     string
		events   []telemetry.Event
		wantLogs int
	}{
		{"terminal error of an open statement", []telemetry.Event{start("q1"), bare("q1", true)}, 1},
		{"terminal error of a statement never seen", []telemetry.Event{bare("q1", true)}, 1},
		{"retryable error held on its statement", []telemetry.Event{start("q1"), bare("q1", false), complete("q1")}, 2},
		{"error of a completed statement", []telemetry.Event{start("q1"), complete("q1"), func() telemetry.Event {
			ev := bare("q1", false)
			ev.Standalone = true
			return ev
		}()}, 2},
		{"connection open failing with only Err set", []telemetry.Event{{Kind: telemetry.KindConnectionOpen, SessionID: "s",
			Err: errors.New("boom")}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp)
			for _, ev := range tt.events {
				a.Handle(ev)
			}
			flush(t, a)
			logs := exp.logs()
			require.Len(t, logs, tt.wantLogs)
			last := driverLog(logs[len(logs)-1])
			require.NotNil(t, last.ErrorInfo, "error_info")
			assert.Equal(t, telemetry.ErrNameGeneric, last.ErrorInfo.ErrorName)
		})
	}
}

// FinishOpen takes only completions: another kind of event of an open statement is
// dropped (counted as Closed) and does not reach the statement.
func TestFinishOpenIgnoresOtherKindsOfAnOpenStatement(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp)
	a.Handle(start("q1"))
	a.FinishOpen(chunk("q1", 0, time.Millisecond, true))
	s := a.Stats()
	assert.Equal(t, int64(1), s.Dropped.Closed)
	assert.Equal(t, 1, s.OpenStatements, "still open")
	a.FinishOpen(complete("q1"))
	flush(t, a)
	logs := exp.logs()
	require.Len(t, logs, 1)
	assert.Nil(t, driverLog(logs[0]).SQLOperation.ChunkDetails, "the chunk was not merged")
}

// sequencedExporter fails its n-th Export with errs[n] (nil: success).
type sequencedExporter struct {
	mu   sync.Mutex
	errs []error
	n    int
}

func (e *sequencedExporter) Export(context.Context, []*telemetry.FrontendLog) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var err error
	if e.n < len(e.errs) {
		err = e.errs[e.n]
	}
	e.n++
	return err
}

func (e *sequencedExporter) Close(context.Context) error { return nil }

// Flush returns the first export error of its batches, not the last.
func TestFlushReturnsTheFirstExportError(t *testing.T) {
	first, second := errors.New("first"), errors.New("second")
	exp := &sequencedExporter{errs: []error{first, second, nil}}
	a := newTest(t, exp, WithBatchSize(1), WithMaxPendingLogs(10))
	a.q.push(&record{kind: recConnOpen, sessionID: "a"}) // queued without waking the exporter
	a.q.push(&record{kind: recConnOpen, sessionID: "b"})
	a.q.push(&record{kind: recConnOpen, sessionID: "c"})
	err := a.Flush(context.Background())
	require.ErrorIs(t, err, first)
	assert.NotErrorIs(t, err, second)
	s := a.Stats()
	assert.Equal(t, int64(3), s.Batches)
	assert.Equal(t, int64(2), s.BatchesFailed)
}

// When Close's deadline cuts the final flush short, the logs that were still in a
// shard's outbox (statements that completed while the export hung) are counted as
// Unfinished like the queued ones: after Close nothing is pending and Stats adds up.
func TestCloseCountsOutboxLogsItCouldNotExport(t *testing.T) {
	exp := newFake()
	release := exp.block(false) // honours ctx: Close's cancellation frees it
	defer release()
	a := New(exp, WithFlushInterval(time.Hour)) // nothing wakes the exporter but the Flush
	a.Handle(connOpen("s1"))
	flushed := make(chan error, 1)
	go func() { flushed <- a.Flush(context.Background()) }()
	<-exp.started
	a.Handle(start("q1"))
	a.Handle(complete("q1"))
	require.Equal(t, 1, a.Stats().Pending, "waiting in its outbox")
	// 500 ms: Close's full margin (50 ms) to cancel the export and let the export goroutine
	// count what is left before it returns (see TestCloseBoundedByContext).
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, a.Close(ctx), context.DeadlineExceeded)
	require.Error(t, <-flushed, "its export was cancelled")
	s := a.Stats()
	assert.Zero(t, s.Pending)
	assert.Equal(t, int64(1), s.Dropped.ExportFailed, "the cancelled batch")
	assert.Equal(t, int64(1), s.Dropped.Unfinished, "the statement's log")
	assert.Equal(t, s.Queued, s.Exported+s.Dropped.QueueFull+s.Dropped.ExportFailed+s.Dropped.Unfinished)
}

// A finished statement's log counts as queued and pending from the moment it is staged
// in its shard's outbox, before any export moves it to the queue.
func TestStatsCountOutboxLogs(t *testing.T) {
	a := newTest(t, newFake())
	a.Handle(start("q1"))
	a.Handle(complete("q1"))
	s := a.Stats()
	assert.Equal(t, int64(1), s.Queued)
	assert.Equal(t, 1, s.Pending)
	assert.Zero(t, s.OpenStatements)
}

// A log that reaches the queue after Close (an emitter that raced with it) is counted
// as Dropped.Closed in Stats.
func TestStatsCountLogsQueuedAfterClose(t *testing.T) {
	a := newTest(t, newFake())
	require.NoError(t, a.Close(context.Background()))
	before := a.Stats().Dropped.Closed
	a.enqueue(&record{kind: recConnClose, sessionID: "s"}) // its Handle passed the closed check
	assert.Equal(t, before+1, a.Stats().Dropped.Closed)
	assert.Zero(t, a.Stats().Pending)
}

// A Flush that passed Close's check just before Close finished still returns: ErrClosed,
// not a wait until its context ends.
func TestFlushRacingCloseReturnsErrClosed(t *testing.T) {
	a := newTest(t, newFake())
	require.NoError(t, a.Close(context.Background()))
	a.closed.Store(false) // as seen by a Flush that checked before Close began
	t.Cleanup(func() { a.closed.Store(true) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	assert.ErrorIs(t, a.Flush(ctx), ErrClosed)
}

// A statement id tombstoned twice (a terminal error after its eviction) takes one place
// in the ring: it is not forgotten while it is still among the last evicted.
func TestTombstoneTwiceKeepsOnePlace(t *testing.T) {
	sh := &shard{evictedCap: 4}
	for _, id := range []string{"a", "a", "b", "c", "d"} {
		sh.tombstone(id)
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		assert.True(t, sh.wasEvicted(id), id)
	}
	assert.Len(t, sh.evicted, 4)
}

// The outboxes hold at most half of MaxPendingLogs between them, and each at most
// outboxSize logs: the queue, where the drop policy applies, keeps room.
func TestOutboxCap(t *testing.T) {
	for _, tc := range []struct{ maxPending, shards, want int }{
		{500, 8, 16},
		{500, 64, 3},
		{64, 4, 8},
		{64, 1, 16},
		{10, 8, 1},
	} {
		got := outboxCap(tc.maxPending, tc.shards)
		assert.Equal(t, tc.want, got, "%d pending, %d shards", tc.maxPending, tc.shards)
		assert.LessOrEqual(t, got*tc.shards, max(tc.shards, tc.maxPending/2))
	}
}

// However many CPUs, the shards' outboxes hold no more than half of MaxPendingLogs
// between them (one log when it is 1), so that a full queue keeps room for its drop
// policy, and the Outboxes' room and credit stay within what is left.
func TestShardsLeaveHalfOfMaxPendingLogs(t *testing.T) {
	for _, procs := range []int{1, 2, 8, 16, 32, 64, 256} {
		for _, maxPending := range []int{1, 3, 10, 20, 40, 100, 500, 4096} {
			n := capShards(shardCount(1_000_000, procs), maxPending)
			outbox := outboxCap(maxPending, n)
			assert.LessOrEqual(t, n*outbox, max(1, maxPending/2), "%d CPUs, MaxPendingLogs %d: %d shards of %d", procs, maxPending, n, outbox)
			assert.Equal(t, n&(n-1), 0, "%d shards: a power of two", n)
		}
	}
	for _, tc := range []struct{ n, maxPending, want int }{
		{64, 500, 64},
		{64, 100, 32},
		{64, 20, 8},
		{8, 20, 8},
		{64, 1, 1},
	} {
		assert.Equal(t, tc.want, capShards(tc.n, tc.maxPending), "%+v", tc)
	}
}

// A shard's outbox never holds more than outboxCap logs: the one that would exceed it
// moves the outbox to the queue.
func TestOutboxNeverExceedsItsCap(t *testing.T) {
	a := newTest(t, newFake(), WithMaxOpenStatements(64)) // one shard
	require.Len(t, a.shards, 1)
	for i := range a.outboxCap + 1 {
		id := idsOnShard(a, 0, a.outboxCap+1)[i]
		a.Handle(start(id))
		a.Handle(complete(id))
		a.shards[0].mu.Lock()
		n := len(a.shards[0].outbox)
		a.shards[0].mu.Unlock()
		require.LessOrEqual(t, n, a.outboxCap)
	}
	assert.Equal(t, a.outboxCap+1, a.Stats().Pending)
	assert.Equal(t, a.outboxCap+1, a.q.len(), "the full outbox moved, followed by the new log")
}

// A hand-over function that never returns (a caller's lock held elsewhere) cannot hold
// Close past its deadline: Close returns, with the export goroutine stopped, and counts
// what the hand-over emits afterwards as Dropped.Closed.
func TestStuckHandOverCannotHoldClose(t *testing.T) {
	exp := newFake()
	a := New(exp)
	a.Handle(connOpen("s1"))
	release := make(chan struct{})
	entered := make(chan struct{})
	var once atomic.Bool
	remove := a.AddHandOver(func() {
		if !once.CompareAndSwap(false, true) {
			return
		}
		close(entered)
		<-release
		a.Handle(start("held"))
	})
	defer remove()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- a.Close(ctx) }()
	<-entered
	select {
	case err := <-closed:
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("Close did not return at its deadline while a hand-over was stuck")
	}
	// Close kept its deadline: the hand-over took all but the margin of it, in which the
	// export goroutine may not have ended yet on a loaded machine. It ends all the same,
	// the hand-over still stuck.
	waitFor(t, "the export goroutine stops, the hand-over stuck", func() bool {
		select {
		case <-a.done:
			return true
		default:
			return false
		}
	})
	close(release)
	waitFor(t, "the hand-over's late event counted", func() bool { return a.Stats().Dropped.Closed == 1 })
	s := a.Stats()
	assert.Zero(t, s.OpenStatements)
	assert.Equal(t, s.Queued, s.Exported+s.Dropped.QueueFull+s.Dropped.ExportFailed+s.Dropped.Unfinished)
}

// A Close whose ctx is cancelled (no deadline passed) while a hand-over is stuck reports
// context.Canceled, whichever of its ends the export goroutine reached first (it used to
// report DeadlineExceeded when the goroutine had ended before Close looked: 1 run in
// about 1200).
func TestCancelledCloseWithStuckHandOverReportsCanceled(t *testing.T) {
	for i := range 50 {
		a := New(newFake())
		release, entered := make(chan struct{}), make(chan struct{})
		var once atomic.Bool
		remove := a.AddHandOver(func() {
			if once.CompareAndSwap(false, true) {
				close(entered)
				<-release
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		closed := make(chan error, 1)
		go func() { closed <- a.Close(ctx) }()
		<-entered
		cancel()
		err := <-closed
		close(release)
		remove()
		require.ErrorIs(t, err, context.Canceled, "run %d", i)
	}
}

// A completion that says its inline result was compressed makes the log compressed,
// without any chunk.
func TestCompressedInlineResult(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp)
	a.Handle(start("q1"))
	done := complete("q1")
	done.Compressed = true
	a.Handle(done)
	flush(t, a)
	logs := exp.logs()
	require.Len(t, logs, 1)
	assert.True(t, driverLog(logs[0]).SQLOperation.IsCompressed)
	assert.Nil(t, driverLog(logs[0]).SQLOperation.ChunkDetails)
}

// A statement opened by an event other than its start (a chunk that overtook it) and
// evicted before completing has the latency from its start's Time, when the start came.
func TestEvictedStatementLatencyRunsFromItsStart(t *testing.T) {
	exp := newFake()
	clock := newClock()
	a := newTest(t, exp, WithClock(clock.Now))
	began := clock.Now()
	c := chunk("q1", 0, time.Millisecond, false)
	c.Time = began.Add(time.Second) // opens the statement
	a.Handle(c)
	s := start("q1")
	s.Time = began
	a.Handle(s)
	clock.Advance(3 * time.Second)
	require.NoError(t, a.Close(context.Background()))
	logs := exp.logs()
	require.Len(t, logs, 1)
	assert.Equal(t, int64(3000), driverLog(logs[0]).OperationLatencyMs)
}

// The entries a shard keeps for reuse are bounded: a burst of open statements does not
// keep its memory once they finish.
func TestFreeEntriesBounded(t *testing.T) {
	a := newTest(t, newFake(), WithMaxOpenStatements(255), WithMaxPendingLogs(1000))
	ids := idsOnShard(a, 0, 3*maxFreeEntries) // all on one shard
	for _, id := range ids {
		a.Handle(start(id))
	}
	for _, id := range ids {
		a.Handle(complete(id))
	}
	for i := range a.shards {
		a.shards[i].mu.Lock()
		assert.LessOrEqual(t, len(a.shards[i].free), maxFreeEntries)
		a.shards[i].mu.Unlock()
	}
}

// Once closed, a later Close returns the first one's result, whatever its own ctx: one
// that has ended already is no reason to fail.
func TestCloseAgainWithAnEndedContext(t *testing.T) {
	a := New(newFake())
	require.NoError(t, a.Close(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 100 { // the choice was at random: each would fail half the time
		require.NoError(t, a.Close(ctx))
	}
}
