package driver_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/databricks/databricks-sql-go/driverctx"
	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// logsOf runs work on a telemetry pool of srv, closes the pool (which flushes its
// telemetry) and returns the logs the ingest accepted.
func logsOf(t *testing.T, srv *warehouse.Server, params string, work func(db *sql.DB)) []telemetry.FrontendLog {
	t.Helper()
	db, err := sql.Open("databricks-telemetry", srv.DSN()+"?enableTelemetry=true"+params)
	require.NoError(t, err)
	work(db)
	require.NoError(t, db.Close())
	return decodeLogs(t, srv)
}

// statementLogs returns the statement logs (those with an sql_operation of
// EXECUTE_STATEMENT), by statement id.
func statementLogs(logs []telemetry.FrontendLog) map[string][]*telemetry.SQLDriverLog {
	out := map[string][]*telemetry.SQLDriverLog{}
	for _, d := range executeLogs(logs) {
		out[d.SQLStatementID] = append(out[d.SQLStatementID], d)
	}
	return out
}

// executeLogs returns the statement logs (those with an sql_operation of
// EXECUTE_STATEMENT), in order.
func executeLogs(logs []telemetry.FrontendLog) []*telemetry.SQLDriverLog {
	var out []*telemetry.SQLDriverLog
	for _, l := range logs {
		if opType(l) == telemetry.OpExecuteStatement {
			out = append(out, l.Entry.SQLDriverLog)
		}
	}
	return out
}

// errorLogs returns the logs that carry only an error (no sql_operation).
func errorLogs(logs []telemetry.FrontendLog) []*telemetry.SQLDriverLog {
	var out []*telemetry.SQLDriverLog
	for _, l := range logs {
		if d := l.Entry.SQLDriverLog; d.SQLOperation == nil && d.ErrorInfo != nil {
			out = append(out, d)
		}
	}
	return out
}

// statementID returns the id the warehouse gave the only statement it ran as sql.
func statementID(t *testing.T, srv *warehouse.Server, sql string) string {
	t.Helper()
	return statementRecord(t, srv, sql).ID
}

// statementRecord returns what the warehouse saw of the only statement it ran as sql.
func statementRecord(t *testing.T, srv *warehouse.Server, sql string) warehouse.StatementRecord {
	t.Helper()
	var found []warehouse.StatementRecord
	for _, st := range srv.Statements() {
		if st.SQL == sql {
			found = append(found, st)
		}
	}
	require.Len(t, found, 1, "statements run as %q", sql)
	return found[0]
}

// An error that ends the row loop (a CloudFetch file, or the FetchResults of a later
// inline page, fails after the first rows) is exported: it is terminal, so the
// statement's own log carries it.
func TestRowLoopErrorIsExported(t *testing.T) {
	cases := []struct {
		name     string
		params   string
		query    string
		group    warehouse.Group
		faults   []warehouse.Fault
		wantRows int64
	}{
		// Four files, one download at a time: the first arrives, the others answer 404.
		{"CloudFetch file 404", "&maxDownloadThreads=1", "SELECT range FROM range(1000000)",
			warehouse.GroupCloudFetch, []warehouse.Fault{{}, {Status: http.StatusNotFound, Times: -1}}, 250000},
		// Five inline pages: the first comes with the statement, the next FetchResults
		// answers 400 (which the driver does not retry).
		{"FetchResults 400", "&maxRows=1000", "SELECT range FROM range(5000)",
			warehouse.GroupThrift, []warehouse.Fault{{Status: http.StatusBadRequest, Times: -1}}, 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := warehouse.NewServer()
			require.NoError(t, err)
			defer srv.Close()
			var rowErr error
			logs := logsOf(t, srv, tc.params, func(db *sql.DB) {
				rows, err := db.QueryContext(context.Background(), tc.query)
				require.NoError(t, err)
				srv.InjectFaults(tc.group, tc.faults...)
				var n int64
				for rows.Next() {
					n++
				}
				rowErr = rows.Err()
				require.NoError(t, rows.Close())
				srv.ClearFaults(tc.group)
				assert.Equal(t, tc.wantRows, n, "rows before the error")
			})
			require.Error(t, rowErr)
			id := statementID(t, srv, tc.query)
			got := statementLogs(logs)[id]
			require.Len(t, got, 1, "one log for the statement")
			require.NotNil(t, got[0].ErrorInfo, "the row loop's error is on the statement's log")
			assert.Equal(t, telemetry.Classify(rowErr).Name, got[0].ErrorInfo.ErrorName)
			assert.NotEmpty(t, got[0].ErrorInfo.StackTrace)
		})
	}
}

