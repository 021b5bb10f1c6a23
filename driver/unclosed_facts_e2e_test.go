package driver_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A query whose Rows are never closed is logged at the pool's Close (SPEC §2) with what
// its driver call did before it returned the rows, as the log of one whose Rows are
// closed says it: its status polls (n_operation_status_calls, as many as the warehouse
// answered, and their latency), the retry of its ExecuteStatement (retry_count), and how
// long its result took to be ready (result_set_ready_latency_millis). These facts are
// known when the query returns; only its statement.complete carried them, and a statement
// that never completes lost them.
func TestRowsNeverClosedKeepTheirPollsRetriesAndReadyLatency(t *testing.T) {
	const (
		query = "SELECT wait_ms(800)" // answered RUNNING after 200 ms, then polled
		late  = 50 * time.Millisecond // every poll's answer
	)
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() }) // after the rows (cleanups run last first)
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithHosts(driver.NewHosts()),
		driver.WithConnOptions(dbsql.WithRetries(2, 10*time.Millisecond, 20*time.Millisecond)))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	ctx := context.Background()
	conn, err := db.Conn(ctx) // the session is open before the faults
	require.NoError(t, err)
	// The ExecuteStatement is refused once (the driver sends it again), then every call
	// is answered late.
	srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Status: 503}, warehouse.Fault{Latency: late, Times: -1})
	rows, err := conn.QueryContext(ctx, query)
	require.NoError(t, err)
	require.True(t, rows.Next()) // one row read; the rows are left open
	srv.ClearFaults(warehouse.GroupThrift)
	// Closed only when the test ends, after the pool's Close has logged the statement.
	t.Cleanup(func() { _ = rows.Close(); _ = conn.Close() })
	require.NoError(t, db.Close())

	st := statementRecord(t, srv, query)
	require.True(t, st.Async, "the statement was polled")
	require.Positive(t, st.Polls)
	got := statementLogs(decodeLogs(t, srv))[st.ID]
	require.Len(t, got, 1, "the statement whose rows were never closed is logged")
	op := got[0].SQLOperation
	require.NotNil(t, op)
	require.NotNil(t, op.OperationDetail)
	assert.Equal(t, int32(st.Polls), op.OperationDetail.NOperationStatusCalls, "n_operation_status_calls")
	assert.GreaterOrEqual(t, op.OperationDetail.OperationStatusLatencyMillis, int64(st.Polls)*late.Milliseconds(),
		"operation_status_latency_millis")
	assert.Equal(t, int64(1), op.RetryCount, "retry_count: the ExecuteStatement sent again")
	if assert.NotNil(t, op.ResultLatency, "result_latency") {
		assert.GreaterOrEqual(t, op.ResultLatency.ResultSetReadyLatencyMillis, int64(800), "result_set_ready_latency_millis")
	}
}
