package aggregator

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/internal/testwait"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// sole is the completion of a statement that had no other event, as the driver hands it
// to its connection's Outbox: it carries its start.
func sole(stmt string) telemetry.Event {
	ev := complete(stmt)
	ev.OperationType, ev.StatementType = telemetry.OpExecuteStatement, telemetry.StatementQuery
	ev.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return ev
}

// withoutIDs returns the logs with their random ids blanked.
func withoutIDs(logs []*telemetry.FrontendLog) []*telemetry.FrontendLog {
	for _, l := range logs {
		l.FrontendLogEventID = ""
	}
	return logs
}

// An Outbox builds the log Handle would: for a sole completion, and for what it passes
// on to Handle (another kind, no statement id, an error), which Handle then treats as
// its own.
func TestOutboxLogIsHandlesLog(t *testing.T) {
	withErr := sole("q-err")
	withErr.ErrorName, withErr.Message, withErr.Terminal = telemetry.ErrNameSyntax, "bad", true
	noTime := sole("q-no-time")
	noTime.Time = time.Time{}
	busy := sole("q-busy")
	busy.RetryCount, busy.PollCount, busy.PollLatency, busy.ChunksPresent = 2, 3, 40*time.Millisecond, 0
	busy.StatementType = telemetry.StatementUpdate
	tests := []struct {
		name   string
		events []telemetry.Event
	}{
		{"a query", []telemetry.Event{sole("q1")}},
		{"an update with polls and retries", []telemetry.Event{busy}},
		{"no time of its own", []telemetry.Event{noTime}},
		{"no statement id", []telemetry.Event{sole("")}},
		{"its terminal error", []telemetry.Event{withErr}},
		{"a connection's open", []telemetry.Event{connOpen("s9")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			viaHandle, viaBox := newFake(), newFake()
			a := newTest(t, viaHandle, WithClock(clock.Now))
			b := newTest(t, viaBox, WithClock(clock.Now))
			box := b.NewOutbox()
			for i := range tc.events {
				a.Handle(tc.events[i])
				box.Complete(&tc.events[i])
			}
			flush(t, a)
			flush(t, b)
			want := withoutIDs(viaHandle.logs())
			require.NotEmpty(t, want)
			assert.Equal(t, want, withoutIDs(viaBox.logs()))
			sa, sb := a.Stats(), b.Stats()
			assert.Equal(t, sa.Received, sb.Received)
			assert.Equal(t, sa.Exported, sb.Exported)
		})
	}
}

// An Outbox's logs count like any other (Received, Queued, Pending) while they wait in
// it, and after it closes; what it takes once closed, or once the aggregator has, is
// dropped and counted.
func TestOutboxAccounting(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp)
	box := a.NewOutbox()
	for i := range 3 {
		ev := sole(fmt.Sprintf("q%d", i))
		box.Complete(&ev)
	}
	s := a.Stats()
	assert.EqualValues(t, 3, s.Received)
	assert.EqualValues(t, 3, s.Queued)
	assert.Equal(t, 3, s.Pending)
	assert.Equal(t, 1, s.Outboxes)

	box.Close()
	box.Close() // idempotent
	s = a.Stats()
	assert.Zero(t, s.Outboxes)
	assert.EqualValues(t, 3, s.Received, "a closed Outbox's events still count")
	assert.Equal(t, 3, s.Pending, "its logs went to the queue")
	ev := sole("late")
	box.Complete(&ev)
	s = a.Stats()
	assert.EqualValues(t, 4, s.Received)
	assert.EqualValues(t, 1, s.Dropped.Closed)

	flush(t, a)
	assert.Len(t, exp.logs(), 3)
	s = a.Stats()
	assert.EqualValues(t, 3, s.Exported)
	assert.Zero(t, s.Pending)

	other := a.NewOutbox()
	require.NoError(t, a.Close(t.Context()))
	other.Complete(&ev)
	after := a.NewOutbox()
	after.Complete(&ev)
	s = a.Stats()
	assert.EqualValues(t, 6, s.Received)
	assert.EqualValues(t, 3, s.Dropped.Closed)
	assert.Zero(t, s.Outboxes, "a closed aggregator keeps no Outbox")
}

