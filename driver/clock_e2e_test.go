package driver_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// Through the real driver, a statement timed by the CPU's counter (the connector's clock
// has measured the counter's period: minSpan after its connection opened) reports the
// latencies the monotonic clock would: a query the warehouse answered 300 ms late logs at
// least that, and no more than its caller saw; its log's time is when it ended.
func TestCounterTimedStatementLatencies(t *testing.T) {
	if !driver.CounterTrusted() {
		t.Skip("the kernel does not time by the CPU's counter here: statements are timed by the monotonic clock")
	}
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithHosts(driver.NewHosts()))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	require.NoError(t, db.Ping()) // the connection's reset: the measurement begins
	time.Sleep(20 * time.Millisecond)
	var n int
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&n)) // it measures the period
	require.True(t, driver.TimesByCounter(c), "the counter times the next statement")

	const query = "SELECT range FROM range(3)"
	const late = 300 * time.Millisecond
	srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Latency: late})
	before := time.Now()
	rows, err := db.Query(query)
	require.NoError(t, err)
	for rows.Next() {
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	took := time.Since(before)
	require.Equal(t, 1, srv.FaultsServed(warehouse.GroupThrift), "the query's request was the late one")
	require.NoError(t, db.Close())
	require.NoError(t, c.Close())

	id := statementID(t, srv, query)
	var logs []telemetry.FrontendLog
	for _, l := range decodeLogs(t, srv) {
		if opType(l) == telemetry.OpExecuteStatement && l.Entry.SQLDriverLog.SQLStatementID == id {
			logs = append(logs, l)
		}
	}
	require.Len(t, logs, 1)
	at := time.UnixMilli(logs[0].Context.ClientContext.TimestampMillis)
	// The log's time is the statement's end: after the late reply, before the caller's
	// Close returned.
	assert.WithinRange(t, at, before.Add(late-time.Millisecond), before.Add(took+time.Millisecond), "the log's time")
	l := logs[0].Entry.SQLDriverLog
	assert.GreaterOrEqual(t, l.OperationLatencyMs, late.Milliseconds())
	assert.LessOrEqual(t, l.OperationLatencyMs, took.Milliseconds(), "no longer than the caller saw")
	require.NotNil(t, l.SQLOperation)
	require.NotNil(t, l.SQLOperation.ResultLatency)
	ready := l.SQLOperation.ResultLatency.ResultSetReadyLatencyMillis
	assert.GreaterOrEqual(t, ready, late.Milliseconds(), "the result was ready after the late reply")
	assert.LessOrEqual(t, ready, l.OperationLatencyMs)
}
