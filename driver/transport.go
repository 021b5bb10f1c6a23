package driver

import (
	"crypto/tls"
	"errors"
	"io"
	"math/bits"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// Paths of the driver's own telemetry. The wrapper answers them itself, so that the
// driver's built-in telemetry stays off on wrapped connections (else every statement
// would be counted twice).
const (
	featureFlagPathPrefix = "/api/2.0/connector-service/feature-flags/"
	builtinFlagsBody      = `{"flags":[],"ttl_seconds":3600}`
	builtinIngestBody     = `{"errors":[],"numSuccess":0,"numProtoSuccess":0,"numRealtimeSuccess":0}`
)

// transport is the instrumented http.RoundTripper handed to the driver with
// dbsql.WithTransport. The driver sends its Thrift calls (with its Authorization header
// already set), its CloudFetch downloads and its own telemetry through it.
type transport struct {
	base   http.RoundTripper
	c      *Connector
	thrift string // the Thrift endpoint path (the DSN's http path), "" when not known
	off    bool   // telemetry is off: only the driver's own telemetry is answered here
}

// thriftContentType is the Content-Type of every call of the driver's Thrift client
// (thrift.THttpClient).
const thriftContentType = "application/x-thrift"

// newBaseTransport mirrors the driver's own pooled transport (client.PooledTransport), so
// that a wrapped connection dials, pools and times out like an unwrapped one. tlsConfig,
// when not nil, is the driver's TLS settings that skip verification (see callerTransport).
func newBaseTransport(tlsConfig *tls.Config) *http.Transport {
	t := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       180 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		MaxIdleConnsPerHost:   10,
		MaxConnsPerHost:       100,
	}
	if tlsConfig != nil {
		t.TLSClientConfig = tlsConfig // #nosec G402 -- the caller asked the driver to skip verification
	}
	return t
}

// ownBase returns the transport's base when the connector made it (newBaseTransport),
// not a caller's (dbsql.WithTransport); t may be nil (a fake driver's connector).
func (t *transport) ownBase() (*http.Transport, bool) {
	if t == nil || t.c == nil || t.c.callerTr.rt != nil {
		return nil, false
	}
	own, ok := t.base.(*http.Transport)
	return own, ok
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.roundTrip(req, t.base)
}

// roundTrip sends req; what is no Thrift call goes to base.
func (t *transport) roundTrip(req *http.Request, base http.RoundTripper) (*http.Response, error) {
	if isBuiltinTelemetry(req) {
		return builtinAnswer(req), nil
	}
	if t.off {
		return base.RoundTrip(req) // nothing is observed: the driver's call goes on as is
	}
	if req.Method == http.MethodPost && t.isThrift(req) {
		return t.thriftCall(req)
	}
	if req.Method == http.MethodGet {
		link := req.URL.String()
		if v, ok := t.c.links.LoadAndDelete(link); ok {
			owner := v.(linkOwner)
			if owner.failed {
				owner.st.retries.Add(1) // the driver downloads a file again
			}
			return t.download(req, link, owner, base)
		}
	}
	return base.RoundTrip(req)
}

// downloadTransport is the transport of the driver's CloudFetch client. Unwrapped, the
// driver downloads its files with http.DefaultClient (its client for them when no
// dbsql.WithTransport is given): so do they wrapped, through http.DefaultClient's
// transport as it is at the time of the download, so that what a program configured
// there (a proxy, TLS roots, tracing, a test's HTTP mock) still applies, and
// WithSkipTLSHostVerify no more than unwrapped. The downloads are observed as on the
// connector's transport. The client around it (downloadClient) has http.DefaultClient's
// Timeout, cookie jar and redirect policy. With the caller's dbsql.WithTransport, the
// downloads go through base, that transport, as unwrapped (see callerDownloads).
type downloadTransport struct {
	t    *transport
	base http.RoundTripper // nil: http.DefaultClient's transport at the time of the download
}

