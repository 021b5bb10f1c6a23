package exporter

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/rs/zerolog"

	"github.com/dbtelemetry/dbtelemetry/internal/testwait"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// switchable answers 503 while failing is set, 200 otherwise.
type switchable struct{ failing atomic.Bool }

func (s *switchable) answer(_ int, w http.ResponseWriter, _ *http.Request) {
	if s.failing.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
}

const testBreakerDelay = 80 * time.Millisecond

func TestBreakerOpensHalfOpensAndCloses(t *testing.T) {
	var sw switchable
	sw.failing.Store(true)
	srv, rc := newServer(t, sw.answer)
	var logBuf bytes.Buffer
	var logMu sync.Mutex
	logger := zerolog.New(zerolog.SyncWriter(&lockedWriter{w: &logBuf, mu: &logMu})).Level(zerolog.DebugLevel)
	e := newTestExporter(t, srv, WithBreaker(5, testBreakerDelay, 2), WithLogger(logger))
	ctx := context.Background()

	// Five failed batches, each after its 3 retries, open the breaker.
	for i := range 5 {
		if err := e.Export(ctx, batch(1)); err == nil || errors.Is(err, ErrBreakerOpen) {
			t.Fatalf("batch %d: err = %v", i, err)
		}
		wantState := telemetry.BreakerClosed
		if i == 4 {
			wantState = telemetry.BreakerOpen
		}
		equal(t, e.ExportStats().Breaker, wantState, "state after batch", i)
	}
	equal(t, rc.hits.Load(), int64(20), "5 batches × 4 attempts")

	// Open: dropped at once, counted, the server not contacted.
	start := time.Now()
	err := e.Export(ctx, batch(7))
	if !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("err = %v, want ErrBreakerOpen", err)
	}
	if d := time.Since(start); d > time.Second { // waits for nothing (a bound, not a speed)
		t.Fatalf("rejection took %v", d)
	}
	equal(t, rc.hits.Load(), int64(20), "no request while open")

	// After the delay one probe goes through (half-open); two successes close.
	time.Sleep(testBreakerDelay + 20*time.Millisecond)
	sw.failing.Store(false)
	noErr(t, e.Export(ctx, batch(1)), "probe 1")
	equal(t, e.ExportStats().Breaker, telemetry.BreakerHalfOpen, "after one success")
	noErr(t, e.Export(ctx, batch(1)), "probe 2")
	equal(t, e.ExportStats().Breaker, telemetry.BreakerClosed, "after two successes")

	st := e.ExportStats()
	equal(t, st.Batches, int64(8), "batches")
	equal(t, st.BatchesFailed, int64(5), "failed")
	equal(t, st.BatchesRejected, int64(1), "rejected")
	equal(t, st.LogsExported, int64(2), "logs")
	equal(t, st.Retries, int64(15), "retries")
	equal(t, st.BreakerOpened, int64(1), "opened")

	trs := e.Transitions()
	want := []Transition{
		{From: telemetry.BreakerClosed, To: telemetry.BreakerOpen},
		{From: telemetry.BreakerOpen, To: telemetry.BreakerHalfOpen},
		{From: telemetry.BreakerHalfOpen, To: telemetry.BreakerClosed},
	}
	equal(t, len(trs), len(want), "transitions")
	for i := range want {
		equal(t, trs[i].From, want[i].From, "from", i)
		equal(t, trs[i].To, want[i].To, "to", i)
		if trs[i].At.IsZero() || (i > 0 && trs[i].At.Before(trs[i-1].At)) {
			t.Fatalf("transition times %v", trs)
		}
	}
	if gap := trs[1].At.Sub(trs[0].At); gap < testBreakerDelay {
		t.Fatalf("half-open after %v, before the %v delay", gap, testBreakerDelay)
	}

	logMu.Lock()
	logs := logBuf.String()
	logMu.Unlock()
	if strings.Count(logs, "circuit breaker state changed") != 3 || strings.Contains(logs, `"level":"info"`) ||
		strings.Contains(logs, `"level":"warn"`) || strings.Contains(logs, `"level":"error"`) {
		t.Fatalf("logs must be debug only and report each transition:\n%s", logs)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestBreakerHalfOpenFailureReopens(t *testing.T) {
	var sw switchable
	sw.failing.Store(true)
	srv, rc := newServer(t, sw.answer)
	e := newTestExporter(t, srv, WithBreaker(2, testBreakerDelay, 2), WithMaxRetries(0))
	ctx := context.Background()
	for range 2 {
		_ = e.Export(ctx, batch(1))
	}
	equal(t, e.ExportStats().Breaker, telemetry.BreakerOpen, "open")
	time.Sleep(testBreakerDelay + 20*time.Millisecond)
	if err := e.Export(ctx, batch(1)); err == nil || errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("probe err = %v, want the server's failure", err)
	}
	equal(t, e.ExportStats().Breaker, telemetry.BreakerOpen, "reopened")
	equal(t, rc.hits.Load(), int64(3), "attempts")
	equal(t, e.ExportStats().BreakerOpened, int64(2), "opened twice")
	if err := e.Export(ctx, batch(1)); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("err = %v, want ErrBreakerOpen", err)
	}
}

