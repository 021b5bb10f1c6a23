package driver

import (
	"context"
	"crypto/tls"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/databricks/databricks-sql-go/driverctx"
	"github.com/ngrok/sqlmw"
	"github.com/rs/zerolog"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/internal/quietlog"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// Connector is a database/sql/driver.Connector for sql.OpenDB: the Databricks driver's
// connector wrapped with telemetry. It is also an io.Closer: db.Close() calls Close,
// which releases the connector's share of its host's telemetry and flushes it. Make one
// with NewConnector or OpenConnector: the zero value is not usable. Its methods are safe
// for concurrent use.
type Connector struct {
	cfg   config
	inner driver.Connector // what Connect uses: sqlmw over the driver, or the driver alone when telemetry is off
	raw   driver.Connector // the Databricks driver's connector
	tr    *transport
	em    *telemetry.Emitter
	gate  *gate
	// info describes the connection for its logs: from the DSN, or, for a connector made
	// with NewConnector, from its first Thrift call (see learnInfo). Swapped whole, so an
	// event keeps the one it was given.
	info atomic.Pointer[telemetry.ConnectionInfo]

	auth   atomic.Pointer[string] // the Authorization header of the latest Thrift call
	authAt atomic.Int64           // when a Thrift call with it was last answered, Unix ns
	links  sync.Map               // CloudFetch link → linkOwner, until downloaded
	dsnURL *url.URL               // the DSN's endpoint (with the driver's http path), when the connector came from a DSN
	// settings are what the driver uses, read back from its configuration (see
	// settingsProbe); unread (ok false) for a fake driver in tests.
	settings driverSettings
	// callerTr is the transport the caller's options gave the driver, which the
	// connector's goes through, and the host's telemetry too (see callerTransport).
	callerTr callerTransport
	// foreign is set once a Thrift call went to another endpoint than the DSN's (the
	// driver's own options, WithConnOptions, can send it elsewhere): telemetry goes to the
	// DSN's host only, and that host must never receive another server's credentials.
	foreign  atomic.Bool
	sniffs   sync.Pool // *[]byte: buffers for the Thrift replies the transport reads
	hostOnce sync.Once
	host     atomic.Pointer[hostRef]
	agg      atomic.Pointer[aggregator.Aggregator] // its own (WithExporter) or its host's for its settings; set by the first Thrift call
	// unhand unregisters handOverAll from agg (see setAggregator).
	unhand func()
	clock  startClock // the statements' start times

	// conns are the connections whose held starts the connector hands over (see hold).
	connsMu sync.Mutex
	conns   map[*connState]struct{}

	// detached are the failed attempts of calls whose context carried no state of ours
	// (see detached.go); detachedN is their number, for the calls that look at none.
	detachedMu sync.Mutex
	detached   []detachedFail
	detachedN  atomic.Int32

	flagOnce  sync.Once
	flagAsks  atomic.Uint64 // asks of the server's flag so far, each numbered: a later ask's answer wins
	asking    atomic.Bool   // an ask waits for the host's answer
	closeMu   sync.Mutex
	closed    bool
	flagCtx   context.Context    // the feature-flag fetches', made by the first
	stop      context.CancelFunc // ends the feature-flag fetches
	work      sync.WaitGroup
	closeOnce sync.Once
}

// NewConnector returns a Connector for sql.OpenDB, configured with the Databricks
// driver's own options (WithConnOptions) and ours.
//
//	c, err := driver.NewConnector(driver.WithConnOptions(
//		dbsql.WithServerHostname(host), dbsql.WithPort(443),
//		dbsql.WithHTTPPath(path), dbsql.WithAccessToken(token)))
//	db := sql.OpenDB(c)
//	defer db.Close()
func NewConnector(opts ...Option) (*Connector, error) {
	cfg := defaultConfig()
	cfg.apply(opts)
	return newConnector(cfg, nil)
}

// newConnector builds the connector; dsn carries what a DSN said (nil with NewConnector).
func newConnector(cfg config, dsn *dsnConfig) (*Connector, error) {
	if err := cfg.tel.Validate(); err != nil {
		return nil, fmt.Errorf("dbtelemetry: %w", err)
	}
	// Zero fields take their defaults here, for the aggregator and the host's exporter
	// alike (a zero retry delay would leave the backoff to its jitter).
	cfg.tel = cfg.tel.Normalize()
	c := &Connector{cfg: cfg, gate: newGate()}
	c.tr = &transport{c: c}
	c.info.Store(&telemetry.ConnectionInfo{})
	// The driver sends its Thrift calls through its Transport, and its CloudFetch downloads
	// through its HTTPClient, unless the caller's options gave one: the downloads keep
	// http.DefaultClient's settings and transport (see downloadClient; the first
	// WithTransport makes a client of the transport alone when the driver's configuration
	// cannot be given one), the Thrift calls get the connector's, over the caller's own
	// transport if the options gave one (transportProbe). The last probe reads back what
	// the driver will use (the caller's options override the DSN).
	raw, err := dbsql.NewConnector(append(append([]dbsql.ConnOption{}, cfg.connOpts...),
		builtinTelemetryOff[dbsql.ConnOption](),
		transportProbe[dbsql.ConnOption](&c.callerTr, c.tr),
		downloadClientOption[dbsql.ConnOption](downloadClient(c.tr)),
		dbsql.WithTransport(downloadTransport{t: c.tr}), dbsql.WithTransport(c.tr),
		settingsProbe[dbsql.ConnOption](&c.settings))...)
	if err != nil {
		return nil, err
	}
	if c.callerTr.rt == nil && c.callerTr.tls == nil && cfg.skipVerify {
		// The driver's TLS settings were unreadable (see transportProbe).
		c.callerTr.tls = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true} // #nosec G402 -- the caller asked for it
	}
	c.tr.base = c.callerTr.rt
	if c.tr.base == nil {
		c.tr.base = newBaseTransport(c.callerTr.tls)
	}
	if dsn != nil {
		seen := dsn.dsnConnInfo
		var query string
		if path, q, ok := c.settings.endpointPath(); ok {
			seen.HTTPPath, query = path, q
			seen.UseCloudFetch, seen.QueryTimeout = c.settings.useCloudFetch, c.settings.queryTimeout
		}
		if a := c.settings.authType; a != "" {
			seen.AuthType = a // the caller's options may have replaced the DSN's credentials
		}
		c.tr.thrift = seen.HTTPPath
		info := seen.connectionInfo()
		c.info.Store(&info)
		c.dsnURL = &url.URL{Scheme: dsn.Scheme, Host: net.JoinHostPort(dsn.Host, strconv.Itoa(dsn.Port)), Path: seen.HTTPPath, RawQuery: query}
	}
	return c.wrap(raw)
}

