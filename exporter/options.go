package exporter

import (
	"crypto/tls"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// Defaults of the options below (SPEC §4, §5).
const (
	DefaultMaxRetries       = 3                      // WithMaxRetries
	DefaultBackoffBase      = 100 * time.Millisecond // WithBackoff
	DefaultBackoffMax       = time.Second            // WithBackoff
	DefaultJitter           = 100 * time.Millisecond // WithBackoff
	DefaultRetryAfterCap    = 5 * time.Second        // WithRetryAfterCap
	DefaultAttemptTimeout   = 10 * time.Second       // WithAttemptTimeout
	DefaultBreakerFailures  = 5                      // WithBreaker
	DefaultBreakerDelay     = 60 * time.Second       // WithBreaker
	DefaultBreakerSuccesses = 2                      // WithBreaker
	DefaultMaxResponseBytes = 64 << 10               // WithMaxResponseBytes
	DefaultTransitionLog    = 32                     // WithTransitionLog
	DefaultUserAgent        = "dbtelemetry-go"       // WithUserAgent

	// DefaultFlagName is the Go driver's telemetry flag (WithFeatureFlag).
	DefaultFlagName      = "databricks.partnerplatform.clientConfigsFeatureFlags.enableTelemetryForGoDriver"
	DefaultFlagClient    = "GOLANG"                     // WithFeatureFlag: the <CLIENT> URL segment
	DefaultDriverVersion = telemetry.KnownDriverVersion // WithFeatureFlag: the <driver_version> URL segment when the build names no driver version
	DefaultFlagTTL       = 15 * time.Minute             // WithFlagTTL
	DefaultFlagTimeout   = 10 * time.Second             // WithFlagTimeout
)

// Bounds of a server-given ttl_seconds. MinFlagTTL is also how long a failed or
// non-2xx flag fetch is remembered before the next try.
const (
	MinFlagTTL = time.Minute
	MaxFlagTTL = time.Hour
)

const (
	maxFlagBytes          = 256 << 10
	telemetryExtPath      = "/telemetry-ext"
	telemetryUnauthPath   = "/telemetry-unauth"
	featureFlagPathPrefix = "/api/2.0/connector-service/feature-flags/"
	orgIDHeader           = "X-Databricks-Org-Id"
	contentTypeJSON       = "application/json"
)

// maxResponseHeaderBytes caps the response headers read: net/http's default, 10 MiB, is
// what a hostile server may send with every answer, and costs several times that.
const maxResponseHeaderBytes = 64 << 10

// Option configures NewHTTPExporter and NewRegistry (which applies it to every
// per-host exporter it creates). Options that do not concern a constructor are ignored.
type Option func(*config)

type config struct {
	client           *http.Client
	ownClient        bool
	transport        http.RoundTripper                         // the caller's, for a client of the exporter's own (WithTransport)
	tlsConfig        *tls.Config                               // the TLS settings of a transport of its own (WithTLSConfig)
	baseTransport    *http.Transport                           // what a transport of its own is cloned from (WithBaseTransport)
	wrapTransport    func(http.RoundTripper) http.RoundTripper // WithTransportWrapper
	ownTransport     *http.Transport                           // the transport of its own its client sends through, if any
	logger           zerolog.Logger
	now              func() time.Time
	userAgent        string
	credentials      Credentials
	maxRetries       int
	backoffBase      time.Duration
	backoffMax       time.Duration
	jitter           time.Duration
	retryAfterCap    time.Duration
	attemptTimeout   time.Duration
	breakerFailures  uint
	breakerSuccesses uint
	breakerDelay     time.Duration
	maxResponseBytes int64
	transitionLog    int

	flagName      string
	flagClient    string
	driverVersion string
	flagTTL       time.Duration
	flagTimeout   time.Duration
	maxFlagBytes  int64

	layer func(Target, telemetry.Exporter) Layer
}

func newConfig(opts []Option) config {
	c := config{
		logger:           zerolog.Nop(),
		now:              time.Now,
		userAgent:        DefaultUserAgent,
		maxRetries:       DefaultMaxRetries,
		backoffBase:      DefaultBackoffBase,
		backoffMax:       DefaultBackoffMax,
		jitter:           DefaultJitter,
		retryAfterCap:    DefaultRetryAfterCap,
		attemptTimeout:   DefaultAttemptTimeout,
		breakerFailures:  DefaultBreakerFailures,
		breakerSuccesses: DefaultBreakerSuccesses,
		breakerDelay:     DefaultBreakerDelay,
		maxResponseBytes: DefaultMaxResponseBytes,
		transitionLog:    DefaultTransitionLog,
		flagName:         DefaultFlagName,
		flagClient:       DefaultFlagClient,
		driverVersion:    telemetry.DriverVersion(), // the linked driver's, as the driver's own fetch says it
		flagTTL:          DefaultFlagTTL,
		flagTimeout:      DefaultFlagTimeout,
		maxFlagBytes:     maxFlagBytes,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.client == nil {
		c.client = &http.Client{Transport: c.clientTransport()}
		c.ownClient = true
	} else {
		// A shallow copy, so that refusing redirects does not change the caller's client.
		cp := *c.client
		c.client = &cp
	}
	c.client.CheckRedirect = refuseRedirect
	return c
}

// newTransport is the transport of a client the exporter makes itself: a clone of base
// (http.DefaultTransport when nil) that speaks HTTP/1.1 only and keeps no idle
// connection, with tlsConfig's TLS settings, else base's, at TLS 1.2 or later. net/http
// writes to the standard logger, which is the application's, when a server sends bytes
// on an idle connection ("Unsolicited response received on idle HTTP channel") and for
// HTTP/2 frames it does not handle, one line per frame: a telemetry server must not be
// able to write there. A batch every few seconds can afford a connection of its own; its
// TLS sessions are resumed.
func newTransport(base *http.Transport, tlsConfig *tls.Config) *http.Transport {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	t := base.Clone()
	switch {
	case tlsConfig != nil:
		t.TLSClientConfig = tlsConfig.Clone()
	case t.TLSClientConfig == nil: // Clone cloned base's
		t.TLSClientConfig = &tls.Config{}
	}
	t.TLSClientConfig.MinVersion = max(t.TLSClientConfig.MinVersion, tls.VersionTLS12)
	t.TLSClientConfig.ClientSessionCache = tls.NewLRUClientSessionCache(16)
	t.ForceAttemptHTTP2 = false
	t.Protocols = new(http.Protocols)
	t.Protocols.SetHTTP1(true)
	// HTTP/1.1 only is also what ALPN offers: base's TLS settings offer h2 once base has
	// been set up for HTTP/2 (Clone does that to http.DefaultTransport), and a server
	// that picks it would get HTTP/1.1 on an HTTP/2 connection, every request failing.
	// No HTTP/2 implementation of base's (TLSNextProto) is kept either: it would carry
	// the telemetry on base's connections.
	t.TLSClientConfig.NextProtos = slices.DeleteFunc(slices.Clone(t.TLSClientConfig.NextProtos),
		func(p string) bool { return p == "h2" })
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	t.MaxIdleConnsPerHost = -1 // no idle connection: see net/http's Transport.tryPutIdleConn
	t.MaxResponseHeaderBytes = maxResponseHeaderBytes
	return t
}

// clientTransport is the transport of a client the exporter makes itself: the caller's
// (WithTransport), else one of its own (newTransport) from the WithBaseTransport and
// WithTLSConfig settings, which it keeps in ownTransport (see closeIdle); in the
// WithTransportWrapper's wrapper, if any.
func (c *config) clientTransport() http.RoundTripper {
	rt := c.transport
	c.ownTransport = nil
	if rt == nil {
		c.ownTransport = newTransport(c.baseTransport, c.tlsConfig)
		rt = c.ownTransport
	}
	if c.wrapTransport != nil {
		if w := c.wrapTransport(rt); w != nil {
			rt = w
		}
	}
	return rt
}

// closeIdle releases the idle connections of the exporter's client when the client and
// its transport are its own: a caller's client or transport outlives the exporter.
func (c *config) closeIdle() {
	if c.ownClient && c.ownTransport != nil {
		c.ownTransport.CloseIdleConnections()
	}
}

// refuseRedirect hands the 3xx back as the answer: a redirect could send the token
// to a host the DSN never named.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// WithHTTPClient sets the client used for telemetry and feature-flag requests. It is
// copied and its CheckRedirect replaced so that redirects are never followed. Default:
// a client of its own (see newTransport): HTTP/1.1, a connection per request.
func WithHTTPClient(c *http.Client) Option { return func(cfg *config) { cfg.client = c } }

// WithTransport makes the exporter's own client send through rt instead of a transport
// of its own (newTransport); the client still refuses redirects, and rt's idle
// connections are left to its owner. A driver connection given a transport of its
// caller's uses it for its host's telemetry, as for its queries. Ignored with
// WithHTTPClient. Default: nil, a transport of the exporter's own.
func WithTransport(rt http.RoundTripper) Option { return func(cfg *config) { cfg.transport = rt } }

// WithTransportWrapper puts wrap's RoundTripper around the transport the exporter's own
// client sends through (a transport of its own, or WithTransport's), to observe or
// decorate the telemetry and feature-flag requests on the path they take, with its
// hardening (HTTP/1.1 only, no redirect followed, capped headers). wrap is called once
// per client made, with the transport to send through; the RoundTripper it returns must
// pass each request on to it (a nil one leaves the transport unwrapped). Ignored with
// WithHTTPClient. Default: nil, no wrapper.
func WithTransportWrapper(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(cfg *config) { cfg.wrapTransport = wrap }
}

// WithBaseTransport makes the exporter's own transport a clone of base: its proxy, dialer
// and TLS settings (roots, client certificates, verification) are base's, with the
// exporter's hardening over them (HTTP/1.1 only, no idle connection, capped response
// headers, TLS 1.2 or later). Its connections are its own, never one of base's, whose
// limits (MaxConnsPerHost) the caller's own requests share, and they are released with
// the exporter. A driver connection given an *http.Transport of its caller's sends its
// host's telemetry so. Ignored with WithHTTPClient or WithTransport; WithTLSConfig
// replaces base's TLS settings. Default: nil, a clone of http.DefaultTransport.
func WithBaseTransport(base *http.Transport) Option {
	return func(cfg *config) { cfg.baseTransport = base }
}

// WithTLSConfig sets the TLS settings of the exporter's own transport (a clone of
// tlsConfig is used, with a session cache added): for example InsecureSkipVerify, for a
// driver connection that skips verification of its host's certificate. Ignored with
// WithHTTPClient or WithTransport. Default: nil, TLS 1.2 or later, the server's
// certificate verified against the system's roots.
func WithTLSConfig(tlsConfig *tls.Config) Option {
	return func(cfg *config) { cfg.tlsConfig = tlsConfig }
}

// WithLogger sets the logger; the package logs at debug level only. Default zerolog.Nop().
func WithLogger(l zerolog.Logger) Option { return func(c *config) { c.logger = l } }

// WithClock sets the time source for uploadTime and the flag cache's expiry. Default
// time.Now. It is read with the flag cache's lock held: when now panics, time.Now answers.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = telemetry.SafeClock(now, nil)
		}
	}
}

