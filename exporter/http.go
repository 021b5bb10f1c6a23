package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// HTTPExporter is the Databricks telemetry exporter for one host. It is safe for
// concurrent use. The only goroutine it starts is the feature-flag fetch in flight (see
// FeatureFlagCache), which Close waits for within its ctx and then cancels. Make one with
// NewHTTPExporter, or get a host's shared one from a Registry: the zero value is not
// usable.
type HTTPExporter struct {
	cfg    config
	target Target
	// badTarget is why target is not one ParseTarget returns (a Target built by hand):
	// then nothing is sent, and every export and flag fetch fails with it.
	badTarget error
	creds     credSlot
	pol       *hostPolicy
	stats     counters
	flags     *FeatureFlagCache
	log       zerolog.Logger
	bodies    bodyPool

	mu       sync.Mutex
	closed   bool
	inflight int
	idle     chan struct{} // closed once closed && inflight == 0
	life     context.Context
	abort    context.CancelFunc
	// closing ends when Close begins: a feature-flag fetch then stops at once (its answer
	// serves nothing any more), where exports in flight may finish within Close's context.
	closing     context.Context
	closingDone context.CancelFunc
}

var (
	_ telemetry.Exporter      = (*HTTPExporter)(nil)
	_ telemetry.StatsReporter = (*HTTPExporter)(nil)
)

// NewHTTPExporter returns an exporter for target with its own circuit breaker and
// feature-flag cache. Most callers get one from a Registry instead, which shares it
// between every connection to the host. target must come from ParseTarget: a Target
// built or changed by hand that ParseTarget would not return (another host, Loopback set
// on a remote one, a zero Target) sends nothing, and its Export and flag fetches fail
// with an error wrapping ErrInvalidHost or ErrForbiddenHost.
func NewHTTPExporter(target Target, opts ...Option) *HTTPExporter {
	return newHTTPExporter(target, newConfig(opts))
}

func newHTTPExporter(target Target, cfg config) *HTTPExporter {
	e := &HTTPExporter{cfg: cfg, target: target, idle: make(chan struct{}), badTarget: checkTarget(target)}
	e.log = cfg.logger.With().Str("component", "telemetry-exporter").Str("host", target.Key()).Logger()
	e.creds.store(cfg.credentials)
	e.pol = newHostPolicy(&e.cfg, target.Key(), &e.stats)
	e.pol.log = e.log
	e.flags = newFeatureFlagCache(e)
	e.life, e.abort = context.WithCancel(context.Background())
	e.closing, e.closingDone = context.WithCancel(context.Background())
	return e
}

// Target returns the host the exporter sends to.
func (e *HTTPExporter) Target() Target { return e.target }

// FeatureFlags returns the host's feature-flag cache, which shares this exporter's
// client, credentials and circuit breaker.
func (e *HTTPExporter) FeatureFlags() *FeatureFlagCache { return e.flags }