// wrap puts telemetry around raw, the driver's connector (or, in benchmarks, a fake).
func (c *Connector) wrap(raw driver.Connector) (*Connector, error) {
	cfg := c.cfg
	if cfg.hosts == nil {
		c.cfg.hosts = registered.hosts
	}
	c.raw = raw
	emOpts := []telemetry.EmitterOption{telemetry.WithLogger(cfg.logger)}
	if cfg.lookupEnv != nil {
		emOpts = append(emOpts, telemetry.WithLookupEnv(cfg.lookupEnv))
	}
	if cfg.enabled != nil {
		emOpts = append(emOpts, telemetry.WithEnabled(*cfg.enabled))
	}
	c.em = telemetry.NewEmitter(c.gate, emOpts...)
	if !c.em.Enabled() {
		// Off: the driver alone, plus the transport that keeps its built-in telemetry off
		// and passes everything else on untouched.
		c.inner = raw
		if c.tr != nil {
			c.tr.off = true // set before the connector is handed out: no call has used it
		}
		c.gate.shut()
		return c, nil
	}
	if cfg.enabled != nil && *cfg.enabled {
		c.gate.resolve(true)
	}
	// Each reset of the clock (the first at the first connection) asks the kernel whether
	// it times by the counter.
	c.clock.tsc, c.clock.source = haveTicks, os.ReadFile
	wrapped, err := sqlmw.Driver(connectorDriver{raw}, &interceptor{c: c}).(driver.DriverContext).OpenConnector("")
	if err != nil {
		return nil, err
	}
	c.inner = wrapped
	return c, nil
}

