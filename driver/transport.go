package driver

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
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
}

// newBaseTransport mirrors the driver's own pooled transport (client.PooledTransport), so
// that a wrapped connection dials, pools and times out like an unwrapped one.
func newBaseTransport(skipVerify bool) *http.Transport {
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
	if skipVerify {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true} // #nosec G402 -- the user asked for it
	}
	return t
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if isBuiltinTelemetry(req) {
		return builtinAnswer(req), nil
	}
	if req.Method == http.MethodPost && t.isThrift(req) {
		return t.thriftCall(req)
	}
	if req.Method == http.MethodGet {
		if v, ok := t.c.links.LoadAndDelete(req.URL.String()); ok {
			return t.download(req, v.(linkOwner))
		}
	}
	return t.base.RoundTrip(req)
}

func (t *transport) isThrift(req *http.Request) bool {
	if t.thrift != "" {
		return req.URL.Path == t.thrift
	}
	return req.Header.Get("Content-Type") == "application/x-thrift"
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
func (t *transport) thriftCall(req *http.Request) (*http.Response, error) {
	t.c.observeThrift(req)
	ctx := req.Context()
	st := stmtFrom(ctx)
	cs := connFrom(ctx)
	method := ""
	if st != nil || cs != nil {
		method = peekMethod(req)
	}
	began := time.Now()
	resp, err := t.base.RoundTrip(req)
	if st != nil {
		if method == "GetOperationStatus" {
			st.polls.Add(1)
			st.pollNanos.Add(int64(time.Since(began)))
		}
		if err != nil || resp.StatusCode != http.StatusOK {
			st.retries.Add(1)
		}
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	t.c.observeAuth(req)
	switch {
	case cs != nil && method == "OpenSession":
		resp.Body = &replySniffer{rc: resp.Body, done: func(b []byte) {
			if id, ok := openSessionID(b); ok {
				cs.setSession(id)
			}
		}}
	case st != nil && (method == "ExecuteStatement" || method == "FetchResults"):
		// The driver downloads CloudFetch files without the statement's context, so the
		// files are attributed by their links, read off the (small) replies that carry them.
		resp.Body = &replySniffer{rc: resp.Body, done: func(b []byte) {
			links, batches := rowSetFacts(b)
			if batches > 0 {
				st.inline.Store(true)
			}
			for _, link := range links {
				t.c.links.Store(link, linkOwner{st: st, index: st.linksSeen.Add(1) - 1})
			}
		}, big: func() { st.inline.Store(true) }}
	}
	return resp, nil
}

// linkOwner is the statement a CloudFetch link belongs to and the file's position in it.
type linkOwner struct {
	st    *stmtState
	index int32
}

// peekMethod reads the method name off the request body and puts the bytes back.
func peekMethod(req *http.Request) string {
	if req.Body == nil || req.Body == http.NoBody {
		return ""
	}
	var head [96]byte
	n, _ := io.ReadFull(req.Body, head[:])
	m, _, _ := rpcMethod(head[:n])
	req.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(bytes.Clone(head[:n])), req.Body), req.Body}
	return m
}

// replySniffer keeps a Thrift reply as the driver reads it and hands it to done at EOF.
// Replies larger than maxSniff (inline result data) are not kept: the facts sniffed
// (a session id, CloudFetch links) only come in small replies.
type replySniffer struct {
	rc       io.ReadCloser
	done     func([]byte)
	big      func() // the reply outgrew maxSniff: inline result data
	buf      []byte
	overflow bool
	finished bool
}

const maxSniff = 256 << 10

func (s *replySniffer) Read(p []byte) (int, error) {
	n, err := s.rc.Read(p)
	if !s.overflow {
		if len(s.buf)+n <= maxSniff {
			s.buf = append(s.buf, p[:n]...)
		} else {
			s.overflow, s.buf = true, nil
			if s.big != nil {
				s.big()
			}
		}
	}
	if err == io.EOF && !s.finished {
		s.finished = true
		if !s.overflow {
			safely(func() { s.done(s.buf) })
		}
		s.buf = nil
	}
	return n, err
}

func (s *replySniffer) Close() error { return s.rc.Close() }

// download forwards a CloudFetch GET and emits one cloudfetch.chunk event when its body
// has been read. The URL (a signed link) is never recorded.
func (t *transport) download(req *http.Request, owner linkOwner) (*http.Response, error) {
	began := time.Now()
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		owner.st.retries.Add(1)
		// The driver retries the download with the same link.
		t.c.links.Store(req.URL.String(), owner)
		return resp, err
	}
	resp.Body = &chunkBody{rc: resp.Body, st: owner.st, index: owner.index, began: began, c: t.c}
	return resp, nil
}

// chunkBody counts a download's bytes and reports it once, at EOF or Close.
type chunkBody struct {
	rc       io.ReadCloser
	st       *stmtState
	index    int32
	c        *Connector
	began    time.Time
	n        int64
	reported bool
}

func (b *chunkBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		b.report()
	}
	return n, err
}

func (b *chunkBody) Close() error {
	b.report()
	return b.rc.Close()
}

func (b *chunkBody) report() {
	if b.reported {
		return
	}
	b.reported = true
	b.st.chunks.Add(1)
	ev := telemetry.Event{
		Kind:        telemetry.KindChunk,
		SessionID:   b.st.sessionID(),
		StatementID: b.st.statementID(),
		ChunkIndex:  b.index,
		Latency:     time.Since(b.began),
		Bytes:       b.n,
	}
	b.c.emit(&ev)
}
