package driver_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// Two pools of one host with the same telemetry settings share the host's aggregator.
// The first (enableTelemetry=true: no flag needed) logs a query and closes, leaving its
// logs pending: it is not the host's last connector. The second, the last, was opened
// while the flag endpoint hangs, so its gate is undecided when it closes. Its Close waits
// for the flag half its deadline at most, and the final flush, to a healthy ingest, sends
// the first pool's logs within the rest.
func TestLastCloseFlushesWhileTheFlagHangs(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	hosts := driver.NewHosts()
	defer hosts.Close(context.Background())
	ctx := context.Background()
	open := func(params string) (*driver.Connector, *sql.DB) {
		c, err := driver.OpenConnector(srv.DSN()+"?telemetry_flush_interval=1h"+params, driver.WithHosts(hosts))
		require.NoError(t, err)
		db := sql.OpenDB(c)
		var n int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&n))
		return c, db
	}
	c1, db1 := open("&enableTelemetry=true")
	srv.InjectFaults(warehouse.GroupFeatureFlag, warehouse.Fault{Hang: true, Times: -1})
	defer srv.ClearFaults(warehouse.GroupFeatureFlag)
	_, db2 := open("") // the server's flag decides, and its fetch hangs
	require.NoError(t, db1.Close())
	require.Zero(t, len(srv.TelemetryLogs()), "the first pool's logs wait for the flush interval")

	require.NoError(t, db2.Close())
	st := c1.Stats()
	require.NotZero(t, st.Received)
	assert.Equal(t, st.Received, st.Exported, "what the first pool left pending went out: %+v", st)
	assert.Zero(t, st.Dropped.Total())
	assert.Equal(t, int(st.Exported), len(srv.TelemetryLogs()))
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, st, c1.Stats(), "Stats after Close do not move")
}
