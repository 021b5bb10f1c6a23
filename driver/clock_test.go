package driver

import (
	"context"
	"math"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// A start's time carries a monotonic reading (its latencies never see a step of the wall
// clock) and a wall time taken from the clock's base plus the monotonic time since it:
// before any reset, the clock is time.Now itself; a reset renews the base. Without the
// counter, no start has a counter reading.
func TestStartClock(t *testing.T) {
	var k startClock
	before := time.Now()
	first, tick := k.now() // no base yet
	require.Nil(t, k.base.Load())
	assert.Zero(t, tick)
	assert.False(t, first.Before(before))
	assert.NotEqual(t, first.Round(0), first, "a monotonic reading")

	k.reset()
	base := k.base.Load().at.t
	at, tick := k.now()
	assert.Zero(t, tick, "the counter is not trusted")
	assert.NotEqual(t, at.Round(0), at, "a monotonic reading")
	assert.False(t, at.Before(base), "no earlier than its base")
	elapsed := at.Sub(base) // monotonic
	assert.Equal(t, base.Round(0).Add(elapsed), at.Round(0), "the wall time is the base's plus the monotonic time since")
	time.Sleep(minSpan)
	k.reset()
	assert.False(t, k.base.Load().at.t.Before(at), "reset renews the base")
	assert.Zero(t, k.base.Load().nsPerTick, "no period measured for a counter not trusted")
}

// After a reset, a start's time runs on with the monotonic clock: a statement that
// starts long after its connection opened (the last reset) is stamped when it starts,
// not when the base was taken, and its latencies do not count the connection's idle time.
func TestStartClockRunsOnAfterReset(t *testing.T) {
	for _, tsc := range trustedModes(t) {
		k := startClock{tsc: tsc}
		k.reset()
		base := k.base.Load().at.t
		time.Sleep(20 * time.Millisecond)
		_, _ = k.now() // with the counter, a statement measures its period
		before := time.Now()
		at, tick := k.now()
		assert.Equal(t, tsc, tick != 0, "timed by the counter")
		assert.False(t, at.Before(before.Add(-100*time.Microsecond)), "stamped when it starts, not at the base (%s; counter %v)", at.Sub(base), tsc)
	}
}

// trustedModes are the clock's modes this machine can run: without the counter, and
// with it where the kernel times by it.
func trustedModes(t *testing.T) []bool {
	if tscTrusted(os.ReadFile) {
		return []bool{false, true}
	}
	t.Log("the kernel does not time by the CPU's counter here: the monotonic clock only")
	return []bool{false}
}

// Each sweep of the aggregator (its hand-over call, every FlushInterval) renews the
// clock's base, so that a step of the wall clock reaches the starts' timestamps within a
// flush interval even on a connection that lives for hours.
func TestSweepRenewsTheStartClock(t *testing.T) {
	c, _, _ := heldConn(t) // its Connect took the clock's first base
	first := c.clock.base.Load()
	require.NotNil(t, first)
	c.handOverAll() // what the aggregator's sweep calls
	assert.NotSame(t, first, c.clock.base.Load(), "the sweep took a new base")
}

// The counter is trusted only where it can be read and the kernel's clock source is the
// counter itself.
func TestTSCTrusted(t *testing.T) {
	tests := []struct {
		name   string
		source string
		err    error
		want   bool
	}{
		{"tsc", "tsc\n", nil, haveTicks},
		{"kvm-clock", "kvm-clock\n", nil, false},
		{"hpet", "hpet\n", nil, false},
		{"tsc as a prefix", "tsc-early\n", nil, false},
		{"empty", "", nil, false},
		{"no such file", "", os.ErrNotExist, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var path string
			got := tscTrusted(func(p string) ([]byte, error) {
				path = p
				return []byte(tt.source), tt.err
			})
			assert.Equal(t, tt.want, got)
			if haveTicks {
				assert.Equal(t, clockSourcePath, path)
			}
		})
	}
}

