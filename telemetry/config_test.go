package telemetry

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	assert.Equal(t, 100, c.BatchSize)
	assert.Equal(t, 5*time.Second, c.FlushInterval)
	assert.Equal(t, 500, c.MaxPendingLogs)
	assert.Equal(t, 5000, c.MaxOpenStatements)
	assert.Equal(t, time.Hour, c.StatementTTL)
	assert.Equal(t, 2*time.Second, c.CloseTimeout)
	assert.Equal(t, 50, c.MaxErrorsPerStatement)
	assert.Equal(t, 3, c.RetryCount)
	assert.Equal(t, 100*time.Millisecond, c.RetryDelay)
	zero := Config{}.Normalize()
	zero.RetryCount = c.RetryCount // 0 retries is a valid choice, kept by Normalize
	assert.Equal(t, c, zero, "zero fields take their defaults")
}

func TestNormalize(t *testing.T) {
	c := Config{BatchSize: 50, MaxPendingLogs: 10, RetryCount: 0, FlushInterval: -1}.Normalize()
	assert.Equal(t, 50, c.BatchSize)
	assert.Equal(t, 50, c.MaxPendingLogs, "a batch must fit in the queue")
	assert.Equal(t, 0, c.RetryCount, "zero retries is valid")
	assert.Equal(t, DefaultFlushInterval, c.FlushInterval)
	assert.Equal(t, DefaultRetryCount, Config{RetryCount: -1}.Normalize().RetryCount)

	// Values beyond the DSN's bounds are brought within them.
	c = Config{BatchSize: 1 << 30, FlushInterval: 24 * time.Hour, RetryCount: 1000, RetryDelay: 1 << 62}.Normalize()
	assert.Equal(t, MaxBatchSize, c.BatchSize)
	assert.Equal(t, MaxBatchSize, c.MaxPendingLogs)
	assert.Equal(t, MaxFlushInterval, c.FlushInterval)
	assert.Equal(t, MaxRetryCount, c.RetryCount)
	assert.Equal(t, MaxRetryDelay, c.RetryDelay)
	assert.Equal(t, MinRetryDelay, Config{RetryDelay: time.Nanosecond}.Normalize().RetryDelay)
	assert.Equal(t, MinFlushInterval, Config{FlushInterval: time.Nanosecond}.Normalize().FlushInterval)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		c     Config
		field string // named by the error; "" for a valid config
	}{
		{"defaults", DefaultConfig(), ""},
		{"zero: every default", Config{}, ""},
		{"the lower bounds", Config{BatchSize: MinBatchSize, FlushInterval: MinFlushInterval, RetryCount: 0, RetryDelay: MinRetryDelay}, ""},
		{"the upper bounds", Config{BatchSize: MaxBatchSize, FlushInterval: MaxFlushInterval, RetryCount: MaxRetryCount, RetryDelay: MaxRetryDelay}, ""},
		{"a negative retry count is the default", Config{RetryCount: -1}, ""},
		{"negative batch", Config{BatchSize: -1}, "BatchSize -1"},
		{"batch too big", Config{BatchSize: MaxBatchSize + 1}, "BatchSize 10001"},
		{"negative interval", Config{FlushInterval: -time.Second}, "FlushInterval -1s"},
		{"interval too short", Config{FlushInterval: time.Microsecond}, "FlushInterval 1µs"},
		{"interval too long", Config{FlushInterval: 2 * time.Hour}, "FlushInterval 2h0m0s"},
		{"too many retries", Config{RetryCount: MaxRetryCount + 1}, "RetryCount 11"},
		{"delay too short", Config{RetryDelay: time.Microsecond}, "RetryDelay 1µs"},
		{"delay too long", Config{RetryDelay: time.Minute}, "RetryDelay 1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.field == "" {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.field+": want ")
		})
	}
}

