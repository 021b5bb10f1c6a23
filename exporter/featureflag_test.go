package exporter

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/internal/testwait"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// fakeClock is a settable time source.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func flagBody(value string, ttl string) string {
	b := `{"flags":[{"name":"other.flag","value":"true"},{"name":"` + DefaultFlagName + `","value":"` + value + `"}]`
	if ttl != "" {
		b += `,"ttl_seconds":` + ttl
	}
	return b + "}"
}

func flagServer(t *testing.T, body *atomic.Value) (*HTTPExporter, *recorder, *fakeClock) {
	t.Helper()
	srv, rc := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, body.Load().(string))
	})
	clk := newFakeClock()
	e := newTestExporter(t, srv, WithCredentials(BearerToken("dapi-flag")), WithClock(clk.now))
	return e, rc, clk
}

func TestFeatureFlagRequestAndValues(t *testing.T) {
	for _, tc := range []struct {
		body string
		want bool
	}{
		{flagBody("true", ""), true},
		{flagBody("TRUE", ""), true},
		{flagBody("True", ""), true},
		{flagBody("false", ""), false},
		{flagBody("yes", ""), false},
		{flagBody(" true", ""), false},
		{`{"flags":[{"name":"` + DefaultFlagName + `","value":true}]}`, true},
		{`{"flags":[{"name":"other","value":"true"}]}`, false},
		{`{"flags":[]}`, false},
		{`{}`, false},
		{`garbage`, false},
	} {
		t.Run(tc.body, func(t *testing.T) {
			var body atomic.Value
			body.Store(tc.body)
			e, rc, _ := flagServer(t, &body)
			equal(t, e.FeatureFlags().Enabled(context.Background()), tc.want, "enabled")
			r := rc.requests()[0]
			equal(t, r.Method, http.MethodGet, "method")
			equal(t, r.Path, "/api/2.0/connector-service/feature-flags/GOLANG/1.15.1", "path")
			equal(t, r.Header.Get("Authorization"), "Bearer dapi-flag", "auth")
		})
	}
}

func TestFeatureFlagCustomClientAndVersion(t *testing.T) {
	srv, rc := newServer(t, nil)
	e := newTestExporter(t, srv, WithCredentials(BearerToken("t")), WithFeatureFlag("my.flag", "GO", "9.9.9"))
	e.FeatureFlags().Enabled(context.Background())
	equal(t, rc.requests()[0].Path, "/api/2.0/connector-service/feature-flags/GO/9.9.9", "path")
}

func TestFeatureFlagTTL(t *testing.T) {
	for _, tc := range []struct {
		ttl  string
		want time.Duration
	}{
		// Literal durations: SPEC §5's 15 min default and 1 min … 1 h clamp, not the
		// constants, which the code reads too.
		{"", 15 * time.Minute},
		{"0", 15 * time.Minute},
		{"-5", 15 * time.Minute},
		{"10", time.Minute},
		{"300", 5 * time.Minute},
		{"99999", time.Hour},
		{"1e308", time.Hour},
	} {
		t.Run("ttl="+tc.ttl, func(t *testing.T) {
			var body atomic.Value
			body.Store(flagBody("true", tc.ttl))
			e, rc, clk := flagServer(t, &body)
			ff := e.FeatureFlags()
			ctx := context.Background()
			equal(t, ff.Enabled(ctx), true, "first")
			clk.advance(tc.want - time.Second)
			body.Store(flagBody("false", tc.ttl))
			equal(t, ff.Enabled(ctx), true, "cached")
			equal(t, rc.hits.Load(), int64(1), "fetches while cached")
			clk.advance(2 * time.Second)
			equal(t, ff.Enabled(ctx), false, "refetched after ttl")
			equal(t, rc.hits.Load(), int64(2), "fetches")
		})
	}
}

