package aggregator

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// heldStart is a caller that holds one statement's start back, as the driver does, and
// hands it over when the aggregator asks.
type heldStart struct {
	a     *Aggregator
	ev    telemetry.Event
	given atomic.Bool
	asked atomic.Int64
}

func (h *heldStart) handOver() {
	h.asked.Add(1)
	if h.given.CompareAndSwap(false, true) {
		h.a.Handle(h.ev)
	}
}

// A start held back reaches the aggregator at each of the moments that look at open
// statements: the timer's sweep, Flush, and Close, before it stops accepting events.
// Handed over, the statement is open (Stats), evicted by a StatementTTL already past in
// the same sweep, and logged at Close like any statement whose rows were never closed.
func TestHandOverBeforeEverySweep(t *testing.T) {
	began := time.Now()
	tests := []struct {
		name    string
		opts    []Option
		started time.Time // the held statement's start
		trigger func(t *testing.T, a *Aggregator)
		check   func(t *testing.T, a *Aggregator, exp *fakeExporter)
	}{
		{
			name:    "flush",
			started: began,
			trigger: func(t *testing.T, a *Aggregator) { flush(t, a) },
			check: func(t *testing.T, a *Aggregator, _ *fakeExporter) {
				assert.Equal(t, 1, a.Stats().OpenStatements)
			},
		},
		{
			name:    "timer",
			opts:    []Option{WithFlushInterval(10 * time.Millisecond)},
			started: began,
			trigger: func(t *testing.T, a *Aggregator) {
				waitFor(t, "the timer's hand-over", func() bool { return a.Stats().OpenStatements == 1 })
			},
			check: func(t *testing.T, a *Aggregator, _ *fakeExporter) {},
		},
		{
			name:    "ttl already past: evicted by the sweep that took it",
			opts:    []Option{WithStatementTTL(time.Minute)},
			started: began.Add(-time.Hour),
			trigger: func(t *testing.T, a *Aggregator) { flush(t, a) },
			check: func(t *testing.T, a *Aggregator, exp *fakeExporter) {
				st := a.Stats()
				assert.Zero(t, st.OpenStatements)
				assert.Equal(t, int64(1), st.Evicted.TTL)
				assert.Len(t, exp.logs(), 1)
			},
		},
		{
			name:    "close",
			started: began,
			trigger: func(t *testing.T, a *Aggregator) { require.NoError(t, a.Close(context.Background())) },
			check: func(t *testing.T, a *Aggregator, exp *fakeExporter) {
				assert.Equal(t, int64(1), a.Stats().Evicted.Close)
				logs := exp.logs()
				require.Len(t, logs, 1)
				op := logs[0].Entry.SQLDriverLog.SQLOperation
				require.NotNil(t, op)
				assert.Equal(t, telemetry.StatementQuery, op.StatementType)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp, tt.opts...)
			h := &heldStart{a: a, ev: telemetry.Event{Kind: telemetry.KindStatementStart, Time: tt.started,
				Latency: time.Millisecond, SessionID: "s", StatementID: "q-held",
				OperationType: telemetry.OpExecuteStatement, StatementType: telemetry.StatementQuery}}
			remove := a.AddHandOver(h.handOver)
			defer remove()
			require.Zero(t, a.Stats().OpenStatements, "held back: not open here yet")
			tt.trigger(t, a)
			assert.True(t, h.given.Load(), "handed over")
			tt.check(t, a, exp)
		})
	}
}

// A removed hand-over is not asked again; one that panics is counted and the flush goes
// on; a nil one is ignored.
func TestHandOverRemoveAndPanic(t *testing.T) {
	a := newTest(t, newFake())
	h := &heldStart{a: a}
	remove := a.AddHandOver(h.handOver)
	removeNil := a.AddHandOver(nil)
	flush(t, a)
	require.Equal(t, int64(1), h.asked.Load())
	remove()
	remove() // idempotent
	removeNil()
	flush(t, a)
	assert.Equal(t, int64(1), h.asked.Load(), "removed: not asked again")

	removePanic := a.AddHandOver(func() { panic("hand-over boom") })
	defer removePanic()
	flush(t, a)
	assert.Equal(t, int64(1), a.Stats().Panics)
}
