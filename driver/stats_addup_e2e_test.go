package driver_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// statsWorkload runs a mixed workload on db from several goroutines.
func statsWorkload(t *testing.T, db *sql.DB, workers, per int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				switch (w + i) % 6 {
				case 0:
					var n int
					_ = db.QueryRowContext(ctx, "SELECT 1").Scan(&n)
				case 1:
					_, _ = db.ExecContext(ctx, "SELECT * FROM missing_table")
				case 2:
					_, _ = queryRows(ctx, db, "SELECT range FROM range(20000)")
				case 3:
					cctx, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
					_, _ = db.ExecContext(cctx, "SELECT wait_ms(2000)")
					cancel()
				case 4:
					rows, err := db.QueryContext(ctx, "SELECT range FROM range(10)")
					if err == nil {
						rows.Next() // closed early
						_ = rows.Close()
					}
				case 5:
					_, _ = db.ExecContext(ctx, "SELECT 1/0")
				}
			}
		}()
	}
	wg.Wait()
}

// After db.Close, the connector's Stats add up (Queued = Exported + the drops of logs),
// and Exported is what the ingest accepted, whether the DSN or the server's flag switched
// telemetry on, and with the ingest failing some batches.
func TestStatsAddUpThroughTheRealDriver(t *testing.T) {
	for _, tc := range []struct {
		name, params string
		faults       bool
	}{
		{"dsn-on", "?enableTelemetry=true&telemetry_flush_interval=20ms&telemetry_batch_size=7", false},
		{"flag", "?telemetry_flush_interval=20ms&telemetry_batch_size=7", false},
		{"dsn-on-faults", "?enableTelemetry=true&telemetry_flush_interval=20ms&telemetry_batch_size=7&telemetry_retry_count=0", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := warehouse.NewServer(warehouse.WithCloudFetchThreshold(10000),
				warehouse.WithChunkRows(10000), warehouse.WithBatchRows(5000))
			require.NoError(t, err)
			defer srv.Close()
			if tc.faults {
				srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: 500, Times: 3})
			}
			c, err := driver.OpenConnector(srv.DSN()+tc.params, driver.WithHosts(driver.NewHosts()))
			require.NoError(t, err)
			db := sql.OpenDB(c)
			db.SetMaxOpenConns(4)
			statsWorkload(t, db, 4, 12)
			require.NoError(t, db.Close())
			st := c.Stats()
			accepted := int64(len(srv.TelemetryLogs()))
			t.Logf("%+v", st)
			assert.Equal(t, accepted, st.Exported, "Exported is what the ingest accepted")
			assert.Equal(t, st.Queued, st.Exported+st.Dropped.QueueFull+st.Dropped.ExportFailed+st.Dropped.Unfinished+int64(st.Pending),
				"Queued = Exported + QueueFull + ExportFailed + Unfinished + Pending")
			assert.Zero(t, st.Pending)
			assert.Zero(t, st.OpenStatements)
			// Every statement the warehouse ran has its log, or a drop accounts for it.
			logged := map[string]bool{}
			for _, l := range decodeLogs(t, srv) {
				if id := l.Entry.SQLDriverLog.SQLStatementID; id != "" {
					logged[id] = true
				}
			}
			var missing []string
			for _, s := range srv.Statements() {
				if s.Async && s.Polls == 0 && !s.Closed {
					// The client gave up before it read the RUNNING answer (a loaded
					// machine, the 400 ms timeout): its log has no id to match.
					continue
				}
				if !logged[s.ID] {
					missing = append(missing, fmt.Sprintf("%s(%s)", s.SQL, s.State))
				}
			}
			if len(missing) > 0 && st.Dropped.Total() == 0 {
				t.Errorf("statements without a log and no drop counted: %v", missing)
			}
			// Stats stay what they were (monotonic, and nothing moves after Close).
			time.Sleep(100 * time.Millisecond)
			st2 := c.Stats()
			assert.Equal(t, st, st2, "Stats after Close do not move")
		})
	}
}