func TestFeatureFlagNon2xxMeansOff(t *testing.T) {
	var code atomic.Int64
	code.Store(200)
	srv, rc := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if c := int(code.Load()); c != 200 {
			w.WriteHeader(c)
			return
		}
		_, _ = io.WriteString(w, flagBody("true", ""))
	})
	clk := newFakeClock()
	e := newTestExporter(t, srv, WithCredentials(BearerToken("t")), WithClock(clk.now))
	ff := e.FeatureFlags()
	ctx := context.Background()
	equal(t, ff.Enabled(ctx), true, "on")
	for _, c := range []int{401, 404, 503} {
		code.Store(int64(c))
		clk.advance(DefaultFlagTTL + time.Second)
		equal(t, ff.Enabled(ctx), false, c)
		code.Store(200)
		clk.advance(MinFlagTTL - time.Second)
		equal(t, ff.Enabled(ctx), false, "non-2xx answer cached for a minute", c)
		clk.advance(2 * time.Second)
		equal(t, ff.Enabled(ctx), true, "back on", c)
	}
	equal(t, rc.hits.Load(), int64(7), "fetches")
}

func TestFeatureFlagFailedFetchKeepsLastValue(t *testing.T) {
	var hang atomic.Bool
	srv, rc := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			<-r.Context().Done()
			return
		}
		_, _ = io.WriteString(w, flagBody("true", ""))
	})
	clk := newFakeClock()
	e := newTestExporter(t, srv, WithCredentials(BearerToken("t")), WithClock(clk.now), WithFlagTimeout(30*time.Millisecond))
	ff := e.FeatureFlags()
	ctx := context.Background()
	equal(t, ff.Enabled(ctx), true, "on")
	hang.Store(true)
	clk.advance(DefaultFlagTTL + time.Second)
	equal(t, ff.Enabled(ctx), true, "timeout keeps the last value")
	equal(t, rc.hits.Load(), int64(2), "one attempt: the flag fetch is not retried")
	equal(t, ff.Enabled(ctx), true, "failure cached")
	equal(t, rc.hits.Load(), int64(2), "no refetch right after a failure")
	clk.advance(MinFlagTTL + time.Second)
	equal(t, ff.Enabled(ctx), true, "still kept")
	equal(t, rc.hits.Load(), int64(3), "retried after a minute")
}

// The flag needs the body: a 2xx whose body hangs past the timeout is a failed fetch.
func TestFeatureFlagBodyHangKeepsLastValue(t *testing.T) {
	var hang atomic.Bool
	srv, rc := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			w.WriteHeader(200)
			_, _ = io.WriteString(w, `{"flags":[`)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		_, _ = io.WriteString(w, flagBody("true", ""))
	})
	clk := newFakeClock()
	e := newTestExporter(t, srv, WithCredentials(BearerToken("t")), WithClock(clk.now), WithFlagTimeout(30*time.Millisecond))
	ff := e.FeatureFlags()
	ctx := context.Background()
	equal(t, ff.Enabled(ctx), true, "on")
	hang.Store(true)
	clk.advance(DefaultFlagTTL + time.Second)
	equal(t, ff.Enabled(ctx), true, "body timeout keeps the last value")
	equal(t, rc.hits.Load(), int64(2), "fetches")
}

