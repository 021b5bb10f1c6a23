package aggregator

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One Outbox shared by several producers while the export goroutine, Stats, Flush,
// connection logs (collect from other goroutines) and finally the Outbox's and the
// aggregator's Close run: every log leaves exactly once, every event counts once.
func TestOutboxRingStress(t *testing.T) {
	tests := []struct {
		name       string
		maxPending int
		batch      int
		producers  int
		closeBox   bool
		closeAgg   bool // the aggregator closes while the producers run
	}{
		{"shared outbox, roomy", 100000, 50, 4, true, false},
		{"shared outbox, tiny room", 20, 10, 4, true, false},
		{"shared outbox, no room", 3, 3, 4, true, false},
		{"aggregator closes while producers run", 100000, 50, 4, false, true},
		{"aggregator closes while producers run, tiny room", 30, 10, 4, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp, WithBatchSize(tc.batch), WithMaxPendingLogs(tc.maxPending))
			box := a.NewOutbox()
			const each = 400
			var wg sync.WaitGroup
			for g := range tc.producers {
				wg.Go(func() {
					for i := range each {
						ev := sole(fmt.Sprintf("g%d-q%d", g, i))
						box.Complete(&ev)
					}
				})
			}
			stopWatching := meanwhile(func(i int) {
				s := a.Stats()
				if s.Pending > tc.maxPending {
					t.Errorf("%d pending, over %d", s.Pending, tc.maxPending)
				}
				if l := a.boxLogs.Load(); l > a.boxRoom || l < 0 {
					t.Errorf("boxLogs %d out of [0, %d]", l, a.boxRoom)
				}
				a.Handle(connOpen(fmt.Sprint("c", i)))
				if i%8 == 0 {
					_ = a.Flush(t.Context())
				}
			})
			if tc.closeAgg {
				time.Sleep(2 * time.Millisecond)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				require.NoError(t, a.Close(ctx))
				cancel()
			}
			wg.Wait()
			stopWatching()
			if tc.closeBox {
				box.Close()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, a.Close(ctx))
			<-a.done
			assert.Zero(t, a.boxLogs.Load(), "the Outboxes gave their room back")

			seen := exp.onceEach(t)
			s := a.Stats()
			assert.Zero(t, s.Pending)
			assert.Equal(t, s.Queued, s.Exported+s.Dropped.QueueFull+s.Dropped.ExportFailed+s.Dropped.Unfinished)
			stmts := int64(tc.producers * each)
			assert.GreaterOrEqual(t, s.Received, stmts)
			if tc.maxPending >= 1000 && !tc.closeAgg {
				assert.Len(t, seen, int(stmts))
			}
			assert.Equal(t, s.Received, s.Exported+s.Dropped.Total(), "every event leaves once")
		})
	}
}

// An Outbox's logs leave in the order of their completions, across its ring's wraps and
// growths, while other goroutines empty it (connection logs, flushes).
func TestOutboxRingKeepsOrderWhileEmptied(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp, WithBatchSize(7), WithMaxPendingLogs(100000))
	box := a.NewOutbox()
	const n = 20000
	stopEmptying := meanwhile(func(i int) {
		if i%3 == 0 {
			a.collect()
		} else {
			_ = a.Stats()
		}
		time.Sleep(time.Duration(i%5) * time.Microsecond)
	})
	for i := range n {
		ev := sole(fmt.Sprintf("q%06d", i))
		box.Complete(&ev)
		for {
			box.mu.Lock()
			held := box.tail - box.head
			box.mu.Unlock()
			if held < boxMax-1 {
				break
			}
			time.Sleep(time.Microsecond) // the collector empties it
		}
	}
	stopEmptying()
	box.Close()
	flush(t, a)
	var viaShards int64
	for i := range a.shards {
		a.shards[i].mu.Lock()
		viaShards += a.shards[i].received
		a.shards[i].mu.Unlock()
	}
	logs := exp.logs()
	require.Len(t, logs, n)
	require.Zero(t, viaShards, "every completion kept in the Outbox")
	for i, l := range logs {
		if want := fmt.Sprintf("q%06d", i); driverLog(l).SQLStatementID != want {
			t.Fatalf("log %d is %s, want %s", i, driverLog(l).SQLStatementID, want)
		}
	}
	assert.Zero(t, a.boxLogs.Load())
}

