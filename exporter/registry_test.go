package exporter

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/internal/testwait"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// fakeLayer stands in for the driver's per-host aggregator: it holds logs and exports
// them on Close, which is exactly the final flush.
type fakeLayer struct {
	exp     telemetry.Exporter
	pending []*telemetry.FrontendLog
	closed  atomic.Int64
	block   chan struct{} // when set, Close waits on it
	entered chan struct{}
	err     error
}

func (l *fakeLayer) Close(ctx context.Context) error {
	l.closed.Add(1)
	if l.entered != nil {
		close(l.entered)
	}
	if l.block != nil {
		<-l.block
	}
	l.err = l.exp.Export(ctx, l.pending)
	return l.err
}

func newTestRegistry(t *testing.T, opts ...Option) *Registry {
	t.Helper()
	r := NewRegistry(fastOpts(opts...)...)
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

func TestRegistrySharesOneExporterPerNormalisedHost(t *testing.T) {
	r := newTestRegistry(t)
	ctx := context.Background()
	var hs []*Handle
	for _, host := range []string{"dbc-1.cloud.databricks.com", "DBC-1.cloud.databricks.com.", "https://dbc-1.cloud.databricks.com:443/",
		"http://dbc-1.cloud.databricks.com"} {
		h, err := r.Acquire(host, WithConnCredentials(BearerToken("t")))
		noErr(t, err, host)
		hs = append(hs, h)
	}
	for _, h := range hs[1:] {
		if h.Exporter() != hs[0].Exporter() || h.FeatureFlags() != hs[0].FeatureFlags() {
			t.Fatal("same host, different exporter")
		}
	}
	other, err := r.Acquire("dbc-1.cloud.databricks.com:8443")
	noErr(t, err, "other port")
	if other.Exporter() == hs[0].Exporter() {
		t.Fatal("different port shares the exporter")
	}
	equal(t, r.Len(), 2, "hosts")
	equal(t, r.Refs("https://dbc-1.cloud.databricks.com:443"), 4, "refs")
	equal(t, hs[0].Key(), "https://dbc-1.cloud.databricks.com:443", "key")
	for _, h := range append(hs, other) {
		noErr(t, h.Release(ctx), "release")
	}
	equal(t, r.Len(), 0, "hosts after release")
}

func TestRegistryRejectsBadHosts(t *testing.T) {
	r := newTestRegistry(t)
	for _, host := range []string{"169.254.169.254", "a@b.com", "b.com/x", "127.0.0.1", "metadata.google.internal"} {
		if _, err := r.Acquire(host); !errors.Is(err, ErrInvalidHost) && !errors.Is(err, ErrForbiddenHost) {
			t.Errorf("Acquire(%q) = %v", host, err)
		}
	}
	equal(t, r.Len(), 0, "nothing registered")
}

func TestRegistryConcurrentAcquireRelease(t *testing.T) {
	srv, rc := newServer(t, nil)
	var layers atomic.Int64
	r := newTestRegistry(t, WithLayer(func(_ Target, exp telemetry.Exporter) Layer {
		layers.Add(1)
		return &fakeLayer{exp: exp, pending: []*telemetry.FrontendLog{connectionLog()}}
	}))
	hosts := []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)}
	var wg sync.WaitGroup
	for g := range 100 {
		wg.Go(func() {
			for i := range 20 {
				h, err := r.Acquire(hosts[(g+i)%2], WithLoopbackDSN(), WithConnCredentials(BearerToken("t")))
				if err != nil {
					t.Error(err)
					return
				}
				if err := h.Exporter().Export(context.Background(), batch(1)); err != nil && !errors.Is(err, ErrClosed) {
					t.Error(err)
				}
				_ = h.Release(context.Background())
				_ = h.Release(context.Background()) // double release is ignored
			}
		})
	}
	wg.Wait()
	equal(t, r.Len(), 0, "hosts")
	for _, h := range hosts {
		tgt, _ := ParseTarget(h, true)
		equal(t, r.Refs(tgt.Key()), 0, "refs")
	}
	if layers.Load() == 0 || rc.hits.Load() < 2000 {
		t.Fatalf("layers=%d hits=%d", layers.Load(), rc.hits.Load())
	}
}

