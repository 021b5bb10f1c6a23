package driver_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// Through the real driver and the local warehouse: the completions of statements that had
// no other event (a query read at once, an Exec) go to their connection's Outbox, those
// of statements with chunks go the aggregator's way, and each statement is logged once,
// with what it did. The connection's Outbox closes with it.
func TestSoleCompletionsGoThroughTheConnectionsOutbox(t *testing.T) {
	srv := cloudFetchServer(t)
	// No timer flush meanwhile: the logs wait where they are for Stats.
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&telemetry_flush_interval=1h", driver.WithHosts(driver.NewHosts()))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	defer db.Close()
	ctx := context.Background()
	const (
		small  = "SELECT range FROM range(10)"
		big    = "SELECT range FROM range(25000)" // CloudFetch: three files
		update = "CREATE TABLE sole_t AS SELECT 1 AS x"
	)
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	assert.Equal(t, 10, countAll(t, conn, small))
	_, err = conn.ExecContext(ctx, update)
	require.NoError(t, err)
	assert.Equal(t, 25000, countAll(t, conn, big))

	box, ofAgg := driver.Outbox(c)
	require.NotNil(t, box, "the sole completions made the connection's Outbox")
	require.True(t, ofAgg, "an Outbox of the connector's aggregator")
	s := c.Stats()
	assert.Equal(t, 1, s.Outboxes)
	assert.Zero(t, s.OpenStatements)
	assert.Equal(t, 4, s.Pending, "the connection's log and the three statements' wait: two in the Outbox")

	// The connection closes (the pool keeps none): its Outbox closes with it, and what
	// it is handed from then on is dropped.
	db.SetMaxIdleConns(0)
	require.NoError(t, conn.Close())
	gone, _ := driver.Outbox(c)
	assert.Nil(t, gone, "the connection is forgotten")
	assert.Zero(t, c.Stats().Outboxes)
	ev := telemetry.Event{Kind: telemetry.KindStatementComplete, StatementID: "late", Latency: 1}
	before := c.Stats().Dropped.Closed
	box.Complete(&ev)
	assert.Equal(t, before+1, c.Stats().Dropped.Closed, "a closed Outbox takes nothing")

	require.NoError(t, db.Close())
	byID := statementLogs(decodeLogs(t, srv))
	require.Len(t, byID, 3)
	for _, q := range []struct {
		sql, stmtType, format string
		chunks                int64
	}{
		{small, telemetry.StatementQuery, telemetry.ResultInlineArrow, 0},
		{update, telemetry.StatementUpdate, "", 0},
		{big, telemetry.StatementQuery, telemetry.ResultExternalLinks, 3},
	} {
		got := byID[statementID(t, srv, q.sql)]
		require.Len(t, got, 1, "one log for %q", q.sql)
		op := got[0].SQLOperation
		require.NotNil(t, op, q.sql)
		assert.Equal(t, q.stmtType, op.StatementType, q.sql)
		assert.Equal(t, q.format, op.ExecutionResult, q.sql)
		assert.Equal(t, telemetry.OpExecuteStatement, op.OperationDetail.OperationType, q.sql)
		assert.Positive(t, got[0].OperationLatencyMs+1, q.sql)
		if q.chunks > 0 {
			require.NotNil(t, op.ChunkDetails, q.sql)
			assert.EqualValues(t, q.chunks, op.ChunkDetails.TotalChunksIterated, q.sql)
		}
	}
}
