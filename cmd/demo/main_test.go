package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

func TestMain(m *testing.M) {
	quietDriver()
	goleak.VerifyTestMain(m,
		// Idle keep-alive connections and timeout watchers of HTTP clients (the driver's
		// and ours), which end by themselves.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.setRequestCancel.func4"),
		goleak.IgnoreTopFunction("net/http.awaitLegacyCancel"),
	)
}

// kindSQL is the local warehouse's SQL of each workload kind (the demo table's name
// stands for itself).
func kindSQL(table string) map[string]int {
	w := &workload{table: table, d: duckDB, scanRows: testScanRows}
	return map[string]int{
		w.sql(duckDB.lookup): kindLookup, w.sql(duckDB.aggregate): kindAggregate,
		w.sql(duckDB.insert): kindInsert, w.sql(duckDB.update): kindUpdate,
		duckDB.slow: kindSlow, w.sql(duckDB.scan): kindScan, duckDB.missing: kindMissing,
		duckDB.divZero: kindDivZero, duckDB.cancelled: kindCancelled,
		w.sql(duckDB.create): kindDDL, w.sql(duckDB.seed): kindDDL, w.sql(duckDB.count): kindDDL, w.sql(duckDB.drop): kindDDL,
	}
}

// A smaller scan, in 3 CloudFetch files: under the race detector reading 1,000,000 rows
// takes seconds, and workers stuck in scans would starve the outage of export batches.
const testScanRows = 300_000

func cheaperScan(o *options) {
	o.scanRows = testScanRows
	o.warehouseOpts = []warehouse.Option{warehouse.WithChunkRows(100_000)}
}

