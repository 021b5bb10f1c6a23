package aggregator

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// hookClock is a fake clock that runs hook, once, on the first read after arm. The
// aggregator reads its clock for the log of a statement evicted to make room, with the
// evicted statement's shard locked and the opening statement's shard let go: the hook
// runs in that window, as a concurrent emitter would.
type hookClock struct {
	c    *fakeClock
	hook atomic.Pointer[func()]
}

func (h *hookClock) arm(fn func()) { h.hook.Store(&fn) }

func (h *hookClock) now() time.Time {
	if fn := h.hook.Swap(nil); fn != nil {
		(*fn)()
	}
	return h.c.Now()
}

// windowSetup builds an aggregator of 4 shards whose MaxOpenStatements are all taken by
// statements on the shards other than empty, the oldest of them on shard evictFrom, so
// that a statement opening on shard empty lets its shard's lock go to evict it. Events
// carry their Time: opening a statement reads no clock.
func windowSetup(t *testing.T, empty, evictFrom int) (a *Aggregator, exp *fakeExporter, clock *hookClock, at func(telemetry.Event) telemetry.Event, others map[int][]string) {
	t.Helper()
	const maxOpen = 256
	prev := runtime.GOMAXPROCS(8)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	exp = newFake()
	clock = &hookClock{c: newClock()}
	a = newTest(t, exp, WithMaxOpenStatements(maxOpen), WithMaxPendingLogs(2*maxOpen), WithClock(clock.now))
	require.Len(t, a.shards, 4)
	base := clock.c.Now()
	n := 0
	at = func(ev telemetry.Event) telemetry.Event {
		n++
		ev.Time = base.Add(time.Duration(n) * time.Millisecond)
		return ev
	}
	others = map[int][]string{}
	order := []int{evictFrom}
	for i := range 4 {
		if i != empty && i != evictFrom {
			order = append(order, i)
		}
	}
	for k, i := range order {
		per := maxOpen / 3
		if k == len(order)-1 {
			per = maxOpen - 2*(maxOpen/3)
		}
		others[i] = idsOnShard(a, i, per)
		for _, id := range others[i] {
			a.Handle(at(start(id)))
		}
	}
	require.Equal(t, maxOpen, a.Stats().OpenStatements)
	return a, exp, clock, at, others
}

// While a statement's first event makes room on another shard, a concurrent event of the
// same statement (another CloudFetch download) may open it: the first one then joins that
// entry rather than open a second one, and the statement yields one log with both chunks.
func TestStatementOpenedWhileMakingRoomIsJoined(t *testing.T) {
	a, exp, clock, at, others := windowSetup(t, 1, 0)
	id := idsOnShard(a, 1, 1)[0]
	clock.arm(func() {
		a.Handle(at(complete(others[2][0]))) // a place is free besides the evicted one's
		a.Handle(at(chunk(id, 1, 20*time.Millisecond, false)))
	})
	a.Handle(at(chunk(id, 0, 10*time.Millisecond, false)))
	require.Nil(t, clock.hook.Load(), "the window was reached")

	s := a.Stats()
	assert.Equal(t, int64(s.OpenStatements), a.openStmts.Load(), "one place per open statement")
	a.Handle(at(complete(id)))
	flush(t, a)
	var mine []*telemetry.SQLDriverLog
	for _, l := range exp.logs() {
		if dl := driverLog(l); dl.SQLStatementID == id {
			mine = append(mine, dl)
		}
	}
	require.Len(t, mine, 1, "one log for the statement")
	require.NotNil(t, mine[0].SQLOperation.ChunkDetails)
	assert.Equal(t, int32(2), mine[0].SQLOperation.ChunkDetails.TotalChunksIterated)
	assert.Equal(t, int64(s.OpenStatements-1), a.openStmts.Load())
}

