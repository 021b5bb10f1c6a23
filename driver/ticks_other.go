//go:build !amd64

package driver

// haveTicks says cpuTicks reads a CPU counter: not on this architecture, where
// statements are timed by the monotonic clock.
const haveTicks = false

// cpuTicks is never called where haveTicks is false.
func cpuTicks() int64 { return 0 }