func TestFeatureFlagOffWhenNothingKnown(t *testing.T) {
	srv, _ := newServer(t, func(_ int, _ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	e := newTestExporter(t, srv, WithCredentials(BearerToken("t")), WithFlagTimeout(20*time.Millisecond))
	equal(t, e.FeatureFlags().Enabled(context.Background()), false, "off")
}

func TestFeatureFlagWithoutCredentialsIsOffAndSilent(t *testing.T) {
	srv, rc := newServer(t, nil)
	e := newTestExporter(t, srv)
	equal(t, e.FeatureFlags().Enabled(context.Background()), false, "off")
	equal(t, rc.hits.Load(), int64(0), "no request")
}

func TestFeatureFlagOneFetchInFlight(t *testing.T) {
	gate := make(chan struct{})
	srv, rc := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		<-gate
		_, _ = io.WriteString(w, flagBody("true", ""))
	})
	e := newTestExporter(t, srv, WithCredentials(BearerToken("t")))
	ff := e.FeatureFlags()
	var wg sync.WaitGroup
	var on atomic.Int64
	for range 50 {
		wg.Go(func() {
			if ff.Enabled(context.Background()) {
				on.Add(1)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(gate)
	wg.Wait()
	equal(t, rc.hits.Load(), int64(1), "fetches")
	equal(t, on.Load(), int64(50), "every caller saw the answer")
}

func TestFeatureFlagWaiterHonoursContext(t *testing.T) {
	gate := make(chan struct{})
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		<-gate
		_, _ = io.WriteString(w, flagBody("true", ""))
	})
	e := newTestExporter(t, srv, WithCredentials(BearerToken("t")))
	ff := e.FeatureFlags()
	leader := make(chan bool)
	go func() { leader <- ff.Enabled(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	equal(t, ff.Enabled(ctx), false, "waiter gives up with the last known value")
	close(gate)
	equal(t, <-leader, true, "leader")
}

func TestFeatureFlagSharesTheBreaker(t *testing.T) {
	var flagHits atomic.Int64
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, featureFlagPathPrefix) {
			flagHits.Add(1)
			_, _ = io.WriteString(w, flagBody("true", ""))
			return
		}
		w.WriteHeader(503)
	})
	clk := newFakeClock()
	e := newTestExporter(t, srv, WithCredentials(BearerToken("t")), WithClock(clk.now), WithMaxRetries(0))
	ctx := context.Background()
	equal(t, e.FeatureFlags().Enabled(ctx), true, "on")
	for range 5 {
		_ = e.Export(ctx, batch(1))
	}
	equal(t, e.ExportStats().Breaker, telemetry.BreakerOpen, "opened by exports")
	clk.advance(DefaultFlagTTL + time.Second)
	equal(t, e.FeatureFlags().Enabled(ctx), true, "breaker open: last value kept")
	equal(t, flagHits.Load(), int64(1), "flag fetch refused by the open breaker")
}

func TestFeatureFlagFailuresCountForTheBreaker(t *testing.T) {
	srv, _ := newServer(t, status(500))
	clk := newFakeClock()
	e := newTestExporter(t, srv, WithCredentials(BearerToken("t")), WithClock(clk.now), WithBreaker(3, time.Minute, 2))
	for range 3 {
		e.FeatureFlags().Enabled(context.Background())
		clk.advance(MinFlagTTL + time.Second)
	}
	equal(t, e.ExportStats().Breaker, telemetry.BreakerOpen, "breaker")
}

func TestParseFlags(t *testing.T) {
	r, err := ParseFlags([]byte(`{"flags":[{"name":"a","value":"true"},{"name":"a","value":"false"},{"name":"b","value":1}],"ttl_seconds":120.5}`))
	noErr(t, err, "parse")
	equal(t, r.Enabled("a"), false, "later duplicate wins")
	equal(t, r.Flags["b"], "1", "number kept as text")
	equal(t, r.TTL, 120500*time.Millisecond, "ttl")
	for _, bad := range []string{``, `[`, `{"flags":{}}`, `null x`} {
		if _, err := ParseFlags([]byte(bad)); err == nil {
			t.Errorf("ParseFlags(%q) accepted", bad)
		}
	}
}

// ttl_seconds written as a string (as proto3's JSON writes an int64) is read as its
// number; a ttl_seconds of any other form is no TTL, and the answer's flags still stand:
// a malformed TTL must not turn the server's "true" into "off".
func TestParseFlagsTTLForms(t *testing.T) {
	for _, tc := range []struct {
		ttl  string
		want time.Duration
	}{
		{`"300"`, 300 * time.Second},
		{`" 120.5 "`, 120500 * time.Millisecond},
		{`"1"`, MinFlagTTL},
		{`"1e9"`, MaxFlagTTL},
		{`"Inf"`, MaxFlagTTL},
		{`"NaN"`, 0},
		{`"x"`, 0},
		{`""`, 0},
		{`true`, 0},
		{`{"s":1}`, 0},
		{`[60]`, 0},
		{`null`, 0},
		{`1e999`, 0},
	} {
		r, err := ParseFlags([]byte(`{"flags":[{"name":"a","value":"true"}],"ttl_seconds":` + tc.ttl + `}`))
		noErr(t, err, "parse "+tc.ttl)
		equal(t, r.TTL, tc.want, "ttl "+tc.ttl)
		equal(t, r.Enabled("a"), true, "flag beside ttl "+tc.ttl)
	}
}

// ParseFlags clamps ttl_seconds to 60 s … 1 h (SPEC §5), fractions kept within; a
// ttl_seconds that is not positive is none (0).
func TestParseFlagsClampsTTL(t *testing.T) {
	for _, tc := range []struct {
		ttl  string
		want time.Duration
	}{
		{"0.5", time.Minute},
		{"1", time.Minute},
		{"59.9", time.Minute},
		{"60", time.Minute},
		{"61", 61 * time.Second},
		{"90.25", 90250 * time.Millisecond},
		{"3599", 3599 * time.Second},
		{"3600", time.Hour},
		{"3601", time.Hour},
		{"86400", time.Hour},
		{"1e308", time.Hour},
		{"0", 0},
		{"-1", 0},
	} {
		r, err := ParseFlags([]byte(`{"flags":[],"ttl_seconds":` + tc.ttl + `}`))
		noErr(t, err, "ttl_seconds "+tc.ttl)
		equal(t, r.TTL, tc.want, "ttl_seconds "+tc.ttl)
	}
}

// A flag answer is read up to 256 KiB: one of exactly 256 KiB enables the flag, one a
// byte longer is a failed fetch (off when nothing is known, never a flag read from
// beyond the cap), and of a hostile 8 MiB answer no more is read than the cap and a
// drain as long.
func TestFeatureFlagResponseCap(t *testing.T) {
	head := `{"flags":[{"name":"` + DefaultFlagName + `","value":"true"}]`
	for _, tc := range []struct {
		name    string
		size    int
		want    bool
		maxRead int64
	}{
		{"256 KiB", 256 << 10, true, 256 << 10},
		{"256 KiB and a byte", 256<<10 + 1, false, 256<<10 + 1},
		{"8 MiB", 8 << 20, false, 2*(256<<10) + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &scriptedTransport{status: http.StatusOK, body: paddedJSON(head, tc.size)}
			e := defaultExporter(t, rt)
			on := e.FeatureFlags().Enabled(context.Background())
			if n := rt.read.Load(); n > tc.maxRead {
				t.Errorf("read %d bytes of a %d-byte flag answer, want at most %d", n, tc.size, tc.maxRead)
			}
			equal(t, on, tc.want, "enabled")
		})
	}
}