func TestWithDSNParams(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		check   func(t *testing.T, c Config)
		wantErr bool
	}{
		{"none", "", func(t *testing.T, c Config) { assert.Equal(t, DefaultConfig(), c) }, false},
		{"all", "telemetry_batch_size=20&telemetry_flush_interval=2s&telemetry_retry_count=0&telemetry_retry_delay=250ms", func(t *testing.T, c Config) {
			assert.Equal(t, 20, c.BatchSize)
			assert.Equal(t, 2*time.Second, c.FlushInterval)
			assert.Equal(t, 0, c.RetryCount)
			assert.Equal(t, 250*time.Millisecond, c.RetryDelay)
		}, false},
		{"bare integers are milliseconds, as in the driver's DSN", "telemetry_flush_interval=7000&telemetry_retry_delay=30", func(t *testing.T, c Config) {
			assert.Equal(t, 7*time.Second, c.FlushInterval)
			assert.Equal(t, 30*time.Millisecond, c.RetryDelay)
		}, false},
		{"the bounds", "telemetry_batch_size=10000&telemetry_flush_interval=1h&telemetry_retry_count=10&telemetry_retry_delay=1s", func(t *testing.T, c Config) {
			assert.Equal(t, MaxBatchSize, c.BatchSize)
			assert.Equal(t, MaxFlushInterval, c.FlushInterval)
			assert.Equal(t, MaxRetryCount, c.RetryCount)
			assert.Equal(t, MaxRetryDelay, c.RetryDelay)
		}, false},
		{"bad batch", "telemetry_batch_size=0", nil, true},
		{"batch not a number", "telemetry_batch_size=lots", nil, true},
		{"bad interval", "telemetry_flush_interval=soon", nil, true},
		{"negative retries", "telemetry_retry_count=-1", nil, true},
		{"bad delay", "telemetry_retry_delay=-5ms", nil, true},
		{"batch too big", "telemetry_batch_size=10001", nil, true},
		{"interval too long", "telemetry_flush_interval=61m", nil, true},
		{"too many retries", "telemetry_retry_count=11", nil, true},
		{"delay too short", "telemetry_retry_delay=1ns", nil, true},
		{"delay too long", "telemetry_retry_delay=24h", nil, true},
		{"delay above the backoff's cap", "telemetry_retry_delay=1001ms", nil, true},
		{"interval too short", "telemetry_flush_interval=9ms", nil, true},
		{"interval of nanoseconds", "telemetry_flush_interval=1ns", nil, true},
		{"milliseconds that overflow", "telemetry_flush_interval=18446744074", nil, true},
		{"milliseconds that overflow a delay", "telemetry_retry_delay=9223372036854776", nil, true},
		{"empty value", "telemetry_batch_size=", nil, true},
		{"repeated key", "telemetry_batch_size=5&telemetry_batch_size=oops", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			require.NoError(t, err)
			c, err := DefaultConfig().WithDSNParams(v)
			if tt.wantErr {
				require.Error(t, err)
				assert.True(t, errors.Is(err, ErrInvalidConfig))
				assert.Equal(t, DefaultConfig(), c, "unchanged on error")
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

// The kill switch of SPEC §4: DATABRICKS_TELEMETRY_DISABLED set to 1/true/yes/on (any
// case, spaces around) disables telemetry; so does a value it does not know, which was
// set to switch telemetry off more likely than on. Empty, 0, false, no and off leave it
// on. The name is spelled out, not taken from DisableEnv, so that a change to the
// constant fails here.
func TestDisabledByEnv(t *testing.T) {
	for value, want := range map[string]bool{
		"1": true, "true": true, "TRUE": true, "yes": true, "On": true, " on ": true,
		"disabled": true, "y": true, "2": true, "enabled?": true,
		"0": false, "false": false, "FALSE": false, "no": false, "off": false, " Off ": false, "": false, "  ": false,
	} {
		lookup := func(k string) (string, bool) {
			if k == "DATABRICKS_TELEMETRY_DISABLED" {
				return value, true
			}
			return "", false
		}
		assert.Equal(t, want, DisabledByEnv(lookup), "%q", value)
	}
	assert.False(t, DisabledByEnv(func(string) (string, bool) { return "", false }), "unset")
}

// A bare number of milliseconds that overflows a time.Duration is an error, not a
// duration that wrapped around: 288230376151716744 ms is 5 s modulo 2^64 ns, which
// telemetry_flush_interval's bounds would accept.
func TestParseMillisOrDurationOverflow(t *testing.T) {
	for _, s := range []string{"288230376151716744", "9223372036855", "-9223372036855"} {
		_, err := ParseMillisOrDuration(s)
		assert.Error(t, err, s)
	}
	d, err := ParseMillisOrDuration("9223372036854")
	require.NoError(t, err, "the largest that fits")
	assert.Equal(t, 9223372036854*time.Millisecond, d)
	_, err = DefaultConfig().WithDSNParams(url.Values{ParamFlushInterval: {"288230376151716744"}})
	assert.ErrorIs(t, err, ErrInvalidConfig)
}

// Without a lookup, DisabledByEnv reads the process environment: the kill switch stops
// an Emitter built without WithLookupEnv.
func TestDisabledByEnvReadsTheProcessEnvironment(t *testing.T) {
	t.Setenv(DisableEnv, "true")
	assert.True(t, DisabledByEnv(nil))
	assert.False(t, NewEmitter(SinkFunc(func(Event) {})).Enabled(), "emitter")
	t.Setenv(DisableEnv, "0")
	assert.False(t, DisabledByEnv(nil))
	assert.True(t, NewEmitter(SinkFunc(func(Event) {})).Enabled(), "emitter")
}
