package aggregator

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// An evicted statement's log goes at its eviction; what comes for it afterwards is
// dropped and counted (Dropped.Late), except errors, which are logged on their own.
func TestEvictedStatementLogsOnce(t *testing.T) {
	tests := []struct {
		name  string
		evict func(t *testing.T, a *Aggregator, clock *fakeClock)
		opts  []Option
	}{
		{"by StatementTTL", func(t *testing.T, a *Aggregator, clock *fakeClock) {
			clock.Advance(61 * time.Minute)
			flush(t, a) // the sweep evicts q1
		}, []Option{WithStatementTTL(time.Hour)}},
		{"by MaxOpenStatements", func(t *testing.T, a *Aggregator, _ *fakeClock) {
			a.Handle(start("q2")) // takes q1's place
			a.Handle(complete("q2"))
		}, []Option{WithMaxOpenStatements(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp, clock := newFake(), newClock()
			a := newTest(t, exp, append(tt.opts, WithClock(clock.Now))...)
			a.Handle(start("q1"))
			a.Handle(chunk("q1", 0, 10*time.Millisecond, false))
			tt.evict(t, a, clock)
			a.Handle(chunk("q1", 1, 10*time.Millisecond, false))
			a.Handle(complete("q1"))
			a.Handle(stmtErr("q1", true))
			flush(t, a)

			var q1, errs int
			for _, l := range exp.logs() {
				dl := driverLog(l)
				switch {
				case dl.SQLStatementID == "q1" && dl.SQLOperation != nil:
					q1++
				case dl.SQLStatementID == "q1" && dl.ErrorInfo != nil:
					errs++
				}
			}
			assert.Equal(t, 1, q1, "one statement log, the eviction's")
			assert.Equal(t, 1, errs, "the late error, on its own")
			s := a.Stats()
			assert.Equal(t, int64(2), s.Dropped.Late, "the chunk and the completion")
			assert.Equal(t, int64(1), s.Evicted.TTL+s.Evicted.Capacity)
			assert.Zero(t, s.OpenStatements)
		})
	}
}

// A late terminal error is flushed at once, as any terminal error.
func TestLateTerminalErrorFlushesNow(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp, WithMaxOpenStatements(1), WithFlushInterval(time.Hour))
	a.Handle(start("q1"))
	a.Handle(start("q2")) // evicts q1
	a.Handle(telemetry.Event{Kind: telemetry.KindError, StatementID: "q1", ErrorName: telemetry.ErrNameAuth, Terminal: true})
	require.Eventually(t, func() bool {
		for _, l := range exp.logs() {
			if dl := driverLog(l); dl.SQLStatementID == "q1" && dl.ErrorInfo != nil {
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond)
}

// The error an evicted statement's completion carries (the driver reports a terminal
// error so) is logged on its own, with the statement's ids, and a terminal one flushed at
// once; a completion without one is late.
func TestEvictedStatementsCompletionErrorIsLogged(t *testing.T) {
	cases := []struct {
		name     string
		terminal bool
		err      bool
	}{
		{name: "terminal", terminal: true, err: true},
		{name: "retryable", err: true},
		{name: "none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp, WithMaxOpenStatements(1), WithFlushInterval(time.Hour))
			a.Handle(start("q1"))
			a.Handle(start("q2")) // evicts q1
			ev := complete("q1")
			if tc.err {
				ev.ErrorName, ev.Terminal, ev.SQLState, ev.Message = telemetry.ErrNameNotFound, tc.terminal, "42P01", "gone"
			}
			a.Handle(ev)
			errLog := func() *telemetry.SQLDriverLog {
				for _, l := range exp.logs() {
					if dl := driverLog(l); dl.SQLStatementID == "q1" && dl.SQLOperation == nil && dl.ErrorInfo != nil {
						return dl
					}
				}
				return nil
			}
			if tc.terminal {
				require.Eventually(t, func() bool { return errLog() != nil }, 5*time.Second, 5*time.Millisecond, "flushed at once")
			}
			flush(t, a)
			s := a.Stats()
			if !tc.err {
				assert.Nil(t, errLog())
				assert.Equal(t, int64(1), s.Dropped.Late)
				return
			}
			dl := errLog()
			require.NotNil(t, dl, "the error logged on its own")
			assert.Equal(t, telemetry.ErrNameNotFound, dl.ErrorInfo.ErrorName)
			assert.Equal(t, "sess-1", dl.SessionID)
			assert.Zero(t, s.Dropped.Late)
		})
	}
}

// A statement evicted at Close whose start is stamped after the aggregator's clock (the
// driver's clock ahead of a WithClock one) logs a latency of 0, never a negative one:
// operation_latency_ms is always present and may be 0 (SPEC §3).
func TestEvictedStatementLatencyNeverNegative(t *testing.T) {
	exp, clock := newFake(), newClock()
	a := newTest(t, exp, WithClock(clock.Now))
	st := start("q1")
	st.Time = clock.Now().Add(time.Hour)
	a.Handle(st)
	require.NoError(t, a.Close(context.Background()))
	logs := exp.logs()
	require.Len(t, logs, 1)
	assert.Equal(t, int64(0), driverLog(logs[0]).OperationLatencyMs)
	assert.Equal(t, int64(1), a.Stats().Evicted.Close)
}

// The ring of evicted statement ids forgets the oldest id from its map too, so that the
// memory kept for late events stays bounded (SPEC §2: memory is bounded).
func TestTombstonesBounded(t *testing.T) {
	sh := &shard{evictedCap: 4}
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		sh.tombstone(id)
	}
	assert.Len(t, sh.evicted, 4)
	assert.False(t, sh.wasEvicted("c"), "forgotten")
	for _, id := range []string{"d", "e", "f", "g"} {
		assert.True(t, sh.wasEvicted(id), id)
	}
}

// The ring grows with use, up to its bound, which no MaxOpenStatements lifts past
// maxTombstonesPerShard: it used to be made at MaxOpenStatements/shards ids at the first
// eviction, and a large MaxOpenStatements (1<<40) made the process run out of memory
// there, which no recover catches.
func TestTombstonesGrowWithUse(t *testing.T) {
	sh := &shard{evictedCap: 4}
	sh.tombstone("a")
	assert.Len(t, sh.evictedIDs, 1, "one id, one place")
	for _, id := range []string{"b", "c", "d", "e"} {
		sh.tombstone(id)
	}
	assert.Len(t, sh.evictedIDs, 4)
	assert.False(t, sh.wasEvicted("a"), "the oldest forgotten once full")

	for _, maxOpen := range []int{1 << 40, math.MaxInt} {
		exp, clock := newFake(), newClock()
		a := newTest(t, exp, WithMaxOpenStatements(maxOpen), WithStatementTTL(time.Hour), WithClock(clock.Now))
		for i := range a.shards {
			assert.LessOrEqual(t, a.shards[i].evictedCap, maxTombstonesPerShard)
		}
		a.Handle(start("q1"))
		clock.Advance(2 * time.Hour)
		flush(t, a) // the sweep evicts q1
		assert.Equal(t, int64(1), a.Stats().Evicted.TTL, "MaxOpenStatements %d", maxOpen)
		assert.Zero(t, a.Stats().Panics, "MaxOpenStatements %d", maxOpen)
		require.Len(t, exp.logs(), 1, "MaxOpenStatements %d", maxOpen)
	}
}

// The package's bound, as documented: a shard remembers its last evicted statements (64
// here), and one evicted before them is logged a second time by its completion; one
// still remembered is not.
func TestEvictedBeforeTheRememberedLogsAgain(t *testing.T) {
	for _, tc := range []struct {
		evictedAfter int
		want         int
	}{{minEntriesPerShard - 1, 1}, {minEntriesPerShard, 2}} {
		exp := newFake()
		a := newTest(t, exp, WithMaxOpenStatements(1))
		require.Len(t, a.shards, 1)
		a.Handle(start("q0"))
		for i := range tc.evictedAfter + 1 { // the first evicts q0
			a.Handle(start(fmt.Sprint("q", i+1)))
		}
		a.Handle(complete("q0"))
		flush(t, a)
		var q0 int
		for _, l := range exp.logs() {
			if dl := driverLog(l); dl.SQLStatementID == "q0" && dl.SQLOperation != nil {
				q0++
			}
		}
		assert.Equal(t, tc.want, q0, "q0 evicted, then %d others", tc.evictedAfter)
	}
}
