package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// tee wraps the transport of the telemetry exporter's HTTP client (wrap): it passes every
// request through and keeps the logs of each telemetry batch the endpoint acknowledged
// with a 2xx, which is exactly when the exporter counts a batch as delivered. It sees
// the same bytes the ingest receives, so it works against a real warehouse too, where
// there is no ingest to ask; with -telemetry-out it also writes each delivered log as
// one line of JSON. The transport it wraps is the exporter's own: the demo's telemetry
// takes the path it takes in production (HTTP/1.1, no redirect followed, its limits).
type tee struct {
	mu       sync.Mutex
	logs     []string // protoLogs of delivered batches, in order
	batches  int
	statuses map[int]int // answers to telemetry POSTs by status (0: no answer)
	out      *bufio.Writer
	outErr   error
}

func newTee(out io.Writer) *tee {
	t := &tee{statuses: map[int]int{}}
	if out != nil {
		t.out = bufio.NewWriter(out)
	}
	return t
}

// wrap is the exporter's transport wrapper (exporter.WithTransportWrapper).
func (t *tee) wrap(next http.RoundTripper) http.RoundTripper { return teeTransport{t: t, next: next} }

// teeTransport records, through t, the telemetry batches sent through next.
type teeTransport struct {
	t    *tee
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (tt teeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || !isTelemetryPath(req.URL.Path) || req.GetBody == nil {
		return tt.next.RoundTrip(req)
	}
	body, err := req.GetBody()
	if err != nil {
		return tt.next.RoundTrip(req)
	}
	raw, _ := io.ReadAll(body)
	_ = body.Close()
	resp, err := tt.next.RoundTrip(req)
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	tt.t.record(status, raw)
	return resp, err
}

func isTelemetryPath(p string) bool {
	return strings.HasSuffix(p, "/telemetry-ext") || strings.HasSuffix(p, "/telemetry-unauth")
}

func (t *tee) record(status int, raw []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.statuses[status]++
	if status < 200 || status > 299 {
		return
	}
	var req telemetry.Request
	if json.Unmarshal(raw, &req) != nil {
		return
	}
	t.batches++
	t.logs = append(t.logs, req.ProtoLogs...)
	if t.out != nil && t.outErr == nil {
		for _, l := range req.ProtoLogs {
			if _, err := t.out.WriteString(l + "\n"); err != nil {
				t.outErr = err
				break
			}
		}
	}
}

// delivered returns the logs of every acknowledged batch.
func (t *tee) delivered() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.logs...)
}

// answers returns how the telemetry endpoint answered, by HTTP status.
func (t *tee) answers() map[int]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[int]int, len(t.statuses))
	for k, v := range t.statuses {
		out[k] = v
	}
	return out
}

// close flushes the JSON lines.
func (t *tee) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.out == nil {
		return nil
	}
	if t.outErr != nil {
		return fmt.Errorf("write -telemetry-out: %w", t.outErr)
	}
	if err := t.out.Flush(); err != nil {
		return fmt.Errorf("write -telemetry-out: %w", err)
	}
	return nil
}

// decodeLogs parses protoLogs; a log that does not parse is skipped and counted.
func decodeLogs(raw []string) ([]telemetry.FrontendLog, int) {
	out := make([]telemetry.FrontendLog, 0, len(raw))
	bad := 0
	for _, s := range raw {
		var l telemetry.FrontendLog
		if json.Unmarshal([]byte(s), &l) != nil || l.Entry == nil || l.Entry.SQLDriverLog == nil {
			bad++
			continue
		}
		out = append(out, l)
	}
	return out, bad
}

// Kinds of telemetry log, as the report groups them.
const (
	logConnOpen  = "connection.open"
	logConnClose = "connection.close"
	logStatement = "statement"
	logError     = "error"
	logOther     = "other"
)

var logKindOrder = [...]string{logConnOpen, logConnClose, logStatement, logError, logOther}

// logKind names what a log reports: CREATE_SESSION, DELETE_SESSION, a statement, or an
// error on its own (a retryable error held for its statement).
func logKind(l *telemetry.FrontendLog) string {
	d := l.Entry.SQLDriverLog
	if op := d.SQLOperation; op != nil {
		if op.OperationDetail != nil {
			switch op.OperationDetail.OperationType {
			case telemetry.OpCreateSession:
				return logConnOpen
			case telemetry.OpDeleteSession:
				return logConnClose
			}
		}
		return logStatement
	}
	if d.ErrorInfo != nil {
		return logError
	}
	return logOther
}