// downloadClient is the driver's client for its CloudFetch downloads, through
// downloadTransport. Its redirect policy and cookie jar are http.DefaultClient's as they
// are at each redirect and each request, as unwrapped, where the driver downloads with
// http.DefaultClient itself: a program that sets them after sql.Open is obeyed. Its
// Timeout is http.DefaultClient's when the connector is made (a client's Timeout is a
// plain field, read as each download starts): one set later applies to connectors
// made later.
func downloadClient(t *transport) *http.Client {
	return &http.Client{Transport: downloadTransport{t: t}, CheckRedirect: defaultClientRedirect,
		Jar: defaultClientJar{}, Timeout: http.DefaultClient.Timeout}
}

// defaultClientRedirect applies http.DefaultClient's redirect policy as it is now, or
// net/http's default one when it has none: at most 10 redirects.
func defaultClientRedirect(req *http.Request, via []*http.Request) error {
	if check := http.DefaultClient.CheckRedirect; check != nil {
		return check(req, via)
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects") // net/http's words
	}
	return nil
}

// defaultClientJar is http.DefaultClient's cookie jar as it is now, or none.
type defaultClientJar struct{}

func (defaultClientJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	if jar := http.DefaultClient.Jar; jar != nil {
		jar.SetCookies(u, cookies)
	}
}

func (defaultClientJar) Cookies(u *url.URL) []*http.Cookie {
	if jar := http.DefaultClient.Jar; jar != nil {
		return jar.Cookies(u)
	}
	return nil
}

func (d downloadTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if d.base != nil {
		return d.t.roundTrip(req, d.base)
	}
	return d.t.roundTrip(req, defaultClientTransport())
}

// defaultClientTransport is the transport http.DefaultClient sends through.
func defaultClientTransport() http.RoundTripper {
	if rt := http.DefaultClient.Transport; rt != nil {
		return rt
	}
	return http.DefaultTransport
}

// isThrift reports whether the POST req is a call of the driver's Thrift client: one to
// the DSN's http path, or one with the Thrift client's Content-Type, which the driver's
// own options (WithConnOptions, dbsql.WithHTTPPath) may send to another path than the
// DSN's.
func (t *transport) isThrift(req *http.Request) bool {
	if t.thrift != "" && req.URL.Path == t.thrift {
		return true
	}
	return req.Header.Get("Content-Type") == thriftContentType
}

func isBuiltinTelemetry(req *http.Request) bool {
	p := req.URL.Path
	return p == "/telemetry-ext" || p == "/telemetry-unauth" || strings.HasPrefix(p, featureFlagPathPrefix)
}