// TestReportMatchesWarehouse runs the demo's entry point with a short workload and
// recomputes the report's numbers from what the warehouse recorded: its statements,
// sessions and the telemetry its ingest accepted.
func TestReportMatchesWarehouse(t *testing.T) {
	t.Setenv(envDSN, "")
	t.Setenv(telemetry.DisableEnv, "")
	out := filepath.Join(t.TempDir(), "telemetry.jsonl")
	var stdout, stderr bytes.Buffer
	// Long enough for the outage to open and close the breaker (it starts at a quarter),
	// with room for a loaded CI machine under the race detector: with 12 s, a run beside
	// every other package twice over once saw the breaker open only after 9 s.
	code, res := runDemo(context.Background(),
		[]string{"-duration", "20s", "-concurrency", "3", "-json", "-telemetry-out", out}, &stdout, &stderr, cheaperScan,
		// A healthy answer can take long on a loaded CI machine under the race detector;
		// one that outlasts the attempt timeout would count as failed on the client.
		func(o *options) { o.attemptTimeout = time.Second })
	require.Equal(t, exitOK, code, "stderr:\n%s", stderr.String())
	require.NotNil(t, res)
	srv := res.srv
	require.NotNil(t, srv)

	var r Report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &r), "stdout is the JSON report alone")
	assert.Contains(t, stderr.String(), "baseline: done", "plain progress lines go to stderr with -json")
	// Each phase's progress line, at its end, adds up to the phase's row of the report:
	// the statements counted then, and those still running.
	require.Len(t, r.Phases, 3)
	for _, p := range r.Phases {
		m := regexp.MustCompile(regexp.QuoteMeta(p.Name) + `: done, ([0-9,]+) statements[^\n]*?(?:, (\d+) still running)?\n`).FindStringSubmatch(stderr.String())
		require.NotNil(t, m, "the %s phase's progress line in:\n%s", p.Name, stderr.String())
		counted, err := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
		require.NoError(t, err)
		running, _ := strconv.Atoi(m[2])
		assert.Equal(t, p.Statements, counted+running, "the %s phase: %q", p.Name, m[0])
	}
	for _, c := range r.Checks {
		assert.True(t, c.OK, "%s: %s", c.Name, c.Detail)
	}

	// Statements: by kind, from the SQL the warehouse ran.
	table := ""
	for _, s := range res.ddl {
		if rec, ok := srv.Statement(s.id); ok && strings.HasPrefix(rec.SQL, "CREATE TABLE ") {
			table = strings.Fields(rec.SQL)[2]
		}
	}
	require.NotEmpty(t, table)
	sqlKind := kindSQL(table)
	stmts := srv.Statements()
	byKind := map[int][]warehouse.StatementRecord{}
	for _, st := range stmts {
		k, ok := sqlKind[st.SQL]
		require.True(t, ok, "the warehouse ran a statement the demo does not know: %q", st.SQL)
		byKind[k] = append(byKind[k], st)
	}
	assert.Equal(t, r.Statements+len(byKind[kindDDL]), len(stmts))
	assert.Len(t, byKind[kindDDL], 4, "create, seed, count, drop")

	// Telemetry the ingest accepted, by statement.
	logs, bad := decodeLogs(srv.TelemetryLogs())
	require.Zero(t, bad)
	stmtLog := map[string]*telemetry.SQLDriverLog{}
	errNames := map[string][]string{}
	var opens, closes int
	for i := range logs {
		d := logs[i].Entry.SQLDriverLog
		switch logKind(&logs[i]) {
		case logConnOpen:
			opens++
		case logConnClose:
			closes++
		case logStatement:
			require.Nil(t, stmtLog[d.SQLStatementID], "one statement log per statement")
			stmtLog[d.SQLStatementID] = d
		}
		if d.ErrorInfo != nil {
			errNames[d.SQLStatementID] = append(errNames[d.SQLStatementID], d.ErrorInfo.ErrorName)
		}
	}

	seen := map[string]bool{}
	for _, kr := range r.Kinds {
		k := kindByName(t, kr.Kind)
		recs := byKind[k]
		seen[kr.Kind] = true
		require.Equal(t, len(recs), kr.Count, "count of %s", kr.Kind)
		var rows, chunks, polls int64
		var logsN, terminal, retryable int
		for _, st := range recs {
			switch st.State {
			case warehouse.StateError:
				terminal++ // 42P01 and 22012 are terminal
			case warehouse.StateCanceled:
				retryable++ // a timeout is retryable
			default:
				if kinds[k].exec && !strings.HasPrefix(st.SQL, "SELECT") {
					rows += st.ModifiedRows
				} else {
					rows += st.Rows
				}
			}
			if d := stmtLog[st.ID]; d != nil {
				logsN++
				if cd := d.SQLOperation.ChunkDetails; cd != nil {
					chunks += int64(cd.TotalChunksIterated)
				}
				polls += int64(d.SQLOperation.OperationDetail.NOperationStatusCalls)
				assert.Equal(t, int64(st.ChunkDownloads), func() int64 {
					if cd := d.SQLOperation.ChunkDetails; cd != nil {
						return int64(cd.TotalChunksIterated)
					}
					return 0
				}(), "chunks of %s %s", kr.Kind, st.ID)
				assert.Equal(t, int32(st.Polls), d.SQLOperation.OperationDetail.NOperationStatusCalls, "polls of %s %s", kr.Kind, st.ID)
			}
		}
		assert.Equal(t, rows, kr.Rows, "rows of %s", kr.Kind)
		assert.Equal(t, logsN, kr.Logs, "statement logs of %s", kr.Kind)
		assert.Equal(t, chunks, kr.Chunks, "chunks of %s", kr.Kind)
		assert.Equal(t, polls, kr.Polls, "polls of %s", kr.Kind)
		assert.Equal(t, terminal, kr.ErrorsTerminal, "terminal errors of %s", kr.Kind)
		assert.Equal(t, retryable, kr.ErrorsRetryable, "retryable errors of %s", kr.Kind)
		assert.LessOrEqual(t, kr.P50Ms, kr.P95Ms)
		assert.LessOrEqual(t, kr.P95Ms, kr.P99Ms)

		switch k {
		case kindScan:
			for _, st := range recs {
				assert.Equal(t, warehouse.DeliveryCloudFetch, st.Delivery)
				assert.Equal(t, int64(testScanRows), st.Rows)
				assert.Equal(t, 3, st.Chunks)
			}
			if kr.Logs > 0 {
				assert.Equal(t, map[string]int{"EXTERNAL_LINKS": kr.Logs}, kr.Delivery)
			}
		case kindMissing, kindDivZero:
			want := map[int]string{kindMissing: "42P01", kindDivZero: "22012"}[k]
			for _, st := range recs {
				assert.Equal(t, warehouse.StateError, st.State)
				assert.Equal(t, want, st.SQLState)
			}
		case kindCancelled:
			for _, st := range recs {
				assert.Equal(t, warehouse.StateCanceled, st.State)
				if stmtLog[st.ID] != nil {
					assert.Equal(t, []string{"timeout"}, errNames[st.ID], "the timeout travels in its own log")
				}
			}
		case kindSlow:
			// Answered RUNNING after 200 ms, then polled (unless a loaded machine let the
			// 300 ms statement finish before ExecuteStatement answered).
			for _, st := range recs {
				assert.Equal(t, st.Async, st.Polls > 0, "a statement answered RUNNING is polled")
			}
		}
	}
	for _, k := range kinds {
		assert.True(t, seen[k.name], "the short run covers kind %s", k.name)
	}
	// The errors table agrees with the kinds table.
	errCount := map[string]int{}
	for _, e := range r.Errors {
		assert.True(t, e.Expected, "unexpected error %+v", e)
		errCount[e.Kind] += e.Count
	}
	assert.Equal(t, len(byKind[kindMissing]), errCount["missing-table"])
	assert.Equal(t, len(byKind[kindDivZero]), errCount["div-by-zero"])
	assert.Equal(t, len(byKind[kindCancelled]), errCount["cancelled"])

	// Sessions and exported logs.
	require.NotNil(t, r.Warehouse)
	assert.Equal(t, len(srv.Sessions()), r.Warehouse.Sessions)
	assert.Equal(t, len(srv.Sessions()), opens, "a CREATE_SESSION log per session")
	assert.Equal(t, len(srv.Sessions()), closes, "a DELETE_SESSION log per session")
	assert.Equal(t, int64(len(srv.TelemetryLogs())), r.Telemetry.Exported, "Stats().Exported = what the ingest accepted")
	assert.Equal(t, len(srv.TelemetryLogs()), r.Warehouse.IngestLogs)
	byLog := map[string]LogKindRow{}
	for _, row := range r.Telemetry.ByKind {
		byLog[row.Kind] = row
		require.NotNil(t, row.Received)
		assert.Equal(t, row.Exported, *row.Received, "logs of kind %s", row.Kind)
	}
	assert.Equal(t, opens, byLog[logConnOpen].Exported)
	assert.Equal(t, len(stmtLog), byLog[logStatement].Exported)

	// The outage: 503s, a hang, the breaker opened and closed again; only the outage lost logs.
	require.NotNil(t, r.Outage)
	assert.True(t, r.Outage.Completed, "outage: %+v", *r.Outage)
	var path []string
	for _, tr := range r.Telemetry.Transitions {
		path = append(path, tr.From+"→"+tr.To)
	}
	assert.Equal(t, []string{"closed→open", "open→half-open", "half-open→closed"}, path)
	assert.Equal(t, int64(1), r.Telemetry.BreakerOpened)
	assert.Positive(t, r.Telemetry.Retries)
	assert.Positive(t, r.Telemetry.Rejected, "the open breaker dropped batches")
	assert.Positive(t, r.Telemetry.Dropped.ExportFailed)
	d := r.Telemetry.Dropped
	assert.Zero(t, d.QueueFull+d.Unfinished+d.Closed+d.ErrorLimit+d.Invalid+d.Undecided+d.Late, "no drop but the outage's: %+v", d)
	assert.Equal(t, r.Telemetry.DroppedTotal, d.ExportFailed, "the reasons add up to the total")
	assert.Equal(t, outage503Batches*(localRetryCount+1), r.Warehouse.IngestAnswers["503"])
	assert.Equal(t, srv.FaultsServed(warehouse.GroupTelemetry), r.Warehouse.FaultsServed)
	require.Len(t, r.Phases, 3)
	assert.Equal(t, r.Statements, r.Phases[0].Statements+r.Phases[1].Statements+r.Phases[2].Statements)

	// -telemetry-out holds every log the ingest accepted, in order.
	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	require.NoError(t, sc.Err())
	assert.Equal(t, srv.TelemetryLogs(), lines)

	// The same report, for people.
	var text bytes.Buffer
	writeText(&text, &r)
	for _, want := range []string{"Statements by kind", "The workload by phase", "Latency histogram", "█",
		"Errors the application got", "Logs by kind", "Circuit breaker transitions", "half-open", "Dropped by reason",
		"AGREE    exported = received by the ingest", "division by zero"} {
		assert.Contains(t, text.String(), want)
	}
	assert.NotContains(t, text.String(), "DISAGREE")
}

