package aggregator

import (
	"time"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/rs/zerolog"
)

// Option configures New.
type Option func(*options)

type options struct {
	cfg           telemetry.Config
	log           zerolog.Logger
	now           func() time.Time
	sysConfig     *telemetry.SystemConfiguration
	clientVersion string
	userAgent     string
	authType      string
	workspaceID   int64
	authenticated bool
}

func defaultOptions() options {
	return options{
		cfg:           telemetry.DefaultConfig(),
		log:           zerolog.Nop(),
		now:           time.Now,
		clientVersion: telemetry.ClientVersion,
		authenticated: true,
	}
}

// WithConfig sets every tunable at once from a telemetry.Config (for example one built
// with Config.WithDSNParams). Fields at zero take their defaults. Later options win.
func WithConfig(c telemetry.Config) Option {
	return func(o *options) { o.cfg = c }
}

// WithBatchSize sets the number of logs that triggers an export, and the most a batch
// holds. Default 100; at most telemetry.MaxBatchSize (10000: a larger size is cut to
// it), and zero or less is the default. (The driver's WithBatchSize refuses an
// out-of-range size instead.) A statement's log and the logs of its held errors leave in
// one batch: a batch ends short of the size rather than part them, and holds more only
// when they alone are more (at most 1 + MaxErrorsPerStatement).
func WithBatchSize(n int) Option {
	return func(o *options) { o.cfg.BatchSize = n }
}

// WithFlushInterval sets the period of the flush timer: default 5 s (zero or less is the
// default), at least telemetry.MinFlushInterval (10 ms; a shorter period is raised to it)
// and at most telemetry.MaxFlushInterval (1 h; a longer one is cut to it). Flushes
// triggered by a full batch or a terminal error do not reset the timer.
func WithFlushInterval(d time.Duration) Option {
	return func(o *options) { o.cfg.FlushInterval = d }
}

// WithMaxPendingLogs bounds the logs awaiting export; beyond it the oldest log without an
// error is dropped, the new one included: a log without an error never takes the place of
// an error log, and a new error log takes that of the oldest error log only when every
// waiting log has an error. Default 500; never less than the batch size.
func WithMaxPendingLogs(n int) Option {
	return func(o *options) { o.cfg.MaxPendingLogs = n }
}

// WithMaxOpenStatements bounds the statements being aggregated; beyond it the oldest is
// evicted (it still produces its log, with its held errors). Default 5000 (zero or less is
// the default).
func WithMaxOpenStatements(n int) Option {
	return func(o *options) { o.cfg.MaxOpenStatements = n }
}

// WithStatementTTL sets how long a statement may stay open (its Rows never closed)
// before it is evicted and logged. Default 1 h. Checked on every timer tick and Flush.
func WithStatementTTL(d time.Duration) Option {
	return func(o *options) { o.cfg.StatementTTL = d }
}

// WithMaxErrorsPerStatement bounds the retryable errors held on one statement. Default 50.
func WithMaxErrorsPerStatement(n int) Option {
	return func(o *options) { o.cfg.MaxErrorsPerStatement = n }
}

// WithCloseTimeout bounds Close when its context has no deadline. Default 2 s.
func WithCloseTimeout(d time.Duration) Option {
	return func(o *options) { o.cfg.CloseTimeout = d }
}

// WithExportTimeout bounds one Export call. Default 45 s (three retries of at most 10 s
// each, with backoff, fit in it).
func WithExportTimeout(d time.Duration) Option {
	return func(o *options) { o.cfg.ExportTimeout = d }
}

// WithLogger sets the logger; the aggregator writes only debug-level records.
// Default zerolog.Nop().
func WithLogger(l zerolog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithClock replaces time.Now for statement ages, latencies of evicted statements and
// log timestamps (tests advance a fake clock, then call Flush). A statement event that
// carries its Time is taken at that time instead: a statement opens at its
// statement.start's Time and its log is stamped with its statement.complete's Time. The
// flush timer always runs on real time.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// WithSystemConfiguration sets the system_configuration sent with every authenticated
// log. Default: telemetry.NewSystemConfiguration(""), computed once in New.
func WithSystemConfiguration(sc *telemetry.SystemConfiguration) Option {
	return func(o *options) { o.sysConfig = sc }
}

// WithClientContext sets client_context.client_version and user_agent.
// client_type is always telemetry.ClientType. Default version telemetry.ClientVersion.
func WithClientContext(clientVersion, userAgent string) Option {
	return func(o *options) {
		if clientVersion != "" {
			o.clientVersion = clientVersion
		}
		o.userAgent = userAgent
	}
}

// WithAuthType sets the auth_type sent on statement and error logs (connection logs use
// the one their event carries): pat, oauth-m2m, external-browser, token-provider,
// external-token, static-token, custom or unknown. Default: none.
func WithAuthType(authType string) Option {
	return func(o *options) { o.authType = authType }
}

// WithWorkspaceID sets workspace_id (see telemetry.WorkspaceIDFromHTTPPath). It is sent
// on the authenticated path only. Default: none.
func WithWorkspaceID(id int64) Option {
	return func(o *options) { o.workspaceID = id }
}

// WithAuthenticated says whether the logs go to the authenticated endpoint. When false
// (the /telemetry-unauth path, SPEC §4a) logs carry no workspace, session or statement
// id, no system or connection configuration and an empty stack trace. Default true.
func WithAuthenticated(authenticated bool) Option {
	return func(o *options) { o.authenticated = authenticated }
}