func builtinAnswer(req *http.Request) *http.Response {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	body := builtinIngestBody
	if strings.HasPrefix(req.URL.Path, featureFlagPathPrefix) {
		body = builtinFlagsBody // no flag: the driver's own telemetry stays off
	}
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": []string{"application/json"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// thriftCall forwards one Thrift RPC and records what telemetry needs: the host and
// credentials for export (from the first call), status polls and failed attempts of the
// statement in the context, and the session id an OpenSession returns.
//
// The request is left untouched: its body stays the in-memory reader net/http writes in
// one go with the headers. Which RPC it was is read off the reply instead, which names
// its method too: read at once when its size is known and small (readReply), else
// watched as the driver reads it (reply).
func (t *transport) thriftCall(req *http.Request) (*http.Response, error) {
	t.c.observeThrift(req)
	ctx := req.Context()
	st := stmtFrom(ctx)
	cs := connFrom(ctx)
	if st == nil && cs == nil {
		return t.detachedCall(req)
	}
	var began time.Time
	if st != nil {
		st.set(flagSent)
		began = time.Now()
		if f := st.failedCall.Load(); f != 0 {
			st.failedCall.Store(0)
			if f == req.ContentLength+1 {
				st.retries.Add(1) // the driver sends the call that failed again
			}
		}
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		if st != nil && req.ContentLength > 0 && !followsRedirect(resp, err) {
			st.failedCall.Store(req.ContentLength + 1)
		}
		return resp, err
	}
	t.c.observeAuth(req)
	var latency time.Duration
	if st != nil {
		latency = time.Since(began)
	}
	switch n := resp.ContentLength; {
	case resp.Body == nil:
		// A caller's transport's: http.Client makes it empty for the driver, as unwrapped.
	case n <= 0:
		// No Thrift reply is empty: 0 is what a Response built without its length says
		// (a caller's transport's), whose body the driver reads to its end all the same.
		resp.Body = t.readUnsized(resp.Body, st, cs, latency)
	case n <= maxSniff:
		resp.Body = t.readReply(resp.Body, int(n), st, cs, latency)
	default:
		resp.Body = &reply{rc: resp.Body, t: t, st: st, cs: cs, size: n, latency: latency}
	}
	return resp, nil
}

// readReply reads a reply of known, small size at once and learns from it (see
// reply.decide and reply.learn); the driver then reads it from memory. The Thrift client reads a reply
// a byte or a few at a time, so a reader in between would pay on every one of those
// reads; and it deserializes the whole message before using any of it, so reading it
// first costs it nothing.
//
// The body's end is what the driver goes by, as Thrift's THttpClient reads it, not the
// Content-Length, which a caller's transport may have left stale: a body that ends
// sooner gives the driver what came, then its end, and one that did not end with its
// n-th byte gives the driver the rest of it.
func (t *transport) readReply(body io.ReadCloser, n int, st *stmtState, cs *connState, latency time.Duration) io.ReadCloser {
	buf := t.c.sniffBuf(n)
	m, err := 0, error(nil)
	for m < n && err == nil {
		var k int
		k, err = body.Read((*buf)[m:n])
		m += k
	}
	*buf = (*buf)[:m]
	switch {
	case err == nil:
		// net/http's body says its end with its last bytes: one that did not may go on.
		t.learnReply(*buf, st, cs, latency)
		return &restBody{replyBody: replyBody{buf: buf, c: t.c}, rest: body}
	case err != io.EOF:
		// The driver gets what came, then the error, as from the body itself.
		return &cutReplyBody{replyBody: replyBody{buf: buf, c: t.c}, err: err, closer: body}
	}
	_ = body.Close()
	t.learnReply(*buf, st, cs, latency)
	return &replyBody{buf: buf, c: t.c}
}

// learnReply learns from a whole reply read into memory (see reply.decide and
// reply.learn).
func (t *transport) learnReply(b []byte, st *stmtState, cs *connState, latency time.Duration) {
	method, _, ok := rpcMethod(b)
	if !ok {
		return
	}
	r := reply{t: t, st: st, cs: cs, latency: latency, method: method}
	safely(func() {
		if r.decide(); r.mode == replyKeep {
			r.learn(b)
		}
	})
}

// readUnsized reads a reply of unknown size (a chunked body, or HTTP/2 without a
// Content-Length) that telemetry learns from (an OpenSession, ExecuteStatement or
// FetchResults reply: see keepsReply) at once, up to the end of its Thrift message, when
// that comes within maxKept bytes, and learns from it as readReply does. The driver reads
// a message to its last byte and no further: the body's end, which a reply watched as it
// is read would wait for, comes at the driver's next call on the connection (after the
// statement may have completed), or never. The message's end is found by walking its
// fields after each read (see messageComplete); reads off the network are few and large.
// Any other reply, and one found to carry inline result data, is watched as the driver
// reads it, from its start, as a reply of known size over maxKept is.
func (t *transport) readUnsized(body io.ReadCloser, st *stmtState, cs *connState, latency time.Duration) io.ReadCloser {
	buf := t.c.sniffBuf(0)
	watch := func() io.ReadCloser {
		return &reply{rc: &restBody{replyBody: replyBody{buf: buf, c: t.c}, rest: body}, t: t, st: st, cs: cs, size: -1, latency: latency}
	}
	method, empty := "", 0
	for {
		if len(*buf) == cap(*buf) {
			*buf = slices.Grow(*buf, min(max(cap(*buf), 4<<10), maxKept+1-len(*buf)))
		}
		before := len(*buf)
		m, err := body.Read((*buf)[before:min(cap(*buf), maxKept+1)])
		*buf = (*buf)[:before+m]
		switch {
		case err == io.EOF:
			_ = body.Close()
			t.learnReply(*buf, st, cs, latency)
			return &replyBody{buf: buf, c: t.c}
		case err != nil:
			// The driver gets what came, then the error, as from the body itself.
			return &cutReplyBody{replyBody: replyBody{buf: buf, c: t.c}, err: err, closer: body}
		case m == 0:
			if empty++; empty == maxEmptyReads { // as bufio gives up on such a reader
				return &cutReplyBody{replyBody: replyBody{buf: buf, c: t.c}, err: io.ErrNoProgress, closer: body}
			}
			continue
		}
		empty = 0
		if method == "" {
			name, _, ok := rpcMethod(*buf)
			switch {
			case ok && keepsReply(name, st, cs):
				method = name
			case ok, !headerPossible(*buf), len(*buf) >= len(reply{}.head):
				return watch() // nothing to learn from it whole, or no Thrift message
			default:
				continue // more of the header to come
			}
		}
		switch {
		case len(*buf) > maxKept:
			return watch()
		case showsInline(method, before, *buf):
			return watch() // inline result data: the watcher says so, and keeps nothing
		case messageComplete(*buf):
			t.learnReply(*buf, st, cs, latency)
			return &restBody{replyBody: replyBody{buf: buf, c: t.c}, rest: body}
		}
	}
}

// maxEmptyReads is how many reads in a row that return nothing readUnsized takes before
// it gives up on the body (io.ErrNoProgress), as bufio does.
const maxEmptyReads = 100

// keepsReply says whether the reply of method is read whole to learn from: an
// OpenSession's (its session id) on a known connection, and a statement's
// ExecuteStatement and FetchResults replies (how its rows come, its CloudFetch links).
func keepsReply(method string, st *stmtState, cs *connState) bool {
	switch method {
	case "OpenSession":
		return cs != nil
	case "ExecuteStatement", "FetchResults":
		return st != nil
	}
	return false
}

// restBody is the start of a reply read into memory, then the rest of its body.
type restBody struct {
	replyBody
	rest io.ReadCloser
}

func (r *restBody) Read(p []byte) (int, error) {
	if r.buf != nil && r.off < len(*r.buf) {
		return r.replyBody.Read(p)
	}
	r.release()
	return r.rest.Read(p)
}

func (r *restBody) Close() error {
	r.release()
	return r.rest.Close()
}

// replyBody is a reply read into memory, handed to the driver. Its buffer goes back to
// the connector's pool once read or closed. It is allocated for every Thrift call read
// at once, so it holds only that: what a reply cut short needs is in cutReplyBody.
type replyBody struct {
	buf *[]byte // the reply; nil once released
	off int
	c   *Connector
}

func (r *replyBody) Read(p []byte) (int, error) {
	if r.buf == nil || r.off >= len(*r.buf) {
		r.release()
		return 0, io.EOF
	}
	n := copy(p, (*r.buf)[r.off:])
	r.off += n
	return n, nil
}

func (r *replyBody) Close() error {
	r.release()
	return nil
}

func (r *replyBody) release() {
	if r.buf != nil {
		r.c.putSniffBuf(r.buf)
		r.buf, r.off = nil, 0
	}
}

// cutReplyBody is a reply that could not be read whole: what came, then the error that
// cut it short; closing it closes the original body.
type cutReplyBody struct {
	replyBody
	err    error
	closer io.Closer
}

func (r *cutReplyBody) Read(p []byte) (int, error) {
	n, err := r.replyBody.Read(p)
	if err == io.EOF {
		err = r.err
	}
	return n, err
}

func (r *cutReplyBody) Close() error {
	r.release()
	return r.closer.Close()
}

// linkOwner is the statement a CloudFetch link belongs to and the file's position in it.
type linkOwner struct {
	st     *stmtState
	index  int32
	failed bool // a download of the link failed: the next one is a retry
}

// maxSniff bounds the replies of known size read whole at once, before the driver reads
// them (see readReply); a bigger one is watched as the driver reads it (see reply).
const maxSniff = 256 << 10

// maxKept bounds the replies kept for reading the facts they carry (a session id,
// CloudFetch links). A reply that shows inline result data is given up at once (see
// inlineAhead), whatever its size; one that does not can still be big: a wide table's
// schema (resultSetMetadata, in every FetchResults reply) passes 256 KiB at a few
// thousand columns, before the links. A reply bigger than this is taken for inline data.
const maxKept = 4 << 20

// reply watches a Thrift reply as the driver reads it. Its message header names the
// RPC: a GetOperationStatus counts as a poll of the statement; an OpenSession reply is
// kept to read the session id off it, and an ExecuteStatement or FetchResults reply to
// read how the result is delivered (see rowSetFacts). Kept replies go to a buffer that
// is reused (Connector.sniffBuf); every other reply passes through untouched.
type reply struct {
	rc      io.ReadCloser
	t       *transport
	st      *stmtState
	cs      *connState
	latency time.Duration // until the reply's headers arrived
	size    int64         // Content-Length, -1 if not known
	got     int64         // bytes read so far

	head   [8 + 64 + 4]byte // the message header, until the method is known
	nhead  int
	mode   uint8 // replyHead, replyKeep, replyID or replyPass
	method string
	buf    *[]byte
}

const (
	replyHead = iota // reading the message header
	replyKeep        // keeping the reply, to read it once it is all in
	replyID          // keeping the start of an ExecuteStatement reply, for its statement id
	replyPass        // nothing more to learn
)

func (r *reply) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if r.mode == replyPass {
		return n, err
	}
	r.got += int64(n)
	if n > 0 {
		if r.mode == replyHead {
			safely(func() { r.observe(p[:n]) })
		} else {
			safely(func() { r.keep(p[:n]) })
		}
	}
	// The whole reply is in: at EOF, or once Content-Length bytes came (the driver need
	// not read on to EOF before its next call).
	if err == io.EOF || r.got == r.size {
		safely(r.finish)
	}
	return n, err
}