// A failed Ping is exported as an error of the session it failed on (database/sql then
// closes that connection), whether the caller pinged the pool or a connection of it. A
// Ping is no statement (README, "What is collected"): the select 1 the driver runs for
// it reaches the warehouse, and no statement log is made of it.
func TestFailedPingIsExported(t *testing.T) {
	cases := []struct {
		name string
		ping func(ctx context.Context, db *sql.DB) error
	}{
		{"sql.DB", func(ctx context.Context, db *sql.DB) error { return db.PingContext(ctx) }},
		{"sql.Conn", func(ctx context.Context, db *sql.DB) error {
			conn, err := db.Conn(ctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			return conn.PingContext(ctx)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := warehouse.NewServer()
			require.NoError(t, err)
			defer srv.Close()
			ctx := context.Background()
			var pingErr error
			logs := logsOf(t, srv, "", func(db *sql.DB) {
				require.NoError(t, db.PingContext(ctx)) // the session the ping will fail on
				// The ping's statement (the driver's "select 1") gets a 404, not retried.
				srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Status: http.StatusNotFound})
				pingErr = tc.ping(ctx, db)
				require.Equal(t, 1, srv.FaultsServed(warehouse.GroupThrift))
			})
			require.Error(t, pingErr)
			sessions := srv.Sessions()
			require.NotEmpty(t, sessions)
			errs := errorLogs(logs)
			require.Len(t, errs, 1, "the failed ping's error")
			assert.Equal(t, sessions[0].ID, errs[0].SessionID, "of the session it failed on")
			assert.Equal(t, telemetry.ErrNameNotFound, errs[0].ErrorInfo.ErrorName)
			assert.Empty(t, statementLogs(logs), "the ping's own statement is not one of the caller's")
			var pings int
			for _, r := range srv.Statements() {
				if r.SQL == "select 1" {
					pings++
				}
			}
			assert.Equal(t, 1, pings, "the first Ping's statement ran")
		})
	}
}

// BeginTx fails with this driver (it has no transactions API), and the error is
// exported, with its connection's session.
func TestBeginTxErrorIsExported(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	var txErr error
	logs := logsOf(t, srv, "", func(db *sql.DB) {
		_, txErr = db.BeginTx(context.Background(), nil)
	})
	require.Error(t, txErr)
	assert.Contains(t, txErr.Error(), dbsqlerr.ErrNotImplemented)
	errs := errorLogs(logs)
	require.Len(t, errs, 1)
	assert.Equal(t, telemetry.ErrNameUnsupported, errs[0].ErrorInfo.ErrorName)
	assert.Contains(t, errs[0].ErrorInfo.StackTrace, dbsqlerr.ErrNotImplemented)
	sessions := srv.Sessions()
	require.Len(t, sessions, 1)
	assert.Equal(t, sessions[0].ID, errs[0].SessionID)
}

