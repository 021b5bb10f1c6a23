package exporter

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// panicWriter is a logger output that panics on every line.
type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) { panic("logger boom") }

// modalTransport fails, panics or forwards, as told.
type modalTransport struct {
	mode atomic.Int32 // 0 forward, 1 fail, 2 panic
	next http.RoundTripper
}

const (
	forward int32 = iota
	fail
	explode
)

func (m *modalTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	switch m.mode.Load() {
	case fail:
		return nil, errors.New("connection refused")
	case explode:
		panic("round tripper boom")
	}
	return m.next.RoundTrip(r)
}

// noPanic runs f and reports whether it returned without panicking.
func noPanic(f func()) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	f()
	return true
}

// A logger that panics while the breaker changes state must not crash the process:
// failsafe calls the listener with its lock released and unlocks again afterwards,
// which turned the panic into "fatal error: sync: unlock of unlocked mutex".
func TestPanickingLoggerDuringBreakerTransitions(t *testing.T) {
	var sw switchable
	sw.failing.Store(true)
	srv, _ := newServer(t, sw.answer)
	e := newTestExporter(t, srv, WithMaxRetries(0), WithBreaker(2, testBreakerDelay, 1),
		WithLogger(zerolog.New(panicWriter{}).Level(zerolog.DebugLevel)))
	ctx := context.Background()
	for range 2 {
		// The failure's own debug line panics out of Export (the aggregator recovers it);
		// the breaker's listener must not.
		noPanic(func() { _ = e.Export(ctx, batch(1)) })
	}
	equal(t, e.ExportStats().Breaker, telemetry.BreakerOpen, "state after two failed batches")
	sw.failing.Store(false)
	time.Sleep(testBreakerDelay + 20*time.Millisecond)
	noPanic(func() { _ = e.Export(ctx, batch(1)) })
	equal(t, e.ExportStats().Breaker, telemetry.BreakerClosed, "state after a successful probe")
	if n := len(e.Transitions()); n != 3 {
		t.Fatalf("transitions %v, want closed→open→half-open→closed", e.Transitions())
	}
}

// A RoundTripper that panics during half-open probes used to leak the breaker's probe
// permits (failsafe does not recover panics), leaving the host's telemetry rejected for
// good. The panic is now a failed, unretried attempt, and the breaker recovers.
func TestPanickingTransportDoesNotWedgeTheBreaker(t *testing.T) {
	srv, rc := newServer(t, nil)
	mt := &modalTransport{next: http.DefaultTransport}
	client := &http.Client{Transport: mt}
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	e := newTestExporter(t, srv, WithHTTPClient(client), WithBreaker(1, testBreakerDelay, 2))
	ctx := context.Background()

	mt.mode.Store(fail)
	if err := e.Export(ctx, batch(1)); err == nil {
		t.Fatal("export through a failing transport succeeded")
	}
	equal(t, e.ExportStats().Breaker, telemetry.BreakerOpen, "state after a failed batch")
	mt.mode.Store(explode)
	for i := range 3 {
		time.Sleep(testBreakerDelay + 20*time.Millisecond)
		var err error
		if !noPanic(func() { err = e.Export(ctx, batch(1)) }) {
			t.Fatalf("probe %d: the transport's panic escaped Export", i)
		}
		if !errors.Is(err, errPanicked) {
			t.Fatalf("probe %d: err = %v, want errPanicked", i, err)
		}
	}
	mt.mode.Store(forward)
	closed := eventually(2*time.Second, func() bool {
		_ = e.Export(ctx, batch(1))
		return e.ExportStats().Breaker == telemetry.BreakerClosed
	})
	if !closed {
		t.Fatalf("breaker stuck %s after the transport recovered: %v", e.ExportStats().Breaker, e.Transitions())
	}
	if rc.hits.Load() < 2 {
		t.Fatalf("%d requests reached the server", rc.hits.Load())
	}
}

// A panic during a flag fetch (a caller's RoundTripper, or its logger on the failure
// path) used to leave the fetch "in flight" for ever: every later caller waited for
// its context to end and got off. Later callers now fetch again.
func TestFeatureFlagFetchPanicDoesNotWedgeTheCache(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   int32
		logger zerolog.Logger
	}{
		{"panicking transport", explode, zerolog.Nop()},
		{"panicking logger", fail, zerolog.New(panicWriter{}).Level(zerolog.DebugLevel)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body atomic.Value
			body.Store(flagBody("true", ""))
			srv, _ := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(body.Load().(string)))
			})
			mt := &modalTransport{next: http.DefaultTransport}
			defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
			clk := newFakeClock()
			e := newTestExporter(t, srv, WithHTTPClient(&http.Client{Transport: mt}), WithClock(clk.now),
				WithCredentials(BearerToken("dapi-flag")), WithLogger(tc.logger))
			ctx := context.Background()

			mt.mode.Store(tc.mode)
			noPanic(func() { _ = e.FeatureFlags().Enabled(ctx) })
			mt.mode.Store(forward)
			clk.advance(MinFlagTTL + time.Second)
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			start := time.Now()
			var on bool
			noPanic(func() { on = e.FeatureFlags().Enabled(wctx) })
			if !on || time.Since(start) > 500*time.Millisecond {
				t.Fatalf("second fetch: %v after %v; want true at once", on, time.Since(start))
			}
		})
	}
}

// countingPanicTransport panics on every request and counts them.
type countingPanicTransport struct{ calls atomic.Int64 }

func (c *countingPanicTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.calls.Add(1)
	panic("round tripper boom")
}

// An attempt that panics is a failed attempt that is not retried: the same panic would
// come again, after a backoff each time.
func TestPanickingAttemptIsNotRetried(t *testing.T) {
	rt := &countingPanicTransport{}
	e := defaultExporter(t, rt, WithBackoff(time.Millisecond, time.Millisecond, 0))
	err := e.Export(context.Background(), batch(1))
	if !errors.Is(err, errPanicked) {
		t.Fatalf("err = %v, want errPanicked", err)
	}
	equal(t, rt.calls.Load(), int64(1), "attempts")
	equal(t, e.ExportStats().Retries, int64(0), "retries")
	equal(t, e.ExportStats().BatchesFailed, int64(1), "failed batches")
}