func kindByName(t *testing.T, name string) int {
	t.Helper()
	for k, info := range kinds {
		if info.name == name {
			return k
		}
	}
	t.Fatalf("unknown kind %q", name)
	return -1
}

// TestInterrupt cancels the run as Ctrl-C does: the demo stops, flushes telemetry and
// still prints the report so far, and the exported logs still agree with the ingest.
func TestInterrupt(t *testing.T) {
	t.Setenv(envDSN, "")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel)
	var stdout, stderr bytes.Buffer
	began := time.Now()
	code, res := runDemo(ctx, []string{"-duration", "60s"}, &stdout, &stderr, cheaperScan)
	assert.Less(t, time.Since(began), 10*time.Second, "stops promptly")
	require.Equal(t, exitInterrupted, code, "stderr:\n%s", stderr.String())
	require.NotNil(t, res)
	require.NotNil(t, res.report)
	assert.True(t, res.report.Interrupted)
	assert.Equal(t, "Ctrl-C", res.report.InterruptedBy)
	s := stdout.String()
	assert.Contains(t, s, "interrupted (Ctrl-C): the report so far")
	assert.Contains(t, s, "Statements by kind")
	assert.Contains(t, s, "Cross-checks")
	assert.Positive(t, res.report.Statements)
	assert.Equal(t, int64(len(res.srv.TelemetryLogs())), res.report.Telemetry.Exported)
	for _, c := range res.report.Checks {
		assert.True(t, c.OK, "%s: %s", c.Name, c.Detail)
	}
}