// FuzzParseFlags: never panics; accepted answers have a TTL of 0 or within the clamp,
// and only the exact flag with a case-insensitive "true" (string or bool) enables.
func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{
		flagBody("true", ""), flagBody("TRUE", "30"), flagBody("false", "7200"), `{"flags":null}`, `{}`, `garbage`,
		`{"flags":[{"name":1,"value":"true"}]}`, `{"flags":[{"value":"true"}]}`, `{"ttl_seconds":1e400}`,
		`{"ttl_seconds":-1e308}`, `{"flags":[{"name":"x","value":{"a":[1,2]}}]}`, "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseFlags(body)
		if err != nil {
			return
		}
		if r.TTL != 0 && (r.TTL < MinFlagTTL || r.TTL > MaxFlagTTL) {
			t.Fatalf("ttl %v outside the clamp", r.TTL)
		}
		want, ok := flagsOracle(body)
		if !ok {
			t.Fatalf("ParseFlags accepted a body the oracle cannot read: %q", body)
		}
		for name, on := range want {
			if r.Enabled(name) != on {
				t.Fatalf("Enabled(%q) = %v, the body says %v", name, !on, on)
			}
			if other := name + "x"; r.Enabled(other) && !want[other] {
				t.Fatalf("Enabled(%q) from the flag %q", other, name)
			}
		}
		if r.Enabled("\x00absent") {
			t.Fatal("a flag the body does not hold is enabled")
		}
	})
}

