package driver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A start's time carries a monotonic reading (its latencies never see a step of the wall
// clock) and a wall time taken from the clock's base plus the monotonic time since it:
// before any reset, the clock is time.Now itself; a reset renews the base.
func TestStartClock(t *testing.T) {
	var k startClock
	before := time.Now()
	first := k.now() // no base yet
	require.Nil(t, k.base.Load())
	assert.False(t, first.Before(before))
	assert.NotEqual(t, first.Round(0), first, "a monotonic reading")

	k.reset()
	base := *k.base.Load()
	at := k.now()
	assert.NotEqual(t, at.Round(0), at, "a monotonic reading")
	assert.False(t, at.Before(base), "no earlier than its base")
	elapsed := at.Sub(base) // monotonic
	assert.Equal(t, base.Round(0).Add(elapsed), at.Round(0), "the wall time is the base's plus the monotonic time since")

	k.reset()
	assert.False(t, k.base.Load().Before(at), "reset renews the base")
}

// After a reset, a start's time runs on with the monotonic clock: a statement that
// starts long after its connection opened (the last reset) is stamped when it starts,
// not when the base was taken, and its latencies do not count the connection's idle time.
func TestStartClockRunsOnAfterReset(t *testing.T) {
	var k startClock
	k.reset()
	base := *k.base.Load()
	time.Sleep(20 * time.Millisecond)
	before := time.Now()
	at := k.now()
	assert.False(t, at.Before(before), "stamped when it starts, not at the base (%s)", at.Sub(base))
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