func (r *reply) Close() error {
	r.release()
	return r.rc.Close()
}

// observe takes the next bytes the driver read.
func (r *reply) observe(b []byte) {
	if r.mode == replyKeep {
		r.keep(b)
		return
	}
	k := copy(r.head[r.nhead:], b)
	r.nhead += k
	method, _, ok := rpcMethod(r.head[:r.nhead])
	switch {
	case ok:
		r.method = method
		r.decide()
		if r.mode == replyKeep || r.mode == replyID {
			r.keep(r.head[:r.nhead])
			r.keep(b[k:])
		}
	case r.nhead == len(r.head) || !headerPossible(r.head[:r.nhead]):
		r.mode = replyPass // not a Thrift message we know
	}
}

// decide what to do with the reply of r.method.
func (r *reply) decide() {
	r.mode = replyPass
	switch {
	case r.st != nil && r.method == "GetOperationStatus":
		r.st.polls.Add(1)
		r.st.pollNanos.Add(int64(r.latency))
	case !keepsReply(r.method, r.st, r.cs):
	case r.method == "OpenSession":
		r.mode = replyKeep
	default: // ExecuteStatement, FetchResults
		if r.size > maxKept {
			r.st.set(flagInline) // too big for links and a schema alone: inline result data
			if r.needsID() {
				r.mode = replyID
			}
			return
		}
		// The driver downloads CloudFetch files without the statement's context, so the
		// files are attributed by their links, read off the (small) replies that list them.
		r.mode = replyKeep
	}
}

