package telemetry

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults (SPEC §2, §4). The Go driver's built-in telemetry uses a batch of 200 and a
// 30 s interval; we follow the Node.js/JDBC connectors.
const (
	DefaultBatchSize             = 100
	DefaultFlushInterval         = 5 * time.Second
	DefaultMaxPendingLogs        = 500
	DefaultMaxOpenStatements     = 5000
	DefaultStatementTTL          = time.Hour
	DefaultCloseTimeout          = 2 * time.Second
	DefaultMaxErrorsPerStatement = 50
	DefaultRetryCount            = 3
	DefaultRetryDelay            = 100 * time.Millisecond
	// DefaultExportTimeout bounds one Export call, retries included. The spec is silent;
	// 3 retries of at most 10 s each plus backoff fit well within it.
	DefaultExportTimeout = 45 * time.Second
)

// DisableEnv is the kill switch: 1, true, yes or on (any case), or any other value but
// an empty one, 0, false, no and off, disables telemetry, whatever the DSN or the server
// says (SPEC §4; see DisabledByEnv).
const DisableEnv = "DATABRICKS_TELEMETRY_DISABLED"

// DSN parameters that configure telemetry (SPEC §6). The driver wrapper removes them
// before the DSN reaches the driver, which would send them as session parameters.
const (
	ParamEnableTelemetry = "enableTelemetry"
	ParamBatchSize       = "telemetry_batch_size"
	ParamFlushInterval   = "telemetry_flush_interval"
	ParamRetryCount      = "telemetry_retry_count"
	ParamRetryDelay      = "telemetry_retry_delay"
)

// Bounds of the telemetry DSN parameters (SPEC §6), which Normalize applies too and
// Validate checks.
const (
	MinBatchSize = 1
	MaxBatchSize = 10000
	// MinFlushInterval keeps the flush timer from spinning: a shorter period exports no
	// sooner in any way that matters, and wakes an idle process hundreds of times a second.
	MinFlushInterval = 10 * time.Millisecond
	MaxFlushInterval = time.Hour
	MaxRetryCount    = 10
	MinRetryDelay    = time.Millisecond
	// MaxRetryDelay is the cap of the backoff (SPEC §4: min(delay × 2^attempt, 1 s)): a
	// first delay above it would be cut to it.
	MaxRetryDelay = time.Second
)

// ErrInvalidConfig is wrapped by the errors of a configuration out of bounds: those of
// Config.Validate and WithDSNParams, and so those of the driver's NewConnector and
// OpenConnector for a telemetry setting out of bounds, given as an option
// (WithBatchSize(20000)) or in the DSN (telemetry_batch_size=20000).
var ErrInvalidConfig = errors.New("telemetry: invalid config")

// Config collects every tunable of the pipeline. The zero value is not useful; start from
// DefaultConfig. A field left at zero or below takes its default in Normalize.
type Config struct {
	// BatchSize is the number of logs that triggers an export.
	BatchSize int
	// FlushInterval is the period of the flush timer.
	FlushInterval time.Duration
	// MaxPendingLogs bounds the logs awaiting export; beyond it the oldest non-error log is dropped.
	MaxPendingLogs int
	// MaxOpenStatements bounds the statements being aggregated; beyond it the oldest is evicted.
	MaxOpenStatements int
	// StatementTTL evicts a statement that never completes (Rows never closed).
	StatementTTL time.Duration
	// CloseTimeout bounds Close when its context has no deadline; the driver's
	// Connector.Close gives its final flush this long.
	CloseTimeout time.Duration
	// MaxErrorsPerStatement bounds the retryable errors held on one statement.
	MaxErrorsPerStatement int
	// RetryCount is the number of export retries after the first attempt (exporter).
	RetryCount int
	// RetryDelay is the delay before the first export retry; each next one doubles it, up
	// to MaxRetryDelay (exporter).
	RetryDelay time.Duration
	// ExportTimeout bounds one Export call.
	ExportTimeout time.Duration
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		BatchSize:             DefaultBatchSize,
		FlushInterval:         DefaultFlushInterval,
		MaxPendingLogs:        DefaultMaxPendingLogs,
		MaxOpenStatements:     DefaultMaxOpenStatements,
		StatementTTL:          DefaultStatementTTL,
		CloseTimeout:          DefaultCloseTimeout,
		MaxErrorsPerStatement: DefaultMaxErrorsPerStatement,
		RetryCount:            DefaultRetryCount,
		RetryDelay:            DefaultRetryDelay,
		ExportTimeout:         DefaultExportTimeout,
	}
}

