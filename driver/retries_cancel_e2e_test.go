package driver_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/databricks/databricks-sql-go/driverctx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A statement the caller cancels as soon as the server names it: the driver cancels its
// operation under a context of its own (driverctx.NewContextFromBackground), and sends
// that CancelOperation again after a 503. That is a Thrift call the driver sent again
// after a failed attempt (README: retry_count), for a Query as for an Exec: 1.
func TestRetryCountCancelledStatementE2E(t *testing.T) {
	for _, kind := range []string{"query", "exec"} {
		t.Run(kind, func(t *testing.T) {
			srv, db := asyncWarehouse(t) // the statement is named, then polled
			conn, err := db.Conn(context.Background())
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ctx = driverctx.NewContextWithQueryIdCallback(ctx, func(id string) {
				if id != "" {
					cancel()
				}
			})
			srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Method: "CancelOperation", Status: 503})
			before := srv.RPCs()
			if kind == "query" {
				var rows *sql.Rows
				rows, err = conn.QueryContext(ctx, "SELECT wait_ms(2000) AS x")
				if err == nil {
					_ = rows.Close()
				}
			} else {
				_, err = conn.ExecContext(ctx, "CREATE TABLE q AS SELECT wait_ms(2000) AS x")
			}
			require.Error(t, err)
			t.Logf("%s: %v; cancels %d, served %d", kind, err,
				srv.RPCs()["CancelOperation"]-before["CancelOperation"], srv.FaultsServed(warehouse.GroupThrift))
			require.Equal(t, 1, srv.FaultsServed(warehouse.GroupThrift), "the CancelOperation got its 503")
			require.NoError(t, conn.Close())
			require.NoError(t, db.Close())
			stmts := executeLogs(decodeLogs(t, srv))
			require.Len(t, stmts, 1)
			assert.Equal(t, int64(1), stmts[0].SQLOperation.RetryCount, "retry_count of the cancelled %s", kind)
		})
	}
}
