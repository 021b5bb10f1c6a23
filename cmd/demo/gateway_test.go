package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// What a gateway in front of a real warehouse does to a Thrift call whose body holds a
// given SQL text.
type gatewayAction int

const (
	gwPass   gatewayAction = iota
	gwCut                  // forwarded, then the reply is cut halfway: the statement ran
	gwRefuse               // the connection is closed before the call is forwarded: it never ran
	gwHang                 // held until the client gives up (or the test ends: then forwarded)
)

// useGateway puts an HTTP reverse proxy in front of srv, as a real deployment's gateway
// is, and points $DATABRICKS_DSN at it. rule decides per Thrift call, from the SQL text
// its body carries. release forwards the calls held (gwHang) and ends the holding: it is
// called when the test ends, if not before.
func useGateway(t *testing.T, srv *warehouse.Server, rule func(body []byte) gatewayAction) (release func()) {
	t.Helper()
	target, err := url.Parse(srv.URL())
	require.NoError(t, err)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = tr
	released := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(released) }) }
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		switch rule(body) {
		case gwCut:
			rp.ServeHTTP(&cutWriter{ResponseWriter: w}, r)
		case gwRefuse:
			panic(http.ErrAbortHandler)
		case gwHang:
			select {
			case <-r.Context().Done():
			case <-released: // what the demo left running ends
				rp.ServeHTTP(w, r)
			}
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(func() { release(); gw.Close(); tr.CloseIdleConnections() })
	t.Setenv(envDSN, strings.Replace(srv.DSN(), srv.Addr(), gw.Listener.Addr().String(), 1))
	return release
}

// cutWriter passes the status and half of the first write of the body, then cuts the
// connection.
type cutWriter struct{ http.ResponseWriter }

func (c *cutWriter) Write(p []byte) (int, error) {
	_, _ = c.ResponseWriter.Write(p[:len(p)/2])
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	panic(http.ErrAbortHandler)
}

func sqlContains(s string, action gatewayAction) func([]byte) gatewayAction {
	return func(body []byte) gatewayAction {
		if bytes.Contains(body, []byte(s)) {
			return action
		}
		return gwPass
	}
}

// demoTables lists the demo tables that exist on srv.
func demoTables(t *testing.T, srv *warehouse.Server) []string {
	t.Helper()
	db, err := sql.Open("databricks", srv.DSN())
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.QueryContext(context.Background(),
		"SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'dbtelemetry_demo_%' ORDER BY 1")
	require.NoError(t, err)
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(t, rows.Err())
	return names
}

// A CREATE whose reply the gateway cut ran on the warehouse all the same: the demo fails
// its setup, and drops the table it may have made (DROP TABLE IF EXISTS) rather than
// leave it on the user's warehouse.
func TestCreateWithLostReplyDropsTheTable(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	useGateway(t, srv, sqlContains("CREATE TABLE", gwCut))
	var stdout, stderr bytes.Buffer
	code, _ := runDemo(context.Background(), []string{"-queries", "4", "-concurrency", "1"}, &stdout, &stderr, cheaperScan)
	require.Equal(t, exitFailed, code, "stderr:\n%s", stderr.String())
	assert.Contains(t, stderr.String(), "set up the demo table")
	assert.Empty(t, demoTables(t, srv), "no demo table left on the warehouse; stdout:\n%s", stdout.String())
}

// A DROP that never reached the warehouse leaves the demo table there: the run fails,
// and both the error and the report's notes name the table and how to drop it.
func TestFailedDropIsReported(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	useGateway(t, srv, sqlContains("DROP TABLE", gwRefuse))
	var stdout, stderr bytes.Buffer
	code, res := runDemo(context.Background(), []string{"-queries", "6", "-concurrency", "1", "-json"}, &stdout, &stderr, cheaperScan)
	left := demoTables(t, srv)
	require.Len(t, left, 1, "the premise: the table is still on the warehouse")
	require.NotNil(t, res)
	require.NotNil(t, res.report, "the report is printed")
	var r Report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &r))
	assert.Equal(t, exitFailed, code, "a table left behind is a failed run; stderr:\n%s", stderr.String())
	assert.Contains(t, stderr.String(), "DROP TABLE IF EXISTS "+left[0])
	assert.Contains(t, strings.Join(r.Notes, "\n"), "DROP TABLE IF EXISTS "+left[0])
}

// A warehouse that stops answering some statements does not hold the demo past its
// budget without bound: the statements still running a while after the budget was
// spent are cancelled, counted as interrupted, and the report says so.
func TestHungStatementsEndAfterTheBudget(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	// Every lookup hangs; the rest, the DROP and the sessions' close are answered.
	useGateway(t, srv, sqlContains("WHERE id = ?", gwHang))
	code, res, stderr := runHungDemo(t, 20*time.Second)
	require.Equal(t, exitOK, code, "stderr:\n%s", stderr)
	require.NotNil(t, res)
	r := res.report
	require.NotNil(t, r)
	assert.False(t, r.Interrupted, "no Ctrl-C")
	assert.Positive(t, r.Interrupts, "the hung statements, cancelled")
	assert.Contains(t, strings.Join(r.Notes, "\n"), "after the budget was spent")
	assert.Empty(t, demoTables(t, srv), "the table was dropped")
}