// Normalize returns c with every zero or negative field replaced by its default, the
// fields a DSN sets brought within their bounds (MaxBatchSize, MinFlushInterval to
// MaxFlushInterval, MaxRetryCount, MinRetryDelay to MaxRetryDelay), and MaxPendingLogs raised to at least
// BatchSize (a batch must fit in the queue). RetryCount is the exception to the first
// rule: 0 is a valid "no retries", only a negative count resets.
func (c Config) Normalize() Config {
	d := DefaultConfig()
	if c.BatchSize <= 0 {
		c.BatchSize = d.BatchSize
	}
	c.BatchSize = min(c.BatchSize, MaxBatchSize)
	if c.FlushInterval <= 0 {
		c.FlushInterval = d.FlushInterval
	}
	c.FlushInterval = min(max(c.FlushInterval, MinFlushInterval), MaxFlushInterval)
	if c.MaxPendingLogs <= 0 {
		c.MaxPendingLogs = d.MaxPendingLogs
	}
	if c.MaxPendingLogs < c.BatchSize {
		c.MaxPendingLogs = c.BatchSize
	}
	if c.MaxOpenStatements <= 0 {
		c.MaxOpenStatements = d.MaxOpenStatements
	}
	if c.StatementTTL <= 0 {
		c.StatementTTL = d.StatementTTL
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = d.CloseTimeout
	}
	if c.MaxErrorsPerStatement <= 0 {
		c.MaxErrorsPerStatement = d.MaxErrorsPerStatement
	}
	if c.RetryCount < 0 {
		c.RetryCount = d.RetryCount
	}
	c.RetryCount = min(c.RetryCount, MaxRetryCount)
	if c.RetryDelay <= 0 {
		c.RetryDelay = d.RetryDelay
	}
	c.RetryDelay = min(max(c.RetryDelay, MinRetryDelay), MaxRetryDelay)
	if c.ExportTimeout <= 0 {
		c.ExportTimeout = d.ExportTimeout
	}
	return c
}

// Validate checks the fields that a DSN parameter also sets against that parameter's
// bounds (see DSNParams), where Normalize would bring them within: it returns an error
// wrapping ErrInvalidConfig that names the first field out of bounds and what it
// accepts. Zero stands for the default in each but RetryCount, where 0 means no retries
// and a negative count the default (see Normalize). The other fields have no bounds to
// check: zero or below takes the default.
func (c Config) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: %s %v: want 0 (the default) or %s", ErrInvalidConfig, field, v, want)
	}
	switch {
	case c.BatchSize < 0 || c.BatchSize > MaxBatchSize:
		return bad("BatchSize", c.BatchSize, fmt.Sprintf("from %d to %d", MinBatchSize, MaxBatchSize))
	case c.FlushInterval < 0 || c.FlushInterval > 0 && c.FlushInterval < MinFlushInterval || c.FlushInterval > MaxFlushInterval:
		return bad("FlushInterval", c.FlushInterval, fmt.Sprintf("from %s to %s", MinFlushInterval, MaxFlushInterval))
	case c.RetryCount > MaxRetryCount:
		return fmt.Errorf("%w: RetryCount %d: want from 0 to %d, or below 0 for the default", ErrInvalidConfig, c.RetryCount, MaxRetryCount)
	case c.RetryDelay < 0 || c.RetryDelay > 0 && c.RetryDelay < MinRetryDelay || c.RetryDelay > MaxRetryDelay:
		return bad("RetryDelay", c.RetryDelay, fmt.Sprintf("from %s to %s", MinRetryDelay, MaxRetryDelay))
	}
	return nil
}

// DSNParam is one of the telemetry DSN parameters (SPEC §6) that configure a Config: its
// name, the values it accepts (as error messages say), and how it sets a Config from a
// value, reporting whether it accepted the value.
type DSNParam struct {
	Name, Want string
	Set        func(c *Config, v string) bool
}

