package driver_test

import (
	"context"
	"database/sql"
	"testing"

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
