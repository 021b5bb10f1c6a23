package driver

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// The gate follows the latest ask of the server's flag: an answer to an earlier ask that
// arrives later does not stand; a shut gate stays shut.
func TestGateFollowsTheLatestAnswer(t *testing.T) {
	type answer struct {
		seq uint64
		on  bool
	}
	for _, tc := range []struct {
		name    string
		answers []answer
		shut    bool // before the answers
		shutAt  bool // after them
		want    int32
	}{
		{"one answer, on", []answer{{1, true}}, false, false, gateOn},
		{"in order", []answer{{1, true}, {2, false}}, false, false, gateOff},
		{"off, then on again", []answer{{1, false}, {2, true}}, false, false, gateOn},
		{"an older answer arrives last", []answer{{2, false}, {1, true}}, false, false, gateOff},
		{"shut stays shut", []answer{{1, true}}, true, false, gateShut},
		{"shut while on", []answer{{1, true}}, false, true, gateShut},
		{"shut while off stays off", []answer{{1, false}}, false, true, gateShutOff},
		{"shut after off, then on", []answer{{1, false}, {2, true}}, false, true, gateShut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate()
			if tc.shut {
				g.shut()
			}
			for _, a := range tc.answers {
				g.answer(a.seq, a.on)
			}
			if tc.shutAt {
				g.shut()
				g.answer(9, true) // an answer after shut changes nothing
			}
			assert.Equal(t, tc.want, g.state.Load())
		})
	}
}

// What the gate drops is counted: beyond maxUndecided while the flag is not known, what
// waited when the answer is off (or did not come: a broken flag endpoint answers off),
// and everything waiting or handed over once it is shut; nothing that comes after an
// off answer (telemetry is off then, nothing is lost).
func TestGateCountsWhatItDrops(t *testing.T) {
	g := newGate()
	for range maxUndecided + 6 {
		g.Handle(telemetry.Event{Kind: telemetry.KindChunk})
	}
	assert.Equal(t, int64(6), g.dropped.Load())
	g.shut()
	g.Handle(telemetry.Event{Kind: telemetry.KindChunk})
	assert.Equal(t, int64(maxUndecided+1), g.shutOut.Load(), "those waiting, then the newcomer")

	off := newGate()
	for range 3 {
		off.Handle(telemetry.Event{Kind: telemetry.KindChunk})
	}
	off.answer(1, false)
	assert.Equal(t, int64(3), off.dropped.Load(), "what waited for the answer")
	off.Handle(telemetry.Event{Kind: telemetry.KindChunk})
	assert.Equal(t, int64(3), off.dropped.Load()+off.shutOut.Load(), "nothing after it")
	off.shut()
	off.Handle(telemetry.Event{Kind: telemetry.KindChunk})
	assert.Equal(t, int64(3), off.dropped.Load()+off.shutOut.Load(), "nor after it shut")
}