func TestBreakerSuccessResetsConsecutiveFailures(t *testing.T) {
	var sw switchable
	srv, _ := newServer(t, sw.answer)
	e := newTestExporter(t, srv, WithMaxRetries(0))
	ctx := context.Background()
	for round := range 3 {
		sw.failing.Store(true)
		for range 4 {
			_ = e.Export(ctx, batch(1))
		}
		sw.failing.Store(false)
		noErr(t, e.Export(ctx, batch(1)), "success", round)
	}
	equal(t, e.ExportStats().Breaker, telemetry.BreakerClosed, "never 5 in a row")
}

func TestBreakerHalfOpenAdmitsOneProbeAtATime(t *testing.T) {
	var sw switchable
	sw.failing.Store(true)
	probeIn := make(chan struct{})
	probeGo := make(chan struct{})
	srv, rc := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 6 { // the first half-open probe
			close(probeIn)
			<-probeGo
			return
		}
		sw.answer(n, w, r)
	})
	e := newTestExporter(t, srv, WithMaxRetries(0), WithBreaker(5, testBreakerDelay, 2))
	// Registered after the server and the exporter, so it runs first: a failure below
	// must not leave the probe's handler, and so their cleanups, blocked.
	var releaseProbe sync.Once
	letProbeGo := func() { releaseProbe.Do(func() { close(probeGo) }) }
	t.Cleanup(letProbeGo)
	ctx := context.Background()
	for range 5 {
		_ = e.Export(ctx, batch(1))
	}
	time.Sleep(testBreakerDelay + 20*time.Millisecond)
	sw.failing.Store(false)

	probe := make(chan error, 1)
	go func() { probe <- e.Export(ctx, batch(1)) }()
	testwait.Recv(t, probeIn, 5*time.Second, "the half-open probe to reach the server")
	second := make(chan error, 1)
	go func() { second <- e.Export(ctx, batch(1)) }()
	if err := testwait.Recv(t, second, 5*time.Second, "the second call during the probe"); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("second call during the probe: err = %v, want ErrBreakerOpen", err)
	}
	letProbeGo()
	noErr(t, testwait.Recv(t, probe, 5*time.Second, "the probe to finish"), "probe")
	equal(t, rc.hits.Load(), int64(6), "only the probe reached the server")
	equal(t, e.ExportStats().BatchesRejected, int64(1), "rejected")
}

func TestTransitionLogIsBounded(t *testing.T) {
	var sw switchable
	sw.failing.Store(true)
	srv, _ := newServer(t, sw.answer)
	e := newTestExporter(t, srv, WithMaxRetries(0), WithBreaker(1, time.Millisecond, 1), WithTransitionLog(4))
	for range 10 {
		_ = e.Export(context.Background(), batch(1))
		time.Sleep(3 * time.Millisecond)
	}
	trs := e.Transitions()
	equal(t, len(trs), 4, "kept")
	equal(t, trs[3].To, telemetry.BreakerOpen, "newest last")
	if e.ExportStats().BreakerOpened < 5 {
		t.Fatalf("opened %d", e.ExportStats().BreakerOpened)
	}
}

// Transitions keeps the last 32 breaker transitions by default (DefaultTransitionLog),
// and none with WithTransitionLog(0).
func TestTransitionLogDefaultAndOff(t *testing.T) {
	tgt, err := ParseTarget("adb-1.azuredatabricks.net", false)
	noErr(t, err, "target")
	states := []circuitbreaker.State{circuitbreaker.ClosedState, circuitbreaker.OpenState, circuitbreaker.HalfOpenState}
	for _, tc := range []struct {
		name string
		opts []Option
		want int
	}{
		{"default", nil, 32},
		{"off", []Option{WithTransitionLog(0)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := NewHTTPExporter(tgt, tc.opts...)
			t.Cleanup(func() { _ = e.Close(context.Background()) })
			for i := range 40 {
				e.pol.onStateChanged(circuitbreaker.StateChangedEvent{OldState: states[i%3], NewState: states[(i+1)%3]})
			}
			equal(t, len(e.Transitions()), tc.want, "transitions kept")
		})
	}
}