// While a statement's event makes room on another shard, a concurrent terminal error may
// finish the statement (its log goes at once). The event that was making room is then a
// late one: it must not open the statement again, which would log it a second time (at
// StatementTTL or Close) and hold a place meanwhile.
func TestStatementFinishedWhileMakingRoomStaysFinished(t *testing.T) {
	tests := []struct {
		name      string
		event     func(id string) telemetry.Event
		wantLogs  int // logs of the statement: its terminal one, plus the late error's
		wantLate  int64
		wantError bool
	}{
		{"late chunk is dropped", func(id string) telemetry.Event { return chunk(id, 0, time.Millisecond, false) }, 1, 1, false},
		{"late start is dropped", start, 1, 1, false},
		{"late retryable error is logged on its own", func(id string) telemetry.Event { return stmtErr(id, false) }, 2, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, exp, clock, at, others := windowSetup(t, 1, 0)
			id := idsOnShard(a, 1, 1)[0]
			clock.arm(func() {
				a.Handle(at(complete(others[2][0])))
				a.Handle(at(chunk(id, 1, time.Millisecond, false)))
				a.Handle(at(stmtErr(id, true)))
			})
			a.Handle(at(tt.event(id)))
			require.Nil(t, clock.hook.Load(), "the window was reached")

			s := a.Stats()
			assert.Equal(t, int64(s.OpenStatements), a.openStmts.Load())
			assert.Equal(t, tt.wantLate, s.Dropped.Late)
			for _, id2 := range others[0][1:] { // others[0][0] was evicted
				a.Handle(at(complete(id2)))
			}
			for _, id2 := range others[2][1:] {
				a.Handle(at(complete(id2)))
			}
			for _, id2 := range others[3] {
				a.Handle(at(complete(id2)))
			}
			assert.Zero(t, a.Stats().OpenStatements, "the finished statement is not open again")
			require.NoError(t, a.Close(context.Background()))
			var mine []*telemetry.SQLDriverLog
			for _, l := range exp.logs() {
				if dl := driverLog(l); dl.SQLStatementID == id {
					mine = append(mine, dl)
				}
			}
			require.Len(t, mine, tt.wantLogs)
			require.NotNil(t, mine[0].ErrorInfo)
			assert.Equal(t, telemetry.ErrNameSyntax, mine[0].ErrorInfo.ErrorName, "the terminal log")
			if tt.wantError {
				require.NotNil(t, mine[1].ErrorInfo)
				assert.Equal(t, telemetry.ErrNameServer, mine[1].ErrorInfo.ErrorName)
				assert.Nil(t, mine[1].SQLOperation, "an error log of its own")
			}
			assert.Zero(t, a.Stats().Evicted.Close)
		})
	}
}

// A shard that closes while one of its statements makes room on another shard takes no
// new statement: the event is dropped (counted as Closed) instead of opening an entry
// that Close already went past, which would stay open, hold a place and never be logged.
func TestShardClosedWhileMakingRoomOpensNothing(t *testing.T) {
	a, _, clock, at, _ := windowSetup(t, 0, 2) // Close reaches shard 0 before shard 2
	id := idsOnShard(a, 0, 1)[0]
	closed := make(chan error, 1)
	clock.arm(func() {
		go func() { closed <- a.Close(context.Background()) }()
		waitFor(t, "shard 0 closed", func() bool {
			a.shards[0].mu.Lock()
			defer a.shards[0].mu.Unlock()
			return a.shards[0].closed
		})
	})
	a.Handle(at(start(id)))
	require.Nil(t, clock.hook.Load(), "the window was reached")
	require.NoError(t, <-closed)
	s := a.Stats()
	assert.Zero(t, s.OpenStatements)
	assert.Zero(t, a.openStmts.Load())
	assert.Equal(t, int64(1), s.Dropped.Closed)
	assert.Equal(t, s.Queued, s.Exported+s.Dropped.QueueFull+s.Dropped.ExportFailed+s.Dropped.Unfinished)
}