func (r *reply) keep(b []byte) {
	switch r.mode {
	case replyID:
		r.keepForID(b, false)
		return
	case replyKeep:
	default:
		return
	}
	if r.buf == nil {
		r.buf = r.t.c.sniffBuf(0)
	}
	if len(*r.buf)+len(b) > maxKept {
		r.stopKeeping(b)
		return
	}
	before := len(*r.buf)
	*r.buf = append(*r.buf, b...)
	if r.st != nil && showsInline(r.method, before, *r.buf) {
		r.stopKeeping(nil)
	}
}

// stopKeeping gives up a reply found to carry inline result data, whose next bytes are b
// (not kept yet). An ExecuteStatement reply that must name its statement keeps its start
// until it has (replyID).
func (r *reply) stopKeeping(b []byte) {
	if r.st != nil {
		r.st.set(flagInline)
	}
	if r.needsID() {
		r.mode = replyID
		r.keepForID(b, false)
		return
	}
	r.release()
	r.mode = replyPass
}

// needsID says whether the reply is the only one that can name its statement: an
// ExecuteStatement reply of a statement the driver did not name (see learn).
func (r *reply) needsID() bool {
	return r.method == "ExecuteStatement" && r.st != nil && r.st.statementID() == "" && r.st.callerQueryID()
}

