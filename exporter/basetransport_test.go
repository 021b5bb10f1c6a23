package exporter

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// WithBaseTransport makes the exporter's own transport a clone of the caller's: its
// proxy and TLS roots are the caller's, the exporter's hardening goes over them (HTTP/1.1
// only, no idle connection, capped response headers, TLS 1.2 at least, even when base
// allows less), the caller's transport is left as it was, and the connections are the
// exporter's own (closed with it).
func TestBaseTransportKeepsTheCallersSettingsHardened(t *testing.T) {
	roots := x509.NewCertPool()
	proxied := 0
	base := &http.Transport{
		Proxy:           func(*http.Request) (*url.URL, error) { proxied++; return nil, nil },
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, ServerName: "gw"},
		MaxConnsPerHost: 1,
	}
	cfg := newConfig([]Option{WithBaseTransport(base)})
	tr, ok := cfg.clientTransport().(*http.Transport)
	require.True(t, ok)
	require.NotSame(t, base, tr, "a clone, with connections of its own")
	_, _ = tr.Proxy(&http.Request{URL: &url.URL{}})
	assert.Equal(t, 1, proxied, "the caller's proxy function")
	assert.Same(t, roots, tr.TLSClientConfig.RootCAs, "the caller's roots")
	assert.Equal(t, "gw", tr.TLSClientConfig.ServerName)
	assert.Equal(t, uint16(tls.VersionTLS12), tr.TLSClientConfig.MinVersion, "TLS 1.2 at least")
	assert.Equal(t, uint16(tls.VersionTLS10), base.TLSClientConfig.MinVersion, "the caller's settings untouched")
	assert.Equal(t, -1, tr.MaxIdleConnsPerHost, "no idle connection")
	assert.Equal(t, int64(maxResponseHeaderBytes), tr.MaxResponseHeaderBytes)
	assert.False(t, tr.ForceAttemptHTTP2)
	require.NotNil(t, tr.Protocols)
	assert.True(t, tr.Protocols.HTTP1())
	assert.False(t, tr.Protocols.HTTP2())
	assert.Equal(t, 1, tr.MaxConnsPerHost, "the caller's limits are the clone's too, for its own connections")

	// WithTLSConfig replaces the base's TLS settings; WithTransport goes past both.
	skip := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // a test of the option
	WithTLSConfig(skip)(&cfg)
	tr = cfg.clientTransport().(*http.Transport)
	assert.True(t, tr.TLSClientConfig.InsecureSkipVerify)
	assert.Nil(t, tr.TLSClientConfig.RootCAs)
	rt := &contextBlindTransport{}
	WithTransport(rt)(&cfg)
	assert.Same(t, rt, cfg.clientTransport(), "WithTransport's own")
}