// TestAgainstDSN runs the -dsn path (taken from DATABRICKS_DSN) with the real
// warehouse's dialect, against a local warehouse the test owns: no outage, no ingest
// cross-check in the report, and the test checks the ingest itself.
func TestAgainstDSN(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	t.Setenv(envDSN, srv.DSN())
	var stdout, stderr bytes.Buffer
	code, res := runDemo(context.Background(), []string{"-queries", "24", "-concurrency", "2", "-json"}, &stdout, &stderr, cheaperScan)
	require.Equal(t, exitOK, code, "stderr:\n%s", stderr.String())
	require.Nil(t, res.srv)
	var r Report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &r))
	assert.False(t, r.Local)
	assert.Equal(t, databricksSQL.name, r.Dialect)
	assert.Equal(t, srv.Addr(), r.Target, "the host, without credentials")
	assert.NotContains(t, stdout.String(), srv.Token())
	assert.NotContains(t, stderr.String(), srv.Token())
	assert.Nil(t, r.Outage)
	assert.Nil(t, r.Warehouse)
	assert.Equal(t, 24, r.Statements)
	require.Len(t, r.Phases, 1)
	for _, c := range r.Checks {
		assert.True(t, c.OK, "%s: %s", c.Name, c.Detail)
		assert.NotContains(t, c.Name, "ingest")
	}
	assert.Equal(t, int64(len(srv.TelemetryLogs())), r.Telemetry.Exported)
	assert.Positive(t, r.Telemetry.Exported)
	assert.Len(t, srv.Statements(), 24+4)
	assert.Contains(t, strings.Join(r.Notes, "\n"), "no ingest to ask")
	assert.Equal(t, "2m0s (the DSN sets none)", r.Telemetry.Settings["query timeout"], "a runaway statement stops on the server")
}