// keepForID keeps the start of an ExecuteStatement reply until the statement's id can be
// read off it: the id comes before any row data, within idHead bytes. last says the reply
// is all in.
func (r *reply) keepForID(b []byte, last bool) {
	if r.buf == nil {
		r.buf = r.t.c.sniffBuf(0)
	}
	if room := idHead - len(*r.buf); room > 0 {
		*r.buf = append(*r.buf, b[:min(len(b), room)]...)
	}
	id, ok := executeStatementID(*r.buf)
	if !ok && !last && len(*r.buf) < idHead {
		return // more to come
	}
	if ok {
		r.st.setID(id)
	}
	r.release()
	r.mode = replyPass
}

// idHead bounds the start of a reply kept for its statement id alone.
const idHead = 4 << 10

// probeFrom is the size from which a kept reply is probed for inline batches.
const probeFrom = 16 << 10

// showsInline reports whether b, the start kept so far of a statement's reply of method
// (before bytes of it before the last read), shows inline Arrow batches. A reply that
// carries them says so early (see inlineAhead): its start is looked at when the kept
// bytes pass 16 KB, 32 KB, …, so that a reply is walked a logarithmic number of times.
func showsInline(method string, before int, b []byte) bool {
	return method != "OpenSession" && len(b) >= probeFrom && bits.Len(uint(before)) < bits.Len(uint(len(b))) && inlineAhead(b)
}

// finish reads what the kept reply says, once it is all in.
func (r *reply) finish() {
	if r.mode == replyID {
		r.keepForID(nil, true)
		return
	}
	if r.mode != replyKeep || r.buf == nil {
		r.mode = replyPass
		return
	}
	r.mode = replyPass
	defer r.release()
	r.learn(*r.buf)
}

// learn reads the session id off an OpenSession reply, or how an ExecuteStatement or
// FetchResults reply delivers its rows: the replies decide chose to keep.
func (r *reply) learn(b []byte) {
	switch r.method {
	case "OpenSession":
		if id, ok := openSessionID(b); ok {
			r.cs.setSession(id)
		}
	default:
		if r.method == "ExecuteStatement" && r.st.statementID() == "" && r.st.callerQueryID() {
			// The driver names a statement through the query-id callback, but not when
			// the caller's context carries a query id of its own: the reply names it.
			if id, ok := executeStatementID(b); ok {
				r.st.setID(id)
			}
		}
		links, batches, arrowList := rowSetFacts(b)
		if batches > 0 || arrowList && len(links) == 0 && announcesResultSet(b) {
			r.st.set(flagInline)
		}
		if len(links) > 0 {
			r.st.mu.Lock()
			// Counted before ended is read (see Connector.forgetLinks); ended is set before
			// linksGone, so it alone says the statement completed.
			first := r.st.linksSeen.Add(int32(len(links))) - int32(len(links))
			if !r.st.ended.Load() {
				r.st.links = append(r.st.links, links...)
				for i, link := range links {
					r.t.c.links.Store(link, linkOwner{st: r.st, index: first + int32(i)})
				}
			}
			r.st.mu.Unlock()
		}
	}
}

