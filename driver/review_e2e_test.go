package driver_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/databricks/databricks-sql-go/driverctx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A query id of the caller's own (driverctx.NewContextWithQueryId) keeps the driver from
// naming its statements through the callback: each statement is still logged, under the
// id the server gave it, and the caller's value is never exported.
func TestCallerQueryIDKeepsStatementIDs(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	const callers = "my-request-42"
	ctx := driverctx.NewContextWithQueryId(context.Background(), callers)
	logs := logsOf(t, srv, "", func(db *sql.DB) {
		_, err := db.ExecContext(ctx, "CREATE TABLE t(a INT)")
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, "INSERT INTO t VALUES (1)")
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, "INSERT INTO missing VALUES (1)")
		require.Error(t, err)
		var n int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&n))
		// An Exec whose reply carries a big inline result: the id is read off its start.
		_, err = db.ExecContext(ctx, "SELECT range FROM range(50000)")
		require.NoError(t, err)
	})
	byID := statementLogs(logs)
	for _, s := range srv.Statements() {
		assert.Len(t, byID[s.ID], 1, "one log for %q", s.SQL)
	}
	assert.Len(t, byID, len(srv.Statements()))
	for _, l := range logs {
		assert.NotEqual(t, callers, l.Entry.SQLDriverLog.SQLStatementID)
	}
	failed := byID[statementID(t, srv, "INSERT INTO missing VALUES (1)")]
	require.Len(t, failed, 1)
	require.NotNil(t, failed[0].ErrorInfo, "the failure is on the statement's own log")
}

// A closed connector's Flush says so and touches nothing, though its aggregator lives on
// for the host's other connectors of the same settings.
func TestFlushAfterCloseIsErrClosed(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	hosts := driver.NewHosts()
	open := func() (*driver.Connector, *sql.DB) {
		c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithHosts(hosts))
		require.NoError(t, err)
		db := sql.OpenDB(c)
		require.NoError(t, db.Ping())
		return c, db
	}
	a, dba := open()
	b, dbb := open()
	require.NoError(t, dba.Close())
	var n int
	require.NoError(t, dbb.QueryRow("SELECT 1").Scan(&n))
	before := len(srv.TelemetryLogs())
	require.ErrorIs(t, a.Flush(context.Background()), aggregator.ErrClosed)
	assert.Len(t, srv.TelemetryLogs(), before, "the other connector's logs stay queued")
	require.NoError(t, b.Flush(context.Background()))
	assert.Greater(t, len(srv.TelemetryLogs()), before)
	require.NoError(t, dbb.Close())
}

// Rows read for longer than StatementTTL: the statement is evicted (its log goes then)
// and what comes after it (chunks, the completion) is dropped and counted, not logged
// again as often as it is evicted.
func TestStatementReadPastTTLLogsOnce(t *testing.T) {
	srv, err := warehouse.NewServer(warehouse.WithCloudFetchThreshold(1000), warehouse.WithChunkRows(2500))
	require.NoError(t, err)
	defer srv.Close()
	tc := telemetry.DefaultConfig()
	tc.StatementTTL, tc.FlushInterval = 100*time.Millisecond, 20*time.Millisecond
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&maxDownloadThreads=1",
		driver.WithHosts(driver.NewHosts()), driver.WithTelemetryConfig(tc))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	rows, err := db.Query("SELECT range FROM range(10000)")
	require.NoError(t, err)
	for n := 1; rows.Next(); n++ {
		if n%2500 == 0 {
			time.Sleep(150 * time.Millisecond) // a slow consumer: past the TTL at every file
		}
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	s := c.Stats()
	require.NoError(t, db.Close())
	require.GreaterOrEqual(t, s.Evicted.TTL, int64(1))
	assert.Positive(t, s.Dropped.Late, "the completion came after the eviction")
	byID := statementLogs(decodeLogs(t, srv))
	id := statementID(t, srv, "SELECT range FROM range(10000)")
	assert.Len(t, byID[id], 1)
}

// A query that ran longer than StatementTTL before the server answered is not evicted
// on arrival: its TTL runs from the answer (statement.start says how long the call took),
// so Rows read and closed at once give one complete log, nothing evicted or dropped.
func TestSlowQueryNotEvictedOnArrival(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	tc := telemetry.DefaultConfig()
	tc.StatementTTL, tc.FlushInterval = 200*time.Millisecond, 10*time.Millisecond
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true",
		driver.WithHosts(driver.NewHosts()), driver.WithTelemetryConfig(tc))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	require.NoError(t, db.Ping()) // the session is open: the next Thrift request runs the query
	srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Latency: 400 * time.Millisecond})
	const query = "SELECT range FROM range(10)"
	rows, err := db.Query(query)
	require.NoError(t, err)
	require.Equal(t, 1, srv.FaultsServed(warehouse.GroupThrift), "the query's request was the late one")
	time.Sleep(50 * time.Millisecond) // several TTL sweeps, well within the TTL of the answer
	n := 0
	for rows.Next() {
		n++
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.Equal(t, 10, n)
	s := c.Stats()
	require.NoError(t, db.Close())
	assert.Zero(t, s.Evicted.TTL, "evicted")
	assert.Zero(t, s.Dropped.Late, "dropped as late")
	logs := statementLogs(decodeLogs(t, srv))[statementID(t, srv, query)]
	require.Len(t, logs, 1)
	require.NotNil(t, logs[0].SQLOperation)
	assert.NotNil(t, logs[0].SQLOperation.ResultLatency, "the completion's facts are in the log")
	assert.GreaterOrEqual(t, logs[0].OperationLatencyMs, int64(400))
}

// A connection's log carries how long opening its session took.
func TestConnectionLogCarriesItsLatency(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Latency: 150 * time.Millisecond}) // OpenSession
	logs := logsOf(t, srv, "", func(db *sql.DB) {
		require.NoError(t, db.Ping())
	})
	require.Equal(t, 1, srv.FaultsServed(warehouse.GroupThrift))
	var opens []*telemetry.SQLDriverLog
	for _, l := range logs {
		if opType(l) == telemetry.OpCreateSession {
			opens = append(opens, l.Entry.SQLDriverLog)
		}
	}
	require.Len(t, opens, 1)
	assert.GreaterOrEqual(t, opens[0].OperationLatencyMs, int64(150))
	assert.Less(t, opens[0].OperationLatencyMs, int64(10_000))
}
