package telemetry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Claims of the package's documentation, each pinned by a test.

// Config: "A field left at zero or below takes its default in Normalize"; Normalize:
// "every zero or negative field replaced by its default ... RetryCount is the exception
// to the first rule: 0 is a valid "no retries", only a negative count resets." Negative
// values, field by field (zero is TestDefaultConfig's).
func TestDocsNormalizeNegativeFieldsTakeDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(c *Config)
		// keep, when set, is what the field must keep (else it takes its default).
		keep func(c *Config)
	}{
		{"BatchSize", func(c *Config) { c.BatchSize = -1 }, nil},
		{"FlushInterval", func(c *Config) { c.FlushInterval = -time.Second }, nil},
		{"MaxPendingLogs", func(c *Config) { c.MaxPendingLogs = -1 }, nil},
		{"MaxOpenStatements", func(c *Config) { c.MaxOpenStatements = -1 }, nil},
		{"StatementTTL", func(c *Config) { c.StatementTTL = -time.Minute }, nil},
		{"CloseTimeout", func(c *Config) { c.CloseTimeout = -time.Second }, nil},
		{"MaxErrorsPerStatement", func(c *Config) { c.MaxErrorsPerStatement = -1 }, nil},
		{"RetryCount", func(c *Config) { c.RetryCount = -1 }, nil},
		{"RetryCount 0 stays", func(c *Config) { c.RetryCount = 0 }, func(c *Config) { c.RetryCount = 0 }},
		{"RetryDelay", func(c *Config) { c.RetryDelay = -time.Millisecond }, nil},
		{"ExportTimeout", func(c *Config) { c.ExportTimeout = -time.Second }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.set(&c)
			want := DefaultConfig()
			if tc.keep != nil {
				tc.keep(&want)
			}
			assert.Equal(t, want, c.Normalize(), "the field took its default, and nothing else moved")
		})
	}
}

// DefaultExportTimeout: "bounds one Export call, retries included ... 3 retries of at
// most 10 s each plus backoff fit well within it", and DefaultConfig returns "the
// documented defaults": 45 s.
func TestDocsDefaultExportTimeout(t *testing.T) {
	assert.Equal(t, 45*time.Second, DefaultExportTimeout)
	assert.Equal(t, 45*time.Second, DefaultConfig().ExportTimeout)
	assert.Equal(t, 45*time.Second, Config{}.Normalize().ExportTimeout)
	// The arithmetic of the comment: 4 attempts of 10 s and three backoffs of at most
	// 1 s + 100 ms of jitter fit.
	assert.Less(t, 4*10*time.Second+3*(time.Second+100*time.Millisecond), DefaultExportTimeout)
}

// Emit: "hands a copy of *ev to the sink; ev itself is not modified or retained, so the
// caller may keep it on its stack and reuse it. If ev.Err is set, it is classified and
// redacted first". The sink gets the prepared copy; the caller's event keeps its Err and
// its text, whatever the kind.
func TestDocsEmitLeavesTheEventUnmodified(t *testing.T) {
	secret := errors.New("request failed: Bearer dapi0123456789abcdef0123456789abcdef")
	for _, tc := range []struct {
		name string
		ev   Event
		sent bool
	}{
		{"an error event", Event{Kind: KindError, SessionID: "s", StatementID: "q", Err: secret}, true},
		{"a failed connection.open", Event{Kind: KindConnectionOpen, SessionID: "s", Err: secret}, true},
		{"an error event named by hand", Event{Kind: KindError, SessionID: "s", Message: "token dapi0123456789abcdef0123456789abcdef"}, true},
		{"an outcome: not emitted", Event{Kind: KindError, SessionID: "s", Err: context.Canceled}, false},
		{"no error", Event{Kind: KindStatementComplete, SessionID: "s", StatementID: "q", Latency: time.Second}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []Event
			e := NewEmitter(SinkFunc(func(ev Event) { got = append(got, ev) }),
				WithLookupEnv(func(string) (string, bool) { return "", false }))
			ev := tc.ev
			before := ev
			e.Emit(&ev)
			assert.Equal(t, before, ev, "the caller's event is as it was")
			if !tc.sent {
				assert.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			assert.NoError(t, got[0].Err, "the sink never holds an error value")
			assert.NotContains(t, got[0].Message, "dapi0123456789abcdef", "nor unredacted text")
			e.Emit(&ev) // reused as it is
			require.Len(t, got, 2)
			assert.Equal(t, got[0], got[1], "the same event again")
		})
	}
}
