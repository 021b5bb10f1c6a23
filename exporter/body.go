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
// log, written anew for every batch.
type bodyPool struct{ p sync.Pool }

// get returns an empty buffer.
func (bp *bodyPool) get() []byte {
	if b, ok := bp.p.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return nil
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
		b := s.b[:0]
		s.b = nil
		s.pool.p.Put(&b)
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