// A warehouse that stops answering altogether once the workload runs (statements, the
// DROP, the sessions' close) still lets the demo end on its own, within its bounds: the
// statements drainGrace after the budget, the DROP 10 s, the pool's close stopGrace
// (here drainGrace). The run fails, naming the table it could not drop.
func TestHungWarehouseEndsAfterTheBudget(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	var hung atomic.Bool
	release := useGateway(t, srv, func(body []byte) gatewayAction {
		switch {
		case len(body) == 0 || bytes.Contains(body, []byte(`"protoLogs"`)):
			return gwPass // the feature flag and the telemetry: not the warehouse's SQL
		case bytes.Contains(body, []byte("WHERE id = ?")):
			hung.Store(true) // the workload runs: from now on nothing is answered
		}
		if hung.Load() {
			return gwHang
		}
		return gwPass
	})
	code, res, stderr := runHungDemo(t, 40*time.Second)
	// The demo stopped waiting for the pool's close, which goes on: the warehouse
	// answers again, and the test waits for the sessions' close (a driver retrying it
	// would outlive the test).
	hung.Store(false)
	release()
	waitSessionsClosed(t, srv)
	assert.Equal(t, exitFailed, code, "the table could not be dropped; stderr:\n%s", stderr)
	require.NotNil(t, res)
	require.NotNil(t, res.report)
	notes := strings.Join(res.report.Notes, "\n")
	assert.Contains(t, notes, "after the budget was spent")
	assert.Contains(t, notes, "closing the pool had not finished")
	assert.Contains(t, stderr, "DROP TABLE IF EXISTS ")
}

// runHungDemo runs a 1 s demo (-json) against $DATABRICKS_DSN whose statements do not all
// come back, with drainGrace at 500 ms, and fails the test when it has not ended within
// limit (then it stops it, as Ctrl-C does): a run must end on its own, within its bounds.
func runHungDemo(t *testing.T, limit time.Duration) (code int, res *outcome, stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, errOut bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		code, res = runDemo(ctx, []string{"-duration", "1s", "-concurrency", "2", "-json"}, &stdout, &errOut, cheaperScan,
			func(o *options) { o.drainGrace = 500 * time.Millisecond })
	}()
	select {
	case <-done:
	case <-time.After(limit):
		cancel() // Ctrl-C
		<-done
		t.Fatalf("the run was still waiting for the warehouse %s after a 1 s budget; stderr:\n%s", limit, errOut.String())
	}
	return code, res, errOut.String()
}

// A warehouse that stops answering the status polls of the workload's statements: the
// driver polls with a context of its own, which the demo's cancel does not reach, so
// the polls would wait for the driver's 15 minutes. The demo stops waiting for them a
// grace after their cancel, and reports them.
func TestHungStatusPollsEndAfterTheBudget(t *testing.T) {
	// Every statement is polled (answered RUNNING at once).
	srv, err := warehouse.NewServer(warehouse.WithAsyncThreshold(time.Nanosecond))
	require.NoError(t, err)
	defer srv.Close()
	var workload atomic.Bool
	var held atomic.Int32
	release := useGateway(t, srv, func(body []byte) gatewayAction {
		if bytes.Contains(body, []byte("WHERE id = ?")) {
			workload.Store(true)
		}
		// Once the workload runs, its first poll is never answered; the rest are (the
		// other worker goes on, and the DROP has a connection).
		if workload.Load() && bytes.Contains(body, []byte("GetOperationStatus")) && held.Add(1) == 1 {
			return gwHang
		}
		return gwPass
	})
	code, res, stderr := runHungDemo(t, 30*time.Second)
	// The poll the demo left goes on: the warehouse answers it now, and the test waits
	// for the sessions' close (a driver still polling would outlive the test).
	release()
	waitSessionsClosed(t, srv)
	require.Equal(t, exitOK, code, "stderr:\n%s", stderr)
	require.NotNil(t, res)
	r := res.report
	require.NotNil(t, r)
	assert.False(t, r.Interrupted, "no Ctrl-C")
	notes := strings.Join(r.Notes, "\n")
	assert.Contains(t, notes, "after the budget was spent")
	assert.Contains(t, notes, "after they were cancelled, when the demo stopped waiting")
	assert.Empty(t, demoTables(t, srv), "the table was dropped")
}

// waitSessionsClosed waits until every session of srv is closed: once the warehouse
// answers again, what the demo left running ends (a driver still retrying would
// outlive the test).
func waitSessionsClosed(t *testing.T, srv *warehouse.Server) {
	t.Helper()
	assert.Eventually(t, func() bool {
		for _, s := range srv.Sessions() {
			if s.ClosedAt.IsZero() {
				return false
			}
		}
		return true
	}, 60*time.Second, 50*time.Millisecond, "the sessions close once the warehouse answers")
}
