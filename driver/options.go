package driver

import (
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/rs/zerolog"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// Option configures a Connector made by NewConnector or OpenConnector; a nil Option is
// ignored. OpenConnector
// applies the options after the DSN's parameters: an option overrides the DSN on what
// both set. The telemetry settings are held to the bounds of the DSN parameters that
// share them (see telemetry.Config.Validate): out of them, the connector is not made.
type Option func(*config)

type config struct {
	connOpts  []dbsql.ConnOption
	enabled   *bool // nil: the server's feature flag decides
	logger    zerolog.Logger
	exporter  telemetry.Exporter // nil: the Databricks HTTP exporter of the host
	hosts     *Hosts
	tel       telemetry.Config
	lookupEnv telemetry.LookupEnvFunc
	// skipVerify is WithSkipTLSHostVerify: a fallback should the driver's TLS settings be
	// unreadable (see transportProbe).
	skipVerify bool
}

func defaultConfig() config {
	return config{logger: zerolog.Nop(), tel: telemetry.DefaultConfig()}
}

// apply applies opts in order; a nil Option is none.
func (c *config) apply(opts []Option) {
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
}

// WithConnOptions passes options to the Databricks driver's own connector
// (dbsql.NewConnector). The wrapper's transport goes through the caller's
// dbsql.WithTransport, which thus still carries the driver's Thrift calls and its
// CloudFetch downloads, as unwrapped (the driver's own telemetry, which the wrapper keeps
// off and answers itself, never reaches it), and skips verification of the host's
// certificate after dbsql.WithSkipTLSHostVerify, as the driver would. The connector's
// telemetry then goes out the same way, on an exporter of its own for its host (not
// the one the host's other connectors share, so that no connector's token goes through
// another's transport or TLS settings). A nil ConnOption is ignored, as a nil Option is.
func WithConnOptions(opts ...dbsql.ConnOption) Option {
	return func(c *config) {
		for _, o := range opts {
			if o != nil {
				c.connOpts = append(c.connOpts, o)
			}
		}
	}
}

// WithTelemetry switches telemetry on or off for the connector, whatever the server's
// feature flag says. Default: the flag decides. The environment variable
// DATABRICKS_TELEMETRY_DISABLED=1 switches it off in every case.
func WithTelemetry(enabled bool) Option { return func(c *config) { c.enabled = &enabled } }

// WithLogger sets the logger for telemetry's own debug lines. Default zerolog.Nop():
// telemetry writes nothing unless asked, and never above debug level.
//
// What a host's connectors share writes to the logger of the connector that made it
// (see Hosts): the host's exporter (batches delivered, retries, the circuit breaker, the
// feature flag) to its first connector's, for as long as the host has one; an aggregator
// to that of the first connector of its settings. A connector's own lines (why its
// telemetry is off, a panic recovered while emitting) go to its own logger. To hear a host's export,
// give the logger to its first connector, or to every connector of the host.
func WithLogger(l zerolog.Logger) Option { return func(c *config) { c.logger = l } }

// WithExporter sends this connector's telemetry to exp (for example
// exporter.NewJSONLinesExporter(os.Stderr)) instead of the Databricks service. The
// connector owns the aggregator built on it; exp is not closed by the connector. The
// server's feature flag is not asked (it decides for the Databricks service): telemetry is
// on unless the DSN or WithTelemetry turns it off, or the kill switch is set. exp must not
// keep the logs it is given once Export returns (telemetry.Exporter; FrontendLog.Clone).
func WithExporter(exp telemetry.Exporter) Option { return func(c *config) { c.exporter = exp } }

// WithHosts uses h, made by NewHosts, for the shared per-host exporters instead of the
// registered driver's (a nil h keeps the registered driver's). Tests use it to keep their
// hosts apart.
func WithHosts(h *Hosts) Option { return func(c *config) { c.hosts = h } }

// WithBatchSize sets how many logs make an export batch: 1 to 10000, or 0 for the
// default (100).
func WithBatchSize(n int) Option { return func(c *config) { c.tel.BatchSize = n } }

// WithFlushInterval sets how often pending logs are exported: 10 ms to 1 h, or 0 for the
// default (5 s).
func WithFlushInterval(d time.Duration) Option { return func(c *config) { c.tel.FlushInterval = d } }

// WithTelemetryConfig replaces every telemetry setting at once (see telemetry.Config),
// the DSN's telemetry parameters included: start from telemetry.DefaultConfig and set
// what differs. Zero fields take their defaults, but for RetryCount, where 0 means no
// retries (see telemetry.Config.Normalize).
func WithTelemetryConfig(tc telemetry.Config) Option { return func(c *config) { c.tel = tc } }

// WithLookupEnv replaces os.LookupEnv for the kill switch (tests).
func WithLookupEnv(f telemetry.LookupEnvFunc) Option { return func(c *config) { c.lookupEnv = f } }

// WithSkipTLSHostVerify skips TLS certificate verification: it is the driver's own
// dbsql.WithSkipTLSHostVerify passed with WithConnOptions. The host's telemetry skips it
// too (see WithConnOptions).
func WithSkipTLSHostVerify() Option {
	return func(c *config) {
		c.skipVerify = true
		c.connOpts = append(c.connOpts, dbsql.WithSkipTLSHostVerify())
	}
}