// Connect opens a connection through the wrapped driver.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.inner == c.raw {
		return c.inner.Connect(ctx)
	}
	// The connection's state, shared by the interceptor's hooks and the outer layer.
	cs := newConnState(c)
	conn, err := c.inner.Connect(connectContext(ctx, cs))
	if err != nil {
		return conn, err
	}
	c.clock.reset()
	c.track(cs)
	if c.flagAsks.Load() > 0 {
		// The server's answer may have changed since: its host's cache says so once its
		// TTL has passed (the fetch happens then, at most one per host at a time).
		c.askFlag()
	}
	return &outerConn{mw: conn, cs: cs}, nil
}

// connectContext is ctx with the connection's state, and the driver's conn-id callback,
// by which the driver names the session as soon as its OpenSession returns (chained to
// the caller's own, if ctx carries one). The transport reads the id off the reply too,
// which a reply read only at the driver's next call would tell too late.
func connectContext(ctx context.Context, cs *connState) context.Context {
	onConn := cs.onConnID
	// The caller's callback is called whenever the driver would call it: a nil one too
	// (its panic is the driver's, unwrapped).
	if user, ok := ctx.Value(driverctx.ConnIdCallbackKey).(driverctx.IdCallbackFunc); ok {
		onConn = func(id string) {
			cs.onConnID(id)
			user(id)
		}
	}
	return driverctx.NewContextWithConnIdCallback(withConn(ctx, cs), onConn)
}

// Driver returns the registered databricks-telemetry driver.
func (c *Connector) Driver() driver.Driver { return registered }

// Close releases the connector's share of its host's telemetry; the last connector of a
// host flushes what is pending (within the CloseTimeout of its telemetry.Config, 2 s by
// default) and stops the host's exporter. A feature-flag fetch still deciding whether the
// connector's events are telemetry gets half of that time at most, so that the flush
// keeps the rest. It never returns an error: what could not be delivered is counted in
// Stats.
func (c *Connector) Close() error {
	c.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.tel.CloseTimeout)
		defer cancel()
		// database/sql does not wait for a Connect in flight before it closes the
		// connector: an attach under way finishes here (its host is then released below),
		// and none starts after.
		c.hostOnce.Do(func() {})
		c.closeMu.Lock()
		c.closed = true
		stop := c.stop
		c.closeMu.Unlock()
		// A flag fetch in flight decides what happens to the events the gate holds back:
		// let it finish within half the close deadline, then give up on it; the final
		// flush keeps the other half, for what the host's other connectors left pending
		// in an aggregator they share. A gate already decided holds nothing back: a
		// fetch then (a new connection's re-ask) is cut short at once.
		if stop != nil && c.gate.state.Load() != gateUndecided {
			stop()
		}
		fetched := make(chan struct{})
		go func() {
			c.work.Wait()
			close(fetched)
		}()
		half, cancelHalf := context.WithTimeout(ctx, c.cfg.tel.CloseTimeout/2)
		defer cancelHalf()
		select {
		case <-fetched:
		case <-half.Done():
			if stop != nil {
				stop()
			}
			// Cut short, the ask ends at once, unless a collaborator of the caller's holds
			// it (a logger whose output stalls): Close keeps its deadline, and an answer
			// that comes later finds the gate shut.
			askCut := time.NewTimer(askCutGrace)
			select {
			case <-fetched:
			case <-askCut.C:
			}
			askCut.Stop()
		}
		// The starts held back go in while the gate is open, so that a statement still
		// running is finished by its completion (see gate.shutHandle).
		c.handOverAll()
		if c.unhand != nil {
			c.unhand()
		}
		c.gate.shut() // still undecided: nothing is sent
		safely(func() {
			if h := c.host.Load(); h != nil {
				_ = h.release(ctx) // the host's aggregator, then the host
			} else if a := c.agg.Load(); a != nil {
				_ = a.Close(ctx)
			}
		})
		if own, ok := c.tr.ownBase(); ok {
			own.CloseIdleConnections() // a caller's transport is the caller's to close
		}
	})
	return nil
}

