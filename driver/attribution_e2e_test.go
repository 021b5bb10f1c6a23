package driver_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// assertLogsMatchWarehouse checks every statement the warehouse ran against its one log:
// execution result, chunks listed and downloaded, status polls.
func assertLogsMatchWarehouse(t *testing.T, srv *warehouse.Server, logs []telemetry.FrontendLog) {
	t.Helper()
	got := statementLogs(logs)
	for _, st := range srv.Statements() {
		if !assert.Len(t, got[st.ID], 1, "one log for %q", st.SQL) {
			continue
		}
		op := got[st.ID][0].SQLOperation
		if st.State == warehouse.StateFinished {
			assert.Equal(t, string(st.Delivery), op.ExecutionResult, "execution result of %s %q", st.ID, st.SQL)
		}
		var present, iterated int32
		if cd := op.ChunkDetails; cd != nil {
			present, iterated = cd.TotalChunksPresent, cd.TotalChunksIterated
		}
		assert.Equal(t, int32(st.Chunks), present, "chunks listed for %s %q", st.ID, st.SQL)
		assert.Equal(t, int32(st.ChunkDownloads), iterated, "chunks downloaded for %s %q", st.ID, st.SQL)
		var polls int32
		if od := op.OperationDetail; od != nil {
			polls = od.NOperationStatusCalls
		}
		assert.Equal(t, int32(st.Polls), polls, "polls of %s %q", st.ID, st.SQL)
	}
}

// Many goroutines on a pool of few connections, with queries of every shape (CloudFetch,
// inline, polled, no rows, no result set) and two result sets read interleaved on one
// connection: each statement's log says what the warehouse served it.
func TestConcurrentStatementsLogWhatTheWarehouseServed(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	queries := []string{
		"SELECT range FROM range(%d + 300000)", // CloudFetch, 2 files
		"SELECT wait_ms(%d %% 3 + 300)",        // polled
		"SELECT %d",                            // inline
		"SELECT range FROM range(%d - %[1]d)",  // no rows
		"CREATE TABLE IF NOT EXISTS t%d(a INT)",
	}
	logs := logsOf(t, srv, "&telemetry_flush_interval=50ms", func(db *sql.DB) {
		db.SetMaxOpenConns(3)
		ctx := context.Background()
		var wg sync.WaitGroup
		for g := range 9 {
			wg.Go(func() {
				for i := range len(queries) {
					q := fmt.Sprintf(queries[(g+i)%len(queries)], g*10+i)
					if (g+i)%len(queries) == 4 {
						_, err := db.ExecContext(ctx, q)
						assert.NoError(t, err)
						continue
					}
					rows, err := db.QueryContext(ctx, q)
					if !assert.NoError(t, err) {
						continue
					}
					for rows.Next() {
					}
					assert.NoError(t, rows.Err())
					assert.NoError(t, rows.Close())
				}
			})
		}
		wg.Go(func() {
			conn, err := db.Conn(ctx)
			if !assert.NoError(t, err) {
				return
			}
			defer conn.Close()
			a, err := conn.QueryContext(ctx, "SELECT range FROM range(600000)")
			if !assert.NoError(t, err) {
				return
			}
			b, err := conn.QueryContext(ctx, "SELECT range FROM range(600001)")
			if !assert.NoError(t, err) {
				return
			}
			for more := true; more; {
				more = false
				for range 1000 {
					more = a.Next() || more
					more = b.Next() || more
				}
			}
			assert.NoError(t, a.Close())
			assert.NoError(t, b.Close())
		})
		wg.Wait()
	})
	assertLogsMatchWarehouse(t, srv, logs)
}

// A query that returns no rows still returns its (empty) result inline: its log says
// INLINE_ARROW, as the warehouse's record does; a statement without a result set says
// no result format.
func TestQueryWithoutRowsIsInlineArrow(t *testing.T) {
	tests := []struct {
		query string
		exec  bool
		want  string
	}{
		{"SELECT range FROM range(0)", false, telemetry.ResultInlineArrow},
		{"SELECT 1 WHERE false", false, telemetry.ResultInlineArrow},
		{"SELECT range FROM range(3)", false, telemetry.ResultInlineArrow},
		{"CREATE TABLE t_exec(a INT)", true, ""},
		{"CREATE TABLE t_query(a INT)", false, ""},
	}
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	logs := logsOf(t, srv, "", func(db *sql.DB) {
		for _, tt := range tests {
			if tt.exec {
				_, err := db.ExecContext(context.Background(), tt.query)
				require.NoError(t, err)
				continue
			}
			rows, err := db.QueryContext(context.Background(), tt.query)
			require.NoError(t, err)
			for rows.Next() {
			}
			require.NoError(t, rows.Close())
		}
	})
	got := statementLogs(logs)
	for _, tt := range tests {
		rec := statementRecord(t, srv, tt.query)
		require.Equal(t, tt.want, string(rec.Delivery), "the warehouse's delivery of %q", tt.query)
		require.Len(t, got[rec.ID], 1, tt.query)
		assert.Equal(t, tt.want, got[rec.ID][0].SQLOperation.ExecutionResult, tt.query)
	}
}
