package aggregator

import "sync"

// AddHandOver registers fn, through which a caller that holds statement starts back hands
// them over: the driver keeps the start of a statement whose rows are open on its
// connection rather than emit it, because the completion usually follows within
// microseconds and then carries the start itself, which spares the aggregator a
// statement's entry. A statement whose rows stay open must still reach StatementTTL's
// sweep and Close, so the aggregator calls fn on its export goroutine before every
// StatementTTL sweep (each FlushInterval tick and each Flush) and once when Close begins,
// before it stops accepting events. Close waits for it only until shortly before its
// deadline; what fn emits later is counted as Dropped.Closed. fn hands over by calling
// Handle (through the caller's emitter) with each held statement.start; a panic in it is
// counted in Stats.Panics. It may run on the export goroutine and on Close's goroutine at
// once: it must be safe for concurrent use. remove unregisters fn; it is idempotent. fn
// must not call Flush or Close.
func (a *Aggregator) AddHandOver(fn func()) (remove func()) {
	return a.handers.add(fn)
}

// handers are the registered hand-over functions.
type handers struct {
	mu   sync.Mutex
	fns  map[uint64]func()
	next uint64
}

func (h *handers) add(fn func()) (remove func()) {
	if fn == nil {
		return func() {}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fns == nil {
		h.fns = make(map[uint64]func())
	}
	id := h.next
	h.next++
	h.fns[id] = fn
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.fns, id)
			h.mu.Unlock()
		})
	}
}

// run calls every registered function, each under guard, with no lock held: a function
// may emit, and a remove may run meanwhile. It runs once per tick, Flush and Close (the
// export goroutine and Close may run it at once), so its copy is not worth reusing.
func (h *handers) run(guard func(func()) bool) {
	h.mu.Lock()
	fns := make([]func(), 0, len(h.fns))
	for _, fn := range h.fns {
		fns = append(fns, fn)
	}
	h.mu.Unlock()
	for _, fn := range fns {
		guard(fn)
	}
}
