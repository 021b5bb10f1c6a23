package exporter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbtelemetry/dbtelemetry/internal/quietlog"
)

// Layer is a per-host value built over the host's exporter by WithLayer and shared by
// every handle to the host, e.g. the driver's aggregator. The registry closes it before
// the exporter, so its final flush still goes out with credentials.
type Layer interface {
	Close(ctx context.Context) error
}

// Registry shares one HTTPExporter (with its flag cache, circuit breaker and optional
// Layer) per normalised host between connections, reference counted; an owner
// (WithOwner) gets one of its own for the host. It is a value the
// driver owns; there is no package-level state. No goroutine it starts outlives Close.
// Make one with NewRegistry: the zero value is not usable.
type Registry struct {
	cfg config

	mu      sync.Mutex
	entries map[string]*entry
	closing map[*entry]struct{} // left the map, final flush under way
	closed  bool
}

type entry struct {
	key     string
	exp     *HTTPExporter
	layer   Layer
	holders []*Handle // live handles, in acquisition order; guarded by Registry.mu
	once    sync.Once
	done    chan struct{} // closed when shutdown finished
	err     error
	// kept are the credentials of the newest handle acquired with some, kept after it
	// leaves, and that handle's workspace; guarded by Registry.mu.
	kept credBox
	// lastGood are the last credentials that authenticated a request.
	lastGood atomic.Pointer[credBox]
}

// hostCredentials are the credentials of a host's exporter: those of its live handles,
// the ones the server accepted last first (see Accepted), then newest first, the first
// that authenticates the request winning. Those of the workspace the request names
// (WithConnWorkspace) come before any other's: a unified host serves many workspaces,
// and refuses a workspace's token in a request that names another. A connection that has
// not authenticated yet (or never will, with a wrong token) then does not send every
// connection's telemetry to the unauthenticated path, stripped of its ids, while other
// connections' credentials work. When none of them works (the final flush, after the
// last handle left), the last credentials that worked are used, then the newest given.
type hostCredentials struct {
	r *Registry
	e *entry
}

// errNoHolderCredentials: no handle of the host has credentials.
var errNoHolderCredentials = errors.New("exporter: no connection of the host has credentials")

// Authenticate implements Credentials.
func (hc hostCredentials) Authenticate(req *http.Request) error {
	ws := requestWorkspace(req)
	hc.r.mu.Lock()
	cands := make([]credBox, 0, len(hc.e.holders)+2)
	for i := len(hc.e.holders) - 1; i >= 0; i-- {
		if h := hc.e.holders[i]; h.creds != nil {
			cands = append(cands, credBox{c: h.creds, ws: h.workspace})
		}
	}
	kept := hc.e.kept
	hc.r.mu.Unlock()
	slices.SortStableFunc(cands, func(a, b credBox) int {
		return lastAccepted(b.c).Compare(lastAccepted(a.c)) // the latest first; the rest keep their order
	})
	if b := hc.e.lastGood.Load(); b != nil {
		cands = append(cands, *b)
	}
	if kept.c != nil {
		cands = append(cands, kept)
	}
	// The request's workspace first, then the rest, each in the order above.
	slices.SortStableFunc(cands, func(a, b credBox) int {
		return cmp.Compare(boolInt(a.ws != ws), boolInt(b.ws != ws))
	})
	err := errNoHolderCredentials
	for _, c := range cands {
		req.Header = make(http.Header) // nothing a failed attempt set stays
		if err = authenticate(c.c, req); err == nil {
			hc.e.lastGood.Store(&credBox{c: c.c, ws: c.ws})
			return nil
		}
	}
	req.Header = make(http.Header)
	return err
}

// lastAccepted is when the server last accepted c (zero: not known).
func lastAccepted(c Credentials) (t time.Time) {
	defer func() { _ = recover() }() // the caller's credentials: a panic means not known
	if a, ok := c.(Accepted); ok {
		t = a.LastAccepted()
	}
	return t
}

// Handle is one connection's reference to its host's shared exporter. Release it
// exactly once when the connection closes; later calls are ignored.
type Handle struct {
	r         *Registry
	e         *entry
	creds     Credentials
	workspace int64
	released  atomic.Bool
}

// AcquireOption configures one Acquire.
type AcquireOption func(*acquireConfig)

type acquireConfig struct {
	creds     Credentials
	workspace int64
	loopback  bool
	hostOpts  []Option
	owner     string
}

