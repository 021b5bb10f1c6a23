package driver

import (
	"sync/atomic"
	"time"
)

// startClock stamps statement starts. time.Now reads the wall clock and the monotonic
// clock, two reads of about 40 ns each on a VM; a start needs the monotonic reading (its
// latencies are measured from it) and a wall time only for its log's timestamp. So the
// clock reads the monotonic clock alone and takes the wall time from a base (both clocks,
// read together) that Reset renews: at every new connection, and at every sweep of the
// aggregator (FlushInterval, 5 s by default). A step of the wall clock reaches the
// timestamps by then; the latencies never see it.
type startClock struct {
	base atomic.Pointer[time.Time]
}

// now is the time of a statement's start, with its monotonic reading.
func (k *startClock) now() time.Time {
	b := k.base.Load()
	if b == nil {
		return time.Now()
	}
	return b.Add(time.Since(*b))
}

// reset renews the base from both clocks.
func (k *startClock) reset() {
	t := time.Now()
	k.base.Store(&t)
}