// Export POSTs logs as one batch to /telemetry-ext with the current credentials, or to
// /telemetry-unauth, stripped of ids and configuration, when there are none usable.
// It retries per the retry policy inside the host's breaker; an open breaker drops the
// batch at once with ErrBreakerOpen. The error is for counting only: nothing is retried later.
func (e *HTTPExporter) Export(ctx context.Context, logs []*telemetry.FrontendLog) error {
	if len(logs) == 0 {
		return nil
	}
	n := len(logs) - countNil(logs)
	if n == 0 {
		return nil // only nil entries: no batch
	}
	ctx, done, err := e.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	e.stats.batches.Add(1)

	ws, _ := workspaceID(logs)
	hdr, authed := e.authHeadersFor(ctx, telemetryExtPath, ws)
	path := telemetryExtPath
	if !authed {
		path = telemetryUnauthPath
	}
	url := e.target.URL(path)
	// A 2xx is the acknowledgement; what the server says with it only feeds the debug
	// line: unless that line is written, the answer is not waited for (see attempt), so
	// that an ingest slow to send the rest of it does not hold the batch.
	maxBody := int64(skip2xxBody)
	if debugOn(e.log) {
		maxBody = e.cfg.maxResponseBytes
	}
	// The body is written by the first attempt: not at all when the breaker is open.
	var body *sharedBody
	defer func() {
		if body != nil {
			body.release()
		}
	}()
	r, err := e.pol.run(ctx, e.pol.export, func(ctx context.Context) (*reply, error) {
		if body == nil {
			b, _ := encodeRequest(e.bodies.get(), logs, e.cfg.now(), !authed)
			body = newSharedBody(b, &e.bodies)
		}
		return e.attempt(ctx, http.MethodPost, url, hdr, body, maxBody)
	})
	switch {
	case errors.Is(err, ErrBreakerOpen):
		e.stats.rejected.Add(1)
		e.log.Debug().Int("logs", n).Msg("telemetry batch dropped: circuit breaker open")
		return fmt.Errorf("exporter: batch of %d logs dropped: %w", n, err)
	case err != nil:
		e.stats.failed.Add(1)
		e.log.Debug().Err(err).Int("logs", n).Bool("authenticated", authed).Msg("telemetry batch not delivered")
		return fmt.Errorf("exporter: batch of %d logs not delivered: %w", n, err)
	}
	e.stats.logs.Add(int64(n))
	if ev := e.log.Debug(); ev.Enabled() {
		ev = ev.Int("logs", n).Bool("authenticated", authed)
		if r != nil && r.bodyErr != nil {
			ev = ev.AnErr("body_error", r.bodyErr)
		}
		var resp telemetry.Response
		if r != nil && json.Unmarshal(r.body, &resp) == nil {
			ev = ev.Int("num_proto_success", resp.NumProtoSuccess).Int("errors", len(resp.Errors))
		}
		ev.Msg("telemetry batch delivered")
	}
	return nil
}

// ExportStats implements telemetry.StatsReporter.
func (e *HTTPExporter) ExportStats() telemetry.ExportStats {
	return telemetry.ExportStats{
		Batches:         e.stats.batches.Load(),
		BatchesFailed:   e.stats.failed.Load(),
		BatchesRejected: e.stats.rejected.Load(),
		LogsExported:    e.stats.logs.Load(),
		Retries:         e.stats.retries.Load(),
		Breaker:         breakerState(e.pol.cb.State()),
		BreakerOpened:   e.stats.opened.Load(),
	}
}

// Transitions returns the most recent breaker transitions, oldest first (at most
// WithTransitionLog of them).
func (e *HTTPExporter) Transitions() []Transition { return e.pol.transitions() }

// Close stops accepting exports and waits, within ctx, for those in flight; when ctx
// ends first they are cancelled and ctx's error returned (with none in flight it returns
// nil, whatever ctx). It is idempotent.
func (e *HTTPExporter) Close(ctx context.Context) error {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		if e.inflight == 0 {
			close(e.idle)
		}
	}
	e.mu.Unlock()
	e.closingDone()

	var err error
	select {
	case <-e.idle: // first: with none in flight, a ctx already done is no failure
	default:
		select {
		case <-e.idle:
		case <-ctx.Done():
			err = fmt.Errorf("exporter: close: %w", ctx.Err())
		}
	}
	e.abort()
	e.cfg.closeIdle()
	e.bodies.close()
	return err
}

// begin registers a call in flight and ties ctx to the exporter's life, so Close can
// cancel what it stops waiting for.
func (e *HTTPExporter) begin(ctx context.Context) (context.Context, func(), error) {
	if e.badTarget != nil {
		return nil, nil, e.badTarget
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, nil, ErrClosed
	}
	e.inflight++
	e.mu.Unlock()

	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(e.life, func() { cancel(ErrClosed) })
	return ctx, func() {
		stop()
		cancel(nil)
		e.mu.Lock()
		e.inflight--
		if e.closed && e.inflight == 0 {
			close(e.idle)
		}
		e.mu.Unlock()
	}, nil
}