// At the edges of the Outboxes' room (none, one place, a credit larger than what is
// left), every completion is logged once, through the Outbox or Handle, and the room
// comes back.
func TestOutboxRoomEdges(t *testing.T) {
	tests := []struct {
		name       string
		maxPending int
		maxOpen    int
	}{
		{"no room", 3, 1000},
		{"one place, outboxCap 1", 10, 256},
		{"two places, outboxCap 1", 20, 1000},
		{"four places, credit 2", 40, 1000},
		{"a credit of 8 larger than the room", 100, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp, WithBatchSize(tc.maxPending), WithMaxPendingLogs(tc.maxPending), WithMaxOpenStatements(tc.maxOpen))
			boxes := []*Outbox{a.NewOutbox(), a.NewOutbox()}
			var want []string
			for i := range 3 * tc.maxPending {
				id := fmt.Sprint("q", i)
				want = append(want, id)
				ev := sole(id)
				boxes[i%2].Complete(&ev)
				require.LessOrEqual(t, a.boxLogs.Load(), a.boxRoom)
				require.LessOrEqual(t, a.Stats().Pending, tc.maxPending)
				if i%tc.maxPending == tc.maxPending-1 {
					flush(t, a)
				}
			}
			flush(t, a)
			var got []string
			for _, l := range exp.logs() {
				got = append(got, driverLog(l).SQLStatementID)
			}
			assert.ElementsMatch(t, want, got)
			assert.Zero(t, a.boxLogs.Load())
			s := a.Stats()
			assert.EqualValues(t, len(want), s.Received)
			assert.EqualValues(t, len(want), s.Exported)
			assert.Zero(t, s.Dropped.Total())
		})
	}
}

// An Outbox closes, and the aggregator closes, while an export hangs: neither waits for
// it, and what the Outbox held is counted (Unfinished) once Close's deadline passes.
func TestOutboxCloseWhileTheExportHangs(t *testing.T) {
	exp := newFake()
	release := exp.block(false)
	defer release()
	a := New(exp, WithBatchSize(1), WithFlushInterval(time.Hour), WithMaxPendingLogs(1000))
	a.Handle(connOpen("s0"))
	<-exp.started
	box := a.NewOutbox()
	for i := range 50 {
		ev := sole(fmt.Sprint("q", i))
		box.Complete(&ev)
	}
	done := make(chan struct{})
	go func() { box.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("the Outbox's Close waited for the export")
	}
	other := a.NewOutbox()
	ev := sole("last")
	other.Complete(&ev)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	require.Error(t, a.Close(ctx))
	<-a.done
	s := a.Stats()
	assert.EqualValues(t, 52, s.Received)
	assert.Zero(t, s.Pending)
	assert.Zero(t, a.boxLogs.Load())
	assert.Equal(t, s.Queued, s.Exported+s.Dropped.QueueFull+s.Dropped.ExportFailed+s.Dropped.Unfinished)
	assert.EqualValues(t, 1, s.Dropped.ExportFailed)
	assert.EqualValues(t, 51, s.Dropped.Unfinished)
}

// Producers sharing one Outbox while it closes, and while the aggregator closes: each
// completion is exported once or counted as dropped (Closed), never both, never lost.
func TestOutboxClosesUnderItsProducers(t *testing.T) {
	tests := []struct {
		name     string
		closeBox bool
		closeAgg bool
	}{
		{"the Outbox closes", true, false},
		{"the aggregator closes", false, true},
		{"both", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp, WithBatchSize(16), WithMaxPendingLogs(100000))
			box := a.NewOutbox()
			const producers, each = 4, 300
			var wg sync.WaitGroup
			for g := range producers {
				wg.Go(func() {
					for i := range each {
						ev := sole(fmt.Sprintf("g%d-q%d", g, i))
						box.Complete(&ev)
					}
				})
			}
			var closers sync.WaitGroup
			if tc.closeBox {
				closers.Go(func() { time.Sleep(500 * time.Microsecond); box.Close() })
			}
			if tc.closeAgg {
				closers.Go(func() {
					time.Sleep(time.Millisecond)
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					assert.NoError(t, a.Close(ctx))
				})
			}
			wg.Wait()
			closers.Wait()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, a.Close(ctx))
			<-a.done
			seen := exp.onceEach(t)
			s := a.Stats()
			assert.EqualValues(t, producers*each, s.Received)
			assert.EqualValues(t, producers*each, int64(len(seen))+s.Dropped.Closed)
			assert.EqualValues(t, len(seen), s.Exported)
			assert.Equal(t, s.Queued, s.Exported)
			assert.Zero(t, s.Pending)
			assert.Zero(t, a.boxLogs.Load())
		})
	}
}

// An Outbox emptied part way, then filled past its ring's end (wrapping, growing), keeps
// its logs' order.
func TestOutboxRingWrapsAndGrowsInOrder(t *testing.T) {
	tests := []struct {
		name          string
		first, second int
	}{
		{"wraps within its first ring", 5, 7},
		{"wraps, then grows", 5, 20},
		{"grows to boxMax from an odd head", 3, boxMax},
		{"full at boxMax, then again", boxMax, boxMax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp, WithBatchSize(1000), WithMaxPendingLogs(10000))
			box := a.NewOutbox()
			var want []string
			add := func(n int) {
				for range n {
					id := fmt.Sprintf("q%04d", len(want))
					want = append(want, id)
					ev := sole(id)
					box.Complete(&ev)
				}
			}
			add(tc.first)
			a.collect() // the Outbox's head moves on
			add(tc.second)
			flush(t, a)
			var got []string
			for _, l := range exp.logs() {
				got = append(got, driverLog(l).SQLStatementID)
			}
			assert.Equal(t, want, got)
			assert.EqualValues(t, len(want), a.Stats().Exported)
			assert.Zero(t, a.boxLogs.Load())
		})
	}
}
