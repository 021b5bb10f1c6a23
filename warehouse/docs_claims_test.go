package warehouse

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Claims of the package's documentation, each pinned by a test.

// The defaults the options document (and README's "The local warehouse" section), as a
// server made without options holds them. Those that only a long wait would show (a
// failed operation kept for a minute, a link valid for 15 minutes) are pinned here.
func TestDocsDocumentedDefaults(t *testing.T) {
	c := defaultConfig()
	for _, tc := range []struct {
		option    string
		got, want any
	}{
		{"WithAddr", c.addr, "127.0.0.1:0"},
		{"WithTelemetryFlag", c.telemetryFlag, true},
		{"WithFeatureFlagTTL", c.flagTTL, 15 * time.Minute},
		{"WithAsyncThreshold", c.asyncThreshold, 200 * time.Millisecond},
		{"WithCloudFetchThreshold", c.cloudFetchRows, int64(100_000)},
		{"WithChunkRows", c.chunkRows, int64(250_000)},
		{"WithBatchRows", c.batchRows, int64(50_000)},
		{"WithBatchBytes", c.batchBytes, 16 << 20},
		{"WithLinkTTL", c.linkTTL, 15 * time.Minute},
		{"WithFailedOperationTTL", c.failedOpTTL, time.Minute},
		{"WithMaxBodyBytes", c.maxBodyBytes, int64(16 << 20)},
		{"WithServedFileRetention", c.servedRetention, int64(256 << 20)},
		{"WithStatementRecords (0: every one)", c.statementRecords, 0},
		{"WithSessionIdleTimeout (0: never)", c.sessionIdle, time.Duration(0)},
		{"WithTelemetryHandler (the default 200)", c.telemetryHandler == nil, true},
	} {
		t.Run(tc.option, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.got)
		})
	}
}