// The export goroutine empties every Outbox: at Close, on the timer, and when a batch is
// full (counting the logs that wait in Outboxes, its ring grown past its first size).
func TestOutboxEmptiedBeforeEveryExport(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		n       int
		trigger func(t *testing.T, a *Aggregator, exp *fakeExporter)
	}{
		{"close", nil, 3, func(t *testing.T, a *Aggregator, _ *fakeExporter) {
			require.NoError(t, a.Close(t.Context()))
		}},
		{"timer", []Option{WithFlushInterval(10 * time.Millisecond)}, 3, func(t *testing.T, _ *Aggregator, exp *fakeExporter) {
			waitFor(t, "the timer's export", func() bool { return len(exp.logs()) == 3 })
		}},
		{"a full batch", []Option{WithBatchSize(5)}, 5, func(t *testing.T, _ *Aggregator, exp *fakeExporter) {
			waitFor(t, "a full batch's export", func() bool { return len(exp.logs()) == 5 })
		}},
		{"an Outbox past its first ring, then a full batch", []Option{WithBatchSize(boxFirst + 1)}, boxFirst + 1, func(t *testing.T, _ *Aggregator, exp *fakeExporter) {
			waitFor(t, "a full batch's export", func() bool { return len(exp.logs()) == boxFirst+1 })
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp, tc.opts...)
			box := a.NewOutbox()
			for i := range tc.n {
				ev := sole(fmt.Sprintf("q%d", i))
				box.Complete(&ev)
			}
			tc.trigger(t, a, exp)
			assert.Len(t, exp.logs(), tc.n)
			assert.Zero(t, a.Stats().Pending)
		})
	}
}

// An Outbox's ring doubles as logs wait, up to boxMax logs; the completion that finds it
// holding boxMax goes to Handle, and every log leaves once: the Outbox's in the order of
// their completions, then Handle's (from their shards, in no order of their own).
func TestOutboxHoldsAtMostBoxMaxLogs(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp, WithBatchSize(1000), WithMaxPendingLogs(10000))
	box := a.NewOutbox()
	const n = boxMax + 3
	var want []string
	for i := range n {
		id := fmt.Sprintf("q%03d", i)
		want = append(want, id)
		ev := sole(id)
		box.Complete(&ev)
	}
	box.mu.Lock()
	held, size := box.tail-box.head, len(box.ring)
	box.mu.Unlock()
	assert.EqualValues(t, boxMax, held)
	assert.Equal(t, boxMax, size, "the ring grew to boxMax slots, no further")
	s := a.Stats()
	assert.EqualValues(t, n, s.Received)
	assert.EqualValues(t, n, s.Queued)
	assert.Equal(t, n, s.Pending)

	flush(t, a)
	var got []string
	for _, l := range exp.logs() {
		got = append(got, driverLog(l).SQLStatementID)
	}
	require.Len(t, got, n)
	assert.Equal(t, want[:boxMax], got[:boxMax])
	assert.ElementsMatch(t, want[boxMax:], got[boxMax:])
	assert.Zero(t, a.Stats().Pending)
	assert.Zero(t, a.boxLogs.Load(), "the emptied Outbox gave its room back")
}

// A connection's log goes after the logs its statements left in Outboxes, as it does
// after those left in the shards' outboxes.
func TestOutboxLogsGoBeforeALaterConnectionLog(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp)
	box := a.NewOutbox()
	for _, id := range []string{"q1", "q2"} {
		ev := sole(id)
		box.Complete(&ev)
	}
	a.Handle(connClose("sess-1"))
	flush(t, a)
	logs := exp.logs()
	require.Len(t, logs, 3)
	assert.Equal(t, "q1", logs[0].Entry.SQLDriverLog.SQLStatementID)
	assert.Equal(t, "q2", logs[1].Entry.SQLDriverLog.SQLStatementID)
	assert.Equal(t, telemetry.OpDeleteSession, logs[2].Entry.SQLDriverLog.SQLOperation.OperationDetail.OperationType)
}

