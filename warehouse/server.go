// Package warehouse is an embedded local Databricks SQL endpoint for tests and demos,
// shaped like net/http/httptest: NewServer starts it on a random loopback port, DSN says
// how to reach it, Close stops it and frees everything.
//
// It speaks the real protocol of github.com/databricks/databricks-sql-go: Thrift
// TCLIService over HTTP, results as Arrow IPC batches inline or as CloudFetch links served
// by the same server, asynchronous execution with status polling, and SQL errors with
// SQLSTATE. Statements run on an in-process DuckDB database, one connection per session.
// It also serves the telemetry ingest (/telemetry-ext, /telemetry-unauth) and the connector
// feature-flag endpoint, records what it received, and injects faults on demand.
package warehouse

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/dbtelemetry/dbtelemetry/warehouse/internal/tcli"
)

// HTTPPath is the warehouse's Thrift endpoint path, as in a Databricks SQL warehouse DSN.
const HTTPPath = "/sql/1.0/warehouses/local"

// TelemetryFlagName is the feature flag that switches the Go driver's telemetry on.
const TelemetryFlagName = "databricks.partnerplatform.clientConfigsFeatureFlags.enableTelemetryForGoDriver"

// Option configures a Server; a nil Option is ignored.
type Option func(*config)

type config struct {
	token            string
	addr             string
	telemetryHandler http.Handler
	telemetryFlag    bool
	flagTTL          time.Duration
	asyncThreshold   time.Duration
	cloudFetchRows   int64
	chunkRows        int64
	batchRows        int64
	batchBytes       int
	linkTTL          time.Duration
	failedOpTTL      time.Duration
	maxBodyBytes     int64
	statementRecords int
	sessionIdle      time.Duration
	servedRetention  int64
}

func defaultConfig() config {
	return config{
		addr:            "127.0.0.1:0",
		telemetryFlag:   true,
		flagTTL:         15 * time.Minute,
		asyncThreshold:  200 * time.Millisecond,
		cloudFetchRows:  100_000,
		chunkRows:       250_000,
		batchRows:       50_000,
		batchBytes:      16 << 20,
		linkTTL:         15 * time.Minute,
		failedOpTTL:     time.Minute,
		maxBodyBytes:    16 << 20,
		servedRetention: 256 << 20,
	}
}

// WithToken sets the personal access token the server accepts (default, and when empty:
// a random "dapi…" token). NewServer refuses a token no HTTP header can carry: blanks at
// its ends, or a control character (as a token read from a file keeps its line's end).
func WithToken(token string) Option { return func(c *config) { c.token = token } }

// WithAddr sets the listen address (default, and when empty: "127.0.0.1:0", a random
// loopback port). A server on every address (":8080", "0.0.0.0:8080") hands out its
// CloudFetch links on the host each client reached it by, so that a client on another
// machine downloads them. NewServer refuses an address that makes it listen on one IPv6
// address ("[::1]:0"): the Databricks driver cannot parse an IPv6 host in a DSN.
func WithAddr(addr string) Option { return func(c *config) { c.addr = addr } }

// WithTelemetryHandler answers /telemetry-ext and /telemetry-unauth instead of the default
// 200 response. Requests are still recorded and faults still apply.
func WithTelemetryHandler(h http.Handler) Option {
	return func(c *config) { c.telemetryHandler = h }
}

// WithTelemetryFlag sets what the feature-flag endpoint says about telemetry (default true).
func WithTelemetryFlag(enabled bool) Option { return func(c *config) { c.telemetryFlag = enabled } }

// WithFeatureFlagTTL sets the ttl_seconds the feature-flag endpoint returns (default 15
// min), in whole seconds rounded up; 0 or less returns 0, which clients read as no TTL.
func WithFeatureFlagTTL(d time.Duration) Option { return func(c *config) { c.flagTTL = d } }

// WithAsyncThreshold sets how long ExecuteStatement waits for a statement before it answers
// RUNNING and lets the client poll (default 200 ms).
func WithAsyncThreshold(d time.Duration) Option { return func(c *config) { c.asyncThreshold = d } }

// WithCloudFetchThreshold sets the row count above which a result is delivered as
// CloudFetch links instead of inline Arrow batches (default 100,000), when the client can
// download results.
func WithCloudFetchThreshold(rows int64) Option {
	return func(c *config) { c.cloudFetchRows = rows }
}

// WithChunkRows sets the rows per CloudFetch file (default 250,000).
func WithChunkRows(rows int64) Option { return func(c *config) { c.chunkRows = rows } }