// A DSN the warehouse refuses fails the demo with the driver's error, readable: the
// host, port and path stay, the token goes.
func TestRefusedDSN(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	const token = "dapi0123456789abcdef0123456789abcdef" // not the warehouse's
	t.Setenv(envDSN, "http://token:"+token+"@"+srv.Addr()+warehouse.HTTPPath)
	var stdout, stderr bytes.Buffer
	code, out := runDemo(context.Background(), []string{"-queries", "4", "-concurrency", "1"}, &stdout, &stderr, cheaperScan)
	require.Equal(t, exitFailed, code)
	require.NotNil(t, out)
	assert.Len(t, out.ddl, 1, "the CREATE alone: a table it did not create is not dropped")
	_, port, _ := net.SplitHostPort(srv.Addr())
	assert.Contains(t, stderr.String(), "port="+port)
	assert.Contains(t, stderr.String(), warehouse.HTTPPath)
	assert.NotContains(t, stderr.String(), token)
	assert.NotContains(t, stdout.String(), token)
}

func TestBadUsage(t *testing.T) {
	const token = "dapi0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"unknown flag", []string{"-nope"}, "", "flag provided but not defined: -nope"},
		{"bad duration", []string{"-duration", "soon"}, "", `invalid value "soon" for flag -duration`},
		{"zero duration", []string{"-duration", "0s"}, "", "-duration must be positive"},
		{"negative queries", []string{"-queries", "-1"}, "", "-queries must be 0"},
		{"concurrency", []string{"-concurrency", "0"}, "", "-concurrency must be 1-64"},
		{"concurrency above the maximum", []string{"-concurrency", "65"}, "", "-concurrency must be 1-64, got 65"},
		{"argument", []string{"now"}, "", `unexpected argument "now"`},
		{"bad dsn", []string{"-dsn", "https://token:" + token + "@example.cloud.databricks.com:443/sql/1.0/warehouses/x?telemetry_batch_size=lots"}, "",
			`invalid -dsn: dbtelemetry: DSN parameter telemetry_batch_size="lots": want an integer from 1 to 10000`},
		{"bad dsn from the environment", nil, "https://token:" + token + "@example.cloud.databricks.com:443/sql/1.0/warehouses/x?telemetry_flush_interval=never", "invalid $DATABRICKS_DSN: "},
		{"unparsable dsn", []string{"-dsn", "https://token:" + token + "@ex:ample:99/x"}, "", "invalid -dsn: "},
		{"secret parameter", []string{"-dsn", "https://host:443/sql?authType=OauthM2M&clientID=x&clientSecret=" + token + "&timeout=abc"}, "", "invalid -dsn: "},
		{"telemetry-out", []string{"-telemetry-out", filepath.Join(t.TempDir(), "no", "such", "dir", "x.jsonl")}, "", "-telemetry-out"},
		{"dsn without a host", []string{"-dsn", "token:" + token + "@:1/x"}, "", "invalid -dsn: it names no host"},
		{"a secret holding '/'", []string{"-dsn", "token:my/secret/pw@host:99999999/x"}, "", "invalid -dsn: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envDSN, tc.env)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, stdout.String())
			msg := stderr.String()
			assert.Equal(t, 1, strings.Count(msg, "\n"), "one line: %q", msg)
			assert.True(t, strings.HasPrefix(msg, "demo: "), msg)
			assert.Contains(t, msg, tc.want)
			assert.NotContains(t, msg, token, "the DSN's token is never printed")
			assert.NotContains(t, msg, "secret/pw", "nor a secret holding '/'")
		})
	}
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-h"}, &stdout, &stderr)
	assert.Equal(t, exitOK, code)
	assert.Empty(t, stderr.String())
	for _, flag := range []string{"-dsn", envDSN, "-duration", "-queries", "-concurrency", "-json", "-telemetry-out", "Exit status"} {
		assert.Contains(t, stdout.String(), flag)
	}
}

