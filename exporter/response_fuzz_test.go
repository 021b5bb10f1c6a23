package exporter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// scriptedTransport answers every request with the same status, Retry-After and body,
// and counts the attempts and the body bytes read.
type scriptedTransport struct {
	status     int
	retryAfter string
	body       []byte
	attempts   atomic.Int64
	read       atomic.Int64
}

func (s *scriptedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	s.attempts.Add(1)
	if req.Body != nil {
		_ = req.Body.Close()
	}
	h := http.Header{}
	if s.retryAfter != "" {
		h.Set("Retry-After", s.retryAfter)
	}
	return &http.Response{
		StatusCode: s.status,
		Header:     h,
		Body:       &countedBody{r: bytes.NewReader(s.body), n: &s.read},
		Request:    req,
	}, nil
}

type countedBody struct {
	r *bytes.Reader
	n *atomic.Int64
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countedBody) Close() error { return nil }

// fuzzStatus maps any int to a status a server could send, 100 to 599.
func fuzzStatus(n int) int {
	if n < 0 {
		n = -(n + 1)
	}
	return 100 + n%500
}

func fuzzExporter(t *testing.T, rt http.RoundTripper, opts ...Option) *HTTPExporter {
	t.Helper()
	tgt, err := ParseTarget("http://127.0.0.1:9", true)
	if err != nil {
		t.Fatal(err)
	}
	return NewHTTPExporter(tgt, append([]Option{
		WithHTTPClient(&http.Client{Transport: rt}),
		WithCredentials(BearerToken("dapi-fuzz")),
		WithMaxRetries(1),
		WithBackoff(0, 0, 0),
		WithRetryAfterCap(time.Millisecond),
		// Debug on: the delivered path then parses the ingest's answer too.
		WithLogger(zerolog.New(io.Discard).Level(zerolog.DebugLevel)),
	}, opts...)...)
}

// FuzzExportResponse: whatever the ingest answers — any status, any Retry-After, any
// body of any size — Export never panics, delivers exactly on 2xx, retries exactly the
// retryable statuses, honours Retry-After only within its cap, and reads at most twice
// its response cap of the body.
func FuzzExportResponse(f *testing.F) {
	for _, s := range []struct {
		status     int
		retryAfter string
		body       string
	}{
		{200, "", `{"errors":[],"numSuccess":1,"numProtoSuccess":1,"numRealtimeSuccess":0}`},
		{200, "", `{"errors":["bad"],"numProtoSuccess":"x"}`},
		{202, "", "\xff\xfe garbage"},
		{429, "120", ""},
		{503, "Wed, 21 Oct 2015 07:28:00 GMT", "busy"},
		{503, "-5", ""},
		{503, "99999999999999999999", ""},
		{307, "", ""},
		{401, "", `{"error":"token dapi-fuzz expired"}`},
		{200, "", strings.Repeat("x", 5000)},
		{100, "", ""},
	} {
		f.Add(s.status, s.retryAfter, []byte(s.body))
	}
	const maxBody = 1024
	f.Fuzz(func(t *testing.T, rawStatus int, retryAfter string, body []byte) {
		rt := &scriptedTransport{status: fuzzStatus(rawStatus), retryAfter: retryAfter, body: body}
		e := fuzzExporter(t, rt, WithMaxResponseBytes(maxBody))
		defer e.Close(context.Background())
		start := time.Now()
		err := e.Export(context.Background(), batch(2))
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Export took %v: Retry-After %q not capped", d, retryAfter)
		}
		ok := rt.status >= 200 && rt.status <= 299
		if (err == nil) != ok {
			t.Fatalf("status %d: Export error %v", rt.status, err)
		}
		wantAttempts := int64(1)
		if rt.status == 429 || rt.status >= 500 {
			wantAttempts = 2
		}
		if got := rt.attempts.Load(); got != wantAttempts {
			t.Fatalf("status %d: %d attempts, want %d", rt.status, got, wantAttempts)
		}
		var se *StatusError
		if !ok && (!errors.As(err, &se) || se.StatusCode != rt.status) {
			t.Fatalf("status %d: error %v does not carry it", rt.status, err)
		}
		if n := rt.read.Load(); n > wantAttempts*(2*maxBody+1) {
			t.Fatalf("read %d bytes of a %d-byte body", n, len(body))
		}
	})
}

// FuzzFeatureFlagResponse: whatever the flag endpoint answers, the flag is on exactly
// when the answer is a 2xx whose body (at most 256 KiB) parses and says "true" for the
// flag, and Enabled never panics.
func FuzzFeatureFlagResponse(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{200, flagBody("true", "")},
		{200, flagBody("TRUE", "1e308")},
		{200, flagBody("false", "-1")},
		{200, `{"flags":[{"name":"` + DefaultFlagName + `","value":true}],"ttl_seconds":"x"}`},
		{204, ""},
		{500, flagBody("true", "")},
		{302, flagBody("true", "")},
		{200, `{"flags":null}`},
		{200, "\x00\x01"},
	} {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, rawStatus int, body []byte) {
		rt := &scriptedTransport{status: fuzzStatus(rawStatus), body: body}
		e := fuzzExporter(t, rt)
		defer e.Close(context.Background())
		got := e.FeatureFlags().Enabled(context.Background())
		want := false
		if rt.status >= 200 && rt.status <= 299 && len(body) <= maxFlagBytes {
			if _, err := ParseFlags(body); err == nil { // its value comes from the oracle
				on, _ := flagsOracle(body)
				want = on[DefaultFlagName]
			}
		}
		if got != want {
			t.Fatalf("status %d, body %q: Enabled = %v, want %v", rt.status, body, got, want)
		}
		if n := rt.attempts.Load(); n != 1 {
			t.Fatalf("%d flag requests, want 1 (the fetch is not retried)", n)
		}
	})
}
