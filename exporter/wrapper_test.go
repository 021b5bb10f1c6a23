package exporter

import (
	"context"
	"crypto/tls"
	"net/http"
	"sync/atomic"
	"testing"
)

// countingRT counts the requests it passes on to next.
type countingRT struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (c countingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(req)
}

// WithTransportWrapper sees every request of the exporter's own client, an export and a
// flag fetch, on the path they take without it: the exporter's own transport, which
// speaks HTTP/1.1 to a server that would pick HTTP/2. So it does when given as a host
// option of a registry, and when the transport it wraps is the caller's (WithTransport).
func TestTransportWrapperSeesTheOwnPath(t *testing.T) {
	srv, pool, h1 := h2Server(t)
	tgt, err := ParseTarget(srv.URL, true)
	noErr(t, err, "target")
	trusting := func(t *testing.T) *http.Transport {
		base := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
		t.Cleanup(base.CloseIdleConnections)
		return base
	}
	for _, tc := range []struct {
		name  string
		build func(t *testing.T, wrap Option) *HTTPExporter
		h1    int64 // requests the server answered in HTTP/1.1
	}{
		{"the exporter's own transport", func(t *testing.T, wrap Option) *HTTPExporter {
			return NewHTTPExporter(tgt, WithMaxRetries(0), WithCredentials(BearerToken("dapi-x")), WithBaseTransport(trusting(t)), wrap)
		}, 2},
		{"a registry's host option", func(t *testing.T, wrap Option) *HTTPExporter {
			r := NewRegistry(WithMaxRetries(0), WithBaseTransport(trusting(t)))
			t.Cleanup(func() { _ = r.Close(context.Background()) })
			h, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("dapi-x")), WithHostOptions(wrap))
			noErr(t, err, "acquire")
			return h.Exporter()
		}, 2},
		{"the caller's transport", func(t *testing.T, wrap Option) *HTTPExporter {
			h2 := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
			t.Cleanup(h2.CloseIdleConnections)
			return NewHTTPExporter(tgt, WithMaxRetries(0), WithCredentials(BearerToken("dapi-x")), WithTransport(h2), wrap)
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen atomic.Int64
			before := h1.Load()
			e := tc.build(t, WithTransportWrapper(func(rt http.RoundTripper) http.RoundTripper { return countingRT{next: rt, n: &seen} }))
			defer func() { _ = e.Close(context.Background()) }()
			noErr(t, e.Export(context.Background(), batch(2)), "export")
			if !e.FeatureFlags().Enabled(context.Background()) {
				t.Fatalf("the flag, on at the server, read as off")
			}
			equal(t, seen.Load(), int64(2), "requests the wrapper saw")
			equal(t, h1.Load()-before, tc.h1, "requests answered in HTTP/1.1")
		})
	}
}

// A wrapper that returns nil leaves the transport as it is.
func TestTransportWrapperNil(t *testing.T) {
	srv, pool, _ := h2Server(t)
	tgt, err := ParseTarget(srv.URL, true)
	noErr(t, err, "target")
	e := NewHTTPExporter(tgt, WithMaxRetries(0), WithCredentials(BearerToken("dapi-x")),
		WithTransportWrapper(func(http.RoundTripper) http.RoundTripper { return nil }))
	defer func() { _ = e.Close(context.Background()) }()
	trust(t, e, pool)
	noErr(t, e.Export(context.Background(), batch(1)), "export")
}
