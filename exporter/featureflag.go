package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FlagResponse is a parsed feature-flag answer,
// {"flags":[{"name":…,"value":…}],"ttl_seconds":N}.
type FlagResponse struct {
	// Flags maps each flag name to its value; a later duplicate wins.
	Flags map[string]string
	// TTL is ttl_seconds clamped to [MinFlagTTL, MaxFlagTTL], or 0 when absent or not positive.
	TTL time.Duration
}

// Enabled reports whether flag name is present with value "true" (any case).
func (r FlagResponse) Enabled(name string) bool {
	v, ok := r.Flags[name]
	return ok && strings.EqualFold(v, "true")
}

// ParseFlags parses a feature-flag response body. Values may be JSON strings or
// booleans; other value types are kept as their JSON text (and so never read as true).
// ttl_seconds may be a number or a string that holds one (proto3's JSON writes an int64
// so); one of any other form is no TTL, and the flags stand.
func ParseFlags(body []byte) (FlagResponse, error) {
	var raw struct {
		Flags []struct {
			Name  string          `json:"name"`
			Value json.RawMessage `json:"value"`
		} `json:"flags"`
		TTLSeconds json.RawMessage `json:"ttl_seconds"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return FlagResponse{}, fmt.Errorf("exporter: parse feature flags: %w", err)
	}
	r := FlagResponse{Flags: make(map[string]string, len(raw.Flags))}
	for _, f := range raw.Flags {
		var s string
		if err := json.Unmarshal(f.Value, &s); err != nil {
			s = string(f.Value)
		}
		r.Flags[f.Name] = s
	}
	if secs, ok := ttlSeconds(raw.TTLSeconds); ok && secs > 0 {
		switch {
		case secs >= MaxFlagTTL.Seconds() || math.IsInf(secs, 1):
			r.TTL = MaxFlagTTL
		case secs <= MinFlagTTL.Seconds():
			r.TTL = MinFlagTTL
		default:
			r.TTL = time.Duration(secs * float64(time.Second))
		}
	}
	return r, nil
}

// ttlSeconds reads ttl_seconds: a JSON number, or a string holding one.
func ttlSeconds(raw json.RawMessage) (float64, bool) {
	var secs float64
	if json.Unmarshal(raw, &secs) == nil {
		return secs, true
	}
	var text string
	if json.Unmarshal(raw, &text) != nil {
		return 0, false
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	return secs, err == nil && !math.IsNaN(secs)
}

// FeatureFlagCache caches one host's server-side telemetry switch (SPEC §5). It fetches
// through the host exporter's client, credentials and circuit breaker and keeps one fetch
// in flight, which runs on a goroutine of its own so that every caller, the one that
// started it included, waits only as long as its own context allows. The exporter's
// Close waits for that goroutine (within its ctx) and then cancels it.
type FeatureFlagCache struct {
	exp *HTTPExporter

	mu      sync.Mutex
	value   bool
	expires time.Time
	call    chan struct{} // closed when the fetch in flight ends; nil when none
}

func newFeatureFlagCache(e *HTTPExporter) *FeatureFlagCache { return &FeatureFlagCache{exp: e} }

// Enabled reports the flag, fetching it when the cached answer expired. The answer is
// cached for ttl_seconds (clamped to 1 min … 1 h) or WithFlagTTL. A non-2xx answer, an
// unparsable body or a missing flag mean off; a fetch that fails (network, timeout,
// open breaker, no credentials) keeps the last known value, off if none, and is retried
// after MinFlagTTL.
//
// The fetch is shared: it runs detached from the context of the caller that started it
// (context.WithoutCancel), bounded by the flag timeout, and every caller, that one
// included, waits for it or for its own ctx. A caller whose ctx ends first gets the last
// known value (off if none) for itself; the fetch goes on for the others and its answer
// is cached. A caller whose ctx is already done starts no fetch.
func (c *FeatureFlagCache) Enabled(ctx context.Context) bool {
	return c.EnabledForWorkspace(ctx, 0)
}

// EnabledForWorkspace is Enabled for a connection whose http path names workspaceID
// (telemetry.WorkspaceIDFromHTTPPath; 0 for none): a fetch it starts names the
// workspace in the X-Databricks-Org-Id header, as the telemetry export does and as the
// Go driver's own fetch does. A unified (SPOG) host, which serves many workspaces,
// redirects a request that names none to its login page, which would read as "off".
// The answer is the host's, cached for every workspace, as in the reference drivers.
func (c *FeatureFlagCache) EnabledForWorkspace(ctx context.Context, workspaceID int64) bool {
	c.mu.Lock()
	fresh := !c.expires.IsZero() && c.exp.cfg.now().Before(c.expires)
	call := c.call
	if fresh || call == nil && ctx.Err() != nil {
		v := c.value
		c.mu.Unlock()
		return v
	}
	if call == nil {
		call = c.start(ctx, workspaceID)
	}
	c.mu.Unlock()
	select {
	case <-call:
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.value
}

// start begins the shared fetch and returns the channel closed when it ended. c.mu is held.
func (c *FeatureFlagCache) start(ctx context.Context, workspaceID int64) chan struct{} {
	call := make(chan struct{})
	c.call = call
	fctx, done, err := c.exp.begin(context.WithoutCancel(ctx))
	if err != nil { // the exporter is closed: nothing to ask with
		c.call = nil
		close(call)
		return call
	}
	// The fetch's bound carries the attempt-timeout cause: when it cuts the request,
	// the fetch failed on its own timeout (which counts for the breaker), not because a
	// caller gave up.
	fctx, cancel := context.WithTimeoutCause(fctx, c.exp.cfg.flagTimeout, ErrAttemptTimeout)
	// The exporter's Close does not wait for a fetch: it cuts it short at once.
	fctx, cut := context.WithCancelCause(fctx)
	stop := context.AfterFunc(c.exp.closing, func() { cut(ErrClosed) })
	go c.refresh(fctx, workspaceID, func() { stop(); cut(nil); cancel(); done() }, call)
	return call
}

// refresh performs the shared fetch, stores its outcome and releases the callers waiting
// on call. It runs on its own goroutine, so nothing escapes it: a panic (a caller's
// clock, logger or credentials) is a failed fetch.
func (c *FeatureFlagCache) refresh(ctx context.Context, workspaceID int64, done func(), call chan struct{}) {
	defer done()
	defer func() { _ = recover() }() // from store: the waiters are released already
	var (
		enabled bool
		ttl     time.Duration
		err     = errPanicked
	)
	defer func() { c.store(call, enabled, ttl, err) }()
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("exporter: fetch feature flag: %w: %v", errPanicked, v)
		}
	}()
	enabled, ttl, err = c.fetch(ctx, workspaceID)
	if err != nil && errors.Is(context.Cause(ctx), ErrClosed) {
		err = fmt.Errorf("exporter: fetch feature flag: %w (%w)", ErrClosed, err)
	}
}

// store records a fetch's outcome and ends the fetch in flight, whatever happens (a
// caller's clock may panic): later callers must not wait on it for ever. A fetch cut by
// the exporter's Close is not cached.
//
// Its log line is written after the lock is let go: a caller's logger whose output has
// stopped draining must not hold the callers that read the flag.
func (c *FeatureFlagCache) store(call chan struct{}, enabled bool, ttl time.Duration, err error) {
	kept, failed := c.record(call, enabled, ttl, err)
	if failed {
		c.exp.log.Debug().Err(err).Bool("kept", kept).Msg("feature flag fetch failed")
	}
}

// record is store's part under c.mu; it reports the value kept and whether the fetch
// failed (not cut by Close).
func (c *FeatureFlagCache) record(call chan struct{}, enabled bool, ttl time.Duration, err error) (kept, failed bool) {
	c.mu.Lock()
	defer func() {
		c.call = nil
		close(call)
		c.mu.Unlock()
	}()
	switch {
	case errors.Is(err, ErrClosed):
	case err != nil:
		c.expires = c.exp.cfg.now().Add(MinFlagTTL)
		return c.value, true
	default:
		c.value = enabled
		c.expires = c.exp.cfg.now().Add(ttl)
	}
	return c.value, false
}

// errNoCredentials: the flag endpoint needs authentication; without it we do not ask.
var errNoCredentials = errors.New("exporter: no credentials for the feature-flag request")

// fetch asks the server. An error means "no answer" (keep the last value); a non-2xx
// answer or an unparsable body is an answer meaning off, cached for MinFlagTTL.
func (c *FeatureFlagCache) fetch(ctx context.Context, workspaceID int64) (bool, time.Duration, error) {
	e := c.exp
	ctx, done, err := e.begin(ctx)
	if err != nil {
		return false, 0, err
	}
	defer done()

	path := featureFlagPathPrefix + url.PathEscape(e.cfg.flagClient) + "/" + url.PathEscape(e.cfg.driverVersion)
	hdr, authed := e.authHeadersFor(ctx, path, workspaceID)
	if !authed {
		return false, 0, errNoCredentials
	}
	target := e.target.URL(path)
	r, err := e.pol.run(ctx, e.pol.fetch, func(ctx context.Context) (*reply, error) {
		r, err := e.attempt(ctx, http.MethodGet, target, hdr, nil, e.cfg.maxFlagBytes)
		switch {
		case err != nil:
		case r.tooLarge:
			err = ErrResponseTooLarge
		case r.bodyErr != nil:
			err = r.bodyErr
		}
		return r, err
	})
	var se *StatusError
	switch {
	case errors.As(err, &se):
		return false, MinFlagTTL, nil
	case err != nil:
		return false, 0, fmt.Errorf("exporter: fetch feature flag: %w", err)
	}
	resp, err := ParseFlags(r.body)
	if err != nil {
		return false, MinFlagTTL, nil
	}
	ttl := resp.TTL
	if ttl == 0 {
		ttl = e.cfg.flagTTL
	}
	return resp.Enabled(e.cfg.flagName), ttl, nil
}
