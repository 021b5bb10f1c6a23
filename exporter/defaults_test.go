package exporter

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/internal/testlog"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// noRand is a random source for delays without jitter: it must not be asked.
func noRand(t *testing.T) func(time.Duration) time.Duration {
	return func(n time.Duration) time.Duration {
		t.Errorf("random source asked for [0, %v) without jitter", n)
		return 0
	}
}

// The backoff is min(base×2^retries, max) exactly (SPEC §4), before jitter.
func TestBackoffDelay(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name      string
		base, max time.Duration
		want      []time.Duration // by retries so far: 0, 1, 2, …
	}{
		{"capped below the next doubling", 20 * ms, 50 * ms, []time.Duration{20 * ms, 40 * ms, 50 * ms, 50 * ms, 50 * ms}},
		{"SPEC defaults", DefaultBackoffBase, DefaultBackoffMax, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}},
		{"max reached exactly", 25 * ms, 100 * ms, []time.Duration{25 * ms, 50 * ms, 100 * ms, 100 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for retries, want := range tt.want {
				got := delayFor(tt.base, tt.max, 0, DefaultRetryAfterCap, retries, &StatusError{StatusCode: 503}, noRand(t))
				assert.Equal(t, want, got, "after %d retries", retries)
			}
		})
	}
}

// Jitter adds randN(jitter+1), 0…jitter inclusive, on top of the capped backoff; over
// many samples with the real source it stays in range and varies.
func TestBackoffJitter(t *testing.T) {
	const base, maxDelay, jitter = 20 * time.Millisecond, 50 * time.Millisecond, 5 * time.Millisecond
	var asked []time.Duration
	highest := func(n time.Duration) time.Duration { asked = append(asked, n); return n - 1 }
	assert.Equal(t, 40*time.Millisecond+jitter, delayFor(base, maxDelay, jitter, 0, 1, nil, highest))
	assert.Equal(t, maxDelay+jitter, delayFor(base, maxDelay, jitter, 0, 4, nil, highest), "jitter on top of the cap")
	assert.Equal(t, []time.Duration{jitter + 1, jitter + 1}, asked, "drawn from [0, jitter]")

	for _, retries := range []int{0, 4} {
		want := min(base<<retries, maxDelay)
		seen := map[time.Duration]bool{}
		for range 1000 {
			d := delayFor(base, maxDelay, jitter, 0, retries, nil, rand.N[time.Duration])
			require.GreaterOrEqual(t, d, want, "retries %d", retries)
			require.LessOrEqual(t, d, want+jitter, "retries %d", retries)
			seen[d] = true
		}
		assert.Greater(t, len(seen), 1, "retries %d: the jitter varies", retries)
	}
}

// Options are not bounded above: a backoff or jitter as long as a time.Duration holds
// stops at the longest delay, never overflows into a negative one, and never asks the
// random source for [0, MaxInt64+1) (which made rand.N panic out of Export).
func TestBackoffHugeValues(t *testing.T) {
	const huge = time.Duration(math.MaxInt64)
	for _, tt := range []struct {
		name                   string
		base, maxDelay, jitter time.Duration
		retries                int
		want                   time.Duration // with the highest draw
	}{
		{"huge jitter", time.Millisecond, time.Millisecond, huge, 1, huge},
		{"huge jitter, no backoff", 0, 0, huge, 0, huge - 1},
		{"doubling past the longest", huge / 3, huge, 0, 3, huge},
		{"huge everything", huge, huge, huge, 5, huge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			highest := func(n time.Duration) time.Duration {
				require.Positive(t, n, "the random source's bound")
				return n - 1
			}
			d := delayFor(tt.base, tt.maxDelay, tt.jitter, 0, tt.retries, nil, highest)
			assert.Equal(t, tt.want, d)
			for range 100 {
				d := delayFor(tt.base, tt.maxDelay, tt.jitter, 0, tt.retries, nil, rand.N[time.Duration])
				require.GreaterOrEqual(t, d, min(tt.base, tt.maxDelay))
			}
		})
	}
}

