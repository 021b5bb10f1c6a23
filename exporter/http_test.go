package exporter

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

func batch(n int) []*telemetry.FrontendLog {
	logs := make([]*telemetry.FrontendLog, n)
	for i := range logs {
		l := inlineStatementLog()
		l.FrontendLogEventID = fmt.Sprintf("event-%03d", i)
		logs[i] = l
	}
	return logs
}

// sharedBatch is batch with one system configuration for all its logs, as an
// aggregator's logs share theirs.
func sharedBatch(n int) []*telemetry.FrontendLog {
	logs := batch(n)
	for _, l := range logs {
		l.Entry.SQLDriverLog.SystemConfiguration = logs[0].Entry.SQLDriverLog.SystemConfiguration
	}
	return logs
}

func TestExportAuthenticatedRequest(t *testing.T) {
	srv, rc := newServer(t, nil)
	e := newTestExporter(t, srv, WithCredentials(BearerToken("dapi-secret")), WithClock(goldenClock))
	noErr(t, e.Export(context.Background(), batch(3)), "export")

	reqs := rc.requests()
	equal(t, len(reqs), 1, "requests")
	r := reqs[0]
	equal(t, r.Method, http.MethodPost, "method")
	equal(t, r.Path, "/telemetry-ext", "path")
	equal(t, r.Header.Get("Content-Type"), "application/json", "content type")
	equal(t, r.Header.Get("Authorization"), "Bearer dapi-secret", "auth")
	equal(t, r.Header.Get("X-Databricks-Org-Id"), "1234567890123456", "org id")

	var raw map[string]json.RawMessage
	noErr(t, json.Unmarshal(r.Body, &raw), "body")
	equal(t, string(raw["items"]), "[]", "items")
	equal(t, string(raw["uploadTime"]), "1732540000000", "uploadTime")
	var env telemetry.Request
	noErr(t, json.Unmarshal(r.Body, &env), "envelope")
	equal(t, len(env.ProtoLogs), 3, "protoLogs")
	for i, s := range env.ProtoLogs {
		var l telemetry.FrontendLog
		noErr(t, json.Unmarshal([]byte(s), &l), "protoLog is a JSON string")
		equal(t, l.FrontendLogEventID, fmt.Sprintf("event-%03d", i), "order kept")
	}
	st := e.ExportStats()
	equal(t, st.Batches, int64(1), "batches")
	equal(t, st.LogsExported, int64(3), "logs")
	equal(t, st.Breaker, telemetry.BreakerClosed, "breaker")
}

// Without usable credentials a batch goes to /telemetry-unauth stripped of ids and
// configuration, and carries no header the credentials set before they failed.
func TestExportUnauthSendsNoIDs(t *testing.T) {
	for name, creds := range map[string]Credentials{
		"none":     nil,
		"unusable": CredentialsFunc(func(*http.Request) error { return errors.New("token expired") }),
		"empty":    CredentialsFunc(func(*http.Request) error { return nil }),
		"set, then failed": CredentialsFunc(func(req *http.Request) error {
			req.Header.Set("Authorization", "Bearer dapi-secret")
			req.Header.Set(orgIDHeader, "1234567890123456")
			return errors.New("token expired")
		}),
	} {
		t.Run(name, func(t *testing.T) {
			srv, rc := newServer(t, nil)
			e := newTestExporter(t, srv, WithCredentials(creds))
			logs := []*telemetry.FrontendLog{connectionLog(), terminalErrorLog()}
			noErr(t, e.Export(context.Background(), logs), "export")
			r := rc.requests()[0]
			equal(t, r.Path, "/telemetry-unauth", "path")
			equal(t, r.Header.Get("Authorization"), "", "auth header")
			equal(t, r.Header.Get("X-Databricks-Org-Id"), "", "org id")
			for _, leak := range []string{"workspace_id", "session_id", "sql_statement_id", "system_configuration",
				"driver_connection_params", "stack_trace", "01ef-", "TABLE_OR_VIEW"} {
				if strings.Contains(string(r.Body), leak) {
					t.Errorf("unauth body carries %q: %s", leak, r.Body)
				}
			}
			// The caller's logs are not modified.
			equal(t, logs[0].Entry.SQLDriverLog.SessionID, "01ef-session-0001", "input untouched")
		})
	}
}