// WithBatchRows sets the rows per Arrow record batch (default 50,000; never more than the
// client's maxRows).
func WithBatchRows(rows int64) Option { return func(c *config) { c.batchRows = rows } }

// WithBatchBytes caps the data of an Arrow record batch (strings, binaries, nested values
// as text, and 8 bytes a fixed-width value; default 16 MiB; 0: no cap): a batch of wide
// rows ends before WithBatchRows' count. An inline batch is one Thrift binary field, which the
// driver refuses over 100 MB.
func WithBatchBytes(n int) Option { return func(c *config) { c.batchBytes = max(n, 0) } }

// WithLinkTTL sets how long CloudFetch links stay valid (default 15 min); it must be
// positive (NewServer fails otherwise).
func WithLinkTTL(d time.Duration) Option { return func(c *config) { c.linkTTL = d } }

// WithServedFileRetention sets how many bytes of CloudFetch files already served in full
// the server keeps, so that a client whose download was cut short can download a file
// again while its link is valid, as from a real store (default 256 MiB). Beyond it the
// files served longest ago go first; 0 frees a file once it was served. Files not served
// yet are kept until their links expire, whatever their size.
func WithServedFileRetention(bytes int64) Option {
	return func(c *config) { c.servedRetention = max(bytes, 0) }
}

// WithFailedOperationTTL sets how long a statement that was cancelled, failed or timed
// out stays known after it ended when the client does not close it (default 1 min), and
// one the client cancelled after it had finished stays known after the cancel. The
// driver reports a failure from GetOperationStatus without closing the statement, and
// after CancelOperation it sends nothing more.
func WithFailedOperationTTL(d time.Duration) Option { return func(c *config) { c.failedOpTTL = d } }

// WithMaxBodyBytes caps request bodies (default 16 MiB); larger ones get 413. It must be
// positive (NewServer fails otherwise); math.MaxInt64 is no cap in practice.
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBodyBytes = n } }

// WithStatementRecords keeps the records of the n most recent statements, and of the n
// most recent sessions, only (default 0: every one), so that a long run's records do not
// grow without bound; the older ones leave Statements, Statement and Sessions.
func WithStatementRecords(n int) Option { return func(c *config) { c.statementRecords = n } }

// WithSessionIdleTimeout closes a session that has had no call for d (default 0: never),
// as a server that expires idle sessions does: its statements are forgotten and its
// database connection closed, and a statement on it later fails as one on an unknown
// session, so the driver opens a new one. A session with a statement still running is
// not idle. It frees what a client that went away without closing its sessions left.
func WithSessionIdleTimeout(d time.Duration) Option { return func(c *config) { c.sessionIdle = d } }

// Server is a running local warehouse. Start one with NewServer: the zero value is not
// usable. Its methods are safe for concurrent use.
type Server struct {
	cfg      config
	ln       net.Listener
	http     *http.Server
	baseURL  string
	db       *sql.DB
	conn     *duckdb.Connector
	flag     atomic.Bool
	closing  chan struct{}
	shut     chan struct{}  // closed when the first Close has returned
	handlers sync.WaitGroup // in-flight HTTP handlers
	work     sync.WaitGroup // statement goroutines
	janitor  chan struct{}  // closed when the janitor goroutine has returned
	serving  chan struct{}  // closed when the http.Server's Serve has returned
	faults   faultTable
	rec      recorder
	tcli     http.Handler

	mu       sync.Mutex
	closed   bool
	sessions map[string]*session
	ops      map[string]*operation
	chunks   map[string]*chunk
	// served lists the tokens of the files served in full, oldest first (some may be gone
	// already), and servedBytes the size of those still held: see keepServedLocked.
	served      []string
	servedBytes int64
}

