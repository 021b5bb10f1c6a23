// Package testmem measures the memory that tests say must not be kept.
package testmem

import "runtime"

// LiveHeap is the heap still reachable: the bytes allocated after two collections (the
// second frees what the first's finalizers let go).
func LiveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