// Under the default configuration a Retry-After is honoured up to DefaultRetryAfterCap,
// 5 s (SPEC §4): an hour asked is 5 s waited, without jitter; a shorter one is kept.
func TestDefaultRetryAfterCap(t *testing.T) {
	cfg := newConfig(nil)
	delay := func(retryAfter time.Duration) time.Duration {
		return delayFor(cfg.backoffBase, cfg.backoffMax, cfg.jitter, cfg.retryAfterCap, 1,
			fmt.Errorf("attempt: %w", &StatusError{StatusCode: http.StatusTooManyRequests, RetryAfter: retryAfter}), noRand(t))
	}
	assert.Equal(t, 5*time.Second, delay(time.Hour), "capped")
	assert.Equal(t, 2*time.Second, delay(2*time.Second), "honoured below the cap")
}

// By default a retry waits its backoff plus a random 0–100 ms (SPEC §4): the random
// source is asked for a draw in [0, 100 ms], and the largest draw adds exactly 100 ms.
func TestDefaultJitter(t *testing.T) {
	cfg := newConfig(nil)
	ms := time.Millisecond
	for retries, backoff := range []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second} {
		var asked time.Duration
		highest := func(n time.Duration) time.Duration { asked = n; return n - 1 }
		got := delayFor(cfg.backoffBase, cfg.backoffMax, cfg.jitter, cfg.retryAfterCap, retries,
			&StatusError{StatusCode: http.StatusServiceUnavailable}, highest)
		assert.Equal(t, 100*ms+1, asked, "after %d retries: drawn from [0, 100 ms]", retries)
		assert.Equal(t, backoff+100*ms, got, "after %d retries: the largest jitter", retries)
	}
}

// WithRetryAfterCap(0) ignores Retry-After: a 429 or 503 asking for a wait, short or
// long, is retried after the normal backoff, neither at once nor after what it asked.
func TestRetryAfterCapZeroIgnoresRetryAfter(t *testing.T) {
	ms := time.Millisecond
	cfg := newConfig([]Option{WithBackoff(50*ms, time.Second, 0), WithRetryAfterCap(0)})
	for _, tc := range []struct {
		status     int
		retryAfter time.Duration
		retries    int
		want       time.Duration
	}{
		{http.StatusTooManyRequests, time.Second, 0, 50 * ms},
		{http.StatusServiceUnavailable, time.Hour, 0, 50 * ms},
		{http.StatusTooManyRequests, 10 * ms, 0, 50 * ms},
		{http.StatusServiceUnavailable, time.Second, 2, 200 * ms},
	} {
		err := fmt.Errorf("attempt: %w", &StatusError{StatusCode: tc.status, RetryAfter: tc.retryAfter})
		got := delayFor(cfg.backoffBase, cfg.backoffMax, cfg.jitter, cfg.retryAfterCap, tc.retries, err, noRand(t))
		assert.Equal(t, tc.want, got, "%d with Retry-After %v after %d retries", tc.status, tc.retryAfter, tc.retries)
	}
}