// sql_operation.statement_type says how the statement was run: UPDATE for Exec, QUERY
// for Query, prepared or not.
func TestStatementTypeByCall(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, sql string
		run       func(t *testing.T, db *sql.Conn, sql string)
		want      string
	}{
		{"Exec", "CREATE TABLE t(a INT)", func(t *testing.T, db *sql.Conn, sql string) {
			_, err := db.ExecContext(ctx, sql)
			require.NoError(t, err)
		}, telemetry.StatementUpdate},
		{"Query", "SELECT 1", func(t *testing.T, db *sql.Conn, sql string) {
			var v int
			require.NoError(t, db.QueryRowContext(ctx, sql).Scan(&v))
		}, telemetry.StatementQuery},
		{"prepared Exec", "INSERT INTO t VALUES (?)", func(t *testing.T, db *sql.Conn, sql string) {
			stmt, err := db.PrepareContext(ctx, sql)
			require.NoError(t, err)
			defer stmt.Close()
			_, err = stmt.ExecContext(ctx, 7)
			require.NoError(t, err)
		}, telemetry.StatementUpdate},
		{"prepared Query", "SELECT a FROM t WHERE a = ?", func(t *testing.T, db *sql.Conn, sql string) {
			stmt, err := db.PrepareContext(ctx, sql)
			require.NoError(t, err)
			defer stmt.Close()
			var v int
			require.NoError(t, stmt.QueryRowContext(ctx, 7).Scan(&v))
		}, telemetry.StatementQuery},
	}
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	logs := logsOf(t, srv, "", func(db *sql.DB) {
		conn, err := db.Conn(ctx) // one session: the table is the session's
		require.NoError(t, err)
		defer conn.Close()
		for _, tc := range cases {
			tc.run(t, conn, tc.sql)
		}
	})
	byID := statementLogs(logs)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := byID[statementID(t, srv, tc.sql)]
			require.Len(t, got, 1)
			assert.Equal(t, tc.want, got[0].SQLOperation.StatementType)
		})
	}
}

// result_latency splits the statement's operation latency: the wait for the result
// (here an ExecuteStatement answered late) and its consumption (here a reader that
// pauses between rows), which add up to operation_latency_ms.
func TestResultLatencySplitsOperationLatency(t *testing.T) {
	const (
		query = "SELECT range FROM range(10)"
		late  = 100 * time.Millisecond // the ExecuteStatement's answer
		pause = 300 * time.Millisecond // the reader's, after the first row
	)
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	ctx := context.Background()
	logs := logsOf(t, srv, "", func(db *sql.DB) {
		conn, err := db.Conn(ctx) // the session is open before the fault
		require.NoError(t, err)
		defer conn.Close()
		srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Latency: late})
		rows, err := conn.QueryContext(ctx, query)
		require.NoError(t, err)
		require.True(t, rows.Next())
		time.Sleep(pause)
		n := 1
		for rows.Next() {
			n++
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		require.Equal(t, 10, n)
	})
	got := statementLogs(logs)[statementID(t, srv, query)]
	require.Len(t, got, 1)
	rl := got[0].SQLOperation.ResultLatency
	require.NotNil(t, rl)
	assert.GreaterOrEqual(t, rl.ResultSetReadyLatencyMillis, late.Milliseconds(), "ready: the late answer")
	assert.GreaterOrEqual(t, rl.ResultSetConsumptionLatencyMillis, pause.Milliseconds(), "consumption: the reader's pause")
	// Each is rounded down to the millisecond: their sum is the total's, or 1 ms less.
	assert.InDelta(t, got[0].OperationLatencyMs, rl.ResultSetReadyLatencyMillis+rl.ResultSetConsumptionLatencyMillis, 2,
		"ready + consumption = operation latency")
}

// operation_status_latency_millis sums the latency of the statement's status polls: with
// every Thrift call answered 50 ms late, at least 50 ms per poll.
func TestPollLatencyIsExported(t *testing.T) {
	const (
		query = "SELECT wait_ms(600)" // answered RUNNING after 200 ms, then polled
		late  = 50 * time.Millisecond
	)
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	ctx := context.Background()
	logs := logsOf(t, srv, "", func(db *sql.DB) {
		conn, err := db.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Latency: late, Times: -1})
		defer srv.ClearFaults(warehouse.GroupThrift)
		var v int64
		require.NoError(t, conn.QueryRowContext(ctx, query).Scan(&v))
	})
	rec := statementRecord(t, srv, query)
	require.True(t, rec.Async, "the statement was polled")
	require.Positive(t, rec.Polls)
	got := statementLogs(logs)[rec.ID]
	require.Len(t, got, 1)
	od := got[0].SQLOperation.OperationDetail
	require.NotNil(t, od)
	assert.Equal(t, int32(rec.Polls), od.NOperationStatusCalls) //nolint:gosec // a few polls
	assert.GreaterOrEqual(t, od.OperationStatusLatencyMillis, int64(rec.Polls)*late.Milliseconds(),
		"%d polls, each answered %s late", rec.Polls, late)
}