func TestRegistryDoubleReleaseIsIgnoredAndLogged(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	srv, rc := newServer(t, nil)
	r := newTestRegistry(t, WithLogger(zerolog.New(&lockedWriter{w: &buf, mu: &mu}).Level(zerolog.DebugLevel)))
	ctx := context.Background()
	a, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("t")))
	noErr(t, err, "a")
	b, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("t")))
	noErr(t, err, "b")
	noErr(t, a.Release(ctx), "release a")
	noErr(t, a.Release(ctx), "release a again")
	equal(t, r.Refs(a.Key()), 1, "b still holds it")
	// A batch of one log goes out: an empty one would return before the closed check.
	if err := b.Exporter().Export(ctx, batch(1)); err != nil {
		t.Fatalf("exporter closed by a double release: %v", err)
	}
	equal(t, rc.hits.Load(), int64(1), "the batch reached the host")
	noErr(t, b.Release(ctx), "release b")
	equal(t, r.Len(), 0, "hosts")
	// The line is written off the caller's path (quietlog), so it may come after Release
	// returns.
	logged := func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(buf.String(), "released twice") && strings.Contains(buf.String(), `"level":"debug"`), buf.String()
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		ok, out := logged()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("double release not logged at debug: %s", out)
		}
	}
}

func TestRegistryLastReleaseRemovesBeforeClosing(t *testing.T) {
	srv, _ := newServer(t, nil)
	var first atomic.Pointer[fakeLayer]
	r := newTestRegistry(t, WithLayer(func(_ Target, exp telemetry.Exporter) Layer {
		l := &fakeLayer{exp: exp, block: make(chan struct{}), entered: make(chan struct{})}
		first.CompareAndSwap(nil, l)
		return l
	}))
	ctx := context.Background()
	h1, err := r.Acquire(srv.URL, WithLoopbackDSN())
	noErr(t, err, "acquire")
	l1 := first.Load()
	// The layers' Close blocks until told: a failure below must not leave it, and so the
	// registry's cleanup, blocked.
	var unblock1 sync.Once
	unblockL1 := func() { unblock1.Do(func() { close(l1.block) }) }
	t.Cleanup(unblockL1)
	released := make(chan error, 1)
	go func() { released <- h1.Release(ctx) }()
	testwait.Recv(t, l1.entered, 5*time.Second, "the final flush of the last Release to begin")

	h2, err := r.Acquire(srv.URL, WithLoopbackDSN())
	noErr(t, err, "acquire during close")
	if h2.Exporter() == h1.Exporter() || h2.Layer() == h1.Layer() {
		t.Fatal("a new acquire received the closing instance")
	}
	var unblock2 sync.Once
	t.Cleanup(func() { unblock2.Do(func() { close(h2.Layer().(*fakeLayer).block) }) })
	unblockL1()
	noErr(t, testwait.Recv(t, released, 5*time.Second, "the last Release of h1"), "release")
	if err := h1.Exporter().Export(ctx, batch(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("old exporter not closed: %v", err)
	}
	noErr(t, h2.Exporter().Export(ctx, batch(1)), "new exporter works")
	unblock2.Do(func() { close(h2.Layer().(*fakeLayer).block) })
	release2 := make(chan error, 1)
	go func() { release2 <- h2.Release(ctx) }()
	noErr(t, testwait.Recv(t, release2, 5*time.Second, "the last Release of h2"), "release h2")
}

func TestRegistryFinalFlushKeepsCredentials(t *testing.T) {
	srv, rc := newServer(t, nil)
	r := newTestRegistry(t, WithLayer(func(_ Target, exp telemetry.Exporter) Layer {
		return &fakeLayer{exp: exp, pending: []*telemetry.FrontendLog{connectionLog()}}
	}))
	ctx := context.Background()
	a, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("token-a")))
	noErr(t, err, "a")
	b, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("token-b")))
	noErr(t, err, "b")
	noErr(t, a.Exporter().Export(ctx, batch(1)), "export with b's token")
	noErr(t, b.Release(ctx), "release b")
	noErr(t, a.Exporter().Export(ctx, batch(1)), "export with a's token")
	noErr(t, a.Release(ctx), "last release: final flush")

	reqs := rc.requests()
	equal(t, len(reqs), 3, "requests")
	for i, want := range []string{"Bearer token-b", "Bearer token-a", "Bearer token-a"} {
		equal(t, reqs[i].Path, "/telemetry-ext", "path", i)
		equal(t, reqs[i].Header.Get("Authorization"), want, "auth", i)
	}
}