// The counter's period is measured between two readings at least minSpan apart, and
// only a period of a counter of 100 MHz to 10 GHz is taken: anything else leaves the
// counter unmeasured (statements are timed by the monotonic clock). Nor is a period more
// than maxDrift off the last one: the counter's rate changed within the measurement,
// whose span is part at one rate and part at the other; the next measurement, all at
// the new rate, is taken.
func TestCounterPeriodMeasured(t *testing.T) {
	t0 := time.Now()
	from := reading{t: t0, tick: 1_000_000}
	tests := []struct {
		name     string
		was      float64
		span     time.Duration
		ticks    int64
		fromTick int64
		want     float64
		restarts bool // the next measurement begins at the reading
	}{
		{"3 GHz", 0, 20 * time.Millisecond, 60_000_000, 1_000_000, 1.0 / 3, true},
		{"the same rate, measured again", 0.5, time.Second, 2_000_000_000, 1_000_000, 0.5, true},
		{"within the monotonic clock's slewing", 0.5, time.Second, 1_999_000_000, 1_000_000, 1e9 / 1_999_000_000.0, true},
		{"a new rate within the span: 3 GHz, then 2 GHz", 1.0 / 3, time.Second, 2_500_000_000, 1_000_000, 0, true},
		{"a suspend the counter ran through", 1.0 / 3, time.Second, 4_000_000_000, 1_000_000, 0, true},
		{"the new rate, measured after that", 0, time.Second, 2_000_000_000, 1_000_000, 0.5, true},
		{"too soon: unchanged", 0.4, minSpan - time.Microsecond, 1, 1_000_000, 0.4, false},
		{"counter went back", 0.4, time.Second, -5, 1_000_000, 0, true},
		{"counter stood still", 0.4, time.Second, 0, 1_000_000, 0, true},
		{"under 100 MHz", 0.4, time.Second, 9_000_000, 1_000_000, 0, true},
		{"over 10 GHz", 0.4, time.Second, 11_000_000_000, 1_000_000, 0, true},
		{"the beginning had no counter reading", 0.4, time.Second, 1_000_000_000, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := from
			f.tick = tt.fromTick
			b := clockBase{from: f, nsPerTick: tt.was}
			r := reading{t: t0.Add(tt.span), tick: f.tick + tt.ticks}
			b.measured(r)
			assert.InDelta(t, tt.want, b.nsPerTick, 1e-9)
			if tt.restarts {
				assert.Equal(t, r, b.from)
			} else {
				assert.Equal(t, f, b.from)
			}
		})
	}
}

// A reset measures the counter's period again: one whose measurement spans a change of
// the counter's rate (a VM that moved to another host: half of the span at the old rate,
// half at the new) takes neither rate and leaves statements to the monotonic clock; the
// next reset, all at the new rate, takes it.
func TestResetAfterAMoveMeasuresTheNewRate(t *testing.T) {
	if !tscTrusted(os.ReadFile) {
		t.Skip("the kernel does not time by the CPU's counter here")
	}
	k := startClock{tsc: true}
	k.reset()
	time.Sleep(minSpan + time.Millisecond)
	_, _ = k.now() // a statement measures the period
	rate := k.base.Load().nsPerTick
	require.NotZero(t, rate)

	// Before the move, the counter counted twice as fast (old), for half a second.
	now, tick := time.Now(), cpuTicks()
	old := rate / 2
	from := reading{t: now.Add(-time.Second), tick: tick - int64(float64(time.Second/2)/rate) - int64(float64(time.Second/2)/old)}
	k.base.Store(&clockBase{at: reading{t: now, tick: tick}, from: from, nsPerTick: old})
	k.reset()
	assert.Zero(t, k.base.Load().nsPerTick, "the period of the span across the move (%.4f ns, the rate %.4f ns)", k.base.Load().nsPerTick, rate)
	_, tick = k.now()
	assert.Zero(t, tick, "timed by the monotonic clock")

	time.Sleep(minSpan + time.Millisecond)
	k.reset()
	assert.InEpsilon(t, rate, k.base.Load().nsPerTick, 0.01, "the new rate")
}

// Ticks become a duration at the measured period; ticks that went back (a statement
// that moved to a CPU whose counter is behind) are no time at all, and ticks beyond the
// longest duration (a counter that jumped ahead) are the longest duration, never a
// negative one.
func TestCounterDuration(t *testing.T) {
	tests := []struct {
		name      string
		nsPerTick float64
		ticks     int64
		want      time.Duration
	}{
		{"2 GHz", 0.5, 2_000_000_000, time.Second},
		{"none", 0.5, 0, 0},
		{"went back", 0.5, -10, 0},
		{"the longest the period allows", 0.5, math.MaxInt64, time.Duration(float64(math.MaxInt64) * 0.5)},
		{"beyond the longest duration", 10, 1 << 62, math.MaxInt64},
		{"the whole counter", 10, math.MaxInt64, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := clockBase{nsPerTick: tt.nsPerTick}
			assert.Equal(t, tt.want, b.dur(tt.ticks))
		})
	}
}

// The clock asks the kernel for its clock source again at every reset: a kernel whose
// watchdog found the counter unstable (and switched to another clock) is followed: the
// reset drops the counter's period (statements under way end by the monotonic clock, see
// since) and no statement measures it again; a kernel that times by the counter again is
// followed back. A connector's clock asks the kernel itself.
func TestClockFollowsTheKernelsClockSource(t *testing.T) {
	c, _, _ := heldConn(t)
	assert.NotNil(t, c.clock.source, "the connector's clock asks the kernel at each reset")
	if !tscTrusted(os.ReadFile) {
		t.Skip("the kernel does not time by the CPU's counter here")
	}

	tests := []struct {
		name    string
		source  string
		err     error
		counter bool
	}{
		{"still tsc", "tsc\n", nil, true},
		{"switched to kvm-clock", "kvm-clock\n", nil, false},
		{"switched to hpet", "hpet\n", nil, false},
		{"unreadable", "", os.ErrPermission, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			source, err := "tsc\n", error(nil)
			k := startClock{tsc: true, source: func(string) ([]byte, error) { return []byte(source), err }}
			k.reset()
			time.Sleep(minSpan + time.Millisecond)
			_, _ = k.now() // a statement measures the period
			require.NotZero(t, k.base.Load().nsPerTick)
			_, tick := k.now()
			require.NotZero(t, tick, "timed by the counter")

			source, err = tt.source, tt.err
			time.Sleep(minSpan + time.Millisecond)
			k.reset()
			assert.Equal(t, tt.counter, k.base.Load().nsPerTick != 0, "the period after the reset")
			time.Sleep(minSpan + time.Millisecond)
			_, _ = k.now() // a statement would measure the period again
			_, tick = k.now()
			assert.Equal(t, tt.counter, tick != 0, "a start after the reset timed by the counter")

			source, err = "tsc\n", nil
			k.reset()
			time.Sleep(minSpan + time.Millisecond)
			_, _ = k.now()
			_, tick = k.now()
			assert.NotZero(t, tick, "the counter again, once the kernel times by it")
		})
	}
}