// Stats returns the counters of this connector's aggregator, which the host's connectors
// of the same telemetry settings share (zero before the first connection or when
// telemetry is off), with what this connector dropped before its events reached the
// aggregator (Dropped.Undecided and part of Dropped.Closed). The starts of queries whose
// rows are open, which the connector holds back until their rows close, are handed over
// first, so that OpenStatements counts them.
func (c *Connector) Stats() aggregator.Stats {
	var st aggregator.Stats
	if a := c.agg.Load(); a != nil {
		c.handOverAll()
		st = a.Stats()
	}
	// What this connector dropped before its events reached the aggregator.
	st.Dropped.Undecided += c.gate.dropped.Load()
	st.Dropped.Closed += c.gate.shutOut.Load()
	return st
}

// Transitions returns the circuit breaker transitions of this connector's host exporter.
func (c *Connector) Transitions() []exporter.Transition {
	if h := c.host.Load(); h != nil && h.handle != nil {
		return h.handle.Exporter().Transitions()
	}
	return nil
}

// Enabled reports whether the connector's telemetry is switched on: false when the kill
// switch (DATABRICKS_TELEMETRY_DISABLED), the DSN's enableTelemetry=false or
// WithTelemetry(false) turned it off, and the connector is the driver alone. When it is
// on, the server's feature flag may still keep the export off (see Stats).
func (c *Connector) Enabled() bool { return c.em.Enabled() }

// Flush exports what is pending now and waits for the export, bounded by ctx, with
// the aggregator's result (see aggregator.Aggregator.Flush): an export's error, ctx's,
// or aggregator.ErrClosed after Close (which flushed what was pending). With telemetry
// off it returns nil at once.
func (c *Connector) Flush(ctx context.Context) error {
	if !c.em.Enabled() {
		return nil
	}
	c.closeMu.Lock()
	closed := c.closed
	c.closeMu.Unlock()
	if closed {
		// Its aggregator may live on for the host's other connectors of its settings; a
		// connector closed before its first connection has none, and is closed all the same.
		return aggregator.ErrClosed
	}
	if a := c.agg.Load(); a != nil {
		return a.Flush(ctx)
	}
	return nil
}

func (c *Connector) emit(ev *telemetry.Event) { c.em.Emit(ev) }

// sniffBuf returns an empty buffer for a Thrift reply, with room for n bytes;
// putSniffBuf gives it back.
func (c *Connector) sniffBuf(n int) *[]byte {
	if b, ok := c.sniffs.Get().(*[]byte); ok {
		if cap(*b) >= n {
			return b
		}
		c.sniffs.Put(b)
	}
	b := make([]byte, 0, max(n, 4<<10))
	return &b
}

// putSniffBuf keeps buffers of up to maxPooledSniff for reuse; bigger ones, for the
// rare big reply, are left to the GC.
func (c *Connector) putSniffBuf(b *[]byte) {
	if cap(*b) > maxPooledSniff {
		return
	}
	*b = (*b)[:0]
	c.sniffs.Put(b)
}

const maxPooledSniff = 64 << 10