func TestRegistryCloseFlushesAndRefuses(t *testing.T) {
	srv, rc := newServer(t, nil)
	var layer atomic.Pointer[fakeLayer]
	r := NewRegistry(fastOpts(WithLayer(func(_ Target, exp telemetry.Exporter) Layer {
		l := &fakeLayer{exp: exp, pending: []*telemetry.FrontendLog{connectionLog()}}
		layer.Store(l)
		return l
	}))...)
	ctx := context.Background()
	h, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("t")))
	noErr(t, err, "acquire")
	noErr(t, r.Close(ctx), "close")
	noErr(t, r.Close(ctx), "close again")
	equal(t, rc.hits.Load(), int64(1), "final flush on registry close")
	equal(t, rc.requests()[0].Header.Get("Authorization"), "Bearer t", "with credentials")
	if _, err := r.Acquire(srv.URL, WithLoopbackDSN()); !errors.Is(err, ErrClosed) {
		t.Fatalf("acquire after close: %v", err)
	}
	noErr(t, h.Release(ctx), "release after close")
	noErr(t, h.Release(ctx), "double release after close")
	equal(t, layer.Load().closed.Load(), int64(1), "layer closed once")
}

func TestRegistryAcquireDuringClose(t *testing.T) {
	srv, _ := newServer(t, nil)
	for range 20 {
		r := NewRegistry(fastOpts(WithLayer(func(_ Target, exp telemetry.Exporter) Layer {
			return &fakeLayer{exp: exp, pending: batch(1)}
		}))...)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				h, err := r.Acquire(srv.URL, WithLoopbackDSN())
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Error(err)
					}
					return
				}
				_ = h.Exporter().Export(context.Background(), batch(1))
				_ = h.Release(context.Background())
			})
		}
		wg.Go(func() { _ = r.Close(context.Background()) })
		wg.Wait()
		equal(t, r.Len(), 0, "hosts")
	}
}

func TestRegistryCloseIsBoundedByContext(t *testing.T) {
	r := NewRegistry(WithLayer(func(_ Target, exp telemetry.Exporter) Layer { return &ctxLayer{} }))
	_, err := r.Acquire("dbc.databricks.com")
	noErr(t, err, "acquire")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := r.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v", d)
	}
}

// ctxLayer's Close waits for its context, like an aggregator whose export hangs.
type ctxLayer struct{}

func (ctxLayer) Close(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestRegistryUsesCallerClientAndLeavesItOpen(t *testing.T) {
	srv := httptest.NewTLSServer(&recorder{})
	defer srv.Close()
	r := NewRegistry(fastOpts(WithHTTPClient(srv.Client()))...)
	h, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("t")))
	noErr(t, err, "acquire")
	equal(t, h.Exporter().Target().Scheme, "https", "scheme")
	noErr(t, h.Exporter().Export(context.Background(), batch(1)), "export over TLS")
	noErr(t, h.Release(context.Background()), "release")
	noErr(t, r.Close(context.Background()), "close")
}

func TestRegistryCredentialsComeFromNewestHolderWithSome(t *testing.T) {
	srv, rc := newServer(t, nil)
	r := newTestRegistry(t)
	ctx := context.Background()
	a, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("token-a")))
	noErr(t, err, "a")
	b, err := r.Acquire(srv.URL, WithLoopbackDSN()) // e.g. a connection that failed before authenticating
	noErr(t, err, "b")
	noErr(t, b.Exporter().Export(ctx, batch(1)), "export")
	noErr(t, a.Release(ctx), "release a")
	noErr(t, b.Exporter().Export(ctx, batch(1)), "export after a left")
	noErr(t, b.Release(ctx), "release b")
	reqs := rc.requests()
	equal(t, reqs[0].Header.Get("Authorization"), "Bearer token-a", "a's token while a is live")
	// a's credentials stay: an exporter's credentials are never cleared, so the final
	// flush of a host whose last holder has none still authenticates.
	equal(t, reqs[1].Header.Get("Authorization"), "Bearer token-a", "kept")
}

func TestRegistryHostOptionsApplyWhenTheHostIsCreated(t *testing.T) {
	srv, rc := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	layers := 0
	r := newTestRegistry(t)
	ctx := context.Background()
	first, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithHostOptions(WithMaxRetries(0),
		WithLayer(func(_ Target, exp telemetry.Exporter) Layer {
			layers++
			return &fakeLayer{exp: exp}
		})))
	noErr(t, err, "first")
	second, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithHostOptions(WithMaxRetries(3)))
	noErr(t, err, "second")
	equal(t, layers, 1, "the first acquire built the host's layer")
	equal(t, second.Layer(), first.Layer(), "shared layer")
	if err := second.Exporter().Export(ctx, batch(1)); err == nil {
		t.Fatal("a 503 should fail the batch")
	}
	equal(t, len(rc.requests()), 1, "the first acquire's WithMaxRetries(0) decides: no retry")
	noErr(t, first.Release(ctx), "release first")
	noErr(t, second.Release(ctx), "release second")
}