func TestCredentialsNeverOverPlainHTTPToNonLoopback(t *testing.T) {
	called := false
	e := NewHTTPExporter(Target{Scheme: "http", Host: "example.com", Port: 80},
		WithCredentials(CredentialsFunc(func(*http.Request) error { called = true; return nil })))
	defer e.Close(context.Background())
	hdr, authed := e.authHeadersFor(context.Background(), telemetryExtPath, 0)
	if authed || len(hdr) != 0 || called {
		t.Fatalf("credentials used over plain http: %v %v %v", hdr, authed, called)
	}
}

func TestExportRetries503StormThenGivesUp(t *testing.T) {
	srv, rc := newServer(t, status(http.StatusServiceUnavailable))
	e := newTestExporter(t, srv)
	err := e.Export(context.Background(), batch(2))
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 {
		t.Fatalf("err = %v, want a 503 StatusError", err)
	}
	equal(t, rc.hits.Load(), int64(4), "attempts = 1 + 3 retries")
	st := e.ExportStats()
	equal(t, st.Retries, int64(3), "retries")
	equal(t, st.BatchesFailed, int64(1), "failed")
	equal(t, st.LogsExported, int64(0), "logs")
	equal(t, st.Breaker, telemetry.BreakerClosed, "one failed batch does not open the breaker")
}

func TestExportRecoversAfterRetryableStatuses(t *testing.T) {
	for _, code := range []int{429, 500, 502, 503, 504, 599} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv, rc := newServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n < 3 {
					w.WriteHeader(code)
				}
			})
			e := newTestExporter(t, srv)
			noErr(t, e.Export(context.Background(), batch(1)), "export")
			equal(t, rc.hits.Load(), int64(3), "attempts")
			equal(t, e.ExportStats().Retries, int64(2), "retries")
		})
	}
}

// Each retry leaves a debug line with the attempt that failed and its status, and no line
// goes above debug.
func TestExportRetriesAreLogged(t *testing.T) {
	srv, _ := newServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	var logBuf bytes.Buffer
	var logMu sync.Mutex
	logger := zerolog.New(zerolog.SyncWriter(&lockedWriter{w: &logBuf, mu: &logMu})).Level(zerolog.DebugLevel)
	e := newTestExporter(t, srv, WithLogger(logger))
	noErr(t, e.Export(context.Background(), batch(1)), "export")
	logMu.Lock()
	logs := logBuf.String()
	logMu.Unlock()
	equal(t, strings.Count(logs, "telemetry batch attempt failed; retrying"), 2, "retry lines:\n"+logs)
	for _, want := range []string{`"retry":1`, `"retry":2`, "503 Service Unavailable", `"host":`} {
		if !strings.Contains(logs, want) {
			t.Fatalf("no %s in the retry lines:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, `"level":"info"`) || strings.Contains(logs, `"level":"warn"`) || strings.Contains(logs, `"level":"error"`) {
		t.Fatalf("a line above debug:\n%s", logs)
	}
}

func TestExportTerminalStatusNotRetried(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 405, 409, 413, 301, 302, 307, 308} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv, rc := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Location", "https://example.com/")
				w.WriteHeader(code)
			})
			e := newTestExporter(t, srv, WithCredentials(BearerToken("t")))
			err := e.Export(context.Background(), batch(1))
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != code || se.Retryable() {
				t.Fatalf("err = %v", err)
			}
			equal(t, rc.hits.Load(), int64(1), "attempts")
			equal(t, e.ExportStats().Retries, int64(0), "retries")
		})
	}
}

// A server whose certificate does not verify fails the same way on every attempt: the
// batch fails at once, with one connection and no retry, and the error says why.
func TestExportCertificateFailureNotRetried(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(&recorder{})
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake errors, server side
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e := newTestExporter(t, srv, WithCredentials(BearerToken("t"))) // a client that does not trust srv
	err := e.Export(context.Background(), batch(1))
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v, want a certificate verification error", err)
	}
	equal(t, e.ExportStats().Retries, int64(0), "retries")
	equal(t, conns.Load(), int64(1), "connections")
}

