package driver_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// Two queries interleaved on one connection, through the real driver: the first's rows
// stay open (its start is held on the connection) while the second runs to its end (its
// start goes at once: the connection's place is taken), then the first is read to its
// end across more FetchResults calls. Each statement is named by its own id (the query-id
// callback is the connection's, and names the statement that asked for it) and logged
// once, with its type and its rows' format.
func TestInterleavedQueriesOnOneConnection(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	const first, second = "SELECT range FROM range(300000)", "SELECT range FROM range(10)"
	ctx := context.Background()
	var read1, read2 int
	logs := logsOf(t, srv, "", func(db *sql.DB) {
		conn, err := db.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		rows1, err := conn.QueryContext(ctx, first)
		require.NoError(t, err)
		require.True(t, rows1.Next())
		read1++
		rows2, err := conn.QueryContext(ctx, second)
		require.NoError(t, err)
		for rows2.Next() {
			read2++
		}
		require.NoError(t, rows2.Close())
		for rows1.Next() {
			read1++
		}
		require.NoError(t, rows1.Err())
		require.NoError(t, rows1.Close())
	})
	require.Equal(t, 300000, read1)
	require.Equal(t, 10, read2)

	byID := statementLogs(logs)
	assert.Len(t, byID, 2, "two statements, two ids")
	for _, q := range []string{first, second} {
		got := byID[statementID(t, srv, q)]
		require.Len(t, got, 1, "one log for %q", q)
		assert.Equal(t, telemetry.StatementQuery, got[0].SQLOperation.StatementType, q)
		assert.NotEmpty(t, got[0].SQLOperation.ExecutionResult, q)
	}
}

// A retryable error leaves in the batch of its statement's log, through the real driver,
// even when that log is the one that fills a batch (SPEC §2: held errors are exported
// with their statement's log). Batches of two: the session's log waits, then the
// statement cancelled by its deadline finishes with its held timeout error; the two
// would fill the batch and leave the error behind, for the pool's Close.
func TestHeldErrorLeavesInItsStatementsBatch(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	const query = "SELECT wait_ms(30000)"
	logsOf(t, srv, "&telemetry_batch_size=2&telemetry_flush_interval=1h", func(db *sql.DB) {
		require.NoError(t, db.Ping())
		ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
		defer cancel()
		_, err := db.ExecContext(ctx, query)
		require.Error(t, err)
	})
	id := statementID(t, srv, query)
	var withStmt, withErr []int
	for i, req := range srv.TelemetryRequests() {
		for _, s := range req.ProtoLogs() {
			var l telemetry.FrontendLog
			require.NoError(t, json.Unmarshal([]byte(s), &l), s)
			switch d := l.Entry.SQLDriverLog; {
			case d.SQLStatementID != id:
			case d.SQLOperation != nil:
				withStmt = append(withStmt, i)
			case d.ErrorInfo != nil:
				assert.Equal(t, "timeout", d.ErrorInfo.ErrorName)
				withErr = append(withErr, i)
			}
		}
	}
	require.Len(t, withStmt, 1, "one log for the statement")
	require.Len(t, withErr, 1, "one log for its held error")
	assert.Equal(t, withStmt, withErr, "the held error leaves in the request (batch) of its statement's log")
}
