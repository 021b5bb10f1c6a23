package telemetry

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClassifyMessagePatterns pins the verdict of every message pattern (SPEC §1: message
// matching is the last resort, but its terminal/retryable verdict still decides whether
// the aggregator flushes at once). Each message is a plain error that no earlier kind of
// evidence explains (no SQLSTATE, no "http"/"status", no network type) and that holds
// only the pattern it tests (or later ones, which it must win over).
func TestClassifyMessagePatterns(t *testing.T) {
	tests := []struct {
		msg      string
		name     string
		terminal bool
	}{
		{"read from warehouse timed out", ErrNameTimeout, false},
		{"read tcp: i/o timeout", ErrNameTimeout, false},
		{"operation deadline exceeded", ErrNameTimeout, false},
		{"dial tcp: connection refused", ErrNameConnection, false},
		{"read: connection reset by peer", ErrNameConnection, false},
		{"write: broken pipe", ErrNameConnection, false},
		{"dial: no route to host", ErrNameConnection, false},
		{"reading frame: unexpected EOF", ErrNameConnection, false},
		{"server gave HTTP response to HTTPS client", ErrNameTLS, true},
		{"Too Many Requests", ErrNameRateLimit, false},
		{"rate limit reached for workspace", ErrNameRateLimit, false},
		{"Service Unavailable", ErrNameServer, false},
		{"resource temporarily unavailable", ErrNameServer, false},
		{"Bad Gateway", ErrNameServer, false},
		{"warehouse is starting, try again later", ErrNameServer, false},
		{"Unauthorized", ErrNameAuth, true},
		{"request unauthenticated", ErrNameAuth, true},
		{"authentication failed for user", ErrNameAuth, true},
		{"invalid access token", ErrNameAuth, true},
		{"Forbidden", ErrNamePermission, true},
		{"permission denied for catalog", ErrNamePermission, true},
		{"access denied to warehouse", ErrNamePermission, true},
		{"insufficient privileges on schema", ErrNamePermission, true},
		{"table not found", ErrNameNotFound, true},
		{"schema does not exist", ErrNameNotFound, true},
		{"syntax error at or near SELEC", ErrNameSyntax, true},
		{"[PARSE_SYNTAX_ERROR] at end of input", ErrNameSyntax, true},
		{"Bad Request", ErrNameInvalidRequest, true},
		{"invalid argument", ErrNameInvalidRequest, true},
		{"operation not supported", ErrNameUnsupported, true},
		{"method not implemented", ErrNameUnsupported, true},
		{"something odd happened", ErrNameGeneric, false},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			c := Classify(errors.New(tt.msg))
			assert.Equal(t, tt.name, c.Name)
			assert.Equal(t, tt.terminal, c.Terminal, "terminal")
			assert.Equal(t, !tt.terminal, c.Retryable(), "retryable")
			if tt.name != ErrNameGeneric {
				assert.Equal(t, "message", c.Basis)
			}
		})
	}
}

// TestClassifyTLSRecordHeaderError: a server that does not speak TLS fails the handshake
// with a tls.RecordHeaderError; the same handshake fails again (terminal), whose message
// alone would match no pattern and read as a retryable unknown error.
func TestClassifyTLSRecordHeaderError(t *testing.T) {
	rec := tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}
	for _, err := range []error{rec, fmt.Errorf("dial warehouse: %w", rec)} {
		c := Classify(err)
		assert.Equal(t, ErrNameTLS, c.Name, "%v", err)
		assert.True(t, c.Terminal, "%v", err)
		assert.Equal(t, "network", c.Basis, "%v", err)
	}
}

// TestWithDSNParamsLowerBounds: each DSN parameter accepts its lower bound itself, as
// DSNParams documents ("from MinBatchSize to MaxBatchSize", ...); rejecting it makes the
// driver's NewConnector fail for a valid DSN.
func TestWithDSNParamsLowerBounds(t *testing.T) {
	tests := []struct {
		query string
		check func(t *testing.T, c Config)
	}{
		{"telemetry_batch_size=1", func(t *testing.T, c Config) { assert.Equal(t, MinBatchSize, c.BatchSize) }},
		{"telemetry_flush_interval=10ms", func(t *testing.T, c Config) { assert.Equal(t, MinFlushInterval, c.FlushInterval) }},
		{"telemetry_flush_interval=10", func(t *testing.T, c Config) { assert.Equal(t, 10*time.Millisecond, c.FlushInterval) }},
		{"telemetry_retry_count=0", func(t *testing.T, c Config) { assert.Equal(t, 0, c.RetryCount) }},
		{"telemetry_retry_delay=1ms", func(t *testing.T, c Config) { assert.Equal(t, MinRetryDelay, c.RetryDelay) }},
		{"telemetry_retry_delay=1", func(t *testing.T, c Config) { assert.Equal(t, time.Millisecond, c.RetryDelay) }},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			require.NoError(t, err)
			c, err := DefaultConfig().WithDSNParams(v)
			require.NoError(t, err)
			tt.check(t, c)
			require.NoError(t, c.Validate())
		})
	}
}

// TestRedactBareBasicCredential: SPEC §4a redacts "Basic …" values, not only those after
// an Authorization header (which a rule of its own also catches): a message may quote
// the header's value alone.
func TestRedactBareBasicCredential(t *testing.T) {
	tests := []struct{ in, want, secret string }{
		{"proxy rejected credentials Basic dXNlcjpwYXNzd29yZA== for user", "proxy rejected credentials Basic [REDACTED] for user", "dXNlcjpwYXNzd29yZA"},
		{"header was Basic Zm9vOmJhcg", "header was Basic [REDACTED]", "Zm9vOmJhcg"},
		{"basic authentication is off", "basic authentication is off", ""},
	}
	for _, tt := range tests {
		got := Redact(tt.in)
		assert.Equal(t, tt.want, got)
		if tt.secret != "" {
			assert.NotContains(t, got, tt.secret)
		}
	}
}
