package driver

// haveTicks says cpuTicks reads the CPU's time-stamp counter.
const haveTicks = true

// cpuTicks reads the CPU's time-stamp counter (RDTSC), unordered: the instructions
// around it may run before or after it, which costs nothing next to a statement's
// latency. See startClock for when it is used.
//
//go:noescape
func cpuTicks() int64
