package driver_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// db.Close bounds its final flush by the connector's CloseTimeout (WithTelemetryConfig),
// not by a fixed 2 s: a short one keeps an application's shutdown short while the
// telemetry endpoint hangs, a long one lets a slow endpoint take what is pending.
func TestCloseHonoursTheCloseTimeout(t *testing.T) {
	for _, tc := range []struct {
		name         string
		closeTimeout time.Duration
		fault        warehouse.Fault
		maxClose     time.Duration // db.Close returns within it
		delivered    bool          // the statement's log reaches the ingest
	}{
		{"short timeout, endpoint hangs", 300 * time.Millisecond, warehouse.Fault{Hang: true, Times: -1}, time.Second, false},
		{"long timeout, slow endpoint", 5 * time.Second, warehouse.Fault{Latency: 2500 * time.Millisecond, Times: -1}, 5 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := warehouse.NewServer()
			require.NoError(t, err)
			t.Cleanup(func() { _ = srv.Close() })
			tc2 := telemetry.DefaultConfig()
			tc2.CloseTimeout = tc.closeTimeout
			tc2.FlushInterval = time.Hour // only the final flush exports
			c, err := driver.NewConnector(driver.WithConnOptions(connOptions(srv)...), driver.WithTelemetry(true),
				driver.WithHosts(driver.NewHosts()), driver.WithTelemetryConfig(tc2))
			require.NoError(t, err)
			db := sql.OpenDB(c)
			var n int
			require.NoError(t, db.QueryRowContext(context.Background(), "SELECT 1").Scan(&n))
			srv.InjectFaults(warehouse.GroupTelemetry, tc.fault)

			began := time.Now()
			require.NoError(t, db.Close())
			took := time.Since(began)
			t.Logf("db.Close took %v", took)
			assert.Less(t, took, tc.maxClose, "db.Close within the CloseTimeout")
			var stmts int
			for _, l := range decodeLogs(t, srv) {
				if l.Entry.SQLDriverLog.SQLStatementID != "" {
					stmts++
				}
			}
			if tc.delivered {
				assert.Equal(t, 1, stmts, "the final flush delivered the statement's log within the CloseTimeout")
			} else {
				assert.Zero(t, c.Stats().Exported)
			}
			srv.ClearFaults(warehouse.GroupTelemetry)
		})
	}
}