// defaultExporter is an exporter with the default options but a bearer token, for a
// public host, whose every request rt answers.
func defaultExporter(t *testing.T, rt http.RoundTripper, opts ...Option) *HTTPExporter {
	t.Helper()
	tgt, err := ParseTarget("adb-1.azuredatabricks.net", false)
	require.NoError(t, err)
	e := NewHTTPExporter(tgt, append([]Option{WithHTTPClient(&http.Client{Transport: rt}),
		WithCredentials(BearerToken("t"))}, opts...)...)
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

// paddedJSON is the JSON object that head opens, closed after a "pad" member that makes
// it exactly size bytes long.
func paddedJSON(head string, size int) []byte {
	const pad, end = `,"pad":"`, `"}`
	return []byte(head + pad + strings.Repeat("x", size-len(head)-len(pad)-len(end)) + end)
}

// By default at most 64 KiB of a telemetry answer is read (WithMaxResponseBytes): an
// answer of exactly 64 KiB is read and parsed, one a byte longer is discarded, and of a
// hostile 8 MiB answer no more is read than the cap and a drain as long.
func TestDefaultMaxResponseBytes(t *testing.T) {
	const answer = `{"errors":[],"numSuccess":7,"numProtoSuccess":7,"numRealtimeSuccess":0`
	for _, tc := range []struct {
		name    string
		size    int
		parsed  bool
		maxRead int64
	}{
		{"64 KiB", 64 << 10, true, 64 << 10},
		{"64 KiB and a byte", 64<<10 + 1, false, 64<<10 + 1},
		{"8 MiB", 8 << 20, false, 2*(64<<10) + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &scriptedTransport{status: http.StatusOK, body: paddedJSON(answer, tc.size)}
			logs := &testlog.Buffer{} // the delivered batch's debug line has the answer's counts when it was parsed
			e := defaultExporter(t, rt, WithLogger(zerolog.New(logs).Level(zerolog.DebugLevel)))
			require.NoError(t, e.Export(context.Background(), batch(1)), "a 2xx is delivered whatever its body")
			assert.Equal(t, tc.parsed, strings.Contains(logs.String(), `"num_proto_success":7`),
				"answer read and parsed; log: %s", logs)
			assert.LessOrEqual(t, rt.read.Load(), tc.maxRead, "bytes read of a %d-byte answer", tc.size)
		})
	}
}

// deadlineTransport answers every request itself and records, per method and path, how
// far away the request context's deadline was when the request was sent.
type deadlineTransport struct {
	mu   sync.Mutex
	left map[string]time.Duration // "POST /telemetry-ext": deadline - now; -1 when none
}

