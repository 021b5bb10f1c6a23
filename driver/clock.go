package driver

import (
	"bytes"
	"math"
	"sync/atomic"
	"time"
)

// startClock times statements. time.Now reads the wall clock and the monotonic clock,
// two reads of about 40 ns each on a VM, and one that costs two or three times that
// amid the hot path (the kernel's vDSO orders its read of the CPU's counter after every
// instruction before it). A statement reads the clock three times: at its start, when
// the driver returns, and at its end.
//
// So the clock keeps a base (both clocks, read together), which reset renews: at every
// new connection, and at every sweep of the aggregator (FlushInterval, 5 s by default).
// A statement's wall time is the base's plus the time since; a step of the wall clock
// reaches the timestamps by the next reset, and the latencies never see it.
//
// Where it can be trusted, the time since is read from the CPU's time-stamp counter
// (amd64, and only when the kernel's own clock is that counter: the kernel checks that
// it runs at a constant rate, in step across CPUs, and watches it; every reset asks the
// kernel again), without ordering: a few nanoseconds. Its period is measured against the
// monotonic clock between two readings at least minSpan apart, and measured again at
// every reset after that (a VM that moved to another host may count at another rate).
// Until it is measured, and wherever the counter is not trusted, statements are timed by
// the monotonic clock.
type startClock struct {
	base atomic.Pointer[clockBase]
	// tsc says the counter may be used (it can be read here): where source says the
	// kernel times by it, or always when source is nil. Set before the connector is
	// handed out.
	tsc bool
	// source reads the kernel's clock source again at every reset (see tscTrusted): a
	// kernel whose watchdog found the counter unstable switches to another clock, and
	// the counter is trusted no longer. Nil: not asked (tests).
	source func(string) ([]byte, error)
}

// clockBase is the clock's base. Never changed once stored.
type clockBase struct {
	at reading
	// from is where the counter's period is being measured from.
	from reading
	// nsPerTick is the counter's period in nanoseconds, 0 while not measured.
	nsPerTick float64
	// tsc says the counter was trusted when the base was taken.
	tsc bool
}

// reading is the wall and monotonic clocks, and the counter's reading at the same
// moment (0 when the counter is not read).
type reading struct {
	t    time.Time
	tick int64
}

const (
	// minSpan is the least time between the two readings that measure the counter's
	// period: a reading's error (half the ticks that maxReadSkew allows at most: 2.4 µs
	// at 2.1 GHz, 1 µs at 5 GHz) is then under 0.05 % of it, for each of the two.
	minSpan = 10 * time.Millisecond
	// maxReadSkew bounds the counter's ticks across a reading of the clocks; a longer
	// reading (the goroutine was preempted) is taken again: 2 µs at 5 GHz, 4.8 µs at
	// 2.1 GHz.
	maxReadSkew = 10_000
	// The counter's period is taken as measured only between these bounds (a counter of
	// 100 MHz to 10 GHz); anything else means a counter that jumped.
	minNsPerTick, maxNsPerTick = 0.1, 10
	// maxDrift is how far, as a fraction, a period may be from the last one measured
	// and still be taken: more means the counter's rate changed within the measurement
	// (a VM that moved, a suspend the counter ran through), whose span is then part at
	// one rate and part at the other. The monotonic clock's slewing (500 ppm at most) and
	// the readings' error stay well within it.
	maxDrift = 0.01
)

// clockSourcePath names the kernel's current clock source.
const clockSourcePath = "/sys/devices/system/clocksource/clocksource0/current_clocksource"

// tscTrusted reports whether the CPU's counter may time statements: it can be read here
// (cpuTicks), and the kernel's clock source, as read by readFile, is the counter.
func tscTrusted(readFile func(string) ([]byte, error)) bool {
	if !haveTicks {
		return false
	}
	src, err := readFile(clockSourcePath)
	return err == nil && string(bytes.TrimSpace(src)) == "tsc"
}

// now is the time of a statement's start, with its monotonic reading, and the
// counter's reading when the statement is timed by the counter (0 when not).
func (k *startClock) now() (time.Time, int64) {
	b := k.base.Load()
	if b == nil {
		return time.Now(), 0
	}
	if b.nsPerTick == 0 {
		if b.tsc {
			k.measure(b)
		}
		return b.at.t.Add(time.Since(b.at.t)), 0
	}
	tick := cpuTicks()
	return b.at.t.Add(b.dur(tick - b.at.tick)), tick
}

// since is the time since a statement's start, as now returned it.
func (k *startClock) since(start time.Time, tick int64) time.Duration {
	if tick != 0 {
		if b := k.base.Load(); b.nsPerTick != 0 {
			return b.dur(cpuTicks() - tick)
		}
	}
	return time.Since(start)
}

// dur is ticks of the counter as a duration; none when the counter went back (a
// statement that moved to a CPU whose counter is behind), and the longest duration when
// it jumped beyond that.
func (b *clockBase) dur(ticks int64) time.Duration {
	if ticks <= 0 {
		return 0
	}
	if d := float64(ticks) * b.nsPerTick; d < math.MaxInt64 {
		return time.Duration(d)
	}
	return math.MaxInt64
}

// reset renews the base, and measures the counter's period again when minSpan has
// passed since the last measurement began; a kernel that no longer times by the counter
// leaves the base unmeasured (statements under way end by the monotonic clock).
func (k *startClock) reset() {
	tsc := k.tsc && (k.source == nil || tscTrusted(k.source))
	r, ok := k.read(tsc)
	if !ok {
		return // preempted at each try: the base stays, for the next reset to renew
	}
	old := k.base.Load()
	b := &clockBase{at: r, from: r, tsc: tsc}
	if old != nil && tsc {
		b.from, b.nsPerTick = old.from, old.nsPerTick
		b.measured(r)
	}
	k.base.Store(b)
}

// measure measures the counter's period of the base b when minSpan has passed since
// the measurement began, for a statement that finds it not measured yet.
func (k *startClock) measure(b *clockBase) {
	r, ok := k.read(b.tsc)
	if !ok || r.t.Sub(b.from.t) < minSpan {
		return
	}
	n := *b
	n.measured(r)
	k.base.CompareAndSwap(b, &n) // a reset meanwhile measured it too
}

// measured sets the counter's period from the measurement's beginning to r, when
// minSpan has passed, and begins the next measurement at r. A period out of bounds, or
// more than maxDrift off the last one, leaves the counter unmeasured: statements are
// timed by the monotonic clock until a later measurement agrees.
func (b *clockBase) measured(r reading) {
	span := r.t.Sub(b.from.t)
	if span < minSpan {
		return
	}
	was := b.nsPerTick
	b.nsPerTick = 0
	if ticks := r.tick - b.from.tick; ticks > 0 && b.from.tick != 0 {
		if p := float64(span) / float64(ticks); p >= minNsPerTick && p <= maxNsPerTick &&
			(was == 0 || math.Abs(p-was) <= maxDrift*was) {
			b.nsPerTick = p
		}
	}
	b.from = r
}

// read reads both clocks, and the counter around them when it is trusted (tsc); it
// reports false when each of three tries took longer than maxReadSkew ticks.
func (k *startClock) read(tsc bool) (reading, bool) {
	if !tsc {
		return reading{t: time.Now()}, true
	}
	for range 3 {
		before := cpuTicks()
		t := time.Now()
		after := cpuTicks()
		if d := after - before; d >= 0 && d <= maxReadSkew {
			return reading{t: t, tick: before + d/2}, true
		}
	}
	return reading{}, false
}
