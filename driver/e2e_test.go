package driver_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"testing"
	"time"

	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/databricks/databricks-sql-go"
	_ "github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// decodeLogs parses every log the ingest accepted.
func decodeLogs(t *testing.T, srv *warehouse.Server) []telemetry.FrontendLog {
	t.Helper()
	var out []telemetry.FrontendLog
	for _, s := range srv.TelemetryLogs() {
		var l telemetry.FrontendLog
		require.NoError(t, json.Unmarshal([]byte(s), &l), s)
		out = append(out, l)
	}
	return out
}

func opType(l telemetry.FrontendLog) string {
	if op := l.Entry.SQLDriverLog.SQLOperation; op != nil && op.OperationDetail != nil {
		return op.OperationDetail.OperationType
	}
	return ""
}

func TestWorkloadEndToEnd(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	db, err := sql.Open("databricks-telemetry", srv.DSN()+"?telemetry_flush_interval=100ms")
	require.NoError(t, err)
	ctx := context.Background()

	var one int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&one))
	rows, err := db.QueryContext(ctx, "SELECT range FROM range(1000000)")
	require.NoError(t, err)
	var n int64
	for rows.Next() {
		n++
	}
	require.NoError(t, rows.Close())
	require.Equal(t, int64(1000000), n)
	_, err = db.ExecContext(ctx, "CREATE TABLE t(a INT)")
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "INSERT INTO t VALUES (1), (2)")
	require.NoError(t, err)
	// A transaction, on one connection (the driver has no BeginTx: SQL statements).
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	for _, q := range []string{"BEGIN TRANSACTION", "INSERT INTO t VALUES (3)", "COMMIT"} {
		_, err = conn.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	require.NoError(t, conn.Close())
	stmt, err := db.PrepareContext(ctx, "SELECT a * ? FROM t ORDER BY a")
	require.NoError(t, err)
	rows, err = stmt.QueryContext(ctx, 10)
	require.NoError(t, err)
	for rows.Next() {
	}
	require.NoError(t, rows.Close())
	require.NoError(t, stmt.Close())
	_, err = db.ExecContext(ctx, "SELECT * FROM missing_table")
	var ee dbsqlerr.DBExecutionError
	require.True(t, errors.As(err, &ee))
	cctx, cancel := context.WithTimeout(ctx, 1200*time.Millisecond)
	_, err = db.ExecContext(cctx, "SELECT wait_ms(30000)")
	cancel()
	require.Error(t, err)

	require.NoError(t, db.Close())

	logs := decodeLogs(t, srv)
	stmtLogs := map[string][]*telemetry.SQLDriverLog{}
	errLogs := map[string][]*telemetry.SQLDriverLog{}
	var sessions, closed []string
	for _, l := range logs {
		d := l.Entry.SQLDriverLog
		switch {
		case opType(l) == telemetry.OpCreateSession:
			sessions = append(sessions, d.SessionID)
		case opType(l) == telemetry.OpDeleteSession:
			closed = append(closed, d.SessionID)
		case d.SQLOperation != nil:
			stmtLogs[d.SQLStatementID] = append(stmtLogs[d.SQLStatementID], d)
		case d.ErrorInfo != nil:
			errLogs[d.SQLStatementID] = append(errLogs[d.SQLStatementID], d)
		}
	}
	var whSessions []string
	for _, s := range srv.Sessions() {
		whSessions = append(whSessions, s.ID)
	}
	assert.ElementsMatch(t, whSessions, sessions, "one CREATE_SESSION log per session, with the warehouse's id")
	assert.ElementsMatch(t, whSessions, closed, "one DELETE_SESSION log per closed session")
	for _, st := range srv.Statements() {
		got := stmtLogs[st.ID]
		require.Len(t, got, 1, "one log for statement %q", st.SQL)
		op := got[0].SQLOperation
		if st.State == warehouse.StateFinished {
			assert.Equal(t, string(st.Delivery), op.ExecutionResult, "execution result of %q", st.SQL)
		}
		var chunks int32
		if op.ChunkDetails != nil {
			chunks = op.ChunkDetails.TotalChunksIterated
			assert.Equal(t, int32(st.Chunks), op.ChunkDetails.TotalChunksPresent)
		}
		assert.Equal(t, int32(st.ChunkDownloads), chunks, "chunks of %q", st.SQL)
		var polls int32
		if op.OperationDetail != nil {
			polls = op.OperationDetail.NOperationStatusCalls
		}
		assert.Equal(t, int32(st.Polls), polls, "polls of %q", st.SQL)
	}
	missing := stmtLogs[ee.QueryId()]
	require.Len(t, missing, 1)
	require.NotNil(t, missing[0].ErrorInfo, "the terminal error joins its statement's log")
	assert.Equal(t, "not_found", missing[0].ErrorInfo.ErrorName)
	assert.Empty(t, errLogs[ee.QueryId()], "no second log for the failed statement")
	var cancelled bool
	for _, st := range srv.Statements() {
		if st.SQL == "SELECT wait_ms(30000)" {
			cancelled = true
			require.Len(t, errLogs[st.ID], 1, "the cancelled statement's retryable error is held and exported with it")
			assert.Equal(t, "timeout", errLogs[st.ID][0].ErrorInfo.ErrorName)
			assert.Equal(t, warehouse.StateCanceled, st.State)
		}
	}
	assert.True(t, cancelled, "the cancelled statement reached the warehouse")
}

// Rows the caller never closes still make their statement's log, at the pool's Close
// (SPEC §2), with the result format the server's first reply carried.
func TestRowsNeverClosedAreLoggedAtClose(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() }) // after the rows (cleanups run last first)
	queries := map[string]string{
		"SELECT range FROM range(2500)":   telemetry.ResultInlineArrow,
		"SELECT range FROM range(300000)": telemetry.ResultExternalLinks,
	}
	logs := logsOf(t, srv, "", func(db *sql.DB) {
		for q := range queries {
			rows, err := db.QueryContext(context.Background(), q)
			require.NoError(t, err)
			require.True(t, rows.Next()) // one row read; the rows are left open
			// Closed only when the test ends, for the driver's download goroutines.
			t.Cleanup(func() { _ = rows.Close() })
		}
	})

	got := statementLogs(logs)
	for _, st := range srv.Statements() {
		require.Len(t, got[st.ID], 1, "one log for %q", st.SQL)
		assert.Equal(t, queries[st.SQL], got[st.ID][0].SQLOperation.ExecutionResult, "the result format of %q", st.SQL)
	}
	assert.Len(t, got, len(queries))
}