// A phase's progress line shows a rate only over a span long enough to mean one.
func TestLiveStatsStatus(t *testing.T) {
	t0 := time.Now()
	for _, tc := range []struct {
		name string
		span time.Duration
		want string
	}{
		{"short phase: no rate", 100 * time.Millisecond, "31 statements, 2 errors"},
		{"long phase", 2 * time.Second, "31 statements, 16/s, 2 errors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLiveStats()
			l.begun[0] = 31
			l.count[0], l.fail[0] = 31, 2
			l.begin[0], l.end[0] = t0, t0.Add(tc.span)
			assert.Equal(t, tc.want, l.status(0))
		})
	}
	t.Run("statements still running at the phase's end", func(t *testing.T) {
		l := newLiveStats()
		l.begun[1], l.count[1], l.begin[1] = 35, 31, t0
		assert.Equal(t, "31 statements, 0 errors", l.status(1), "not while the phase runs")
		l.end[1] = t0.Add(100 * time.Millisecond)
		assert.Equal(t, "31 statements, 0 errors, 4 still running", l.status(1))
	})
	t.Run("one statement still running", func(t *testing.T) {
		l := newLiveStats()
		l.begun[1], l.count[1], l.begin[1], l.end[1] = 32, 31, t0, t0.Add(100*time.Millisecond)
		assert.Equal(t, "31 statements, 0 errors, 1 still running", l.status(1))
	})
}

// With telemetry off, by the kill switch or by the DSN, the demo runs its workload, says
// what turned telemetry off (not the server's flag, which is on), and its cross-checks
// hold: nothing is exported, and no session has a log.
func TestTelemetryOff(t *testing.T) {
	for _, tc := range []struct {
		name      string
		killEnv   string // the kill switch's value
		dsnParams string // "": the demo's own local warehouse; else a DSN of another, with these
		note      string
	}{
		{"the kill switch", "1", "", telemetry.DisableEnv + " is set"},
		{"enableTelemetry=false in the DSN", "", "?enableTelemetry=false", "enableTelemetry=false in the DSN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(telemetry.DisableEnv, tc.killEnv)
			t.Setenv(envDSN, "")
			var srv *warehouse.Server
			if tc.dsnParams != "" {
				var err error
				srv, err = warehouse.NewServer()
				require.NoError(t, err)
				defer srv.Close()
				t.Setenv(envDSN, srv.DSN()+tc.dsnParams)
			}
			var stdout, stderr bytes.Buffer
			code, res := runDemo(context.Background(), []string{"-queries", "24", "-concurrency", "2", "-json"}, &stdout, &stderr, cheaperScan)
			require.Equal(t, exitOK, code, "stderr:\n%s", stderr.String())
			if srv == nil {
				srv = res.srv
			}
			var r Report
			require.NoError(t, json.Unmarshal(stdout.Bytes(), &r))
			assert.False(t, r.Telemetry.Enabled)
			assert.Zero(t, r.Telemetry.Exported)
			assert.Empty(t, srv.TelemetryLogs())
			notes := strings.Join(r.Notes, "\n")
			assert.Contains(t, notes, tc.note)
			assert.NotContains(t, notes, "feature flag")
			for _, c := range r.Checks {
				assert.True(t, c.OK, "%s: %s", c.Name, c.Detail)
			}
		})
	}
}

