package exporter

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// maxPooledBody is the largest request body kept for reuse; a bigger one (a batch far
// above the default size) is left to the GC.
const maxPooledBody = 1 << 20

// errBodyClosed is what a request body's reader returns once closed.
var errBodyClosed = errors.New("exporter: request body read after close")

// bodyPool recycles the buffers of request bodies: a batch's body is about 1.4 KB per
// log, written anew for every batch. It keeps up to maxFreeBodies buffers itself rather
// than in a sync.Pool, which every GC empties: in a process that allocates as fast as a
// busy driver does, a GC runs between almost every two batches, and every body would be
// grown anew. Its zero value is ready to use.
type bodyPool struct {
	mu     sync.Mutex
	free   [maxFreeBodies][]byte
	n      int
	closed bool         // the exporter closed: no batch comes, nothing is kept (see close)
	last   atomic.Int64 // the size of the body released last: a new buffer's first guess
}

// maxFreeBodies bounds the buffers a pool keeps: one per export in flight at once (an
// aggregator exports one batch at a time), plus a spare.
const maxFreeBodies = 2

// get returns an empty buffer.
func (bp *bodyPool) get() []byte {
	bp.mu.Lock()
	if bp.n > 0 {
		bp.n--
		b := bp.free[bp.n]
		bp.free[bp.n] = nil
		bp.mu.Unlock()
		return b[:0]
	}
	bp.mu.Unlock()
	if n := bp.last.Load(); n > 0 {
		return make([]byte, 0, n+n/8)
	}
	return nil
}

// put keeps b (at most maxPooledBody: see sharedBody.release) for reuse, unless the
// pool is full.
func (bp *bodyPool) put(b []byte) {
	bp.last.Store(int64(len(b)))
	bp.mu.Lock()
	defer bp.mu.Unlock()
	if bp.n < maxFreeBodies && !bp.closed {
		bp.free[bp.n] = b[:0]
		bp.n++
	}
}

// close lets go of the buffers kept, and of any given back later (a reader the HTTP
// transport closes after the export returned): a closed exporter sends nothing again,
// and whoever keeps it (a closed connector of the driver) would keep them too.
func (bp *bodyPool) close() {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	bp.closed = true
	clear(bp.free[:])
	bp.n = 0
}

// sharedBody is one request body, shared by every attempt (and redirect) that sends it.
// Each of them reads it through a reader of its own, which the HTTP transport closes,
// possibly after the call that sent it returned; the buffer goes back to the pool when
// the export and every reader are done with it. A reader that is never closed only
// keeps the buffer from being reused.
type sharedBody struct {
	b    []byte
	pool *bodyPool
	refs atomic.Int32
}

// newSharedBody wraps b, held by the caller until it calls release.
func newSharedBody(b []byte, pool *bodyPool) *sharedBody {
	s := &sharedBody{b: b, pool: pool}
	s.refs.Store(1)
	return s
}

// reader returns a new reader of the whole body, holding a reference until closed.
func (s *sharedBody) reader() io.ReadCloser {
	s.refs.Add(1)
	return &bodyReader{s: s}
}

// release drops one reference; the last one returns the buffer to the pool.
func (s *sharedBody) release() {
	if s.refs.Add(-1) == 0 && cap(s.b) <= maxPooledBody {
		b := s.b
		s.b = nil
		s.pool.put(b)
	}
}

// bodyReader reads a sharedBody. Its lock keeps a Read from overlapping a Close, which
// net/http may call from another goroutine while its writer still reads.
type bodyReader struct {
	mu     sync.Mutex
	s      *sharedBody
	off    int
	closed bool
}

func (r *bodyReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errBodyClosed
	}
	if r.off >= len(r.s.b) {
		return 0, io.EOF
	}
	n := copy(p, r.s.b[r.off:])
	r.off += n
	return n, nil
}

// Close releases the reader's reference to the body; it is idempotent.
func (r *bodyReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.s.release()
	}
	return nil
}