func TestExportRetryAfter(t *testing.T) {
	cases := []struct {
		name     string
		code     int
		header   string
		cap      time.Duration
		min, max time.Duration
	}{
		{"429 seconds honoured", 429, "1", 5 * time.Second, 950 * time.Millisecond, 3 * time.Second},
		{"503 capped", 503, "30", 150 * time.Millisecond, 140 * time.Millisecond, time.Second},
		{"429 http date capped", 429, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), 150 * time.Millisecond, 140 * time.Millisecond, time.Second},
		{"500 ignores it", 500, "30", 5 * time.Second, 0, 500 * time.Millisecond},
		{"429 garbage ignored", 429, "soon", 5 * time.Second, 0, 500 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, rc := newServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.Header().Set("Retry-After", tc.header)
					w.WriteHeader(tc.code)
				}
			})
			e := newTestExporter(t, srv, WithRetryAfterCap(tc.cap))
			// Bounded: a Retry-After honoured beyond the cap would wait up to an hour.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			exported := make(chan error, 1)
			go func() { exported <- e.Export(ctx, batch(1)) }()
			select {
			case err := <-exported:
				noErr(t, err, "export")
			case <-time.After(10 * time.Second):
				cancel()
				<-exported
				t.Fatalf("export still waiting for its retry after 10s (cap %v)", tc.cap)
			}
			reqs := rc.requests()
			equal(t, len(reqs), 2, "attempts")
			gap := reqs[1].At.Sub(reqs[0].At)
			if gap < tc.min || gap > tc.max {
				t.Fatalf("gap between attempts %v, want [%v, %v]", gap, tc.min, tc.max)
			}
		})
	}
}

func TestExportBackoffSchedule(t *testing.T) {
	srv, rc := newServer(t, status(503))
	e := newTestExporter(t, srv, WithBackoff(40*time.Millisecond, 50*time.Millisecond, 5*time.Millisecond))
	_ = e.Export(context.Background(), batch(1))
	reqs := rc.requests()
	equal(t, len(reqs), 4, "attempts")
	// min(40ms×2^n, 50ms) + 0…5ms: 40, 50, 50. Without the cap the last gap would be
	// 160 ms, past the window.
	for i, want := range []time.Duration{40, 50, 50} {
		want *= time.Millisecond
		gap := reqs[i+1].At.Sub(reqs[i].At)
		if gap < want || gap > want+80*time.Millisecond {
			t.Errorf("gap %d = %v, want ≈ %v", i, gap, want)
		}
	}
}

func TestExportHangBeyondAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	srv, rc := newServer(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	e := newTestExporter(t, srv, WithAttemptTimeout(50*time.Millisecond))
	start := time.Now()
	err := e.Export(context.Background(), batch(1))
	if !errors.Is(err, ErrAttemptTimeout) {
		t.Fatalf("err = %v, want ErrAttemptTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	equal(t, rc.hits.Load(), int64(4), "every attempt timed out and was retried")
	equal(t, e.ExportStats().Retries, int64(3), "retries")
}

// A 2xx whose body hangs is delivered: the status is the ingest's acknowledgement, and
// another attempt would make it hold the batch twice. The body is waited for only for
// the debug line: without it the batch is done at the status (the body drained for
// drainGrace); with it, the attempt timeout bounds the body read.
func TestExportHangInBodyAfter2xxIsDeliveredOnce(t *testing.T) {
	for _, debug := range []bool{false, true} {
		t.Run(fmt.Sprint("debug ", debug), func(t *testing.T) {
			srv, rc := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
				_, _ = w.Write([]byte(`{"errors":[`))
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			})
			var lines bytes.Buffer
			log := zerolog.New(&lines).Level(zerolog.InfoLevel)
			if debug {
				log = log.Level(zerolog.DebugLevel)
			}
			const attempt = time.Second
			e := newTestExporter(t, srv, WithAttemptTimeout(attempt), WithLogger(log))
			start := time.Now()
			noErr(t, e.Export(context.Background(), batch(2)), "export")
			took := time.Since(start)
			if debug && (took < attempt || took > 3*attempt) {
				t.Fatalf("took %v, want the %v attempt timeout", took, attempt)
			}
			if !debug && took >= attempt/2 {
				t.Fatalf("took %v: the body was waited for past drainGrace (%v)", took, drainGrace)
			}
			equal(t, rc.hits.Load(), int64(1), "not sent again")
			st := e.ExportStats()
			equal(t, st.Retries, int64(0), "retries")
			equal(t, st.LogsExported, int64(2), "logs")
			equal(t, st.BatchesFailed, int64(0), "failed")
			equal(t, strings.Contains(lines.String(), "body_error"), debug, "the debug line says the body was cut")
		})
	}
}

