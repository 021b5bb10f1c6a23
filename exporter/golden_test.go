package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// The golden logs are produced the way the driver produces them: events go through the
// real Emitter (classification, redaction) and Aggregator (SPEC §2) into this exporter,
// so the files in testdata/ show what is really sent for every kind of log (SPEC §3), and
// a change to how the aggregator builds a log changes them. The encoder itself is held to
// encoding/json on every field by TestLogJSONMatchesEncodingJSON and FuzzLogJSON.

var goldenClock = func() time.Time { return time.UnixMilli(1732540000000) }

// goldenStart is when the statements of the golden cases begin.
var goldenStart = time.UnixMilli(1732539990000)

func goldenSystemConfiguration() *telemetry.SystemConfiguration {
	return &telemetry.SystemConfiguration{
		DriverVersion: "1.15.1", RuntimeName: "go", RuntimeVersion: "go1.26", RuntimeVendor: "golang.org",
		OSName: "Linux", OSVersion: "6.8", OSArch: "amd64", DriverName: "databricks-sql-go",
		LocaleName: "en_US", CharSetEncoding: "UTF-8", ProcessName: "app",
	}
}

// goldenConnection is what the driver says of a DSN
// token:…@adb-1.azuredatabricks.net:443/sql/1.0/warehouses/abc?timeout=900.
func goldenConnection() *telemetry.ConnectionInfo {
	return &telemetry.ConnectionInfo{
		Host: "adb-1.azuredatabricks.net", Port: 443, HTTPPath: "/sql/1.0/warehouses/abc",
		AuthType: "pat", AuthMech: "pat", Mode: "THRIFT", EnableArrow: true, EnableDirectResults: true,
		UseCloudFetch: true, SocketTimeout: 900 * time.Second,
	}
}

const (
	goldenSession = "01ef-session-0001"
	goldenUA      = "dbtelemetry-go/0.1 databricks-sql-go/1.15.1"
)

// goldenStatement emits the statement.start of statement id, a query whose first reply
// came after ready.
func goldenStatement(em *telemetry.Emitter, id, format string, ready time.Duration) {
	em.Emit(&telemetry.Event{
		Kind: telemetry.KindStatementStart, Time: goldenStart, Latency: ready,
		SessionID: goldenSession, StatementID: id,
		OperationType: telemetry.OpExecuteStatement, StatementType: telemetry.StatementQuery, ResultFormat: format,
	})
}

// goldenComplete emits the statement.complete of statement id, total after its start.
func goldenComplete(em *telemetry.Emitter, id, format string, total, ready time.Duration, polls int32, poll time.Duration, present int32, err error) {
	em.Emit(&telemetry.Event{
		Kind: telemetry.KindStatementComplete, Time: goldenStart.Add(total), Latency: total,
		SessionID: goldenSession, StatementID: id, ResultFormat: format,
		PollCount: polls, PollLatency: poll, ResultReadyLatency: ready, ConsumptionLatency: total - ready,
		ChunksPresent: present, Err: err,
	})
}

var goldenCases = []struct {
	name   string
	authed bool
	logs   int // logs the events make
	feed   func(em *telemetry.Emitter)
}{
	{"connection", true, 1, func(em *telemetry.Emitter) {
		em.Emit(&telemetry.Event{Kind: telemetry.KindConnectionOpen, Time: goldenStart, SessionID: goldenSession,
			Latency: 412 * time.Millisecond, Connection: goldenConnection()})
	}},
	{"connection_close", true, 1, func(em *telemetry.Emitter) {
		em.Emit(&telemetry.Event{Kind: telemetry.KindConnectionClose, Time: goldenStart, SessionID: goldenSession,
			Latency: 23 * time.Millisecond})
	}},
	{"statement_inline", true, 1, func(em *telemetry.Emitter) {
		id := "01ef-statement-0002"
		goldenStatement(em, id, telemetry.ResultInlineArrow, 61*time.Millisecond)
		goldenComplete(em, id, telemetry.ResultInlineArrow, 87*time.Millisecond, 61*time.Millisecond, 2, 40*time.Millisecond, 0, nil)
	}},
	{"statement_cloudfetch", true, 1, func(em *telemetry.Emitter) {
		id := "01ef-statement-0003"
		goldenStatement(em, id, telemetry.ResultExternalLinks, 1800*time.Millisecond)
		for i, ms := range []int{120, 410, 230, 180, 260, 200, 240, 190, 310, 220, 280, 260} {
			em.Emit(&telemetry.Event{Kind: telemetry.KindChunk, SessionID: goldenSession, StatementID: id,
				ChunkIndex: int32(i), Latency: time.Duration(ms) * time.Millisecond, Bytes: 4 << 20})
		}
		goldenComplete(em, id, telemetry.ResultExternalLinks, 5230*time.Millisecond, 1800*time.Millisecond, 6, 1750*time.Millisecond, 12, nil)
	}},
	{"error_terminal", true, 1, func(em *telemetry.Emitter) {
		// The driver completes a statement that failed terminally with its error.
		id := "01ef-statement-0004"
		goldenStatement(em, id, "", 35*time.Millisecond)
		goldenComplete(em, id, "", 35*time.Millisecond, 35*time.Millisecond, 1, 0, 0,
			errors.New("databricks: execution error: failed to execute query: [TABLE_OR_VIEW_NOT_FOUND] The table or view `main`.`t` cannot be found. SQLSTATE: 42P01"))
	}},
	{"error_retryable_held", true, 2, func(em *telemetry.Emitter) {
		// A retryable error waits on its statement and leaves with its log, as a log of its own.
		id := "01ef-statement-0005"
		goldenStatement(em, id, telemetry.ResultInlineArrow, 2150*time.Millisecond)
		em.EmitError(goldenSession, id, errors.New("databricks: request error: unexpected HTTP status 503 Service Unavailable"))
		goldenComplete(em, id, telemetry.ResultInlineArrow, 2210*time.Millisecond, 2150*time.Millisecond, 3, 300*time.Millisecond, 0, nil)
	}},
	{"error_standalone", true, 1, func(em *telemetry.Emitter) {
		// An error outside any statement (a failed Ping, Commit, …).
		em.EmitError(goldenSession, "", errors.New("databricks: request error: unexpected HTTP status 502 Bad Gateway"))
	}},
	{"connection_unauth", false, 1, func(em *telemetry.Emitter) {
		// A connection that failed to authenticate: no credentials the server accepted,
		// so /telemetry-unauth, stripped of ids, configuration and the stack trace.
		em.Emit(&telemetry.Event{Kind: telemetry.KindConnectionOpen, Time: goldenStart, Latency: 35 * time.Millisecond,
			Connection: goldenConnection(),
			Err:        errors.New("databricks: request error: open session request error: unexpected HTTP status 401 Unauthorized")})
	}},
}

