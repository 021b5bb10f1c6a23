package warehouse

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Group is a set of endpoints that faults are injected into together. InjectFaults,
// ClearFaults and FaultsServed take one of the Group constants; any other value panics.
type Group int

// Endpoint groups.
const (
	GroupThrift      Group = iota // the TCLIService endpoint
	GroupCloudFetch               // CloudFetch file downloads
	GroupTelemetry                // /telemetry-ext and /telemetry-unauth
	GroupFeatureFlag              // the connector feature-flag endpoint
	numGroups
)

// String names the group as faults and logs name it: thrift, cloudfetch, telemetry or
// featureflag.
func (g Group) String() string {
	switch g {
	case GroupThrift:
		return "thrift"
	case GroupCloudFetch:
		return "cloudfetch"
	case GroupTelemetry:
		return "telemetry"
	case GroupFeatureFlag:
		return "featureflag"
	}
	return "group(" + strconv.Itoa(int(g)) + ")"
}

// Fault is what the server does to one request instead of (or before) answering it.
// Fields combine: Latency is waited first, then the first of Hang, Drop, Garbage, Status
// that is set decides the answer; a fault with only Latency lets the request through late.
type Fault struct {
	// Status answers with this HTTP status and a short body. It is a final status,
	// 200–999 (0: none), as net/http can send it: InjectFaults panics on any other.
	Status int
	// RetryAfter, with Status, sets the Retry-After header: whole seconds, rounded, at
	// least 1.
	RetryAfter time.Duration
	// Latency delays the request.
	Latency time.Duration
	// Hang never answers: the request blocks until the client gives up or the server closes.
	Hang bool
	// Drop closes the connection without an answer.
	Drop bool
	// Garbage answers 200 with BodyBytes of random bytes (one random block of at most
	// 64 KiB, repeated), with their Content-Length.
	Garbage bool
	// SlowDrip, with Garbage, writes the garbage body one byte per interval. Alone, it
	// answers 200 with the ingest's body {"errors":[],"numSuccess":0}, one byte per
	// interval, whatever the group: never the endpoint's own answer, so on the Thrift and
	// CloudFetch groups the client gets a body it cannot decode.
	SlowDrip time.Duration
	// BodyBytes is the size of a garbage body (default 1 KiB).
	BodyBytes int
	// Times is how many requests this fault answers: 0 means once, a negative value means
	// every request until ClearFaults.
	Times int
	// Method, on GroupThrift only, makes the fault wait for a call of this Thrift method
	// (as "CloseOperation"): calls of other methods pass it by, answered as if no fault
	// were queued, and so do the faults queued after it. Empty: any request.
	// InjectFaults panics on a Method for another group.
	Method string
}

type faultQueue struct {
	pending []Fault
	served  int
}

type faultTable struct {
	mu     sync.Mutex
	groups [numGroups]faultQueue
}

// InjectFaults queues faults for the group's next requests, in order; once they are used
// up the group answers normally again. Example: InjectFaults(GroupTelemetry,
// Fault{Status: 503, Times: 3}) answers three requests with 503, then lets them through.
func (s *Server) InjectFaults(g Group, faults ...Fault) {
	for _, f := range faults {
		if f.Status != 0 && (f.Status < 200 || f.Status > 999) {
			panic("warehouse: Fault.Status " + strconv.Itoa(f.Status) + " is not a final HTTP status (200–999)")
		}
		if f.Method != "" && g != GroupThrift {
			panic("warehouse: Fault.Method " + strconv.Quote(f.Method) + " is for GroupThrift, not " + g.String())
		}
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.groups[g].pending = append(s.faults.groups[g].pending, faults...)
}

// ClearFaults drops every fault queued for the group.
func (s *Server) ClearFaults(g Group) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.groups[g].pending = nil
}

// FaultsServed returns how many requests of the group a fault has answered or delayed.
func (s *Server) FaultsServed(g Group) int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.groups[g].served
}

// queued reports whether a fault is queued for the group.
func (t *faultTable) queued(g Group) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.groups[g].pending) > 0
}

// next takes the fault for one request of the group, a call of method (empty: not a
// Thrift call, or one not read), if any.
func (t *faultTable) next(g Group, method string) (Fault, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := &t.groups[g]
	if len(q.pending) == 0 {
		return Fault{}, false
	}
	f := q.pending[0]
	if f.Method != "" && f.Method != method {
		return Fault{}, false
	}
	switch {
	case f.Times < 0:
	case f.Times <= 1:
		q.pending = q.pending[1:]
	default:
		q.pending[0].Times--
	}
	q.served++
	return f, true
}