// NewServer starts a warehouse listening on a random loopback port; it is ready when
// NewServer returns.
func NewServer(opts ...Option) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.token == "" {
		cfg.token = "dapi" + randomHex(16)
	}
	if cfg.addr == "" {
		cfg.addr = defaultConfig().addr // the default, as for every other option's zero value
	}
	switch {
	case cfg.batchRows <= 0:
		return nil, &OptionError{Option: "WithBatchRows", Value: fmt.Sprint(cfg.batchRows), Reason: "the rows of a batch must be positive"}
	case cfg.chunkRows <= 0:
		return nil, &OptionError{Option: "WithChunkRows", Value: fmt.Sprint(cfg.chunkRows), Reason: "the rows of a chunk must be positive"}
	case cfg.maxBodyBytes <= 0:
		return nil, &OptionError{Option: "WithMaxBodyBytes", Value: fmt.Sprint(cfg.maxBodyBytes), Reason: "the body cap must be positive"}
	case cfg.linkTTL <= 0:
		return nil, &OptionError{Option: "WithLinkTTL", Value: cfg.linkTTL.String(), Reason: "the link lifetime must be positive"}
	}
	if reason := tokenProblem(cfg.token); reason != "" {
		return nil, &OptionError{Option: "WithToken", Reason: reason} // the value is a secret: not in the error
	}
	connector, err := duckdb.NewConnector("", initSession)
	if err != nil {
		return nil, fmt.Errorf("warehouse: open duckdb: %w", err)
	}
	db := sql.OpenDB(connector)
	// A session's connection is never reused: its schema, temp tables and settings die with it.
	db.SetMaxIdleConns(0)
	// Functions and schemas live in the database's catalog: made once, for every session.
	if err := prepareCatalog(db); err != nil {
		_ = db.Close()
		_ = connector.Close()
		return nil, fmt.Errorf("warehouse: prepare the catalog: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err == nil && !driverReachable(ln.Addr()) {
		_ = ln.Close()
		err = &OptionError{Option: "WithAddr", Value: cfg.addr,
			Reason: "it listens on IPv6 address " + ln.Addr().String() + ", which the Databricks driver cannot parse in a DSN: use an IPv4 address, a host name or an empty host"}
	}
	if err != nil {
		_ = db.Close()
		_ = connector.Close()
		var oe *OptionError
		if errors.As(err, &oe) {
			return nil, err
		}
		return nil, fmt.Errorf("warehouse: listen: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		ln:       ln,
		baseURL:  "http://" + dialAddr(ln.Addr()),
		conn:     connector,
		db:       db,
		closing:  make(chan struct{}),
		shut:     make(chan struct{}),
		janitor:  make(chan struct{}),
		serving:  make(chan struct{}),
		sessions: map[string]*session{},
		ops:      map[string]*operation{},
		chunks:   map[string]*chunk{},
	}
	s.rec.init(cfg.statementRecords)
	s.flag.Store(cfg.telemetryFlag)
	s.tcli = newThriftHandler(s)
	mux := http.NewServeMux()
	mux.Handle("POST "+HTTPPath, s.group(GroupThrift, s.requireAuth(s.tcli)))
	mux.Handle(HTTPPath, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the Thrift endpoint takes POST", http.StatusMethodNotAllowed)
	}))
	mux.Handle("GET /cloudfetch/{token}", s.group(GroupCloudFetch, http.HandlerFunc(s.serveChunk)))
	mux.Handle("POST /telemetry-ext", s.recordTelemetry(s.group(GroupTelemetry, s.requireAuth(s.telemetryAnswer()))))
	mux.Handle("POST /telemetry-unauth", s.recordTelemetry(s.group(GroupTelemetry, s.telemetryAnswer())))
	mux.Handle("GET /api/2.0/connector-service/feature-flags/{client}/{version}",
		s.group(GroupFeatureFlag, s.requireAuth(http.HandlerFunc(s.serveFeatureFlags))))
	s.http = &http.Server{
		Handler:           s.track(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          nil,
	}
	go func() {
		defer close(s.serving)
		_ = s.http.Serve(ln)
	}()
	go s.sweep(sweepInterval(cfg))
	return s, nil
}

// DSN returns a DSN for the Databricks driver:
// http://token:<tok>@127.0.0.1:PORT/sql/1.0/warehouses/local, the token escaped. A
// server listening on every address (0.0.0.0, [::]) is named by its loopback address.
func (s *Server) DSN() string {
	u := url.URL{Scheme: "http", User: url.UserPassword("token", s.cfg.token), Host: dialAddr(s.ln.Addr()), Path: HTTPPath}
	return u.String()
}

// dialAddr is the host:port a client on this machine dials to reach a listener on addr:
// the loopback address for one on every address (0.0.0.0, [::], WithAddr(":8080")),
// which no client can dial by name, else addr itself. (The Databricks driver cannot
// parse an IPv6 literal host: listen on an IPv4 address, or on every address, for a DSN
// it can use.)
func dialAddr(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
	}
	return addr.String()
}

// driverReachable reports whether the driver can reach addr, a listener's, by the DSN
// that names it: an IPv4 address, or every address (named by 127.0.0.1). The driver joins
// a DSN's host and port without the brackets an IPv6 address needs.
func driverReachable(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return !ok || tcp.IP.IsUnspecified() || tcp.IP.To4() != nil
}

