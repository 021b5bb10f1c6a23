package driver_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// TestRetryCountE2E checks a statement's retry_count through the real driver against the
// local warehouse, with faults injected into one request of its Thrift calls or of its
// CloudFetch downloads: it counts the attempts the driver made again after a failed one,
// not failed attempts, so a call cut by the caller's own cancellation is no retry.
func TestRetryCountE2E(t *testing.T) {
	const big = "SELECT range FROM range(1000000)" // 4 CloudFetch files
	tests := []struct {
		name        string
		group       warehouse.Group
		faults      []warehouse.Fault
		query       string
		cancelAfter time.Duration // the caller's context ends after this long (0: never)
		byCancel    bool          // it ends by the caller's cancel, not its deadline
		wantRows    int64         // -1: the query fails
		wantRetries int64
		// maxRetries, when above wantRetries, allows up to that many: a connection dropped
		// on a reused connection may be retried by net/http itself, which the driver (and
		// so its retry_count) never sees.
		maxRetries int64
		wantChunks int32 // -1: any number (downloads in flight when the query fails)
	}{
		{name: "no fault", query: "SELECT 1", wantRows: 1},
		{name: "thrift 503 once", group: warehouse.GroupThrift, faults: []warehouse.Fault{{Status: 503}},
			query: "SELECT 1", wantRows: 1, wantRetries: 1},
		{name: "thrift 503 twice", group: warehouse.GroupThrift, faults: []warehouse.Fault{{Status: 503, Times: 2}},
			query: "SELECT 1", wantRows: 1, wantRetries: 2},
		{name: "cloudfetch 503 once", group: warehouse.GroupCloudFetch, faults: []warehouse.Fault{{Status: 503}},
			query: big, wantRows: 1000000, wantRetries: 1, wantChunks: 4},
		{name: "cloudfetch connection dropped once", group: warehouse.GroupCloudFetch, faults: []warehouse.Fault{{Drop: true}},
			query: big, wantRows: 1000000, maxRetries: 1, wantChunks: 4},
		{name: "cloudfetch 503 then dropped", group: warehouse.GroupCloudFetch, faults: []warehouse.Fault{{Status: 503}, {Drop: true}},
			query: big, wantRows: 1000000, wantRetries: 1, maxRetries: 2, wantChunks: 4},
		// A file that is not Arrow fails the query (the driver does not download it again).
		{name: "cloudfetch garbage", group: warehouse.GroupCloudFetch,
			faults: []warehouse.Fault{{Garbage: true, BodyBytes: 64}}, query: big, wantRows: -1, wantChunks: -1},
		// (No hanging download here: the driver downloads without the query's context and
		// with no timeout of its own, so a download that hangs holds Rows.Next for good,
		// wrapped or not.)
		{name: "no fault, cloudfetch", query: big, wantRows: 1000000, wantChunks: 4},
		{name: "cut by the caller's deadline", query: "SELECT wait_ms(5000)", cancelAfter: 300 * time.Millisecond, wantRows: -1},
		{name: "cancelled by the caller", query: "SELECT wait_ms(5000)", cancelAfter: 300 * time.Millisecond, byCancel: true, wantRows: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := warehouse.NewServer()
			require.NoError(t, err)
			t.Cleanup(func() { _ = srv.Close() })
			db, err := sql.Open("databricks-telemetry", srv.DSN()+"?enableTelemetry=true&telemetry_flush_interval=50ms")
			require.NoError(t, err)
			conn, err := db.Conn(context.Background()) // the session is open before the fault
			require.NoError(t, err)
			if len(tt.faults) > 0 {
				srv.InjectFaults(tt.group, tt.faults...)
			}
			ctx := context.Background()
			if tt.cancelAfter > 0 {
				var cancel context.CancelFunc
				if tt.byCancel {
					ctx, cancel = context.WithCancel(ctx)
					defer time.AfterFunc(tt.cancelAfter, cancel).Stop()
				} else {
					ctx, cancel = context.WithTimeout(ctx, tt.cancelAfter)
				}
				defer cancel()
			}
			n, qerr := countRows(ctx, conn, tt.query)
			if tt.wantRows < 0 {
				require.Error(t, qerr)
			} else {
				require.NoError(t, qerr)
				assert.Equal(t, tt.wantRows, n)
			}
			require.NoError(t, conn.Close())
			require.NoError(t, db.Close())
			if len(tt.faults) > 0 {
				assert.Positive(t, srv.FaultsServed(tt.group), "the fault was served")
			}

			var stmt *telemetry.SQLDriverLog
			for _, l := range decodeLogs(t, srv) {
				if opType(l) == telemetry.OpExecuteStatement {
					require.Nil(t, stmt, "one statement log")
					stmt = l.Entry.SQLDriverLog
				}
			}
			require.NotNil(t, stmt, "the statement's log")
			require.NotNil(t, stmt.SQLOperation)
			if tt.maxRetries > tt.wantRetries {
				assert.GreaterOrEqual(t, stmt.SQLOperation.RetryCount, tt.wantRetries, "retry_count")
				assert.LessOrEqual(t, stmt.SQLOperation.RetryCount, tt.maxRetries, "retry_count")
			} else {
				assert.Equal(t, tt.wantRetries, stmt.SQLOperation.RetryCount, "retry_count")
			}
			var chunks int32
			if cd := stmt.SQLOperation.ChunkDetails; cd != nil {
				chunks = cd.TotalChunksIterated
			}
			if tt.wantChunks >= 0 {
				assert.Equal(t, tt.wantChunks, chunks, "chunks read whole")
			}
		})
	}
}

// countRows runs query on conn and reads its rows to the end.
func countRows(ctx context.Context, conn *sql.Conn, query string) (int64, error) {
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return 0, err
	}
	defer func() { _ = rows.Close() }()
	var n int64
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}
