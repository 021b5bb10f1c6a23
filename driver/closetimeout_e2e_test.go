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

// The CloseTimeout of WithTelemetryConfig bounds db.Close's final flush, as
// telemetry.Config documents it: an ingest that answers in 3 s still gets the logs
// pending at Close when the caller allowed 6 s.
func TestCloseTimeoutBoundsTheFinalFlush(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })

	tc := telemetry.DefaultConfig()
	tc.FlushInterval = time.Hour // only the final flush exports
	tc.CloseTimeout = 6 * time.Second
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true",
		driver.WithHosts(driver.NewHosts()), driver.WithTelemetryConfig(tc))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	var n int
	require.NoError(t, db.QueryRowContext(context.Background(), "SELECT 1").Scan(&n))

	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Latency: 3 * time.Second})
	began := time.Now()
	require.NoError(t, db.Close())
	took := time.Since(began)

	st := c.Stats()
	assert.Positive(t, st.Exported, "the final flush delivered within CloseTimeout (Close took %v): %+v", took, st)
	assert.Zero(t, st.Dropped.ExportFailed+st.Dropped.Unfinished, "nothing lost: %+v", st)
	assert.Less(t, took, tc.CloseTimeout+time.Second, "Close stays within CloseTimeout")
}