// When the server's flag answers on, the events that waited are replayed before an event
// emitted meanwhile reaches the aggregator: a statement's completion never overtakes
// its start (else the completion is logged alone, and the start opens an entry that
// nothing completes, evicted after StatementTTL as a second log).
//
// The replay is held at its first event (a connection.open, whose Handle reads the
// aggregator's clock) so that the window is certain; in production it is the time the
// replay of up to 1024 events takes.
func TestGateReplayIsNotOvertaken(t *testing.T) {
	entered := make(chan struct{})
	resume := make(chan struct{})
	var armed sync.Once
	var arm = make(chan struct{})
	clock := func() time.Time {
		select {
		case <-arm:
			armed.Do(func() {
				close(entered)
				<-resume
			})
		default:
		}
		return time.Now()
	}
	a := aggregator.New(nopExporter{}, aggregator.WithClock(clock),
		aggregator.WithSystemConfiguration(&telemetry.SystemConfiguration{}))
	t.Cleanup(func() { _ = a.Close(context.Background()) })

	g := newGate()
	g.setSink(a) // undecided: the flag has not answered yet
	now := time.Now()
	g.Handle(telemetry.Event{Kind: telemetry.KindConnectionOpen, SessionID: "s"})
	g.Handle(telemetry.Event{Kind: telemetry.KindStatementStart, Time: now, SessionID: "s", StatementID: "q1"})
	require.Len(t, g.pending, 2)

	close(arm)
	answered := make(chan struct{})
	go func() { g.answer(1, true); close(answered) }() // the askFlag goroutine
	<-entered                                          // the replay is under way, the gate already says on

	// The caller's goroutine: q1's rows are closed now.
	handled := make(chan struct{})
	go func() {
		g.Handle(telemetry.Event{Kind: telemetry.KindStatementComplete, Time: now.Add(time.Millisecond),
			SessionID: "s", StatementID: "q1", Latency: time.Millisecond})
		close(handled)
	}()
	select {
	case <-handled: // it went through while the replay was held: it overtook q1's start
	case <-time.After(200 * time.Millisecond): // it waits for the replay (the fixed behaviour)
	}
	close(resume)
	<-answered
	<-handled

	st := a.Stats()
	assert.Zero(t, st.OpenStatements, "q1 started and completed: nothing should stay open")
	require.NoError(t, a.Close(context.Background()))
	st = a.Stats()
	assert.Zero(t, st.Evicted.Close, "no statement should be left for Close to evict")
	assert.Equal(t, int64(2), st.Queued, "one connection log and one statement log")
}

// The same without a hook: a completion sent as soon as the gate says on, while a full
// gate (1024 waiting events) is replayed.
func TestGateReplayRace(t *testing.T) {
	hits := 0
	const trials = 50
	for trial := 0; trial < trials; trial++ {
		a := aggregator.New(nopExporter{}, aggregator.WithSystemConfiguration(&telemetry.SystemConfiguration{}))
		g := newGate()
		g.setSink(a)
		now := time.Now()
		for i := 0; i < maxUndecided-1; i++ {
			g.Handle(telemetry.Event{Kind: telemetry.KindChunk, Time: now, StatementID: "other", Latency: time.Millisecond})
		}
		g.Handle(telemetry.Event{Kind: telemetry.KindStatementStart, Time: now, StatementID: "q1"})
		go g.answer(1, true)
		for g.state.Load() != gateOn {
		}
		g.Handle(telemetry.Event{Kind: telemetry.KindStatementComplete, Time: now, StatementID: "q1", Latency: time.Millisecond})
		g.mu.Lock() // the replay is over
		g.mu.Unlock()
		if a.Stats().OpenStatements > 1 { // "other" stays open by design; q1 must not
			hits++
		}
		_ = a.Close(context.Background())
	}
	t.Logf("q1's completion overtook its start in %d of %d trials", hits, trials)
	assert.Zero(t, hits)
}

// A gate switched on before it has its aggregator (WithTelemetry(true) before the first
// Thrift call, or a connection that failed before any request) keeps what comes and hands
// it over when the aggregator is set, in order: nothing is lost, nothing counted dropped.
func TestGateOnBeforeItsSinkHandsOverAtSetSink(t *testing.T) {
	a := aggregator.New(nopExporter{}, aggregator.WithSystemConfiguration(&telemetry.SystemConfiguration{}))
	t.Cleanup(func() { _ = a.Close(context.Background()) })
	g := newGate()
	g.resolve(true)
	g.Handle(telemetry.Event{Kind: telemetry.KindConnectionOpen, Time: time.Now(), SessionID: "s"})
	g.Handle(telemetry.Event{Kind: telemetry.KindConnectionOpen, Time: time.Now(), SessionID: "t"})
	require.Len(t, g.pending, 2, "no aggregator yet: they wait")
	g.setSink(a)
	assert.Empty(t, g.pending)
	assert.Equal(t, int64(2), a.Stats().Received, "both reached the aggregator")
	assert.Zero(t, g.dropped.Load()+g.shutOut.Load())
}
