package driver_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// TestRetryCountExecCloseE2E: the driver closes an Exec's operation under a context of
// its own (context.Background with its conn id), which carries nothing of ours; a
// CloseOperation it sends again after a failed one is still the Exec's retry, as the
// same close after a Query is. A failure the driver does not retry is no retry.
func TestRetryCountExecCloseE2E(t *testing.T) {
	const exec = "CREATE OR REPLACE TABLE t AS SELECT 1 AS x"
	tests := []struct {
		name        string
		closeFaults []warehouse.Fault // answered to the Exec's CloseOperation attempts
		wantRetries int64
	}{
		{name: "no fault"},
		{name: "close 503 once", closeFaults: []warehouse.Fault{{Status: 503}}, wantRetries: 1},
		{name: "close 503 twice", closeFaults: []warehouse.Fault{{Status: 503, Times: 2}}, wantRetries: 2},
		// A 400 is not retried: the Exec's result stands, its close error is the driver's
		// to log, and no attempt was made again.
		{name: "close 400", closeFaults: []warehouse.Fault{{Status: 400}}, wantRetries: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each Exec polls, then closes its operation.
			srv, db := asyncWarehouse(t)
			conn, err := db.Conn(context.Background())
			require.NoError(t, err)
			ctx := context.Background()

			// The first Exec has no fault: its log says 0, whatever the second's says.
			_, err = conn.ExecContext(ctx, exec)
			require.NoError(t, err)
			for i := range tt.closeFaults {
				tt.closeFaults[i].Method = "CloseOperation"
			}
			srv.InjectFaults(warehouse.GroupThrift, tt.closeFaults...)
			before := srv.RPCs()
			_, err = conn.ExecContext(ctx, exec)
			require.NoError(t, err, "a failed close does not fail the Exec")
			served := 0
			for _, f := range tt.closeFaults {
				served += max(f.Times, 1)
			}
			assert.Equal(t, served, srv.FaultsServed(warehouse.GroupThrift), "every fault was served")
			closes := srv.RPCs()["CloseOperation"] - before["CloseOperation"]
			if tt.wantRetries > 0 || len(tt.closeFaults) == 0 {
				assert.Equal(t, 1, closes, "the close reached the server in the end")
			}
			require.NoError(t, conn.Close())
			require.NoError(t, db.Close())

			stmts := executeLogs(decodeLogs(t, srv))
			require.Len(t, stmts, 2, "the two Execs' logs")
			for i, s := range stmts {
				require.NotNil(t, s.SQLOperation)
				want := int64(0)
				if i == 1 {
					want = tt.wantRetries
				}
				assert.Equal(t, want, s.SQLOperation.RetryCount, "retry_count of Exec %d", i+1)
			}
		})
	}
}

// asyncWarehouse is a warehouse that answers every statement as running, past its async
// threshold at once (the driver then polls it), and a pool with telemetry on over it.
func asyncWarehouse(t *testing.T) (*warehouse.Server, *sql.DB) {
	t.Helper()
	srv, err := warehouse.NewServer(warehouse.WithAsyncThreshold(0))
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	db, err := sql.Open("databricks-telemetry", srv.DSN()+"?enableTelemetry=true&telemetry_flush_interval=50ms")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return srv, db
}