// Outboxes take their logs' places among MaxPendingLogs: with the export stalled, no more
// than that many logs wait, and every log built is accounted for.
func TestOutboxBoundedByMaxPendingLogs(t *testing.T) {
	exp := newFake()
	release := exp.block(false)
	defer release()
	const maxPending = 100
	a := newTest(t, exp, WithBatchSize(10), WithMaxPendingLogs(maxPending))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			box := a.NewOutbox()
			defer box.Close()
			for i := range 3 * maxPending {
				ev := sole(fmt.Sprintf("g%d-q%d", g, i))
				box.Complete(&ev)
				if p := a.Stats().Pending; p > maxPending {
					t.Errorf("%d logs pending, over %d", p, maxPending)
					return
				}
			}
		})
	}
	wg.Wait()
	assert.Zero(t, a.boxLogs.Load(), "the closed Outboxes gave their room back")
	s := a.Stats()
	assert.EqualValues(t, 4*3*maxPending, s.Received)
	assert.LessOrEqual(t, s.Pending, maxPending)
	assert.Positive(t, s.Dropped.QueueFull)
	inFlight := s.Queued - s.Exported - s.Dropped.QueueFull - s.Dropped.ExportFailed - s.Dropped.Unfinished - int64(s.Pending)
	assert.GreaterOrEqual(t, inFlight, int64(0))
	assert.LessOrEqual(t, inFlight, int64(10), "at most the batch in flight")
}

// Outboxes used at once (a producer each), with Stats, Flush and NewOutbox meanwhile and
// Close at the end: every log is exported exactly once, and every event counted.
func TestOutboxesConcurrent(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp, WithBatchSize(50), WithMaxPendingLogs(100000))
	const producers, each = 8, 500
	var wg sync.WaitGroup
	for g := range producers {
		wg.Go(func() {
			box := a.NewOutbox()
			for i := range each {
				ev := sole(fmt.Sprintf("g%d-q%d", g, i))
				box.Complete(&ev)
				if i == each/2 && g%2 == 0 {
					box.Close() // a connection that closes; its next opens another
					box = a.NewOutbox()
				}
			}
			if g%3 == 0 {
				box.Close()
			}
		})
	}
	stopWatching := meanwhile(func(int) {
		s := a.Stats()
		assert.LessOrEqual(t, s.Exported, s.Queued)
		_ = a.Flush(t.Context())
	})
	wg.Wait()
	stopWatching()
	require.NoError(t, a.Close(t.Context()))
	assert.Zero(t, a.boxLogs.Load(), "the Outboxes gave their room back")

	seen := exp.onceEach(t)
	assert.Len(t, seen, producers*each)
	s := a.Stats()
	assert.EqualValues(t, producers*each, s.Received)
	assert.EqualValues(t, producers*each, s.Exported)
	assert.Zero(t, s.Dropped.Total())
}

// stallingStats is a caller's exporter whose ExportStats stalls until released (one that
// takes, in ExportStats, a lock its Export holds while a batch is in flight).
type stallingStats struct {
	fakeExporter
	entered chan struct{}
	release chan struct{}
}

func (s *stallingStats) ExportStats() telemetry.ExportStats {
	s.entered <- struct{}{}
	<-s.release
	return telemetry.ExportStats{}
}

// Stats, stalled by the exporter's own figures, holds none of the aggregator's locks
// meanwhile: a connection's log, an Outbox made or closed (a connection's first statement,
// its close), a flush and Close go on (SPEC §2: callers never block on export; Close keeps
// its deadline).
func TestStatsStalledByTheExporterHoldsNoOutbox(t *testing.T) {
	tests := []struct {
		name string
		op   func(a *Aggregator, box *Outbox) error
	}{
		{"a connection's log", func(a *Aggregator, _ *Outbox) error { a.Handle(connOpen("s2")); return nil }},
		{"a new Outbox", func(a *Aggregator, _ *Outbox) error { a.NewOutbox().Close(); return nil }},
		{"an Outbox's close", func(a *Aggregator, box *Outbox) error { box.Close(); return nil }},
		{"a flush", func(a *Aggregator, _ *Outbox) error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return a.Flush(ctx)
		}},
		{"close", func(a *Aggregator, _ *Outbox) error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return a.Close(ctx)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := &stallingStats{fakeExporter: *newFake(), entered: make(chan struct{}, 1), release: make(chan struct{})}
			a := newTest(t, exp)
			box := a.NewOutbox()
			ev := sole("q1")
			box.Complete(&ev)

			var s Stats
			statsDone := make(chan struct{})
			go func() {
				defer close(statsDone)
				s = a.Stats()
			}()
			testwait.Recv(t, exp.entered, 5*time.Second, "Stats to ask the exporter")
			var released sync.Once
			release := func() { released.Do(func() { close(exp.release) }) }
			t.Cleanup(func() { // before the aggregator closes (cleanups run last first)
				release()
				<-statsDone
			})

			done := make(chan error, 1)
			go func() { done <- tc.op(a, box) }()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(2 * time.Second):
				release()
				<-done
				t.Fatalf("%s waited for the exporter's stats", tc.name)
			}
			release()
			testwait.Recv(t, statsDone, 5*time.Second, "Stats")
			assert.EqualValues(t, 1, s.Received)
		})
	}
}