// A statement its caller cancels exports no error: the cancellation is the caller's
// choice, not a failure. Cancelled mid-read, the statement ends when database/sql closes
// its rows on the cancellation (not at the caller's later Rows.Close); cancelled while
// it runs, the server cancels it.
func TestCallerCancelExportsNoError(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	c, err := driver.OpenConnector(srv.DSN() + "?enableTelemetry=true")
	require.NoError(t, err)
	db := sql.OpenDB(c)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)

	const midRead = "SELECT range FROM range(1000000)"
	const pause = 300 * time.Millisecond
	began := time.Now()
	qctx, cancel := context.WithCancel(ctx)
	rows, err := conn.QueryContext(qctx, midRead)
	require.NoError(t, err)
	for range 10 {
		require.True(t, rows.Next())
	}
	require.Equal(t, 1, c.Stats().OpenStatements, "the statement is open while its rows are")
	cancel()
	require.Eventually(t, func() bool { return c.Stats().OpenStatements == 0 }, 5*time.Second, time.Millisecond,
		"database/sql closes the rows once their context is done, which completes the statement")
	closedBy := time.Since(began)
	time.Sleep(pause)
	require.NoError(t, rows.Close())
	assert.False(t, rows.Next())
	assert.ErrorIs(t, rows.Err(), context.Canceled)

	const running = "SELECT wait_ms(5000)"
	qctx, cancel = context.WithCancel(ctx)
	go func() {
		// Cancelled once the driver polls the running statement.
		for !statementPolled(srv, running) {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	_, err = conn.QueryContext(qctx, running)
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, conn.Close())
	require.NoError(t, db.Close())

	logs := decodeLogs(t, srv)
	assert.Empty(t, errorLogs(logs), "no error log")
	byID := statementLogs(logs)
	for _, q := range []string{midRead, running} {
		got := byID[statementID(t, srv, q)]
		require.Len(t, got, 1, "the log of %q", q)
		assert.Nil(t, got[0].ErrorInfo, "no error_info for %q", q)
	}
	assert.LessOrEqual(t, byID[statementID(t, srv, midRead)][0].OperationLatencyMs, closedBy.Milliseconds(),
		"the statement ended when database/sql closed its rows, before the caller's Rows.Close")
	assert.Equal(t, warehouse.StateCanceled, statementRecord(t, srv, running).State)
}

// statementPolled reports whether the driver has polled the statement run as sql.
func statementPolled(srv *warehouse.Server, sql string) bool {
	for _, st := range srv.Statements() {
		if st.SQL == sql && st.Polls > 0 {
			return true
		}
	}
	return false
}

// A warehouse restarted under the pool: the driver reports the statement's connection as
// bad, and database/sql runs the statement again on a new one. Through the wrapper too,
// the caller gets the result of the second attempt, and telemetry follows the new session
// to the same host.
func TestRestartedWarehouseReconnects(t *testing.T) {
	first, err := warehouse.NewServer(warehouse.WithToken("dapi-restart"))
	require.NoError(t, err)
	addr := first.Addr()
	// The pool's HTTP connections, on a transport of the test's own: see below.
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := driver.OpenConnector(first.DSN()+"?enableTelemetry=true", driver.WithConnOptions(dbsql.WithTransport(tr)))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&n))
	require.NoError(t, first.Close())
	// A Databricks warehouse restarts behind a front end that keeps the client's TCP
	// connections; this one closed them under the client, whose transport notices only
	// when its read loop runs: the next statement's POST, written before then on the dead
	// connection, failed with EOF (and is not retried) before it reached the new server
	// (about one run in two with -cpu 1). What is under test is the session the new
	// server does not know, so the dead connections go first.
	tr.CloseIdleConnections()

	second, err := warehouse.NewServer(warehouse.WithAddr(addr), warehouse.WithToken("dapi-restart"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = second.Close() })
	require.NoError(t, db.QueryRowContext(ctx, "SELECT 2").Scan(&n))
	assert.Equal(t, 2, n)
	require.NoError(t, db.Close())

	require.Len(t, second.Sessions(), 1)
	require.Len(t, second.Statements(), 1)
	logs := decodeLogs(t, second)
	got := statementLogs(logs)
	require.Len(t, got[second.Statements()[0].ID], 1, "the statement that ran is logged once")
	assert.Equal(t, second.Sessions()[0].ID, got[second.Statements()[0].ID][0].SessionID)
	// The first attempt's failure is logged on the old session, as a connection error.
	var failed bool
	for _, d := range errorLogs(logs) {
		if strings.Contains(d.ErrorInfo.StackTrace, "Invalid SessionHandle") {
			failed = true
			assert.Equal(t, "connection_error", d.ErrorInfo.ErrorName)
			assert.NotEqual(t, second.Sessions()[0].ID, d.SessionID)
		}
	}
	assert.True(t, failed, "the failed attempt is logged")
}