func TestExportCallerCancellationStopsAtOnce(t *testing.T) {
	srv, _ := newServer(t, func(_ int, _ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	e := newTestExporter(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := e.Export(ctx, batch(1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v", d)
	}
	equal(t, e.ExportStats().Retries, int64(0), "no retry after the caller gave up")
}

func TestExportGarbageAndHugeBodies(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	cases := []struct {
		name   string
		answer func(int, http.ResponseWriter, *http.Request)
		ok     bool
		hits   int64
	}{
		{"200 garbage", func(_ int, w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "\x00\xff<html>{{{") }, true, 1},
		{"200 wrong json", func(_ int, w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"errors":"nope","numSuccess":"x"}`)
		}, true, 1},
		{"200 empty", func(_ int, w http.ResponseWriter, _ *http.Request) {}, true, 1},
		{"200 huge", func(_ int, w http.ResponseWriter, _ *http.Request) {
			for range 16 { // 16 MiB, far beyond the cap
				if _, err := io.WriteString(w, huge); err != nil {
					return
				}
			}
		}, true, 1},
		{"503 huge then 200", func(n int, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				w.WriteHeader(503)
				_, _ = io.WriteString(w, huge)
			}
		}, true, 2},
		{"400 garbage", func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, "\x00\x01")
		}, false, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, rc := newServer(t, tc.answer)
			e := newTestExporter(t, srv, WithMaxResponseBytes(1024))
			start := time.Now()
			err := e.Export(context.Background(), batch(1))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			equal(t, rc.hits.Load(), tc.hits, "attempts")
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

// A cap as large as an int64 goes is no cap, not an overflow that reads nothing.
func TestMaxResponseBytesWithoutLimit(t *testing.T) {
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"errors":[],"numSuccess":1,"numProtoSuccess":1}`)
	})
	e := newTestExporter(t, srv, WithMaxResponseBytes(math.MaxInt64))
	if err := e.Export(context.Background(), batch(1)); err != nil {
		t.Fatal(err)
	}
	data, err := readCapped(io.NopCloser(strings.NewReader("abc")), e.cfg.maxResponseBytes)
	if err != nil || string(data) != "abc" {
		t.Fatalf("readCapped = %q, %v", data, err)
	}
}

func TestReadCappedDrainsAndCloses(t *testing.T) {
	body := &countingBody{r: strings.NewReader(strings.Repeat("y", 10_000))}
	_, err := readCapped(body, 100)
	if !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if !body.closed || body.n > 201 {
		t.Fatalf("closed=%v read=%d: must close and read at most 2×cap+1", body.closed, body.n)
	}
}

type countingBody struct {
	r      io.Reader
	n      int
	closed bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += n
	return n, err
}

func (b *countingBody) Close() error { b.closed = true; return nil }

func TestRedirectToAnotherHostNotFollowed(t *testing.T) {
	other, otherRC := newServer(t, nil)
	srv, rc := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/telemetry-ext", http.StatusTemporaryRedirect)
	})
	e := newTestExporter(t, srv, WithCredentials(BearerToken("dapi-secret")))
	err := e.Export(context.Background(), batch(1))
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("err = %v", err)
	}
	equal(t, rc.hits.Load(), int64(1), "origin attempts")
	equal(t, otherRC.hits.Load(), int64(0), "redirect target never contacted")
}

func TestRedirectNotFollowedWithCallerClient(t *testing.T) {
	other, otherRC := newServer(t, nil)
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL, http.StatusFound)
	})
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	e := newTestExporter(t, srv, WithHTTPClient(client))
	if err := e.Export(context.Background(), batch(1)); err == nil {
		t.Fatal("a redirect must not count as delivered")
	}
	equal(t, otherRC.hits.Load(), int64(0), "redirect target")
	if client.CheckRedirect != nil {
		t.Fatal("the caller's client was modified")
	}
}

func TestExportAfterCloseAndCloseIdempotent(t *testing.T) {
	srv, _ := newServer(t, nil)
	e := newTestExporter(t, srv)
	noErr(t, e.Close(context.Background()), "close")
	noErr(t, e.Close(context.Background()), "close again")
	if err := e.Export(context.Background(), batch(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	noErr(t, e.Export(context.Background(), nil), "empty batch is a no-op")
}

func TestCloseWaitsForInflightThenCancelsAtDeadline(t *testing.T) {
	entered := make(chan struct{}, 1)
	srv, _ := newServer(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-r.Context().Done()
	})
	e := newTestExporter(t, srv, WithMaxRetries(0))
	done := make(chan error, 1)
	go func() { done <- e.Export(context.Background(), batch(1)) }()
	<-entered

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want deadline exceeded", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) && !errors.Is(err, context.Canceled) {
			t.Fatalf("in-flight export ended with %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("in-flight export not cancelled by Close")
	}
}

func TestExportConcurrentUse(t *testing.T) {
	srv, rc := newServer(t, nil)
	e := newTestExporter(t, srv, WithCredentials(BearerToken("t")))
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { noErr(t, e.Export(context.Background(), batch(5)), "export") })
	}
	wg.Wait()
	equal(t, rc.hits.Load(), int64(20), "requests")
	equal(t, e.ExportStats().LogsExported, int64(100), "logs")
}