var (
	uploadTimeRE = regexp.MustCompile(`"uploadTime":\d+`)
	eventIDRE    = regexp.MustCompile(`(\\?"frontend_log_event_id\\?":\\?")[^"\\]*(\\?")`)
)

// normaliseBody blanks what legitimately varies between runs.
func normaliseBody(b []byte) []byte {
	b = uploadTimeRE.ReplaceAll(b, []byte(`"uploadTime":0`))
	return eventIDRE.ReplaceAll(b, []byte(`${1}EVENT-ID${2}`))
}

// goldenLogPath names the golden file of a case's i-th log (from 0).
func goldenLogPath(name string, i int) string {
	if i == 0 {
		return filepath.Join("testdata", name+".log.json")
	}
	return filepath.Join("testdata", fmt.Sprintf("%s.%d.log.json", name, i+1))
}

func TestGoldenWireFormat(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			srv, rc := newServer(t, nil)
			opts := []Option{WithClock(goldenClock)}
			if tc.authed {
				opts = append(opts, WithCredentials(BearerToken("dapi-golden")))
			}
			e := newTestExporter(t, srv, opts...)
			agg := aggregator.New(e,
				aggregator.WithClock(goldenClock),
				aggregator.WithFlushInterval(time.Hour),
				aggregator.WithSystemConfiguration(goldenSystemConfiguration()),
				aggregator.WithClientContext("0.1.0", goldenUA),
				aggregator.WithAuthType("pat"),
				aggregator.WithWorkspaceID(1234567890123456),
			)
			em := telemetry.NewEmitter(agg, telemetry.WithLookupEnv(func(string) (string, bool) { return "", false }))
			tc.feed(em)
			noErr(t, agg.Flush(context.Background()), "flush")
			noErr(t, agg.Close(context.Background()), "close")

			reqs := rc.requests()
			equal(t, len(reqs), 1, "requests")
			wantPath := telemetryExtPath
			if !tc.authed {
				wantPath = telemetryUnauthPath
			}
			equal(t, reqs[0].Path, wantPath, "path")
			body := append(normaliseBody(reqs[0].Body), '\n')

			// The decoded logs, indented, are the readable half of the golden set.
			var env telemetry.Request
			noErr(t, json.Unmarshal(reqs[0].Body, &env), "decode body")
			equal(t, len(env.ProtoLogs), tc.logs, "protoLogs")
			checkGolden(t, filepath.Join("testdata", tc.name+".body.json"), body)
			for i, l := range env.ProtoLogs {
				var pretty bytes.Buffer
				noErr(t, json.Indent(&pretty, normaliseBody([]byte(l)), "", "  "), "indent")
				pretty.WriteByte('\n')
				checkGolden(t, goldenLogPath(tc.name, i), pretty.Bytes())
			}
		})
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		noErr(t, os.WriteFile(path, got, 0o644), "write golden")
		return
	}
	want, err := os.ReadFile(path)
	noErr(t, err, "read golden (run `go test ./exporter -run Golden -update` to create it)")
	if !bytes.Equal(want, got) {
		t.Fatalf("golden %s differs (rerun with -update if intended)\n got: %s\nwant: %s", path, got, want)
	}
}