func (d *deadlineTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	left := time.Duration(-1)
	if dl, ok := r.Context().Deadline(); ok {
		left = time.Until(dl)
	}
	d.mu.Lock()
	d.left[r.Method+" "+r.URL.Path] = left
	d.mu.Unlock()
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	body := `{"errors":[],"numSuccess":1,"numProtoSuccess":1,"numRealtimeSuccess":0}`
	if r.Method == http.MethodGet {
		body = `{"flags":[{"name":"` + DefaultFlagName + `","value":"true"}]}`
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {contentTypeJSON}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// Each telemetry POST is bounded by DefaultAttemptTimeout and the flag GET by
// DefaultFlagTimeout, both 10 s (SPEC §4, §5): the request's context carries a deadline
// about 10 s away, whatever the caller's context (here none).
func TestDefaultRequestTimeouts(t *testing.T) {
	rt := &deadlineTransport{left: map[string]time.Duration{}}
	tgt, err := ParseTarget("adb-1.azuredatabricks.net", false)
	require.NoError(t, err)
	e := NewHTTPExporter(tgt, WithHTTPClient(&http.Client{Transport: rt}), WithCredentials(BearerToken("t")))
	t.Cleanup(func() { _ = e.Close(context.Background()) })

	require.NoError(t, e.Export(context.Background(), batch(1)))
	require.True(t, e.FeatureFlags().Enabled(context.Background()), "the flag came through the transport")

	rt.mu.Lock()
	defer rt.mu.Unlock()
	flagPath := featureFlagPathPrefix + DefaultFlagClient + "/" + DefaultDriverVersion
	for key, want := range map[string]time.Duration{
		"POST " + telemetryExtPath: 10 * time.Second,
		"GET " + flagPath:          10 * time.Second,
	} {
		left, ok := rt.left[key]
		require.True(t, ok, "no %s request seen (saw %v)", key, rt.left)
		assert.InDelta(t, want, left, float64(time.Second), "%s: deadline %v away", key, left)
	}
}

// failingTransport answers 503 while failing is set, 200 otherwise, and counts requests.
type failingTransport struct {
	mu      sync.Mutex
	failing bool
	hits    int
}

func (f *failingTransport) set(failing bool) { f.mu.Lock(); f.failing = failing; f.mu.Unlock() }

func (f *failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.hits++
	code := http.StatusOK
	if f.failing {
		code = http.StatusServiceUnavailable
	}
	f.mu.Unlock()
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: code, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
}

func newBreakerExporter(t *testing.T, rt http.RoundTripper, opts ...Option) *HTTPExporter {
	t.Helper()
	tgt, err := ParseTarget("adb-1.azuredatabricks.net", false)
	require.NoError(t, err)
	e := NewHTTPExporter(tgt, append([]Option{WithHTTPClient(&http.Client{Transport: rt}), WithMaxRetries(0),
		WithCredentials(BearerToken("t"))}, opts...)...)
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

// openByFailures fails batches until the breaker opens and returns how many it took.
func openByFailures(t *testing.T, e *HTTPExporter, rt *failingTransport) int {
	t.Helper()
	rt.set(true)
	for n := 1; n <= 20; n++ {
		require.Error(t, e.Export(context.Background(), batch(1)))
		if e.ExportStats().Breaker == telemetry.BreakerOpen {
			return n
		}
	}
	t.Fatal("the breaker never opened")
	return 0
}

// By default the breaker opens after 5 failed batches and stays open for 60 s (SPEC §4):
// right after opening, about 60 s remain before it lets a probe through.
func TestDefaultBreakerDelay(t *testing.T) {
	rt := &failingTransport{}
	e := newBreakerExporter(t, rt)
	assert.Equal(t, 5, openByFailures(t, e, rt), "failed batches to open")
	assert.InDelta(t, 60*time.Second, e.pol.cb.RemainingDelay(), float64(time.Second), "time left open")
	rt.set(false)
	assert.ErrorIs(t, e.Export(context.Background(), batch(1)), ErrBreakerOpen, "still open")
}

// By default a half-open breaker closes after 2 successful probes (SPEC §4): the first
// keeps it half-open, the second closes it. WithBreaker's zeros keep the defaults; only
// the delay is shortened.
func TestDefaultBreakerSuccessThreshold(t *testing.T) {
	const delay = 50 * time.Millisecond
	rt := &failingTransport{}
	e := newBreakerExporter(t, rt, WithBreaker(0, delay, 0))
	assert.Equal(t, 5, openByFailures(t, e, rt), "failed batches to open (default threshold)")
	time.Sleep(delay + 20*time.Millisecond)
	rt.set(false)
	require.NoError(t, e.Export(context.Background(), batch(1)), "probe 1")
	assert.Equal(t, telemetry.BreakerHalfOpen, e.ExportStats().Breaker, "after one success")
	require.NoError(t, e.Export(context.Background(), batch(1)), "probe 2")
	assert.Equal(t, telemetry.BreakerClosed, e.ExportStats().Breaker, "after two successes")
}

// A host acquired with credentials, whose layer holds a log never exported before the
// last Release, sends that log authenticated at release: the credentials kept for the
// final flush are the only ones left (no live handle, none ever authenticated a request).
func TestRegistryFinalFlushUsesKeptCredentials(t *testing.T) {
	srv, rc := newServer(t, nil)
	r := newTestRegistry(t, WithLayer(func(_ Target, exp telemetry.Exporter) Layer {
		return &fakeLayer{exp: exp, pending: []*telemetry.FrontendLog{connectionLog()}}
	}))
	h, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("token-a")))
	require.NoError(t, err)
	require.Zero(t, rc.hits.Load(), "nothing sent before the release")
	require.NoError(t, h.Release(context.Background()))
	reqs := rc.requests()
	require.Len(t, reqs, 1, "the final flush")
	assert.Equal(t, telemetryExtPath, reqs[0].Path)
	assert.Equal(t, "Bearer token-a", reqs[0].Header.Get("Authorization"))
	require.NoError(t, h.Layer().(*fakeLayer).err)
}