func TestOrgIDHeaderOnlyWhenBatchAgrees(t *testing.T) {
	srv, rc := newServer(t, nil)
	e := newTestExporter(t, srv, WithCredentials(BearerToken("t")))
	a, b := connectionLog(), connectionLog()
	b.WorkspaceID = 42
	noErr(t, e.Export(context.Background(), []*telemetry.FrontendLog{a, b}), "export")
	equal(t, rc.requests()[0].Header.Get("X-Databricks-Org-Id"), "", "mixed workspaces: no header")
}

func TestStatusErrorRetryable(t *testing.T) {
	for code, want := range map[int]bool{400: false, 401: false, 403: false, 404: false, 418: false, 429: true,
		500: true, 501: true, 502: true, 503: true, 504: true, 302: false} {
		equal(t, (&StatusError{StatusCode: code}).Retryable(), want, code)
	}
}

func TestEncodeRequestMatchesEncodingJSON(t *testing.T) {
	tricky := inlineStatementLog()
	tricky.Entry.SQLDriverLog.ErrorInfo = &telemetry.ErrorInfo{
		ErrorName: "quote\" back\\ <tag> & \u2028 \x00\x01\b\f\n\r\t é 日本 \xff",
	}
	logs := []*telemetry.FrontendLog{connectionLog(), tricky, nil, cloudFetchLog()}
	checkRequestJSON(t, logs)
}

func TestPanickingCredentialsFallBackToUnauth(t *testing.T) {
	srv, rc := newServer(t, nil)
	e := newTestExporter(t, srv, WithCredentials(CredentialsFunc(func(*http.Request) error { panic("boom") })))
	noErr(t, e.Export(context.Background(), batch(1)), "export")
	equal(t, rc.requests()[0].Path, "/telemetry-unauth", "path")
}

// Certificate failures are not worth another attempt whichever x509 error the TLS
// handshake wraps in its tls.CertificateVerificationError (x509.SystemRootsError on a
// system without roots, a name-constraint violation, ...), not only the three that
// isRetryable names; a refused connection is.
func TestCertificateFailuresAreNotRetryable(t *testing.T) {
	for name, err := range map[string]error{
		"unknown authority":    x509.UnknownAuthorityError{},
		"hostname":             x509.HostnameError{},
		"invalid":              x509.CertificateInvalidError{},
		"no system roots":      &tls.CertificateVerificationError{Err: x509.SystemRootsError{}},
		"constraint violation": &tls.CertificateVerificationError{Err: x509.ConstraintViolationError{}},
	} {
		equal(t, isRetryable(&url.Error{Op: "Post", URL: "https://h", Err: err}), false, name)
	}
	equal(t, isRetryable(&url.Error{Op: "Post", URL: "https://h", Err: syscall.ECONNREFUSED}), true, "connection refused")
}

// BearerToken("") is no credentials: an exporter given it sends to /telemetry-unauth,
// not an empty "Bearer " that the server refuses with a 401, a terminal status that
// loses the batch.
func TestEmptyBearerTokenIsNoCredentials(t *testing.T) {
	if c := BearerToken(""); c != nil {
		t.Fatalf("BearerToken(\"\") = %v, want nil", c)
	}
	srv, rc := newServer(t, nil)
	e := newTestExporter(t, srv, WithCredentials(BearerToken("")))
	noErr(t, e.Export(context.Background(), batch(1)), "export")
	r := rc.requests()[0]
	equal(t, r.Path, telemetryUnauthPath, "path")
	equal(t, r.Header.Get("Authorization"), "", "authorization")
}

// LogsExported counts the logs delivered, not the slots of the batch: nil entries are
// skipped (as on the wire), and a batch of nil entries alone is no batch.
func TestLogsExportedSkipsNilEntries(t *testing.T) {
	srv, _ := newServer(t, nil)
	e := newTestExporter(t, srv)
	logs := append(batch(2), nil)
	noErr(t, e.Export(context.Background(), logs), "export")
	noErr(t, e.Export(context.Background(), []*telemetry.FrontendLog{nil, nil}), "export of nil entries only")
	equal(t, e.ExportStats().LogsExported, int64(2), "logs exported")
	equal(t, e.ExportStats().Batches, int64(1), "batches: nil entries alone are none")
}