// WithUserAgent sets the User-Agent header. Default DefaultUserAgent.
func WithUserAgent(ua string) Option { return func(c *config) { c.userAgent = ua } }

// WithCredentials sets the credentials of an exporter built by NewHTTPExporter. Default
// none: batches go to /telemetry-unauth, stripped of ids and configuration. Registry
// handles take theirs from WithConnCredentials instead.
func WithCredentials(cr Credentials) Option { return func(c *config) { c.credentials = cr } }

// WithMaxRetries sets the retries after the first attempt. Default 3; 0 disables retries;
// a negative n is ignored (the default stays: failsafe-go would take it for no limit).
func WithMaxRetries(n int) Option {
	return func(c *config) {
		if n >= 0 {
			c.maxRetries = n
		}
	}
}

// WithBackoff sets the retry delay min(base×2^retry, maxDelay) plus a random 0…jitter.
// Defaults 100 ms, 1 s, 100 ms.
func WithBackoff(base, maxDelay, jitter time.Duration) Option {
	return func(c *config) {
		c.backoffBase, c.backoffMax, c.jitter = max(0, base), max(0, maxDelay), max(0, jitter)
	}
}

// WithRetryAfterCap bounds the delay a Retry-After header on 429/503 may ask for.
// Default 5 s; 0 ignores Retry-After.
func WithRetryAfterCap(d time.Duration) Option {
	return func(c *config) { c.retryAfterCap = max(0, d) }
}