// A host's exporter in the registry never follows a redirect, whichever client it uses:
// a 3xx from the telemetry or the feature-flag endpoint is the answer, so neither the
// batch nor the bearer token (which net/http keeps for the same hostname on another
// port) reaches the server it points to, and a caller's client is left as it was.
func TestRegistryRedirectNotFollowed(t *testing.T) {
	for _, tc := range []struct {
		name     string
		regOpts  func(caller *http.Client) []Option // NewRegistry's
		hostOpts func(caller *http.Client) []Option // WithHostOptions of the Acquire
	}{
		{"the registry's own per-host client",
			func(*http.Client) []Option { return nil },
			func(*http.Client) []Option { return nil }},
		{"a caller's client in the host options",
			func(*http.Client) []Option { return nil },
			func(c *http.Client) []Option { return []Option{WithHTTPClient(c)} }},
		{"a caller's client given to NewRegistry",
			func(c *http.Client) []Option { return []Option{WithHTTPClient(c)} },
			func(*http.Client) []Option { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other, otherRC := newServer(t, nil)
			srv, rc := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
			})
			caller := &http.Client{Transport: &http.Transport{}}
			t.Cleanup(caller.CloseIdleConnections)
			r := newTestRegistry(t, tc.regOpts(caller)...)
			h, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("dapi-secret")),
				WithHostOptions(tc.hostOpts(caller)...))
			noErr(t, err, "acquire")
			defer h.Release(context.Background())

			err = h.Exporter().Export(context.Background(), batch(1))
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != http.StatusTemporaryRedirect {
				t.Errorf("export: err = %v, want the 307 as a StatusError", err)
			}
			equal(t, h.FeatureFlags().Enabled(context.Background()), false, "flag answered by a redirect")
			equal(t, rc.hits.Load(), int64(2), "origin requests (the batch, the flag)")
			for _, req := range otherRC.requests() {
				t.Errorf("redirect followed: %s %s reached another server with Authorization %q",
					req.Method, req.Path, req.Header.Get("Authorization"))
			}
			if caller.CheckRedirect != nil {
				t.Error("the caller's client was modified")
			}
		})
	}
}

// WithOwner keeps an exporter to the connections that give its owner: "" shares the
// host's, another owner gets one of its own for the host, keyed with it, and released
// with its last handle, apart from the shared one.
func TestRegistryOwnersKeepTheirExporters(t *testing.T) {
	r := NewRegistry()
	defer func() { _ = r.Close(context.Background()) }()
	const host = "dbc-1.cloud.databricks.com"
	shared1, err := r.Acquire(host)
	require.NoError(t, err)
	shared2, err := r.Acquire(host, WithOwner(""))
	require.NoError(t, err)
	mine, err := r.Acquire(host, WithOwner("a"))
	require.NoError(t, err)
	mineAgain, err := r.Acquire(host, WithOwner("a"))
	require.NoError(t, err)
	theirs, err := r.Acquire(host, WithOwner("b"))
	require.NoError(t, err)

	assert.Same(t, shared1.Exporter(), shared2.Exporter())
	assert.Same(t, mine.Exporter(), mineAgain.Exporter())
	assert.NotSame(t, shared1.Exporter(), mine.Exporter())
	assert.NotSame(t, mine.Exporter(), theirs.Exporter())
	assert.Equal(t, "https://dbc-1.cloud.databricks.com:443", shared1.Key())
	assert.Equal(t, "https://dbc-1.cloud.databricks.com:443#a", mine.Key())
	assert.Equal(t, 2, r.Refs(mine.Key()))
	assert.Equal(t, 3, r.Len())

	require.NoError(t, mine.Release(context.Background()))
	require.NoError(t, mineAgain.Release(context.Background()))
	assert.Zero(t, r.Refs("https://dbc-1.cloud.databricks.com:443#a"))
	assert.Equal(t, 2, r.Refs(shared1.Key()), "the shared exporter stays")
	assert.Equal(t, 2, r.Len())
}
