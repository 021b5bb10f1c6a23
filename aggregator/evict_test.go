package aggregator

import (
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