// observeThrift learns the export target from the driver's Thrift calls: the host is the
// DSN's own.
func (c *Connector) observeThrift(req *http.Request) {
	defer func() { _ = recover() }() // runs on the driver's call: a panicking logger stays here
	if !c.em.Enabled() {
		return
	}
	if c.dsnURL != nil && !c.foreign.Load() && !sameEndpoint(req.URL, c.dsnURL) {
		c.foreign.Store(true)
		c.gate.shut() // what waits and what comes are counted (Dropped.Closed)
		quietlog.Debug(c.cfg.logger, func(ev *zerolog.Event) {
			ev.Msg("telemetry off for this connector: the driver calls another endpoint than its DSN's")
		})
		return
	}
	c.hostOnce.Do(func() {
		c.learnInfo(req)
		c.attach(req.URL)
	})
}

// learnInfo describes the connection from the first Thrift call when no DSN did
// (NewConnector with the driver's options): the host, port and HTTP path the driver
// calls, and the auth type, CloudFetch and timeout settings read back from the driver's
// configuration (without them, a personal access token's auth type when the call's
// Authorization header carries one).
func (c *Connector) learnInfo(req *http.Request) {
	if c.dsnURL != nil {
		return
	}
	u := req.URL
	port, _ := strconv.Atoi(portOf(u))
	seen := dsnConnInfo{Host: u.Hostname(), Port: port, HTTPPath: u.Path, AuthType: dsnAuthUnknown, UseCloudFetch: driverDefaultUseCloudFetch}
	if c.settings.ok {
		seen.UseCloudFetch, seen.QueryTimeout = c.settings.useCloudFetch, c.settings.queryTimeout
	}
	switch {
	case c.settings.authType != "":
		seen.AuthType = c.settings.authType
	case strings.HasPrefix(authorization(req.Header), "Bearer dapi"):
		seen.AuthType = dsnAuthPAT // a driver whose configuration could not be read
	}
	info := seen.connectionInfo()
	c.info.Store(&info)
}

// observeAuth keeps the Authorization header of a Thrift call the server accepted:
// exactly what the driver sends to the DSN's host (refreshed OAuth tokens included), so
// credentials only ever go back to that host. Until one was accepted — a connection
// that failed to authenticate — telemetry goes to /telemetry-unauth.
func (c *Connector) observeAuth(req *http.Request) {
	defer func() { _ = recover() }() // runs on the driver's call: a panicking logger stays here
	if !c.em.Enabled() || c.foreign.Load() {
		return
	}
	if a := authorization(req.Header); a != "" {
		if p := c.auth.Load(); p == nil || *p != a {
			s := a // only a changed header is allocated
			c.auth.Store(&s)
		}
		c.authAt.Store(time.Now().UnixNano())
	}
	c.flagOnce.Do(c.askFlag)
}

// sameEndpoint reports whether u goes to the scheme, host and port of want.
func sameEndpoint(u, want *url.URL) bool {
	if u.Host == want.Host && u.Scheme == want.Scheme {
		return true
	}
	return strings.EqualFold(u.Scheme, want.Scheme) && strings.EqualFold(u.Hostname(), want.Hostname()) &&
		portOf(u) == portOf(want)
}

// portOf is u's port, or its scheme's default.
func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "http") {
		return "80"
	}
	return "443"
}

