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

// Claims of the package's documentation, each pinned by a test.

// closeCountingExporter is a fakeExporter that counts its Close calls.
type closeCountingExporter struct {
	*fakeExporter
	closes atomic.Int64
}

func (e *closeCountingExporter) Close(context.Context) error {
	e.closes.Add(1)
	return nil
}

// New: "The aggregator does not close exp: the exporter is shared per host and its owner
// closes it." Close: "It does not close the exporter." Whether Close had logs to flush,
// was called again, or had its deadline cut the final flush short.
func TestDocsCloseDoesNotCloseTheExporter(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, a *Aggregator, exp *closeCountingExporter)
		ctx   func() (context.Context, context.CancelFunc)
	}{
		{"idle", func(*testing.T, *Aggregator, *closeCountingExporter) {}, nil},
		{"logs pending", func(_ *testing.T, a *Aggregator, _ *closeCountingExporter) {
			a.Handle(connOpen("s1"))
			a.Handle(start("q1")) // open at Close: evicted, logged
		}, nil},
		{"the deadline cuts the final flush", func(t *testing.T, a *Aggregator, exp *closeCountingExporter) {
			release := exp.block(false)
			t.Cleanup(release)
			a.Handle(connOpen("s1"))
			go func() { _ = a.Flush(context.Background()) }()
			<-exp.started // the export in flight, waiting for its ctx
		}, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := &closeCountingExporter{fakeExporter: newFake()}
			a := New(exp, WithFlushInterval(time.Hour), WithSystemConfiguration(&telemetry.SystemConfiguration{}))
			tc.setup(t, a, exp)
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			_ = a.Close(ctx)
			_ = a.Close(context.Background()) // idempotent
			assert.Zero(t, exp.closes.Load(), "the exporter is its owner's to close")
		})
	}
}

// Dropped.Invalid: "events with an unknown kind, or a statement.start or cloudfetch.chunk
// without a statement id. (A statement.complete without one is still logged, alone ...)"
// An error without one is a standalone error log (SPEC §2), no invalid event either.
func TestDocsEventsWithoutAStatementID(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ev      telemetry.Event
		invalid int64
		logs    int
	}{
		{"statement.start", telemetry.Event{Kind: telemetry.KindStatementStart, SessionID: "s"}, 1, 0},
		{"cloudfetch.chunk", telemetry.Event{Kind: telemetry.KindChunk, SessionID: "s", Latency: time.Millisecond}, 1, 0},
		{"statement.complete", telemetry.Event{Kind: telemetry.KindStatementComplete, SessionID: "s", Latency: time.Second}, 0, 1},
		{"error", telemetry.Event{Kind: telemetry.KindError, SessionID: "s", ErrorName: telemetry.ErrNameServer}, 0, 1},
		{"an unknown kind", telemetry.Event{Kind: 200, SessionID: "s", StatementID: "q"}, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp)
			a.Handle(tc.ev)
			flush(t, a)
			st := a.Stats()
			assert.Equal(t, int64(1), st.Received)
			assert.Equal(t, tc.invalid, st.Dropped.Invalid)
			assert.Equal(t, tc.invalid, st.Dropped.Total(), "nothing else dropped")
			require.Len(t, exp.logs(), tc.logs)
			if tc.logs > 0 {
				assert.Empty(t, driverLog(exp.logs()[0]).SQLStatementID)
			}
		})
	}
}

// WithSystemConfiguration: "sets the system_configuration sent with every authenticated
// log. Default: telemetry.NewSystemConfiguration(""), computed once in New." And
// WithAuthenticated(false): "logs carry ... no system or connection configuration".
func TestDocsDefaultSystemConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name          string
		authenticated bool
	}{
		{"authenticated: this process's", true},
		{"unauthenticated: none", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := newFake()
			a := New(exp, WithFlushInterval(time.Hour), WithAuthenticated(tc.authenticated))
			t.Cleanup(func() { _ = a.Close(context.Background()) })
			a.Handle(connOpen("s1"))
			a.Handle(complete("q1"))
			flush(t, a)
			logs := exp.logs()
			require.Len(t, logs, 2)
			want := telemetry.NewSystemConfiguration("")
			for _, l := range logs {
				sc := driverLog(l).SystemConfiguration
				if !tc.authenticated {
					assert.Nil(t, sc)
					continue
				}
				require.NotNil(t, sc, "every authenticated log")
				assert.Equal(t, want, sc)
				assert.Equal(t, telemetry.DriverName, sc.DriverName)
				assert.Equal(t, "go", sc.RuntimeName)
			}
		})
	}
}

// Dropped.Closed: "events handed to Handle once Close stopped accepting them, after the
// hand-over it begins with (see AddHandOver: what that hands over is still taken)".
// Handle: "Events after Close are dropped and counted."
func TestDocsDroppedClosedCountsWhatCloseRefused(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp)
	h := &heldStart{a: a, ev: start("q-held")}
	remove := a.AddHandOver(h.handOver)
	defer remove()
	require.NoError(t, a.Close(context.Background()))
	require.True(t, h.given.Load(), "handed over as Close began")

	st := a.Stats()
	assert.Zero(t, st.Dropped.Closed, "what the hand-over gave at Close's start is taken")
	assert.Equal(t, int64(1), st.Evicted.Close, "and logged as open at Close")
	require.Len(t, exp.logs(), 1)

	for i, ev := range []telemetry.Event{connOpen("s2"), start("q2"), complete("q2")} {
		a.Handle(ev)
		assert.Equal(t, int64(i+1), a.Stats().Dropped.Closed, "after Close: dropped, counted")
	}
	assert.Equal(t, int64(4), a.Stats().Received, "counted as received too")
	assert.ErrorIs(t, a.Flush(context.Background()), ErrClosed)
}