// A caller's own query-id callback (driverctx.NewContextWithQueryIdCallback) hears every
// statement id through the wrapper, and the wrapper still names its statements with
// them: each statement the warehouse ran has its one log, under the id the caller heard.
func TestCallersQueryIDCallbackKeepsStatementLogs(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	var mu sync.Mutex
	heard := map[string]bool{}
	ctx := driverctx.NewContextWithQueryIdCallback(context.Background(), func(id string) {
		if id != "" {
			mu.Lock()
			heard[id] = true
			mu.Unlock()
		}
	})
	logs := logsOf(t, srv, "", func(db *sql.DB) {
		_, err := db.ExecContext(ctx, "CREATE TABLE t(a INT)")
		require.NoError(t, err)
		var n int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&n))
		_, err = db.ExecContext(ctx, "INSERT INTO missing VALUES (1)")
		require.Error(t, err)
	})
	byID := statementLogs(logs)
	require.Len(t, srv.Statements(), 3)
	mu.Lock()
	defer mu.Unlock()
	for _, s := range srv.Statements() {
		assert.True(t, heard[s.ID], "the caller heard %q", s.SQL)
		assert.Len(t, byID[s.ID], 1, "one log for %q", s.SQL)
	}
}

// A statement that fails before the server named it, in a context carrying the caller's
// own query id: the driver's error carries the caller's id as its query id, which is no
// statement id. The failure is exported as an error of its session, and the caller's
// value appears in no log.
func TestCallersQueryIDOfAFailedCallIsNotExported(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	const callers = "my-request-43"
	ctx := driverctx.NewContextWithQueryId(context.Background(), callers)
	logs := logsOf(t, srv, "", func(db *sql.DB) {
		require.NoError(t, db.PingContext(context.Background()))
		// The ExecuteStatement gets a 404, not retried: no statement is named.
		srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Status: http.StatusNotFound})
		_, err := db.ExecContext(ctx, "SELECT 1")
		require.Error(t, err)
		require.Equal(t, 1, srv.FaultsServed(warehouse.GroupThrift))
	})
	require.NotEmpty(t, logs)
	for _, l := range logs {
		b, err := json.Marshal(l)
		require.NoError(t, err)
		assert.NotContains(t, string(b), callers)
	}
	assert.Empty(t, statementLogs(logs), "no statement was named")
	require.Len(t, errorLogs(logs), 1, "the failure, on its own")
}

// A connection whose Close fails (its CloseSession gets an error) has the error exported,
// with its session, besides its connection.close log.
func TestFailedConnectionCloseIsExported(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	logs := logsOf(t, srv, "", func(db *sql.DB) {
		db.SetMaxIdleConns(0) // a connection given back is closed
		conn, err := db.Conn(context.Background())
		require.NoError(t, err)
		require.NoError(t, conn.PingContext(context.Background()))
		// The CloseSession gets a 404, not retried.
		srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Status: http.StatusNotFound})
		require.NoError(t, conn.Close()) // database/sql closes the driver's connection, and keeps its error
		require.Equal(t, 1, srv.FaultsServed(warehouse.GroupThrift))
	})
	sessions := srv.Sessions()
	require.Len(t, sessions, 1)
	errs := errorLogs(logs)
	require.Len(t, errs, 1, "the failed close's error")
	assert.Equal(t, sessions[0].ID, errs[0].SessionID, "of the session it failed to close")
}