// tokenProblem says why no request could carry token in its Authorization header (net/http
// trims blanks at a header value's ends and refuses control characters), "" when one can.
func tokenProblem(token string) string {
	if strings.TrimLeft(token, " \t") != token || strings.TrimRight(token, " \t") != token {
		return "the token starts or ends with a blank, which no HTTP header keeps"
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c < 0x20 || c == 0x7f {
			return "the token holds a control character (a line's end?), which no HTTP header carries"
		}
	}
	return ""
}

// An OptionError is an option value NewServer refuses. Option is the option's name
// (WithToken), Value its value as given ("" for a token, which is a secret).
type OptionError struct {
	Option, Value, Reason string
}

// Error names the option, its value (but a token's) and the reason.
func (e *OptionError) Error() string {
	if e.Value == "" {
		return "warehouse: " + e.Option + ": " + e.Reason
	}
	return "warehouse: " + e.Option + "(" + e.Value + "): " + e.Reason
}

// URL returns the server's base URL, http://127.0.0.1:PORT.
func (s *Server) URL() string { return s.baseURL }

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Token returns the personal access token the server accepts.
func (s *Server) Token() string { return s.cfg.token }

// SetTelemetryFlag changes what the feature-flag endpoint says from now on.
func (s *Server) SetTelemetryFlag(enabled bool) { s.flag.Store(enabled) }

// Close stops the server: it unblocks hanging requests, closes connections, interrupts
// running statements, waits for every goroutine it started and closes the database.
// Later calls return nil once the first has returned, concurrent ones included.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.shut
		return nil
	}
	s.closed = true
	close(s.closing)
	defer close(s.shut)
	ops := make([]*operation, 0, len(s.ops))
	for _, op := range s.ops {
		ops = append(ops, op)
	}
	s.mu.Unlock()

	err := s.http.Close()
	for _, op := range ops {
		op.cancel()
	}
	s.handlers.Wait()
	s.work.Wait()
	<-s.janitor
	<-s.serving

	s.mu.Lock()
	sessions := s.sessions
	s.sessions, s.ops, s.chunks = map[string]*session{}, map[string]*operation{}, map[string]*chunk{}
	s.served, s.servedBytes = nil, 0
	s.mu.Unlock()
	now := time.Now()
	for _, sess := range sessions {
		_ = sess.conn.Close()
		s.rec.session(sess.id, func(r *SessionRecord) { r.ClosedAt = now }) // the records outlive Close
	}
	err = errors.Join(err, s.db.Close(), s.conn.Close())
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// sweepInterval is how often the janitor runs: often enough that nothing outlives its
// TTL by more than half of it, at most once a minute, at least every 10 ms.
func sweepInterval(cfg config) time.Duration {
	shortest := min(cfg.linkTTL, cfg.failedOpTTL)
	if cfg.sessionIdle > 0 {
		shortest = min(shortest, cfg.sessionIdle)
	}
	return min(max(shortest/2, 10*time.Millisecond), time.Minute)
}

// sweep frees, until the server closes, the CloudFetch files whose links have expired
// (a client that never downloads them would otherwise keep them until the next
// CloudFetch result) and the failed statements nobody closed.
func (s *Server) sweep(every time.Duration) {
	defer close(s.janitor)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case now := <-t.C:
			s.dropExpiredChunks(now)
			s.reapFailedOperations(now)
			s.reapIdleSessions(now)
		}
	}
}

// track counts in-flight handlers so that Close can wait for them.
// The Add happens under the lock that Close takes before it waits, so no handler can
// start once Close is waiting.
func (s *Server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			http.Error(w, "the warehouse is shutting down", http.StatusServiceUnavailable)
			return
		}
		s.handlers.Add(1)
		s.mu.Unlock()
		defer s.handlers.Done()
		h.ServeHTTP(w, r)
	})
}

func (s *Server) requireAuth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok != s.cfg.token {
			w.Header().Set("X-Databricks-Reason-Phrase", "Invalid access token.")
			http.Error(w, "invalid access token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newGUID() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return b
}

// guidString prints a handle GUID the way the driver does.
func guidString(b []byte) string {
	if len(b) != 16 {
		return hex.EncodeToString(b)
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *Server) isClosing() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// sleep waits for d, the request's end or the server's close, whichever comes first.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return false
	}
}

var _ tcli.TCLIService = (*service)(nil)