// WithConnCredentials gives the connection's credentials (e.g. its PAT as
// BearerToken, or the driver's authenticator). Default none. The host's exporter uses
// the credentials of its live handles, those the server accepted last first (see
// Accepted), then newest first, the first that authenticates (an Authenticate that
// returns an error is passed over); credentials are never forgotten,
// so logs of a closed connection and the final flush still authenticate.
func WithConnCredentials(c Credentials) AcquireOption {
	return func(a *acquireConfig) { a.creds = c }
}

// WithConnWorkspace gives the workspace the connection's http path names
// (telemetry.WorkspaceIDFromHTTPPath), whose token its credentials are: the host's
// exporter authenticates a batch, or a feature-flag fetch, that names a workspace with
// the credentials of a connection of that workspace before any other's. Default 0, none.
func WithConnWorkspace(id int64) AcquireOption {
	return func(a *acquireConfig) { a.workspace = id }
}

// WithHostOptions adds exporter options (retries, backoff, a Layer, …) on top of the
// registry's for the host's exporter, when this Acquire is the one that creates it: the
// first connection to a host configures what every later one shares. Default none.
func WithHostOptions(opts ...Option) AcquireOption {
	return func(a *acquireConfig) { a.hostOpts = append(a.hostOpts, opts...) }
}

// WithOwner keeps the exporter this Acquire finds or creates to the connections that
// give the same owner: the host's shared one for "" (the default), else one of the
// owner's own for the host (keyed "scheme://host:port#owner"). A connection whose HTTP
// transport or TLS settings are its own (WithHostOptions with WithTransport,
// WithBaseTransport or WithTLSConfig) gives a unique owner, so that neither its telemetry and credentials go through another
// connection's transport, nor another's through its own.
func WithOwner(owner string) AcquireOption { return func(a *acquireConfig) { a.owner = owner } }

// WithLoopbackDSN says the connection's DSN targets a loopback host (a local
// warehouse), which is then an acceptable telemetry target. Default false.
func WithLoopbackDSN() AcquireOption { return func(a *acquireConfig) { a.loopback = true } }

// NewRegistry returns an empty registry; opts apply to every exporter it creates. When
// no WithHTTPClient is given each host gets a client of its own, whose idle connections
// are released when the host closes (its last Release, or Close).
func NewRegistry(opts ...Option) *Registry {
	return &Registry{cfg: newConfig(opts), entries: make(map[string]*entry), closing: make(map[*entry]struct{})}
}

// Acquire validates host (the DSN host, see ParseTarget) and returns a handle on the
// shared exporter for it, creating it on first use. Errors wrap ErrInvalidHost,
// ErrForbiddenHost, or ErrClosed once the registry is closing.
func (r *Registry) Acquire(host string, opts ...AcquireOption) (*Handle, error) {
	var ac acquireConfig
	for _, o := range opts {
		if o != nil {
			o(&ac)
		}
	}
	t, err := ParseTarget(host, ac.loopback)
	if err != nil {
		return nil, err
	}
	key := t.Key()
	if ac.owner != "" {
		key += "#" + ac.owner
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("exporter: acquire %s: %w", key, ErrClosed)
	}
	e := r.entries[key]
	if e == nil {
		cfg := r.cfg
		client := cfg.client
		for _, o := range ac.hostOpts {
			if o != nil {
				o(&cfg)
			}
		}
		switch {
		case cfg.client == nil || (cfg.client == client && r.cfg.ownClient):
			// No caller's client (WithHTTPClient(nil) in the host options means none, as
			// in newConfig): the host gets a client of its own (newTransport: a
			// connection per request, none kept idle, unless WithTransport gave one),
			// which its exporter's Close releases.
			cfg.client = &http.Client{Transport: cfg.clientTransport(), CheckRedirect: refuseRedirect}
			cfg.ownClient = true
		case cfg.client != client:
			// Like newConfig: a copy that refuses redirects, the caller's stays as it is.
			cp := *cfg.client
			cp.CheckRedirect = refuseRedirect
			cfg.client = &cp
			cfg.ownClient = false
		default:
			cfg.ownClient = false // the caller's client outlives any one host
		}
		e = &entry{key: key, done: make(chan struct{})}
		cfg.credentials = hostCredentials{r: r, e: e}
		e.exp = newHTTPExporter(t, cfg)
		if cfg.layer != nil {
			e.layer = cfg.layer(t, e.exp)
		}
		r.entries[e.key] = e
	}
	h := &Handle{r: r, e: e, creds: ac.creds, workspace: ac.workspace}
	e.holders = append(e.holders, h)
	if ac.creds != nil {
		e.kept = credBox{c: ac.creds, ws: ac.workspace}
	}
	return h, nil
}

