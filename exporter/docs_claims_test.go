package exporter

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// Claims of the package's documentation, each pinned by a test.

// The defaults the options document ("Default 10 s", "Defaults 5, 60 s, 2", …), as an
// exporter made without options holds them: the constants' values and their wiring.
func TestDocsDocumentedDefaults(t *testing.T) {
	c := newConfig(nil)
	for _, tc := range []struct {
		option    string
		got, want any
	}{
		{"WithMaxRetries", c.maxRetries, 3},
		{"WithBackoff base", c.backoffBase, 100 * time.Millisecond},
		{"WithBackoff max", c.backoffMax, time.Second},
		{"WithBackoff jitter", c.jitter, 100 * time.Millisecond},
		{"WithRetryAfterCap", c.retryAfterCap, 5 * time.Second},
		{"WithAttemptTimeout", c.attemptTimeout, 10 * time.Second},
		{"WithBreaker failures", c.breakerFailures, uint(5)},
		{"WithBreaker delay", c.breakerDelay, 60 * time.Second},
		{"WithBreaker successes", c.breakerSuccesses, uint(2)},
		{"WithMaxResponseBytes", c.maxResponseBytes, int64(64 << 10)},
		{"WithTransitionLog", c.transitionLog, 32},
		{"WithUserAgent", c.userAgent, "dbtelemetry-go"},
		{"WithFeatureFlag name", c.flagName, "databricks.partnerplatform.clientConfigsFeatureFlags.enableTelemetryForGoDriver"},
		{"WithFeatureFlag client", c.flagClient, "GOLANG"},
		{"WithFeatureFlag driver version", c.driverVersion, telemetry.DriverVersion()},
		{"WithFlagTTL", c.flagTTL, 15 * time.Minute},
		{"WithFlagTimeout", c.flagTimeout, 10 * time.Second},
		{"WithCredentials", c.credentials, Credentials(nil)},
		{"WithLayer", c.layer == nil, true},
		{"MinFlagTTL", MinFlagTTL, time.Minute},
		{"MaxFlagTTL", MaxFlagTTL, time.Hour},
	} {
		t.Run(tc.option, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.got)
		})
	}
}

// Target.String: "implements fmt.Stringer; it is the same as Key", which is
// "scheme://host:port".
func TestDocsTargetStringIsKey(t *testing.T) {
	for _, tc := range []struct {
		raw      string
		loopback bool
		key      string
	}{
		{"ADB-1.AzureDatabricks.NET.", false, "https://adb-1.azuredatabricks.net:443"},
		{"https://example.cloud.databricks.com:8443/", false, "https://example.cloud.databricks.com:8443"},
		{"http://127.0.0.1:40359", true, "http://127.0.0.1:40359"},
		{"http://[::1]:8080", true, "http://[::1]:8080"},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			tg, err := ParseTarget(tc.raw, tc.loopback)
			require.NoError(t, err)
			assert.Equal(t, tc.key, tg.Key())
			assert.Equal(t, tg.Key(), tg.String())
		})
	}
}

// flushCloser is a buffered writer that counts its Flush and Close calls.
type flushCloser struct {
	bytes.Buffer
	flushes, closes int
}

func (w *flushCloser) Flush() error { w.flushes++; return nil }
func (w *flushCloser) Close() error { w.closes++; return nil }

// NewJSONLinesExporter: "The caller keeps ownership of w; Close flushes it when it has a
// Flush() error method ... but does not close it." Close then refuses batches (ErrClosed)
// and, called again, flushes no more.
func TestDocsJSONLinesCloseFlushesButDoesNotCloseTheWriter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batches int
	}{
		{"nothing written", 0},
		{"after batches", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &flushCloser{}
			j := NewJSONLinesExporter(w)
			for range tc.batches {
				require.NoError(t, j.Export(context.Background(), batch(1)))
			}
			require.NoError(t, j.Close(context.Background()))
			require.NoError(t, j.Close(context.Background()))
			assert.Equal(t, 1, w.flushes, "flushed once")
			assert.Zero(t, w.closes, "the writer is the caller's")
			assert.ErrorIs(t, j.Export(context.Background(), batch(1)), ErrClosed)
			assert.Equal(t, tc.batches, bytes.Count(w.Bytes(), []byte("\n")), "one line per log, none after Close")
		})
	}
}
