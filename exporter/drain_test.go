package exporter

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// CountingBody counts the bytes the exporter reads from an answer.
type CountingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b CountingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

type CountingRT struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (c CountingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err == nil {
		resp.Body = CountingBody{resp.Body, c.n}
	}
	return resp, err
}

// WithMaxResponseBytes caps how much of a telemetry response is read, also of an error
// answer, whether or not the logger writes debug lines (which decide whether a 2xx
// answer is waited for).
func TestMaxResponseBytesBoundsAnErrorAnswer(t *testing.T) {
	const limit = 100
	big := strings.Repeat("x", 50_000)
	for _, tc := range []struct {
		name string
		log  zerolog.Logger
	}{
		{"debug off", zerolog.Nop()},
		{"debug on", zerolog.New(io.Discard).Level(zerolog.DebugLevel)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadRequest) // not retried
				_, _ = io.WriteString(w, big)
			})
			var read atomic.Int64
			e := newTestExporter(t, srv, WithLogger(tc.log), WithMaxResponseBytes(limit), WithMaxRetries(0),
				WithTransportWrapper(func(rt http.RoundTripper) http.RoundTripper { return CountingRT{rt, &read} }))
			if err := e.Export(context.Background(), batch(1)); err == nil {
				t.Fatal("a 400 must fail the batch")
			}
			// readCapped reads limit+1 bytes, then drains at most limit more.
			if got := read.Load(); got > 2*limit+1 {
				t.Errorf("read %d bytes of a 400's answer with WithMaxResponseBytes(%d): want at most %d", got, limit, 2*limit+1)
			}
		})
	}
}

// With a caller's keep-alive transport, an acknowledged batch's connection goes back to
// the caller's pool: its small answer, sent with the status, is drained (drainGrace)
// though nothing reads it. Closed unread, every batch cost a new connection (and a TLS
// handshake on https).
func TestCallersTransportKeepsItsConnection(t *testing.T) {
	var conns atomic.Int64
	srv, _ := newServer(t, nil)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conns.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	e := newTestExporter(t, srv, WithTransport(tr))
	const batches = 20
	for range batches {
		noErr(t, e.Export(context.Background(), batch(1)), "export")
	}
	// net/http returns a connection to its pool after the reader saw the body's end,
	// on a goroutine of its own: the next request may rarely dial before it is back.
	if got := conns.Load(); got > batches/4 {
		t.Errorf("%d batches through a caller's keep-alive transport opened %d connections, want about 1", batches, got)
	}
}

// An error answer whose body drips (or never ends) does not hold its attempt: nothing
// reads it, so it is drained for drainGrace at most, and the retries go on at once
// rather than each waiting for the attempt timeout.
func TestDrippingErrorAnswerDoesNotHoldTheAttempt(t *testing.T) {
	srv, rc := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":`)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the rest never comes
	})
	const attempt = 5 * time.Second
	e := newTestExporter(t, srv, WithAttemptTimeout(attempt), WithMaxRetries(2))
	start := time.Now()
	err := e.Export(context.Background(), batch(1))
	took := time.Since(start)
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("err = %v, want the 503", err)
	}
	equal(t, rc.hits.Load(), int64(3), "every attempt made")
	if took >= attempt {
		t.Fatalf("took %v: an attempt waited for the error answer's body", took)
	}
}
