package exporter

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// h2Server is an HTTPS telemetry and flag endpoint that speaks HTTP/2 as well as
// HTTP/1.1, as real front ends do: it picks h2 whenever the client offers it in ALPN.
// It records the protocol of every request it answers.
func h2Server(t *testing.T) (*httptest.Server, *x509.CertPool, *atomic.Int64) {
	t.Helper()
	var h1 atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 1 {
			h1.Add(1)
		}
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, `{"flags":[{"name":"`+DefaultFlagName+`","value":"true"}]}`)
			return
		}
		_, _ = io.WriteString(w, `{"errors":[],"numProtoSuccess":1}`)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the bogus greetings of an HTTP/1.1 client
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, pool, &h1
}

// trust makes the exporter's own transport trust the test server's certificate and
// changes nothing else of its TLS settings (ALPN included), which are production's.
func trust(t *testing.T, e *HTTPExporter, pool *x509.CertPool) {
	t.Helper()
	tr, ok := e.cfg.client.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("the exporter's own transport is a %T", e.cfg.client.Transport)
	}
	tr.TLSClientConfig.RootCAs = pool
}

// callersHTTP2 stands in for an HTTP/2 client of the caller's: it sends nothing.
type callersHTTP2 struct{}

func (callersHTTP2) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("sent through the caller's HTTP/2 client")
}

// The exporter's own transport speaks HTTP/1.1 only, so it must not offer h2 in ALPN:
// a server that supports HTTP/2 (every Databricks front end does) would pick it, and the
// exporter would then speak HTTP/1.1 on an HTTP/2 connection, failing every export and
// every flag fetch ("malformed HTTP response"). Its transport is a clone of
// http.DefaultTransport, whose TLS settings offer h2 once it has been set up, which
// Clone does. The same holds for a caller's transport (WithBaseTransport) that speaks
// HTTP/2, and for one with an HTTP/2 implementation of its own installed
// (TLSNextProto, as golang.org/x/net/http2.ConfigureTransport does), which must not
// carry the telemetry either.
func TestOwnTransportDoesNotOfferHTTP2(t *testing.T) {
	srv, pool, h1 := h2Server(t)
	tgt, err := ParseTarget(srv.URL, true)
	noErr(t, err, "target")

	var callersH2 atomic.Int64
	for _, tc := range []struct {
		name  string
		build func(t *testing.T) *HTTPExporter
	}{
		{"default", func(t *testing.T) *HTTPExporter {
			e := NewHTTPExporter(tgt, WithMaxRetries(0), WithCredentials(BearerToken("dapi-x")))
			trust(t, e, pool)
			return e
		}},
		{"registry", func(t *testing.T) *HTTPExporter {
			r := NewRegistry(WithMaxRetries(0))
			t.Cleanup(func() { _ = r.Close(context.Background()) })
			h, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("dapi-x")))
			noErr(t, err, "acquire")
			trust(t, h.Exporter(), pool)
			return h.Exporter()
		}},
		{"base transport speaking HTTP/2", func(t *testing.T) *HTTPExporter {
			base := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
			t.Cleanup(base.CloseIdleConnections)
			return NewHTTPExporter(tgt, WithMaxRetries(0), WithCredentials(BearerToken("dapi-x")), WithBaseTransport(base))
		}},
		{"base transport with an HTTP/2 implementation of its own", func(t *testing.T) *HTTPExporter {
			base := &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}},
				TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{
					"h2": func(string, *tls.Conn) http.RoundTripper {
						callersH2.Add(1)
						return callersHTTP2{} // stands in for the caller's HTTP/2 client
					},
				},
			}
			return NewHTTPExporter(tgt, WithMaxRetries(0), WithCredentials(BearerToken("dapi-x")), WithBaseTransport(base))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, callersBefore := h1.Load(), callersH2.Load()
			e := tc.build(t)
			defer func() { _ = e.Close(context.Background()) }()
			if err := e.Export(context.Background(), batch(2)); err != nil {
				t.Fatalf("export to an HTTPS server that speaks HTTP/2: %v", err)
			}
			if !e.FeatureFlags().Enabled(context.Background()) {
				t.Fatalf("the flag, on at the server, read as off")
			}
			if got := h1.Load() - before; got != 2 {
				t.Fatalf("the server answered %d HTTP/1.1 requests, want 2 (an export and a flag fetch)", got)
			}
			if n := callersH2.Load() - callersBefore; n != 0 {
				t.Fatalf("the caller's HTTP/2 implementation carried %d telemetry connections", n)
			}
		})
	}
}
