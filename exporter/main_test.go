package exporter

import (
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is an httptest handler that records requests and answers with a script.
type recorder struct {
	mu     sync.Mutex
	reqs   []recorded
	hits   atomic.Int64
	answer func(n int, w http.ResponseWriter, r *http.Request) // n counts from 1
}

type recorded struct {
	Method, Path string
	Header       http.Header
	Body         []byte
	At           time.Time
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	n := int(rc.hits.Add(1))
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, At: time.Now()})
	rc.mu.Unlock()
	if rc.answer != nil {
		rc.answer(n, w, r)
		return
	}
	_, _ = io.WriteString(w, `{"errors":[],"numSuccess":1,"numProtoSuccess":1,"numRealtimeSuccess":0}`)
}

func (rc *recorder) requests() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.reqs...)
}

// newServer starts a plain-http loopback server answering with answer (nil: 200 OK).
func newServer(t testing.TB, answer func(n int, w http.ResponseWriter, r *http.Request)) (*httptest.Server, *recorder) {
	t.Helper()
	rc := &recorder{answer: answer}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return srv, rc
}

// fastOpts keep retries quick in tests.
func fastOpts(extra ...Option) []Option {
	return append([]Option{
		WithBackoff(time.Millisecond, 4*time.Millisecond, 0),
		WithAttemptTimeout(5 * time.Second),
	}, extra...)
}

// newTestExporter builds an exporter for srv (loopback allowed) and closes it at cleanup.
func newTestExporter(t testing.TB, srv *httptest.Server, opts ...Option) *HTTPExporter {
	t.Helper()
	tgt, err := ParseTarget(srv.URL, true)
	if err != nil {
		t.Fatalf("ParseTarget(%q): %v", srv.URL, err)
	}
	e := NewHTTPExporter(tgt, fastOpts(opts...)...)
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

func status(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// noErr fails the test at once on err.
func noErr(t testing.TB, err error, what ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%v: unexpected error: %v", what, err)
	}
}

// equal fails the test at once unless got == want.
func equal[T comparable](t testing.TB, got, want T, what ...any) {
	t.Helper()
	if got != want {
		t.Fatalf("%v: got %v, want %v", what, got, want)
	}
}
