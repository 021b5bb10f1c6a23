package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// Tests for callers that give up (their context ends): that is not the server failing,
// so it must neither count for the host's circuit breaker nor end up in the flag cache.

// gate is a handler that signals each request's arrival and then holds it until release
// is closed (answering with answer) or the client goes away.
type gate struct {
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
	answer  func(w http.ResponseWriter)
}

// open releases the requests held and every later one; it is idempotent.
func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func newGate(answer func(w http.ResponseWriter)) *gate {
	return &gate{arrived: make(chan struct{}, 64), release: make(chan struct{}), answer: answer}
}

func (g *gate) serve(_ int, w http.ResponseWriter, r *http.Request) {
	g.arrived <- struct{}{}
	select {
	case <-g.release:
		if g.answer != nil {
			g.answer(w)
		}
	case <-r.Context().Done():
	}
}

// signalTransport signals each answer it hands to the exporter.
type signalTransport struct {
	next     http.RoundTripper
	answered chan<- struct{}
}

func (s *signalTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(r)
	if err == nil {
		s.answered <- struct{}{}
	}
	return resp, err
}

// cancelOnArrival exports with a context that is cancelled once the request reached
// the server.
func cancelOnArrival(e *HTTPExporter, arrived <-chan struct{}) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-arrived:
			cancel()
		case <-ctx.Done():
		}
	}()
	return e.Export(ctx, batch(1))
}

func TestCallerGivingUpIsNotABreakerFailure(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()

	for _, tc := range []struct {
		name      string
		answer    func(g *gate) func(int, http.ResponseWriter, *http.Request) // nil: 200
		opts      []Option
		export    func(e *HTTPExporter, g *gate) error
		wantErr   error
		wantState telemetry.BreakerState
		wantHits  int64 // requests that reached the server over the 5 calls
	}{
		{
			name:      "context cancelled before the call",
			export:    func(e *HTTPExporter, _ *gate) error { return e.Export(cancelled, batch(1)) },
			wantErr:   context.Canceled,
			wantState: telemetry.BreakerClosed,
		},
		{
			name:      "deadline passed before the call",
			export:    func(e *HTTPExporter, _ *gate) error { return e.Export(expired, batch(1)) },
			wantErr:   context.DeadlineExceeded,
			wantState: telemetry.BreakerClosed,
		},
		{
			name:      "cancelled while the server holds the request",
			answer:    func(g *gate) func(int, http.ResponseWriter, *http.Request) { return g.serve },
			export:    func(e *HTTPExporter, g *gate) error { return cancelOnArrival(e, g.arrived) },
			wantErr:   context.Canceled,
			wantState: telemetry.BreakerClosed,
			wantHits:  5,
		},
		{
			name:   "deadline passed while the server holds the request",
			answer: func(g *gate) func(int, http.ResponseWriter, *http.Request) { return g.serve },
			export: func(e *HTTPExporter, g *gate) error {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				return e.Export(ctx, batch(1))
			},
			wantErr:   context.DeadlineExceeded,
			wantState: telemetry.BreakerClosed,
			wantHits:  5,
		},
		{
			// The 503 was the server's failure: the batch counts as failed, though its
			// caller left before the retry (as when the export's deadline cuts the
			// retries of a host that never answers).
			name: "cancelled while waiting to retry a 503",
			answer: func(*gate) func(int, http.ResponseWriter, *http.Request) {
				return func(n int, w http.ResponseWriter, _ *http.Request) {
					if n <= int(DefaultBreakerFailures) { // then the server recovers
						w.WriteHeader(http.StatusServiceUnavailable)
					}
				}
			},
			// The backoff outlasts the test: only the caller can end the wait.
			opts: []Option{WithBackoff(time.Hour, time.Hour, 0)},
			export: func(e *HTTPExporter, _ *gate) error {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				answered := make(chan struct{}, 1)
				next := e.cfg.client.Transport
				if st, ok := next.(*signalTransport); ok {
					next = st.next
				}
				e.cfg.client.Transport = &signalTransport{next: next, answered: answered}
				go func() {
					select {
					case <-answered: // the 503 is the exporter's: it waits to retry
						cancel()
					case <-ctx.Done():
					}
				}()
				return e.Export(ctx, batch(1))
			},
			wantErr:   context.Canceled,
			wantState: telemetry.BreakerOpen,
			wantHits:  5,
		},
		{
			// The control: the attempt's own timeout is the server's failure.
			name:      "attempt timeouts still count",
			answer:    func(g *gate) func(int, http.ResponseWriter, *http.Request) { return g.serve },
			opts:      []Option{WithAttemptTimeout(20 * time.Millisecond), WithMaxRetries(0)},
			export:    func(e *HTTPExporter, _ *gate) error { return e.Export(context.Background(), batch(1)) },
			wantErr:   ErrAttemptTimeout,
			wantState: telemetry.BreakerOpen,
			wantHits:  5,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate(nil)
			var answer func(int, http.ResponseWriter, *http.Request)
			if tc.answer != nil {
				answer = tc.answer(g)
			}
			srv, rc := newServer(t, answer)
			t.Cleanup(func() { g.open() }) // before the server closes
			e := newTestExporter(t, srv, tc.opts...)
			for i := range DefaultBreakerFailures {
				err := tc.export(e, g)
				require.ErrorIs(t, err, tc.wantErr, "call %d", i)
				require.NotErrorIs(t, err, ErrBreakerOpen, "call %d", i)
			}
			assert.Equal(t, tc.wantState, e.ExportStats().Breaker)
			assert.Equal(t, tc.wantHits, rc.hits.Load(), "requests that reached the server")
			if tc.wantState == telemetry.BreakerClosed {
				assert.Zero(t, e.pol.cb.Metrics().Failures(), "failures recorded")
				g.open()
				require.NoError(t, e.Export(context.Background(), batch(1)), "the next batch goes out")
			}
		})
	}
}