// authorization is h's Authorization header, as h.Get("Authorization") returns it,
// without canonicalising the (already canonical) key again on every Thrift call.
func authorization(h http.Header) string {
	if v := h["Authorization"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// credentials are the connector's credentials for its host's exporter: the
// Authorization header of its latest Thrift call the server answered, and when that was
// (exporter.Accepted), so that of a host's connectors the one whose header the server
// accepted last speaks for all.
func (c *Connector) credentials() exporter.Credentials { return connCredentials{c} }

type connCredentials struct{ c *Connector }

func (cc connCredentials) Authenticate(r *http.Request) error {
	p := cc.c.auth.Load()
	if p == nil {
		return errors.New("no credentials seen yet")
	}
	r.Header.Set("Authorization", *p)
	return nil
}

func (cc connCredentials) LastAccepted() time.Time {
	if at := cc.c.authAt.Load(); at != 0 {
		return time.Unix(0, at)
	}
	return time.Time{}
}

// attach connects the connector to its host's telemetry, once.
func (c *Connector) attach(u *url.URL) {
	authType := c.info.Load().AuthType
	if authType == "" {
		authType = "unknown"
	}
	workspaceID := telemetry.WorkspaceIDFromHTTPPath(u.Path + queryOf(u))
	aggOpts := []aggregator.Option{
		aggregator.WithConfig(c.cfg.tel),
		aggregator.WithLogger(c.cfg.logger),
		aggregator.WithAuthType(authType),
		aggregator.WithAuthenticated(true),
		aggregator.WithWorkspaceID(workspaceID),
		aggregator.WithClientContext(telemetry.ClientVersion, ""),
	}
	if c.cfg.exporter != nil {
		c.setAggregator(aggregator.New(c.cfg.exporter, aggOpts...))
		if c.cfg.enabled == nil {
			c.gate.resolve(true) // a local exporter has no server flag to ask
		}
		return
	}
	// If this connector is the host's first, its retries and backoff configure the host's
	// exporter; its aggregator is the host's one for its settings (see Hosts).
	host := []exporter.Option{
		exporter.WithMaxRetries(c.cfg.tel.RetryCount),
		exporter.WithBackoff(c.cfg.tel.RetryDelay, exporter.DefaultBackoffMax, exporter.DefaultJitter),
		exporter.WithLogger(c.cfg.logger),
	}
	own := c.callerTr.exporterOptions()
	acq := []exporter.AcquireOption{exporter.WithConnCredentials(c.credentials()), exporter.WithConnWorkspace(workspaceID),
		exporter.WithHostOptions(append(host, own...)...)}
	if own != nil {
		// A transport of its own means an exporter of its own: its token never goes through
		// another connector's transport, nor theirs through its (exporter.WithOwner).
		acq = append(acq, exporter.WithOwner("connector-"+strconv.FormatUint(rand.Uint64(), 36)))
	}
	if loopbackHost(u) {
		acq = append(acq, exporter.WithLoopbackDSN())
	}
	key := aggKey{cfg: c.cfg.tel, authType: authType, workspaceID: workspaceID}
	key.cfg.RetryCount, key.cfg.RetryDelay = 0, 0 // the exporter's: the host's
	ref, err := c.cfg.hosts.get(u.Scheme+"://"+u.Host, key, aggOpts, acq...)
	if err != nil {
		quietlog.Debug(c.cfg.logger, func(ev *zerolog.Event) {
			ev.Err(err).Msg("telemetry off for this connector: its host cannot receive telemetry")
		})
		c.gate.shut() // what waits and what comes are counted (Dropped.Closed), as for a foreign endpoint
		return
	}
	c.host.Store(ref)
	c.setAggregator(ref.agg)
}

// setAggregator makes a the connector's aggregator, which asks it for its held starts
// (see hold). Called once, under hostOnce.
func (c *Connector) setAggregator(a *aggregator.Aggregator) {
	c.unhand = a.AddHandOver(c.handOverAll)
	c.agg.Store(a)
	c.gate.setSink(a)
}

// askFlag lets the server's feature flag decide, once the connector has credentials
// the server accepted (the flag endpoint needs them). Without a DSN setting, events wait
// in the gate until then. It asks again for every new connection (see Connect), so that
// a long-lived pool follows the server: off stops the export, on starts it again. The
// host's flag cache answers from memory until its TTL has passed.
func (c *Connector) askFlag() {
	ref := c.host.Load()
	if c.cfg.enabled != nil || ref == nil {
		return
	}
	// One ask at a time: while one waits for the host's fetch (up to the flag timeout of
	// the host's exporter when the flag endpoint hangs), another would wait for the same
	// fetch, on a goroutine of its own for every new connection.
	if !c.asking.CompareAndSwap(false, true) {
		return
	}
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closed {
		c.asking.Store(false)
		return
	}
	if c.flagCtx == nil {
		c.flagCtx, c.stop = context.WithCancel(context.Background())
	}
	ctx, seq := c.flagCtx, c.flagAsks.Add(1)
	c.work.Add(1)
	go func() {
		defer c.work.Done()
		defer c.asking.Store(false)
		// No bound of its own: the host's fetch ends within its exporter's flag timeout
		// (exporter.WithFlagTimeout, given to NewHosts), or when Close cancels ctx.
		on := false
		// The connection's workspace goes with the fetch, as with its telemetry: a
		// unified host redirects a request that names none to its login page.
		safely(func() { on = ref.handle.FeatureFlags().EnabledForWorkspace(ctx, ref.key.workspaceID) })
		if ctx.Err() == nil {
			c.gate.answer(seq, on)
		}
	}()
}

func queryOf(u *url.URL) string {
	if u.RawQuery == "" {
		return ""
	}
	return "?" + u.RawQuery
}

// loopbackHost reports whether the DSN's host is a loopback host, judged as the exporter
// judges the host it sends to (exporter.ParseTarget: localhost and names under
// .localhost in any case, with or without a final dot, and loopback addresses), so that
// the exporter never refuses, as a loopback host the DSN did not name, the DSN's own.
func loopbackHost(u *url.URL) bool {
	t, err := exporter.ParseTarget(u.Scheme+"://"+u.Host, true)
	return err == nil && t.Loopback
}

// connectorDriver lets sqlmw wrap a ready connector.
type connectorDriver struct{ c driver.Connector }

func (d connectorDriver) Open(string) (driver.Conn, error) { return d.c.Connect(context.Background()) }

func (d connectorDriver) OpenConnector(string) (driver.Connector, error) { return d.c, nil }

// gate holds events until it is known whether telemetry is on (the server's feature flag
// may take a moment), then forwards them to the aggregator or drops them. Once decided
// it costs one atomic load per event.
type gate struct {
	state    atomic.Int32 // gateUndecided, gateOn, gateOff, gateShut or gateShutOff
	sink     atomic.Pointer[aggregator.Aggregator]
	mu       sync.Mutex
	pending  []telemetry.Event
	dropped  atomic.Int64 // beyond maxUndecided while the flag was not known, and what waited when it said off
	shutOut  atomic.Int64 // handed over, or waiting, when the gate shut
	answered uint64       // the latest ask of the server's flag answered (see answer), under mu
}

// States of a gate.
const (
	gateUndecided = iota // events wait (up to maxUndecided)
	gateOn               // events go to the sink
	gateOff              // the server's flag said off: events are dropped until it says on
	gateShut             // off for good: telemetry disabled, or the connector closed
	// gateShutOff is off for good, shut while the server's flag said off: what comes
	// is still no telemetry, and no drop (as gateOff).
	gateShutOff
)

const maxUndecided = 1024

// askCutGrace is how long Close, its deadline passed, waits for a flag ask it cut short
// to end: at once, unless something of the caller's holds it.
const askCutGrace = 50 * time.Millisecond

func newGate() *gate { return &gate{} }

// direct returns the aggregator that events reach without the gate's lock: the sink,
// once set, while the gate is on; nil otherwise.
func (g *gate) direct() *aggregator.Aggregator {
	if g.state.Load() != gateOn {
		return nil
	}
	return g.sink.Load()
}

// off reports whether the server's flag says off: what comes now is no telemetry. A nil
// gate (a connector built bare, in tests) is not off.
func (g *gate) off() bool {
	if g == nil {
		return false
	}
	st := g.state.Load()
	return st == gateOff || st == gateShutOff
}

func (g *gate) Handle(ev telemetry.Event) {
	if s := g.direct(); s != nil {
		s.Handle(ev)
		return
	}
	switch g.state.Load() {
	case gateOff, gateShutOff:
		g.offHandle(&ev)
		return
	case gateShut:
		g.shutHandle(&ev)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch g.state.Load() {
	case gateOn:
		if s := g.sink.Load(); s != nil {
			s.Handle(ev)
			return
		}
	case gateOff, gateShutOff:
		g.offHandle(&ev)
		return
	case gateShut:
		g.shutHandle(&ev)
		return
	}
	if len(g.pending) >= maxUndecided {
		g.dropped.Add(1)
		return
	}
	g.pending = append(g.pending, ev)
}

// offHandle takes an event while the server's flag says off: nothing is telemetry, but a
// statement that started while the flag said on is finished in the aggregator (see
// aggregator.Aggregator.FinishIfOpen), or it would stay open there until StatementTTL or
// Close evicted it, and be exported then with all that time as its latency.
func (g *gate) offHandle(ev *telemetry.Event) {
	if ev.Kind == telemetry.KindStatementComplete {
		if s := g.sink.Load(); s != nil {
			s.FinishIfOpen(*ev)
		}
	}
}

// shutHandle takes an event once the gate has shut: a statement's completion still
// finishes the statement if its start reached the aggregator (see
// aggregator.Aggregator.FinishOpen), which its host's other connectors may keep open;
// anything else is counted as dropped.
func (g *gate) shutHandle(ev *telemetry.Event) {
	if ev.Kind == telemetry.KindStatementComplete {
		if s := g.sink.Load(); s != nil {
			s.FinishOpen(*ev)
			return
		}
	}
	g.shutOut.Add(1)
}

// setSink gives the gate its aggregator. What waits goes to it before the lock-free path
// of Handle can see it: an event emitted meanwhile waits on mu and comes after, so that a
// statement's completion never overtakes its start.
func (g *gate) setSink(a *aggregator.Aggregator) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state.Load() == gateOn {
		g.replayLocked(a)
	}
	g.sink.Store(a)
}

// resolve applies an answer of the server's flag (or the DSN's setting): on forwards
// what waits and what comes, off drops both. A shut gate stays shut.
func (g *gate) resolve(on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.resolveLocked(on)
}

func (g *gate) resolveLocked(on bool) {
	if st := g.state.Load(); st == gateShut || st == gateShutOff {
		return
	}
	if !on {
		// Off (or no answer): what waited will never be exported; it is counted.
		g.dropped.Add(int64(len(g.pending)))
		g.state.Store(gateOff)
		g.pending = nil
		return
	}
	// What waits goes first (see setSink); then the lock-free path opens.
	if s := g.sink.Load(); s != nil {
		g.replayLocked(s)
	}
	g.state.Store(gateOn)
}

// answer applies the server flag's answer to the seq-th ask (counted from 1), unless a
// later ask has been answered already: two asks around the expiry of the host's cached
// answer may return in either order, and the older answer must not stand.
func (g *gate) answer(seq uint64, on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if seq < g.answered {
		return
	}
	g.answered = seq
	g.resolveLocked(on)
}

// shut turns the gate off for good; what waits and what comes are counted as dropped
// (Stats: Dropped.Closed), unless the server's flag said off: then nothing waits, and
// what comes is no telemetry.
func (g *gate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.off() {
		g.state.Store(gateShutOff)
		return
	}
	g.state.Store(gateShut)
	g.shutOut.Add(int64(len(g.pending)))
	g.pending = nil
}

// replayLocked hands what waits to s, in order.
func (g *gate) replayLocked(s *aggregator.Aggregator) {
	for _, ev := range g.pending {
		s.Handle(ev)
	}
	g.pending = nil
}

// attachToDSN attaches the connector to its DSN's host before the first connect, so that a
// connection whose authentication fails before any request (an OAuth token endpoint that
// cannot be reached) is still reported, unauthenticated.
func (c *Connector) attachToDSN() {
	defer func() { _ = recover() }()
	if c.dsnURL != nil && c.em.Enabled() {
		c.hostOnce.Do(func() { c.attach(c.dsnURL) })
	}
}