// authHeadersFor runs the credentials once per call on a template request and returns
// the headers they set, with X-Databricks-Org-Id naming workspaceID (0: none) when they
// authenticate. Credentials only go over https, or plain http to loopback. A registry's
// host credentials pick a connection of that workspace first (see hostCredentials),
// since a unified host refuses a workspace's token in a request that names another.
func (e *HTTPExporter) authHeadersFor(ctx context.Context, path string, workspaceID int64) (http.Header, bool) {
	hdr := make(http.Header)
	creds := e.creds.load()
	if creds == nil || (e.target.Scheme != "https" && !e.target.Loopback) {
		return hdr, false
	}
	if workspaceID != 0 {
		ctx = context.WithValue(ctx, workspaceKey{}, workspaceID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.target.URL(path), nil)
	if err != nil {
		return hdr, false
	}
	if err := authenticate(creds, req); err != nil {
		// The error type only: an authenticator's message might quote a token.
		e.log.Debug().Str("error_type", fmt.Sprintf("%T", err)).
			Msg("telemetry credentials not usable; using the unauthenticated path")
		return hdr, false
	}
	if len(req.Header) == 0 {
		return req.Header, false
	}
	if workspaceID != 0 {
		req.Header.Set(orgIDHeader, strconv.FormatInt(workspaceID, 10))
	}
	return req.Header, true
}

// authenticate runs caller-supplied credentials; a panic there must not take down the
// goroutine that exports.
func authenticate(c Credentials, req *http.Request) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("exporter: credentials panicked: %v", r)
		}
	}()
	return c.Authenticate(req)
}

// skip2xxBody, as attempt's maxBody, asks it not to wait for a 2xx answer's body (see
// drain).
const skip2xxBody = -1

// drainGrace is how long an answer's body that nothing needs is drained: enough for an
// answer sent with its status, so that a keep-alive transport keeps the connection.
const drainGrace = 100 * time.Millisecond

// debugOn reports whether l writes debug lines.
func debugOn(l zerolog.Logger) bool {
	return l.GetLevel() <= zerolog.DebugLevel && zerolog.GlobalLevel() <= zerolog.DebugLevel
}