// Where the kernel times by the counter, statements are timed by the monotonic clock
// until the counter's period has been measured (minSpan after the first reading), then
// by the counter, and both agree: the latencies, and the start's wall time.
func TestCounterTimesLikeTheMonotonicClock(t *testing.T) {
	if !tscTrusted(os.ReadFile) {
		t.Skip("the kernel does not time by the CPU's counter here")
	}
	k := startClock{tsc: true}
	k.reset()
	_, tick := k.now()
	assert.Zero(t, tick, "the period is not measured yet: the monotonic clock")
	time.Sleep(minSpan + time.Millisecond)
	_, _ = k.now() // a statement measures the period
	require.NotZero(t, k.base.Load().nsPerTick, "measured by a statement, without waiting for a reset")

	before := time.Now()
	start, tick := k.now()
	require.NotZero(t, tick, "timed by the counter")
	assert.InDelta(t, 0, float64(start.Sub(before)), float64(time.Millisecond), "a start's time")
	assert.InDelta(t, before.Round(0).UnixNano(), start.Round(0).UnixNano(), float64(time.Millisecond), "its wall time")
	time.Sleep(30 * time.Millisecond)
	got, want := k.since(start, tick), time.Since(before)
	assert.InDelta(t, float64(want), float64(got), float64(2*time.Millisecond), "the latency by the counter (%s) against the monotonic clock (%s)", got, want)
	assert.GreaterOrEqual(t, got, 30*time.Millisecond)

	// A reset in the meantime measures the period again; a statement started before it
	// is timed at the new period.
	start, tick = k.now()
	before = time.Now()
	time.Sleep(minSpan + time.Millisecond)
	k.reset()
	time.Sleep(10 * time.Millisecond)
	got, want = k.since(start, tick), time.Since(before)
	assert.InDelta(t, float64(want), float64(got), float64(2*time.Millisecond), "across a reset")
}

// A statement whose start was not timed by the counter is timed by the monotonic clock
// to its end, even when the period was measured in between.
func TestStatementTimedByTheClockItStartedWith(t *testing.T) {
	if !tscTrusted(os.ReadFile) {
		t.Skip("the kernel does not time by the CPU's counter here")
	}
	k := startClock{tsc: true}
	k.reset()
	start, tick := k.now()
	require.Zero(t, tick)
	time.Sleep(minSpan + time.Millisecond)
	k.reset()
	require.NotZero(t, k.base.Load().nsPerTick)
	got := k.since(start, tick)
	assert.GreaterOrEqual(t, got, minSpan)
	assert.Less(t, got, time.Second)
}

// A statement's latency is never less than its result's ready latency, nor the time its
// caller spent on the result negative, when a reset between the two (a sweep, a new
// connection) measured the counter's period a little lower: since times ticks at the
// period of the moment it is asked.
func TestCompletionNeverBeforeItsResult(t *testing.T) {
	if !haveTicks {
		t.Skip("no counter on this architecture")
	}
	var got []telemetry.Event
	c := &Connector{}
	c.em = telemetry.NewEmitter(telemetry.SinkFunc(func(ev telemetry.Event) { got = append(got, ev) }),
		telemetry.WithLookupEnv(func(string) (string, bool) { return "", false }))
	c.clock.base.Store(&clockBase{at: reading{t: time.Now(), tick: cpuTicks()}, nsPerTick: 0.5})
	st := newStmtState(context.Background(), newConnState(c))
	st.setID("q-remeasured")
	st.started = true
	st.start, st.tick = c.clock.now()
	st.tick -= 1_000_000_000 // it started 500 ms ago, by the counter
	st.ready = c.clock.since(st.start, st.tick)

	c.clock.base.Store(&clockBase{at: reading{t: time.Now(), tick: cpuTicks()}, nsPerTick: 0.5 * 0.999})
	c.complete(st, nil)
	require.Len(t, got, 1)
	ev := got[0]
	require.Equal(t, telemetry.KindStatementComplete, ev.Kind)
	assert.GreaterOrEqual(t, ev.Latency, ev.ResultReadyLatency, "the statement's latency")
	assert.GreaterOrEqual(t, ev.ConsumptionLatency, time.Duration(0), "the time spent on the result")
}
