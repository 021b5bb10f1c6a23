package exporter

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// callerRT is a caller's transport: it counts what goes through it and the calls of its
// CloseIdleConnections, and sends with next.
type callerRT struct {
	next      http.RoundTripper
	requests  atomic.Int64
	idleClose atomic.Int64
}

func (c *callerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	return c.next.RoundTrip(r)
}

func (c *callerRT) CloseIdleConnections() { c.idleClose.Add(1) }

// An exporter whose own client reaches a server with a certificate of its own (a
// self-signed one here) only with the caller's TLS settings or transport: WithTLSConfig
// and WithTransport reach the client it makes, as an exporter and as a registry's
// host. A caller's transport is left open when the exporter closes.
func TestTransportOptionsReachTheOwnClient(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewTLSServer(rc)
	t.Cleanup(srv.Close)
	skip := &tls.Config{InsecureSkipVerify: true} // #nosec G402 -- a test server's self-signed certificate
	mkCaller := func() *callerRT {
		return &callerRT{next: &http.Transport{TLSClientConfig: skip}}
	}
	cases := []struct {
		name   string
		opts   func(*callerRT) []Option
		caller bool // the export goes through the caller's transport
		ok     bool
	}{
		{"own transport, verifying", func(*callerRT) []Option { return nil }, false, false},
		{"WithTLSConfig skipping verification", func(*callerRT) []Option { return []Option{WithTLSConfig(skip)} }, false, true},
		{"WithTransport", func(c *callerRT) []Option { return []Option{WithTransport(c)} }, true, true},
		{"WithHTTPClient wins over WithTransport", func(c *callerRT) []Option {
			return []Option{WithTransport(c), WithHTTPClient(&http.Client{Transport: &http.Transport{TLSClientConfig: skip}})}
		}, false, true},
	}
	for _, tc := range cases {
		for _, viaRegistry := range []bool{false, true} {
			name := tc.name
			if viaRegistry {
				name += ", registry host"
			}
			t.Run(name, func(t *testing.T) {
				caller := mkCaller()
				opts := fastOpts(append(tc.opts(caller), WithMaxRetries(0))...)
				var exp *HTTPExporter
				if viaRegistry {
					r := NewRegistry(fastOpts(WithMaxRetries(0))...)
					h, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithHostOptions(opts...))
					require.NoError(t, err)
					exp = h.Exporter()
					defer func() { require.NoError(t, r.Close(context.Background())) }()
				} else {
					tgt, err := ParseTarget(srv.URL, true)
					require.NoError(t, err)
					exp = NewHTTPExporter(tgt, opts...)
				}
				before := rc.hits.Load()
				err := exp.Export(context.Background(), batch(1))
				if tc.ok {
					require.NoError(t, err)
					assert.Equal(t, before+1, rc.hits.Load(), "the batch reached the server")
				} else {
					require.Error(t, err)
					assert.Equal(t, before, rc.hits.Load())
				}
				if tc.caller {
					assert.EqualValues(t, 1, caller.requests.Load(), "through the caller's transport")
				} else {
					assert.Zero(t, caller.requests.Load())
				}
				if !viaRegistry {
					require.NoError(t, exp.Close(context.Background()))
				}
			})
			if tc.caller {
				// The registry's Close (deferred above) has run by now too.
				caller := mkCaller()
				tgt, err := ParseTarget(srv.URL, true)
				require.NoError(t, err)
				exp := NewHTTPExporter(tgt, fastOpts(WithTransport(caller))...)
				require.NoError(t, exp.Export(context.Background(), batch(1)))
				require.NoError(t, exp.Close(context.Background()))
				assert.Zero(t, caller.idleClose.Load(), "the caller's transport is the caller's to close")
			}
		}
	}
}