// openBreaker opens e's breaker with failed batches while sw fails, then lets the server
// recover and waits for the breaker's delay to pass.
func openBreaker(t *testing.T, e *HTTPExporter, failing *atomic.Bool, failures uint) {
	t.Helper()
	failing.Store(true)
	for range failures {
		_ = e.Export(context.Background(), batch(1))
	}
	require.Equal(t, telemetry.BreakerOpen, e.ExportStats().Breaker)
	failing.Store(false)
	require.Eventually(t, func() bool { return e.pol.cb.RemainingDelay() == 0 }, 5*time.Second, time.Millisecond)
}

// A half-open probe whose caller gives up says nothing about the server: it neither
// reopens the breaker (as a failure would) nor counts towards closing it (as a success
// would), and the permit it took does not wedge the breaker half-open.
func TestCancelledHalfOpenProbeLeavesTheBreakerHalfOpen(t *testing.T) {
	for _, tc := range []struct {
		name      string
		successes uint
		midFlight bool // the probe reached the server before its caller gave up
		probes    int  // cancelled probes in a row
		deadline  bool // the probes' caller gives up by its deadline passing, not a cancel
	}{
		{name: "cancelled before the probe", successes: 2, probes: 3},
		{name: "cancelled during the probe", successes: 2, midFlight: true, probes: 1},
		{name: "cancelled during probes, one success closes", successes: 1, midFlight: true, probes: 3},
		{name: "cancelled during probes, two successes close", successes: 2, midFlight: true, probes: 4},
		{name: "deadline passed before the probe", successes: 2, deadline: true, probes: 3},
		{name: "deadline passed during probes", successes: 2, midFlight: true, deadline: true, probes: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var failing, hold atomic.Bool
			g := newGate(nil)
			srv, rc := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				switch {
				case failing.Load():
					w.WriteHeader(http.StatusServiceUnavailable)
				case hold.Load():
					g.serve(n, w, r)
				}
			})
			t.Cleanup(func() { g.open() })
			e := newTestExporter(t, srv, WithMaxRetries(0), WithBreaker(2, testBreakerDelay, tc.successes))
			openBreaker(t, e, &failing, 2)
			hitsBefore := rc.hits.Load()

			hold.Store(tc.midFlight)
			for i := range tc.probes {
				var err error
				want := context.Canceled
				switch {
				case tc.deadline:
					want = context.DeadlineExceeded
					wait := 50 * time.Millisecond
					if !tc.midFlight {
						wait = -time.Second
					}
					ctx, cancel := context.WithTimeout(context.Background(), wait)
					err = e.Export(ctx, batch(1))
					cancel()
				case tc.midFlight:
					err = cancelOnArrival(e, g.arrived)
				default:
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					err = e.Export(ctx, batch(1))
				}
				require.ErrorIs(t, err, want, "probe %d", i)
				require.NotEqual(t, telemetry.BreakerClosed, e.ExportStats().Breaker, "probe %d closed the breaker", i)
				require.Equal(t, int64(1), e.ExportStats().BreakerOpened, "probe %d reopened the breaker", i)
				if tc.midFlight {
					require.Equal(t, circuitbreaker.HalfOpenState, e.pol.cb.State(), "probe %d", i)
				}
			}
			if !tc.midFlight {
				assert.Equal(t, hitsBefore, rc.hits.Load(), "a caller that gave up before sends nothing")
			}
			hold.Store(false)

			for i := range tc.successes {
				require.NoError(t, e.Export(context.Background(), batch(1)), "good probe %d", i)
			}
			assert.Equal(t, telemetry.BreakerClosed, e.ExportStats().Breaker)
			assert.Equal(t, int64(1), e.ExportStats().BreakerOpened, "opened once")
		})
	}
}