// Exporter returns the host's shared exporter. It stays valid to call after Release,
// but a closed exporter refuses batches with ErrClosed.
func (h *Handle) Exporter() *HTTPExporter { return h.e.exp }

// FeatureFlags returns the host's shared feature-flag cache.
func (h *Handle) FeatureFlags() *FeatureFlagCache { return h.e.exp.flags }

// Layer returns the host's Layer, or nil without WithLayer.
func (h *Handle) Layer() Layer { return h.e.layer }

// Key returns the normalised host key the handle is registered under.
func (h *Handle) Key() string { return h.e.key }

// Release drops the reference. The last one removes the host from the registry first
// (so a concurrent Acquire builds a fresh exporter rather than receive a closing one),
// then closes the Layer (its final flush still has credentials) and the exporter,
// bounded by ctx. When Registry.Close already took the host, the last Release waits,
// within its own ctx, for Close's shutdown of it. A second Release is logged at debug and ignored; Release after the
// registry closed is safe.
func (h *Handle) Release(ctx context.Context) error {
	if !h.released.CompareAndSwap(false, true) {
		key := h.e.key
		quietlog.Debug(h.r.cfg.logger, func(ev *zerolog.Event) { ev.Str("host", key).Msg("telemetry handle released twice; ignored") })
		return nil
	}
	r, e := h.r, h.e
	r.mu.Lock()
	for i, x := range e.holders {
		if x == h {
			e.holders = append(e.holders[:i], e.holders[i+1:]...)
			break
		}
	}
	last := len(e.holders) == 0
	owner := last && r.entries[e.key] == e
	if owner {
		delete(r.entries, e.key)
		r.closing[e] = struct{}{}
	}
	r.mu.Unlock()
	if !last {
		return nil
	}
	if !owner {
		// Registry.Close took the entry and is shutting it down with its own ctx;
		// shutdown's sync.Once would make this Release wait for that, not for ctx.
		return e.wait(ctx)
	}
	err := e.shutdown(ctx)
	r.mu.Lock()
	delete(r.closing, e)
	r.mu.Unlock()
	return err
}

// shutdown closes the layer, then the exporter, once.
func (e *entry) shutdown(ctx context.Context) error {
	e.once.Do(func() {
		var errs []error
		if e.layer != nil {
			if err := e.layer.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("exporter: close layer for %s: %w", e.key, err))
			}
		}
		if err := e.exp.Close(ctx); err != nil {
			errs = append(errs, err)
		}
		e.err = errors.Join(errs...)
		close(e.done)
	})
	return e.err
}

// wait waits, within ctx, for a shutdown started elsewhere.
func (e *entry) wait(ctx context.Context) error {
	select {
	case <-e.done: // first: once done, a ctx already done changes nothing
		return e.err
	default:
	}
	select {
	case <-e.done:
		return e.err
	case <-ctx.Done():
		return fmt.Errorf("exporter: wait for %s to close: %w", e.key, ctx.Err())
	}
}

// Len returns the number of host exporters with live handles: a host's shared one and
// any owner's own (WithOwner).
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}

// Refs returns the number of live handles on the host key (as Handle.Key spells it).
func (r *Registry) Refs(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.entries[key]; e != nil {
		return len(e.holders)
	}
	return 0
}

// Close refuses further Acquires, then flushes and closes every host's layer and
// exporter concurrently, and waits for those a last Release or an earlier Close is
// already closing, all bounded by ctx: when it returns within ctx, every host is flushed
// and closed, whichever call did it. Handles still out may be released later at no cost.
// Close is idempotent.
func (r *Registry) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	closing := make([]*entry, 0, len(r.closing))
	for e := range r.closing {
		closing = append(closing, e)
	}
	live := make([]*entry, 0, len(r.entries))
	for k, e := range r.entries {
		live = append(live, e)
		delete(r.entries, k)
		r.closing[e] = struct{}{} // a later Close waits for it too
	}
	r.mu.Unlock()

	errs := make([]error, len(live)+len(closing))
	var wg sync.WaitGroup
	for i, e := range live {
		wg.Go(func() {
			errs[i] = e.shutdown(ctx)
			r.mu.Lock()
			delete(r.closing, e)
			r.mu.Unlock()
		})
	}
	for i, e := range closing {
		wg.Go(func() { errs[len(live)+i] = e.wait(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// boolInt is 1 for true, 0 for false: an order that puts false first.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