func TestWithQueryTimeout(t *testing.T) {
	const host = "token:dapi-x@adb-1.azuredatabricks.net:443/sql/1.0/warehouses/w"
	tests := []struct {
		name, dsn, want string
		added           bool
	}{
		{"no query", host, host + "?timeout=120", true},
		{"a query", host + "?catalog=main", host + "?catalog=main&timeout=120", true},
		{"an empty query", host + "?", host + "?timeout=120", true},
		{"a trailing &", host + "?catalog=main&", host + "?catalog=main&timeout=120", true},
		{"the user's timeout stays", host + "?timeout=5", host + "?timeout=5", false},
		{"an empty timeout is none, and taken out", host + "?timeout=", host + "?timeout=120", true},
		{"an empty timeout among others", host + "?a=1&timeout=&b=2", host + "?a=1&b=2&timeout=120", true},
		{"a timeout of 0 is the user's", host + "?timeout=0", host + "?timeout=0", false},
		{"an empty timeout before the user's: the empty one out", host + "?timeout=&timeout=30", host + "?timeout=30", false},
		{"the user's timeout before an empty one", host + "?timeout=30&timeout=", host + "?timeout=30&timeout=", false},
		{"a pair the driver drops hides no other", host + "?a=%zz", host + "?a=%zz&timeout=120", true},
		{"a timeout the driver drops is none", host + "?timeout=%zz", host + "?timeout=%zz&timeout=120", true},
		{"the user's timeout beside a dropped pair", host + "?a=%zz&timeout=5", host + "?a=%zz&timeout=5", false},
		{"before a '#', which ends the query", host + "?x=1#frag", host + "?x=1&timeout=120#frag", true},
		{"a '#' in a secret", host + "?clientSecret=a#b&c=d", host + "?clientSecret=a&timeout=120#b&c=d", true},
		{"a '#' without a query", host + "#x", host + "?timeout=120#x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, added := withQueryTimeout(tt.dsn, 2*time.Minute)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.added, added)
		})
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct {
		name, msg, dsn, want string
	}{
		{"the DSN's token", "dial token:s3cr3t@host failed", "token:s3cr3t@host:443/sql", "dial token:[REDACTED]@host failed"},
		{"a short token leaves words alone", "invalid syntax near token:x@h", "token:x@h:443/p",
			"invalid syntax near token:[REDACTED]@h"},
		{"a credential parameter", "bad clientSecret=abc123 given", "h:443/p?clientSecret=abc123",
			"bad clientSecret=[REDACTED] given"},
		{"a short token inside a word stays", "mytokvalue", "token:tok@h:443/p", "mytokvalue"},
		{"a long token goes even inside a word", "mytokenvalue", "token:tokenvalu@h:443/p", "my[REDACTED]e"},
		{"an 8-byte token is long enough to go inside a word", "xs3cretpwx", "token:s3cretpw@h:443/p", "x[REDACTED]x"},
		{"a Databricks token anywhere", "auth dapi0123456789abcdef0123 refused", "h:443/p", "auth [REDACTED] refused"},
		{"a secret holding '/'", `parse "https://token:my/secret/pw@host:99999999/x": invalid port`, "token:my/secret/pw@host:99999999/x",
			`parse "https://token:[REDACTED]@host:99999999/x": invalid port`},
		{"a secret's part before '/', quoted as a port", `parse "https://token:k3yPart0ne/k3yPartTw0@host:1/x": invalid port ":k3yPart0ne" after host`,
			"token:k3yPart0ne/k3yPartTw0@host:1/x", `parse "https://token:[REDACTED]@host:1/x": invalid port ":[REDACTED]" after host`},
		{"a secret's part before '?', quoted as a port", `parse "https://token:k3y?Tw0@host:1/x": invalid port ":k3y" after host`,
			"token:k3y?Tw0@host:1/x", `parse "https://token:[REDACTED]@host:1/x": invalid port ":[REDACTED]" after host`},
		{"a secret holding a space", `parse "https://token:abc def@host:1/x": invalid character`, "token:abc def@host:1/x",
			`parse "https://token:[REDACTED]@host:1/x": invalid character`},
		{"a secret cut at '#' by the parser", `parse "https://token:p%40ss": invalid port`, "token:p%40ss#word@host:bad/x",
			`parse "https://token:[REDACTED]": invalid port`},
		{"an '@' in the query is no userinfo", "bad userAgentEntry=a@b", "token:s3cr3tpw@h:443/p?userAgentEntry=a@b",
			"bad userAgentEntry=a@b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, redactDSN(tt.msg, tt.dsn))
		})
	}
}