// A caller that gives up on the flag gets the last known value for itself; the fetch
// goes on for the others and its answer is cached.
func TestFeatureFlagCallerGivingUpDoesNotPoisonTheCache(t *testing.T) {
	// A caller whose ctx is already done starts no fetch: none is in flight when it
	// returns. The gate holds every request, so a fetch it had started could not have
	// ended (and left nothing to see) by then.
	t.Run("initiator cancelled before the call", func(t *testing.T) {
		g := newGate(func(w http.ResponseWriter) { _, _ = io.WriteString(w, flagBody("true", "")) })
		srv, rc := newServer(t, g.serve)
		t.Cleanup(g.open)
		e := newTestExporter(t, srv, WithCredentials(BearerToken("dapi-flag")))
		ff := e.FeatureFlags()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		assert.False(t, ff.Enabled(ctx), "nothing known yet")
		ff.mu.Lock()
		started := ff.call != nil
		ff.mu.Unlock()
		assert.False(t, started, "no fetch for a caller that already gave up")
		g.open()
		assert.True(t, ff.Enabled(context.Background()), "a live caller fetches")
		assert.Equal(t, int64(1), rc.hits.Load(), "the live caller's fetch only")
	})

	for _, tc := range []struct {
		name  string
		known bool // a value is known (true) from an earlier fetch, now expired
	}{
		{name: "nothing known"},
		{name: "a value known", known: true},
	} {
		t.Run("initiator cancelled during the fetch, "+tc.name, func(t *testing.T) {
			g := newGate(func(w http.ResponseWriter) { _, _ = io.WriteString(w, flagBody("true", "")) })
			var holding atomic.Bool
			srv, rc := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if holding.Load() {
					g.serve(n, w, r)
					return
				}
				_, _ = io.WriteString(w, flagBody("true", ""))
			})
			clk := newFakeClock()
			e := newTestExporter(t, srv, WithCredentials(BearerToken("dapi-flag")), WithClock(clk.now))
			ff := e.FeatureFlags()
			hitsBefore := int64(0)
			if tc.known {
				require.True(t, ff.Enabled(context.Background()))
				clk.advance(DefaultFlagTTL + time.Second)
				hitsBefore = 1
			}
			holding.Store(true)

			actx, acancel := context.WithCancel(context.Background())
			a := make(chan bool, 1)
			go func() { a <- ff.Enabled(actx) }()
			<-g.arrived // the shared fetch is in flight
			b := make(chan bool, 1)
			go func() { b <- ff.Enabled(context.Background()) }()
			acancel()
			assert.Equal(t, tc.known, <-a, "the initiator gets the last known value for itself")
			select {
			case v := <-b:
				t.Fatalf("a waiter with a live context returned %v before the answer", v)
			default:
			}
			g.open()
			assert.True(t, <-b, "the waiter gets the server's answer")

			clk.advance(30 * time.Second)
			assert.True(t, ff.Enabled(context.Background()), "later callers get the cached answer")
			assert.Equal(t, hitsBefore+1, rc.hits.Load(), "one fetch")
			assert.Zero(t, e.pol.cb.Metrics().Failures(), "no breaker failure")
		})
	}
}