// attempt performs one request bounded by the per-attempt timeout and reads at most
// maxBody bytes of a 2xx answer; the body is always drained (boundedly) and closed. An
// error answer's body, which nothing reads, is drained for drainGrace at most; so is a
// 2xx answer's with maxBody skip2xxBody (with the WithMaxResponseBytes cap).
func (e *HTTPExporter) attempt(ctx context.Context, method, url string, hdr http.Header, body *sharedBody, maxBody int64) (*reply, error) {
	timeout := e.cfg.attemptTimeout
	if method == http.MethodGet {
		timeout = e.cfg.flagTimeout
	}
	actx, cancel := context.WithTimeoutCause(ctx, timeout, ErrAttemptTimeout)
	defer cancel()

	var rd io.ReadCloser
	if body != nil {
		rd = body.reader()
	}
	req, err := http.NewRequestWithContext(actx, method, url, rd)
	if err != nil {
		if rd != nil {
			_ = rd.Close() // no transport will: give the body back
		}
		return nil, fmt.Errorf("exporter: build request: %w", err)
	}
	if body != nil {
		req.ContentLength = int64(len(body.b))
		req.GetBody = func() (io.ReadCloser, error) { return body.reader(), nil }
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", contentTypeJSON)
	}
	req.Header.Set("Accept", contentTypeJSON)
	if e.cfg.userAgent != "" {
		req.Header.Set("User-Agent", e.cfg.userAgent)
	}

	resp, err := e.send(actx, req)
	if err != nil {
		return nil, attemptError(actx, err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// net/http hands a 101's connection over as the body: nothing to read there.
		_ = resp.Body.Close()
		return nil, &StatusError{StatusCode: resp.StatusCode}
	}
	// The attempt's end closes the body: a transport may stop watching the request's
	// context once the headers are in (a caller's transport may never watch it), and a
	// body that never ends must not hold the attempt past its timeout.
	stop := context.AfterFunc(actx, func() { _ = resp.Body.Close() })
	defer stop()
	ok, skip := resp.StatusCode >= 200 && resp.StatusCode <= 299, maxBody == skip2xxBody
	if skip {
		maxBody = e.cfg.maxResponseBytes
	}
	if !ok || skip {
		// Nothing reads an error answer's body (the status says it all), nor a 2xx
		// one's unless a debug line will: drained, for a keep-alive transport (a
		// caller's) to reuse the connection, as long as drainGrace at most, so that an
		// answer slower than that (a dripping endpoint) does not hold the attempt.
		drain(resp.Body, maxBody)
		if !ok {
			return nil, &StatusError{StatusCode: resp.StatusCode, RetryAfter: retryAfter(resp, e.cfg.now())}
		}
		return &reply{status: resp.StatusCode}, nil
	}
	data, readErr := readCapped(resp.Body, maxBody)
	// From here the 2xx status is the server's acknowledgement: for a telemetry batch it
	// means delivered, and another attempt would make the ingest hold the logs twice. A
	// body that is too large or cannot be read (timed out, connection cut) is only the
	// reader's problem; the flag fetch, which needs the body, treats it as a failure.
	if errors.Is(readErr, ErrResponseTooLarge) {
		return &reply{status: resp.StatusCode, tooLarge: true}, nil
	}
	if readErr != nil {
		return &reply{status: resp.StatusCode, bodyErr: attemptError(actx, readErr)}, nil
	}
	return &reply{status: resp.StatusCode, body: data}, nil
}

// send sends req and returns its answer's headers. The exporter's own transport ends the
// request with its context (actx); a caller's may never watch it (a tunnel over a
// connection without deadlines), so with one, send stops waiting drainGrace after actx
// ends, and closes the body of an answer that comes later. A round trip that never
// returns then holds one goroutine (and its request's body) of its own until it does:
// the breaker stops the attempts once they fail.
func (e *HTTPExporter) send(actx context.Context, req *http.Request) (*http.Response, error) {
	if e.cfg.ownTransport != nil {
		return e.cfg.client.Do(req)
	}
	type answer struct {
		resp  *http.Response
		err   error
		panic any // what the transport panicked with: raised again on the attempt's goroutine
	}
	done := make(chan answer, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- answer{panic: p}
			}
		}()
		resp, err := e.cfg.client.Do(req)
		done <- answer{resp: resp, err: err}
	}()
	take := func(a answer) (*http.Response, error) {
		if a.panic != nil {
			panic(a.panic) // where the exporter's guard counts a transport's panic
		}
		return a.resp, a.err
	}
	select {
	case a := <-done:
		return take(a)
	case <-actx.Done():
	}
	// A transport that watches the context returns at once now (maybe with the answer
	// that came as the context ended, which still counts: a 503 is the server's failure);
	// a blind one is given up on after drainGrace.
	grace := time.NewTimer(drainGrace)
	defer grace.Stop()
	select {
	case a := <-done:
		return take(a)
	case <-grace.C:
	}
	go func() {
		if a := <-done; a.resp != nil {
			_ = a.resp.Body.Close()
		}
	}()
	return nil, context.Cause(actx)
}

// attemptError tells the per-attempt timeout (retryable, and a failure for the
// breaker) from the caller's own cancellation or deadline, which failsafe stops on and
// the breaker does not count. actx carries ErrAttemptTimeout as its cause when its own
// timer ended it, or when a parent bounded by the same cause did (the flag fetch); a
// parent ended by the caller passes its own cause on instead.
func attemptError(actx context.Context, err error) error {
	if errors.Is(context.Cause(actx), ErrAttemptTimeout) {
		return fmt.Errorf("%w: %w", ErrAttemptTimeout, err)
	}
	return fmt.Errorf("exporter: request: %w", err)
}