// DSNParams returns the telemetry DSN parameters, in the order WithDSNParams reads them:
// telemetry_batch_size from MinBatchSize to MaxBatchSize; telemetry_flush_interval from
// MinFlushInterval to MaxFlushInterval; telemetry_retry_count from 0 to MaxRetryCount;
// telemetry_retry_delay, the first retry's delay (each next one doubles it, up to
// MaxRetryDelay), from MinRetryDelay to MaxRetryDelay. Durations
// are Go syntax ("5s", "250ms") or a bare number of milliseconds (ParseMillisOrDuration).
// The driver wrapper reads its DSN by these rules too.
func DSNParams() []DSNParam {
	return []DSNParam{
		{ParamBatchSize, fmt.Sprintf("an integer from %d to %d", MinBatchSize, MaxBatchSize), func(c *Config, s string) bool {
			n, err := strconv.Atoi(s)
			c.BatchSize = n
			return err == nil && n >= MinBatchSize && n <= MaxBatchSize
		}},
		{ParamFlushInterval, fmt.Sprintf("a duration such as 5s, or a number of milliseconds, from %s to %s", MinFlushInterval, MaxFlushInterval), func(c *Config, s string) bool {
			d, err := ParseMillisOrDuration(s)
			c.FlushInterval = d
			return err == nil && d >= MinFlushInterval && d <= MaxFlushInterval
		}},
		{ParamRetryCount, fmt.Sprintf("an integer from 0 to %d", MaxRetryCount), func(c *Config, s string) bool {
			n, err := strconv.Atoi(s)
			c.RetryCount = n
			return err == nil && n >= 0 && n <= MaxRetryCount
		}},
		{ParamRetryDelay, fmt.Sprintf("a duration such as 100ms, or a number of milliseconds, from %s to %s", MinRetryDelay, MaxRetryDelay), func(c *Config, s string) bool {
			d, err := ParseMillisOrDuration(s)
			c.RetryDelay = d
			return err == nil && d >= MinRetryDelay && d <= MaxRetryDelay
		}},
	}
}

// WithDSNParams returns c updated from the telemetry DSN parameters in v, by the rules of
// DSNParams. An empty, repeated, unparsable or out-of-range value is an error wrapping
// ErrInvalidConfig; c is returned unchanged with it.
func (c Config) WithDSNParams(v url.Values) (Config, error) {
	out := c
	for _, p := range DSNParams() {
		vs, ok := v[p.Name]
		if !ok {
			continue
		}
		if len(vs) > 1 {
			return c, fmt.Errorf("%w: %s=%q: want %s, given once", ErrInvalidConfig, p.Name, strings.Join(vs, "&"), p.Want)
		}
		if vs[0] == "" || !p.Set(&out, vs[0]) {
			return c, fmt.Errorf("%w: %s=%q: want %s", ErrInvalidConfig, p.Name, vs[0], p.Want)
		}
	}
	return out, nil
}

// ParseMillisOrDuration parses a duration DSN parameter: a bare integer is a number of
// milliseconds (one that overflows a time.Duration is an error), anything else Go's
// duration syntax ("5s", "250ms").
func ParseMillisOrDuration(s string) (time.Duration, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms > math.MaxInt64/int64(time.Millisecond) || ms < math.MinInt64/int64(time.Millisecond) {
			return 0, fmt.Errorf("%d ms overflows a time.Duration", ms)
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("parse %q: %w", s, err)
	}
	return d, nil
}

// LookupEnvFunc reads an environment variable; os.LookupEnv is one. Tests inject their own.
type LookupEnvFunc func(key string) (string, bool)

// DisabledByEnv reports whether the kill switch DisableEnv is set: to anything but an
// empty value or 0, false, no or off (any case, surrounding spaces ignored). A value it
// does not know (DISABLED, y, 2) switches telemetry off: whoever set the switch meant it
// off more likely than on. A nil lookup reads the process environment.
func DisabledByEnv(lookup LookupEnvFunc) bool {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(DisableEnv)
	if !ok {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}
