package driver_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/internal/testlog"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A host's exporter is shared, and so is its logger: the first connector's. A second
// pool on the same host, with a debug logger of its own, has its batches' lines written
// to the first pool's logger, as WithLogger says; the second logger hears nothing of it.
func TestSharedExportLogsToTheHostsFirstLogger(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	h := driver.NewHosts()
	defer func() { _ = h.Close(context.Background()) }()

	var firstLog, secondLog testlog.Buffer
	first, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithHosts(h),
		driver.WithLogger(zerolog.New(&firstLog).Level(zerolog.DebugLevel)))
	require.NoError(t, err)
	db1 := sql.OpenDB(first)
	var n int
	require.NoError(t, db1.QueryRow("SELECT 1").Scan(&n))
	require.NoError(t, first.Flush(context.Background()))
	delivered := strings.Count(firstLog.String(), "telemetry batch delivered")
	require.Positive(t, delivered, "the first pool's batches:\n%s", firstLog.String())

	second, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithHosts(h),
		driver.WithLogger(zerolog.New(&secondLog).Level(zerolog.DebugLevel)))
	require.NoError(t, err)
	db2 := sql.OpenDB(second)
	require.NoError(t, db2.QueryRow("SELECT 2").Scan(&n))
	require.NoError(t, second.Flush(context.Background()))
	require.NoError(t, db2.Close())
	require.NoError(t, db1.Close())
	assert.Greater(t, strings.Count(firstLog.String(), "telemetry batch delivered"), delivered,
		"the second pool's batches, on the host's first logger")
	assert.NotContains(t, secondLog.String(), "telemetry batch", "the host's exporter writes to its first connector's logger only")
}