// drain reads and drops up to limit bytes of body (and a bounded drain, see readCapped),
// for drainGrace at most, and closes it.
func drain(body io.ReadCloser, limit int64) {
	cut := time.AfterFunc(drainGrace, func() { _ = body.Close() })
	_, _ = readCapped(body, limit)
	cut.Stop()
}

// readCapped reads up to limit bytes, then drains at most limit more so the connection
// can be reused, and closes the body. A longer body yields ErrResponseTooLarge.
func readCapped(body io.ReadCloser, limit int64) ([]byte, error) {
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		_, _ = io.CopyN(io.Discard, body, limit)
		return nil, ErrResponseTooLarge
	}
	return data, nil
}

// retryAfter parses Retry-After (seconds or an HTTP date) on 429 and 503 only.
func retryAfter(resp *http.Response, now time.Time) time.Duration {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) && secs > 0 {
		err = nil // more seconds than an int64 holds: as many as allowed
	}
	if err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour)
	}
	return 0
}

// workspaceID returns the batch's workspace id when its logs agree on one.
func workspaceID(logs []*telemetry.FrontendLog) (int64, bool) {
	var id int64
	for _, l := range logs {
		if l == nil || l.WorkspaceID == 0 {
			continue
		}
		if id != 0 && l.WorkspaceID != id {
			return 0, false
		}
		id = l.WorkspaceID
	}
	return id, id != 0
}

// encodeRequest appends the telemetry.Request body to dst (a reused buffer, or nil); each
// log becomes a JSON string, and n counts them (nil entries are skipped). unauth strips
// what the unauthenticated path must not carry (SPEC §4a). The envelope and the logs are
// written by hand (appendLog), the same bytes as encoding/json's, without its reflection.
func encodeRequest(dst []byte, logs []*telemetry.FrontendLog, now time.Time, unauth bool) ([]byte, int) {
	if cap(dst) == 0 {
		dst = make([]byte, 0, 2<<10) // room for the envelope and a first log
	}
	w := jsonWriter{b: dst, quoted: true, memo: &encodeMemo{}}
	w.b = append(w.b, `{"uploadTime":`...)
	w.b = strconv.AppendInt(w.b, now.UnixMilli(), 10)
	w.b = append(w.b, `,"items":[],"protoLogs":[`...)
	n := 0
	for _, l := range logs {
		if l == nil {
			continue
		}
		if unauth {
			l = stripForUnauth(l)
		}
		if n > 0 {
			w.b = append(w.b, ',')
		}
		before := len(w.b)
		w.b = append(w.b, '"')
		w.log(l)
		w.b = append(w.b, '"')
		if n == 0 {
			if need := len(w.b) + (len(w.b)-before+1)*(len(logs)-1); cap(w.b) < need {
				// Size the body from the first log: one allocation instead of a few doublings.
				w.b = append(make([]byte, 0, need+need/4), w.b...)
			}
		}
		n++
	}
	return append(w.b, "]}"...), n
}

// stripForUnauth returns a copy of l without workspace, session and statement ids,
// system and connection configuration, and with an empty stack trace.
func stripForUnauth(l *telemetry.FrontendLog) *telemetry.FrontendLog {
	c := *l
	c.WorkspaceID = 0
	if l.Entry != nil && l.Entry.SQLDriverLog != nil {
		d := *l.Entry.SQLDriverLog
		d.SessionID, d.SQLStatementID = "", ""
		d.SystemConfiguration, d.DriverConnectionParams = nil, nil
		if d.ErrorInfo != nil {
			ei := *d.ErrorInfo
			ei.StackTrace = ""
			d.ErrorInfo = &ei
		}
		c.Entry = &telemetry.LogEntry{SQLDriverLog: &d}
	}
	return &c
}

// countNil is the number of nil entries of logs, which are skipped (as on the wire).
func countNil(logs []*telemetry.FrontendLog) int {
	n := 0
	for _, l := range logs {
		if l == nil {
			n++
		}
	}
	return n
}