// The shared fetch runs on a goroutine of the exporter's: Close cuts it short at once
// rather than spend its context waiting for an answer that serves nothing any more
// (goleak, in TestMain, checks that it ended), and a fetch cut by Close is not cached.
func TestFeatureFlagFetchIsStoppedByClose(t *testing.T) {
	g := newGate(nil)
	srv, rc := newServer(t, g.serve)
	t.Cleanup(func() { g.open() })
	tgt, err := ParseTarget(srv.URL, true)
	require.NoError(t, err)
	e := NewHTTPExporter(tgt, fastOpts(WithCredentials(BearerToken("t")))...)
	ff := e.FeatureFlags()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool, 1)
	go func() { done <- ff.Enabled(ctx) }()
	<-g.arrived
	cancel()
	assert.False(t, <-done)

	cctx, ccancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer ccancel()
	require.NoError(t, e.Close(cctx), "Close cut the fetch short: nothing was left to wait for")
	require.Eventually(t, func() bool {
		ff.mu.Lock()
		defer ff.mu.Unlock()
		return ff.call == nil
	}, 5*time.Second, time.Millisecond, "the fetch ended")
	ff.mu.Lock()
	assert.True(t, ff.expires.IsZero(), "a fetch cut by Close is not cached")
	ff.mu.Unlock()
	assert.False(t, ff.Enabled(context.Background()), "closed: off, at once")
	assert.Equal(t, int64(1), rc.hits.Load())
}

// callerGaveUp separates the caller's context ending from what the server did.
func TestCallerGaveUp(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"no error", done, nil, false},
		{"live context", live, errors.New("connection refused"), false},
		{"cancelled", done, context.Canceled, true},
		{"transport error after cancel", done, errors.New("exporter: request: EOF"), true},
		{"server status", done, &StatusError{StatusCode: 503}, false},
		{"attempt timeout", done, errors.Join(ErrAttemptTimeout, context.DeadlineExceeded), false},
		{"panic", done, errPanicked, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, callerGaveUp(tc.ctx, tc.err))
		})
	}
}

// A host that never answers opens the breaker whatever the retries: with more of them
// than fit in the caller's bound (the aggregator's export timeout), the caller's deadline
// cuts the last attempt, but the attempts before it failed on the server's side. Scaled
// down: attempts of 100 ms, exports bounded by 450 ms (as 10 s and 45 s).
func TestHostThatNeverAnswersOpensTheBreaker(t *testing.T) {
	for _, retries := range []int{1, 3, 4, 10} {
		t.Run(fmt.Sprintf("%d retries", retries), func(t *testing.T) {
			srv, _ := newServer(t, func(_ int, _ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
			e := newTestExporter(t, srv, WithAttemptTimeout(100*time.Millisecond), WithMaxRetries(retries),
				WithBackoff(time.Millisecond, time.Millisecond, 0))
			for range DefaultBreakerFailures {
				ctx, cancel := context.WithTimeout(context.Background(), 450*time.Millisecond)
				err := e.Export(ctx, batch(1))
				cancel()
				require.Error(t, err)
			}
			assert.Equal(t, telemetry.BreakerOpen, e.ExportStats().Breaker)
		})
	}
}

// cancellingTransport ends the caller's context as the server's answer arrives, before
// the attempt returns it, as when an export's deadline passes while the answer is on
// its way.
type cancellingTransport struct {
	next   http.RoundTripper
	cancel atomic.Pointer[context.CancelFunc]
}

func (c *cancellingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if cancel := c.cancel.Load(); cancel != nil {
		(*cancel)()
	}
	return resp, err
}

// A 503 that arrives as its caller gives up is still the server's failure, and counts
// for the breaker: the attempt sees the caller's context ended, and only the status (not
// the context) tells it from a caller that left before any answer.
func TestStatusArrivingAsTheCallerGivesUpCountsForTheBreaker(t *testing.T) {
	srv, rc := newServer(t, status(http.StatusServiceUnavailable))
	ct := &cancellingTransport{next: &http.Transport{DisableKeepAlives: true}}
	e := newTestExporter(t, srv, WithHTTPClient(&http.Client{Transport: ct}), WithMaxRetries(0))
	for i := range DefaultBreakerFailures {
		ctx, cancel := context.WithCancel(context.Background())
		ct.cancel.Store(&cancel)
		err := e.Export(ctx, batch(1))
		cancel()
		require.Error(t, err, "call %d", i)
		require.NotErrorIs(t, err, ErrBreakerOpen, "call %d", i)
	}
	assert.Equal(t, telemetry.BreakerOpen, e.ExportStats().Breaker)
	assert.Equal(t, int64(DefaultBreakerFailures), rc.hits.Load(), "requests that reached the server")
}