// group applies the group's queued faults before h.
func (s *Server) group(g Group, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A Thrift call's method is in its body: read first while a fault is queued,
		// which may wait for a method (Fault.Method).
		method, read := "", false
		if g == GroupThrift && s.faults.queued(g) && r.Body != nil && r.Body != http.NoBody {
			body, err := readCapped(r.Body, s.cfg.maxBodyBytes)
			if err != nil {
				// Its body broke: no method, and what reads it next gets what came, then
				// the error, as from the body itself.
				r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
			} else {
				r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
				method, _ = sniffMethod(body)
				read = true
			}
		}
		f, ok := s.faults.next(g, method)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		// The body first, as the endpoint reads it: net/http notices a client that hangs
		// up (and cancels r's context) only once the body is read, and a Latency or a Hang
		// must end when the client gives up, not run on (or hold the handler) until Close.
		if !read && r.Body != nil && r.Body != http.NoBody {
			body, err := readCapped(r.Body, s.cfg.maxBodyBytes)
			if err != nil {
				return // the client is gone, or its body broke: no one to answer
			}
			// Past the cap, the endpoint reads on from r.Body and refuses it, as unfaulted.
			r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
		}
		if !s.sleep(r.Context(), f.Latency) {
			s.abortIfClosing()
			return
		}
		switch {
		case f.Hang:
			select {
			case <-r.Context().Done():
			case <-s.closing:
				s.abortIfClosing()
			}
		case f.Drop:
			dropConnection(w)
		case f.Garbage:
			n := f.BodyBytes
			if n <= 0 {
				n = 1024
			}
			// A block of random bytes, repeated: a 10 MiB body then costs the test
			// process (which the fault's victim shares) neither 10 MiB of random numbers
			// nor 10 MiB of heap per request, and writing stops when the client hangs up.
			block := make([]byte, min(n, garbageBlock))
			_, _ = rand.Read(block)
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.Itoa(n))
			s.writeBody(w, r, block, n, f.SlowDrip)
		case f.Status != 0:
			if f.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(f.RetryAfter)))
			}
			w.Header().Set("X-Databricks-Reason-Phrase", "injected fault")
			http.Error(w, "injected fault: "+http.StatusText(f.Status), f.Status)
		case f.SlowDrip > 0:
			body := []byte(`{"errors":[],"numSuccess":0}`)
			s.writeBody(w, r, body, len(body), f.SlowDrip)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// garbageBlock is the size of the random block a garbage body repeats.
const garbageBlock = 64 << 10

// writeBody writes size bytes of block, repeated as needed, one byte per drip interval
// when drip is set. It stops at the first failed write: the client has gone.
func (s *Server) writeBody(w http.ResponseWriter, r *http.Request, block []byte, size int, drip time.Duration) {
	if drip <= 0 {
		for size > 0 {
			chunk := block[:min(size, len(block))]
			if _, err := w.Write(chunk); err != nil {
				return
			}
			size -= len(chunk)
		}
		return
	}
	fl, _ := w.(http.Flusher)
	for i := range size {
		j := i % len(block)
		if _, err := w.Write(block[j : j+1]); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		if !s.sleep(r.Context(), drip) {
			s.abortIfClosing()
			return
		}
	}
}

// abortIfClosing cuts the connection of a request whose fault the server's Close
// interrupted, rather than let net/http finish the answer: an empty 200 after a
// latency, or a body cut short but properly terminated after a slow drip.
func (s *Server) abortIfClosing() {
	if s.isClosing() {
		panic(http.ErrAbortHandler)
	}
}

// dropConnection closes the client's connection without writing a response. It reaches
// the connection through the writers that wrap net/http's (Unwrap), so the handler
// returns and its request's record is finished; only a writer that cannot be hijacked
// aborts the handler.
func dropConnection(w http.ResponseWriter) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = buf.Flush()
	_ = conn.Close()
}

// retryAfterSeconds is d in whole seconds, rounded, and at least 1: "0" would tell a
// client to retry at once, which a fault that asks for a wait does not mean.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(d.Round(time.Second)/time.Second))
}

// errReader is a body that has broken: every read returns err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
