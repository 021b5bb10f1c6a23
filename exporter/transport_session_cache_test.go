package exporter

import (
	"crypto/tls"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The exporter's own transport resumes its TLS sessions (a connection per request) with
// or without WithTLSConfig, and the caller's TLS settings are cloned, not changed: the
// session cache is added to the copy.
func TestOwnTransportResumesSessionsWithCallersTLSConfig(t *testing.T) {
	skip := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true} // #nosec G402 -- a test
	for _, tc := range []struct {
		name string
		opts []Option
	}{{"default", nil}, {"WithTLSConfig", []Option{WithTLSConfig(skip)}}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := newConfig(tc.opts)
			tr, ok := cfg.client.Transport.(*http.Transport)
			require.True(t, ok)
			require.NotNil(t, tr.TLSClientConfig)
			assert.NotNil(t, tr.TLSClientConfig.ClientSessionCache, "TLS sessions resumed")
			assert.GreaterOrEqual(t, tr.TLSClientConfig.MinVersion, uint16(tls.VersionTLS12))
		})
	}
	assert.Nil(t, skip.ClientSessionCache, "the caller's settings are left as they were")
	assert.True(t, skip.InsecureSkipVerify)
}