// WithAttemptTimeout bounds each attempt, body read included. Default 10 s; a d that is
// not positive is ignored (the default stays).
func WithAttemptTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.attemptTimeout = d
		}
	}
}

// WithBreaker sets the per-host circuit breaker: it opens after failures consecutive
// failed batches, stays open for delay, then admits one probe at a time and closes
// after successes successful probes. Defaults 5, 60 s, 2.
func WithBreaker(failures uint, delay time.Duration, successes uint) Option {
	return func(c *config) {
		if failures > 0 {
			c.breakerFailures = failures
		}
		if delay > 0 {
			c.breakerDelay = delay
		}
		if successes > 0 {
			c.breakerSuccesses = successes
		}
	}
}

// WithMaxResponseBytes caps how much of a telemetry response is read. Default 64 KiB. A
// 2xx answer's body is waited for only when the logger writes debug lines (it feeds the
// line that says the batch was delivered): otherwise the batch is done at the status,
// and the body drained for at most 100 ms (for a keep-alive transport to reuse the
// connection).
func WithMaxResponseBytes(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.maxResponseBytes = min(n, math.MaxInt64-1) // the reader takes one byte more
		}
	}
}

// WithTransitionLog sets how many breaker transitions Transitions keeps. Default 32.
func WithTransitionLog(n int) Option {
	return func(c *config) {
		if n >= 0 {
			c.transitionLog = n
		}
	}
}

// WithFeatureFlag sets the flag's name, the client segment of its URL and the driver
// version segment. Defaults DefaultFlagName, "GOLANG" and the version of the Databricks
// driver linked into the binary (telemetry.DriverVersion; DefaultDriverVersion when the
// build information does not name it).
func WithFeatureFlag(name, client, driverVersion string) Option {
	return func(c *config) {
		if name != "" {
			c.flagName = name
		}
		if client != "" {
			c.flagClient = client
		}
		if driverVersion != "" {
			c.driverVersion = driverVersion
		}
	}
}

// WithFlagTTL sets how long a flag answer without ttl_seconds is cached. Default 15 min.
func WithFlagTTL(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.flagTTL = d
		}
	}
}

// WithFlagTimeout bounds the feature-flag request. Default 10 s.
func WithFlagTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.flagTimeout = d
		}
	}
}

// WithLayer makes NewRegistry build one Layer per host on top of the host's exporter
// (the driver puts its aggregator there). build runs under the registry's lock, once
// per host entry, and must not call the registry. Default: no layer.
func WithLayer(build func(Target, telemetry.Exporter) Layer) Option {
	return func(c *config) { c.layer = build }
}
