package driver_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// Through the real driver, the host's circuit breaker keeps the reference drivers'
// thresholds (SPEC §4): 5 failed batches open it, and once its delay has passed, 2
// successful probes close it (the first leaves it half-open). Only the delay is
// shortened; the thresholds are the defaults.
func TestBreakerThresholdsEndToEnd(t *testing.T) {
	const delay = 200 * time.Millisecond
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	hosts := driver.NewHosts(exporter.WithBreaker(0, delay, 0)) // zeros: the default thresholds
	t.Cleanup(func() { _ = hosts.Close(context.Background()) })
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&telemetry_retry_count=0&telemetry_flush_interval=1h", driver.WithHosts(hosts))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	batch := func() error { // one statement's log (and the session's, first), one batch
		var n int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&n), "the query itself never fails")
		return c.Flush(ctx)
	}
	state := func() telemetry.BreakerState { return c.Stats().Exporter.Breaker }

	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: 500, Times: -1})
	for i := 1; i <= 5; i++ {
		assert.Error(t, batch(), "batch %d fails", i)
		want := telemetry.BreakerClosed
		if i == 5 {
			want = telemetry.BreakerOpen
		}
		require.Equal(t, want, state(), "after %d failed batches", i)
	}
	srv.ClearFaults(warehouse.GroupTelemetry)
	assert.ErrorIs(t, batch(), exporter.ErrBreakerOpen, "open: dropped at once")

	time.Sleep(delay + 50*time.Millisecond)
	require.NoError(t, batch(), "probe 1")
	assert.Equal(t, telemetry.BreakerHalfOpen, state(), "after one successful probe")
	require.NoError(t, batch(), "probe 2")
	assert.Equal(t, telemetry.BreakerClosed, state(), "after two")
	assert.Equal(t, int64(1), c.Stats().Exporter.BreakerOpened)
}