// Outboxes, however many (one per connection), leave the queue its room as the shards'
// outboxes do (they hold at most half of MaxPendingLogs, see outboxCap): with every
// connection's Outbox holding logs while an export hangs, a full queue still drops its
// oldest logs without an error for as many new statements' logs as the outboxes' half,
// and error logs go in over the limit by no more than that half (SPEC §2;
// docs/RELIABILITY.md).
func TestOutboxesLeaveTheQueueItsRoom(t *testing.T) {
	const maxPending = 20
	tests := []struct {
		name  string
		n     int
		event func(id string) []telemetry.Event
	}{
		{"statements' logs", maxPending / 2, func(id string) []telemetry.Event { return []telemetry.Event{start(id), complete(id)} }},
		{"statements' terminal errors", maxPending, func(id string) []telemetry.Event { return []telemetry.Event{stmtErr(id, true)} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, exp, release := batchInFlight(t, maxPending)
			// Connections that each ran a statement or two: their Outboxes take every place.
			for i := 0; a.Stats().Pending < maxPending && i < 10*maxPending; i++ {
				box := a.NewOutbox()
				ev := sole(fmt.Sprint("old", i))
				box.Complete(&ev)
			}
			require.Equal(t, maxPending, a.Stats().Pending, "every place taken")
			var ids []string
			for i := range tc.n {
				id := fmt.Sprint("new", i)
				ids = append(ids, id)
				for _, ev := range tc.event(id) {
					a.Handle(ev)
				}
			}
			assert.LessOrEqual(t, a.Stats().Pending, maxPending+maxPending/2, "over the outboxes' half")

			release()
			flush(t, a)
			exported := map[string]bool{}
			for _, l := range exp.logs() {
				exported[driverLog(l).SQLStatementID] = true
			}
			for _, id := range ids {
				assert.True(t, exported[id], "%s: the newest log was dropped, not the oldest", id)
			}
			s := a.Stats()
			assert.Zero(t, s.Pending)
			assert.Equal(t, s.Queued, s.Exported+s.Dropped.QueueFull)
		})
	}
}

// A completion that finds MaxPendingLogs reached takes Handle's way (the queue drops its
// oldest log without an error for it), and the room its Outbox took among the Outboxes'
// for it is given back when the Outbox moves, though it holds no log.
func TestOutboxGivesBackTheRoomOfAFailedPlace(t *testing.T) {
	// Over 2048 places, the shards' outboxes (at most 64 of 16) leave the Outboxes room
	// whatever the number of CPUs.
	const maxPending = 4096
	a, exp, release := batchInFlight(t, maxPending)
	require.Positive(t, a.boxRoom)
	for i := 0; a.Stats().Pending < maxPending && i < 2*maxPending; i++ {
		a.Handle(connOpen(fmt.Sprint("b", i)))
	}
	require.Equal(t, maxPending, a.Stats().Pending)
	box := a.NewOutbox()
	ev := sole("q1")
	box.Complete(&ev)
	s := a.Stats()
	assert.Equal(t, maxPending, s.Pending)
	assert.EqualValues(t, 1, s.Dropped.QueueFull, "the oldest connection log made way")
	assert.Positive(t, a.boxLogs.Load(), "the Outbox took its room before the queue said no")

	a.collect() // as the export goroutine does before it exports
	assert.Zero(t, a.boxLogs.Load())
	release()
	flush(t, a)
	assert.True(t, slices.ContainsFunc(exp.logs(), func(l *telemetry.FrontendLog) bool {
		return driverLog(l).SQLStatementID == "q1"
	}), "the completion was logged")
}
