package driver

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		before := time.Now()
		at, _ := k.now()
		assert.False(t, at.Before(before), "stamped when it starts, not at the base (%s; counter %v)", at.Sub(base), tsc)
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
// counter unmeasured (statements are timed by the monotonic clock).
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
		{"a new rate after a move", 0.5, time.Second, 2_000_000_000, 1_000_000, 0.5, true},
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

// Ticks become a duration at the measured period; ticks that went back (a statement
// that moved to a CPU whose counter is behind) are no time at all.
func TestCounterDuration(t *testing.T) {
	b := clockBase{nsPerTick: 0.5}
	assert.Equal(t, time.Second, b.dur(2_000_000_000))
	assert.Zero(t, b.dur(0))
	assert.Zero(t, b.dur(-10))
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
