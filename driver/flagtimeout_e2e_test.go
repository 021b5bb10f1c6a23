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
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A connector waits for the server's flag as long as its hosts' exporters allow
// (NewHosts(exporter.WithFlagTimeout(d)), 10 s by default): a flag endpoint slower than
// the default but within d still switches telemetry on, and what waited for the answer
// is exported.
func TestConnectorWaitsForTheFlagAsLongAsItsHosts(t *testing.T) {
	t.Parallel()
	srv, err := warehouse.NewServer() // the flag says on
	require.NoError(t, err)
	defer srv.Close()
	const latency = exporter.DefaultFlagTimeout + time.Second
	srv.InjectFaults(warehouse.GroupFeatureFlag, warehouse.Fault{Latency: latency})
	hosts := driver.NewHosts(exporter.WithFlagTimeout(3 * latency))
	defer func() { _ = hosts.Close(context.Background()) }()
	c, err := driver.OpenConnector(srv.DSN(), driver.WithHosts(hosts))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	var n int
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&n))
	require.Eventually(t, func() bool { return srv.FeatureFlagRequests() > 0 }, 3*latency, 10*time.Millisecond,
		"the flag endpoint answered")
	require.Eventually(t, func() bool { return c.Stats().Received > 0 }, 5*time.Second, 10*time.Millisecond,
		"the answer let the events through")
	require.NoError(t, db.Close())
	assert.Zero(t, c.Stats().Dropped.Undecided, "nothing dropped waiting for the flag")
	assert.NotEmpty(t, statementLogs(decodeLogs(t, srv)), "the statement is exported")
}