func (r *reply) release() {
	if r.buf != nil {
		r.t.c.putSniffBuf(r.buf)
		r.buf = nil
	}
}

// download forwards a CloudFetch GET to base and emits one cloudfetch.chunk event when its body
// has been read. The URL (a signed link) is never recorded.
func (t *transport) download(req *http.Request, link string, owner linkOwner, base http.RoundTripper) (*http.Response, error) {
	began := time.Now()
	resp, err := base.RoundTrip(req)
	if err == nil && isRedirect(resp.StatusCode) {
		if loc, lerr := resp.Location(); lerr == nil {
			// The client follows it: the file comes from there, no failed attempt.
			owner.failed = false
			owner.st.mu.Lock()
			if !owner.st.linksGone {
				next := loc.String()
				owner.st.links = append(owner.st.links, next)
				t.c.links.Store(next, owner)
			}
			owner.st.mu.Unlock()
			return resp, nil
		}
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		owner.st.mu.Lock()
		t.c.relinkLocked(link, owner)
		owner.st.mu.Unlock()
		return resp, err
	}
	if resp.Body == nil {
		return resp, nil // a caller's transport's: http.Client makes it empty, as unwrapped
	}
	resp.Body = &chunkBody{rc: resp.Body, st: owner.st, index: owner.index, began: began, c: t.c, url: link}
	return resp, nil
}

// isRedirect says whether an http.Client follows a reply of this status (with a Location).
func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// relinkLocked keeps the link of a failed download, marked failed: the driver may
// download the file again (a retry), unless the statement completed meanwhile (Rows
// closed early cancel their downloads). A download that is not tried again is no retry.
// Called with the statement's link lock held.
func (c *Connector) relinkLocked(link string, owner linkOwner) {
	if !owner.st.linksGone {
		owner.failed = true
		c.links.Store(link, owner)
	}
}

// chunkBody counts a download's bytes and reports the chunk once the driver has read
// it to EOF. A body closed before EOF (a read cut short, which the driver may retry, or a
// download cancelled by Rows closed early) is a failed attempt, not a chunk.
type chunkBody struct {
	rc       io.ReadCloser
	st       *stmtState
	index    int32
	c        *Connector
	url      string // the signed link: kept to recognise a retry, never recorded
	began    time.Time
	n        int64
	reported bool
}

func (b *chunkBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		b.report(true)
	}
	return n, err
}

func (b *chunkBody) Close() error {
	b.report(false)
	return b.rc.Close()
}

// report emits the chunk, read whole, or keeps its link for a retry (see relinkLocked); once. Nothing is
// reported for a statement that has completed: its log is gone, and an event for it
// would open a second one. The statement's link lock is held while the event is
// emitted, so that its completion (which takes that lock first, in forgetLinks) cannot
// overtake it.
func (b *chunkBody) report(whole bool) {
	if b.reported {
		return
	}
	b.reported = true
	defer func() { _ = recover() }() // runs on the driver's download goroutine
	st := b.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.linksGone {
		return
	}
	if !whole {
		b.c.relinkLocked(b.url, linkOwner{st: st, index: b.index})
		return
	}
	st.chunks.Add(1)
	ev := telemetry.Event{
		Kind:        telemetry.KindChunk,
		SessionID:   st.sessionID(),
		StatementID: st.statementID(),
		ChunkIndex:  b.index,
		Latency:     time.Since(b.began),
		Bytes:       b.n,
	}
	b.c.emit(&ev)
}
