package driver_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A full batch leaves at once, without waiting for the timer, and holds exactly the batch
// size's logs (SPEC §2: "Flush triggers: batch reaches BatchSize (default 100)"), through
// the real driver: the session's log and one per statement, the timer an hour away.
func TestFullBatchIsExportedAtOnce(t *testing.T) {
	for _, tc := range []struct {
		param      string
		size, runs int
	}{
		{"", 100, 120},
		{"&telemetry_batch_size=50", 50, 70},
		{"&telemetry_batch_size=7", 7, 10},
		{"&telemetry_batch_size=1", 1, 3},
	} {
		t.Run(fmt.Sprint(tc.size), func(t *testing.T) {
			srv, err := warehouse.NewServer()
			require.NoError(t, err)
			defer srv.Close()
			db, err := sql.Open("databricks-telemetry", srv.DSN()+"?enableTelemetry=true&telemetry_flush_interval=1h"+tc.param)
			require.NoError(t, err)
			defer db.Close()
			db.SetMaxOpenConns(1)
			var one int
			for range tc.runs {
				require.NoError(t, db.QueryRowContext(context.Background(), "SELECT 1").Scan(&one))
			}
			full := (1 + tc.runs) / tc.size // the session's log, then one per statement
			require.Eventually(t, func() bool { return len(srv.TelemetryRequests()) >= full }, 10*time.Second, 10*time.Millisecond,
				"each full batch is exported at once")
			reqs := srv.TelemetryRequests()
			assert.Len(t, reqs, full, "only full batches before the timer or Close")
			for _, r := range reqs {
				assert.Len(t, r.ProtoLogs(), tc.size)
			}
		})
	}
}