// flagsOracle says which flags a feature-flag body enables, read without ParseFlags: a
// string value equal to "true" in any case, or the boolean true; of flags named twice,
// the last. ok is false when the body is no JSON object of that shape.
func flagsOracle(body []byte) (on map[string]bool, ok bool) {
	var raw struct {
		Flags []struct {
			Name  string `json:"name"`
			Value any    `json:"value"`
		} `json:"flags"`
	}
	if json.Unmarshal(body, &raw) != nil {
		return nil, false
	}
	on = map[string]bool{}
	for _, f := range raw.Flags {
		switch v := f.Value.(type) {
		case string:
			on[f.Name] = strings.EqualFold(v, "true")
		case bool:
			on[f.Name] = v
		default:
			on[f.Name] = false
		}
	}
	return on, true
}

// The flag cache reads the caller's clock (WithClock) with its lock held: a clock that
// panics neither escapes nor leaves the lock held for the next caller.
func TestFeatureFlagPanickingClock(t *testing.T) {
	var body atomic.Value
	body.Store(flagBody("true", "600"))
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, body.Load().(string))
	})
	var boom atomic.Bool
	clock := func() time.Time {
		if boom.Swap(false) {
			panic("clock boom")
		}
		return time.Now()
	}
	e := newTestExporter(t, srv, WithCredentials(BearerToken("dapi-flag")), WithClock(clock))
	ff := e.FeatureFlags()
	equal(t, ff.Enabled(context.Background()), true, "first")
	boom.Store(true)
	equal(t, ff.Enabled(context.Background()), true, "cached, on time.Now")
	done := make(chan bool, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		done <- ff.Enabled(ctx)
	}()
	select {
	case on := <-done:
		equal(t, on, true, "cached")
	case <-time.After(3 * time.Second):
		t.Fatal("Enabled blocked: the cache's lock stayed held")
	}
}

// The flag request is bounded by WithFlagTimeout, not by WithAttemptTimeout, the export
// attempts' bound: a flag endpoint slower than an export attempt may take, but within
// the flag timeout, still answers.
func TestFeatureFlagRequestBoundByTheFlagTimeout(t *testing.T) {
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		time.Sleep(200 * time.Millisecond)
		_, _ = io.WriteString(w, flagBody("true", ""))
	})
	e := newTestExporter(t, srv, WithCredentials(BearerToken("t")),
		WithAttemptTimeout(50*time.Millisecond), WithFlagTimeout(5*time.Second))
	equal(t, e.FeatureFlags().Enabled(context.Background()), true, "enabled")
}

// stallWriter is a log writer that blocks every write until release is closed, and
// counts the writes begun.
type stallWriter struct {
	writes  atomic.Int64
	release chan struct{}
}

func (w *stallWriter) Write(p []byte) (int, error) {
	w.writes.Add(1)
	<-w.release
	return len(p), nil
}

// A failed fetch's debug line goes to the caller's logger with the cache's lock let
// go: while the logger's output stalls, a caller that asks gets the value kept, within
// its own context, instead of waiting for the lock until the output drains.
func TestFeatureFlagStalledLoggerHoldsNoCaller(t *testing.T) {
	srv, _ := newServer(t, func(int, http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler) // the connection drops: the fetch fails
	})
	w := &stallWriter{release: make(chan struct{})}
	e := newTestExporter(t, srv, WithCredentials(BearerToken("t")),
		WithLogger(zerolog.New(w).Level(zerolog.DebugLevel)))
	t.Cleanup(func() { close(w.release) }) // before the exporter's Close, which waits for the fetch
	ff := e.FeatureFlags()
	asked := make(chan bool, 1)
	go func() { asked <- ff.Enabled(context.Background()) }()
	require.Eventually(t, func() bool { return w.writes.Load() > 0 }, 10*time.Second, time.Millisecond,
		"the failed fetch is logged")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	got := make(chan bool, 1)
	go func() { got <- ff.Enabled(ctx) }()
	equal(t, testwait.Recv(t, got, 10*time.Second, "a caller's answer while the log line stalls"), false, "nothing known")
	equal(t, testwait.Recv(t, asked, 10*time.Second, "the first caller's answer"), false, "the fetch failed")
}
