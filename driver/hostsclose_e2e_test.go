package driver_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// Hosts.Close called again (or by two goroutines at once) while a first call still
// flushes returns only once the hosts are flushed and closed, as the first does: each
// caller may rely on the telemetry being delivered when its Close returns.
func TestHostsCloseAgainWaitsForTheFirst(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	hosts := driver.NewHosts()
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&telemetry_flush_interval=1h", driver.WithHosts(hosts))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&n))

	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Latency: 500 * time.Millisecond})
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, hosts.Close(context.Background())) })
	require.Eventually(t, func() bool { return srv.FaultsServed(warehouse.GroupTelemetry) > 0 },
		5*time.Second, time.Millisecond, "the first Close's final flush is on its way")
	require.NoError(t, hosts.Close(context.Background()))
	assert.NotEmpty(t, statementLogs(decodeLogs(t, srv)), "delivered when the second Close returned")
	wg.Wait()
}
