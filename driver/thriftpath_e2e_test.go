package driver_test

import (
	"database/sql"
	"strings"
	"testing"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// The driver's own options override the DSN (WithConnOptions): when they send the Thrift
// calls to another HTTP path of the DSN's host, the connector still recognises them, so
// the server's flag is asked and the connection's telemetry is exported. NewConnector,
// which has no DSN path at all, does the same.
func TestThriftCallsOnAnOptionsHTTPPathAreObserved(t *testing.T) {
	srv, err := warehouse.NewServer() // the flag says on
	require.NoError(t, err)
	defer srv.Close()
	elsewhere := strings.Replace(srv.DSN(), warehouse.HTTPPath, "/sql/1.0/warehouses/elsewhere", 1)
	require.NotEqual(t, srv.DSN(), elsewhere)
	cases := []struct {
		name string
		open func() (*driver.Connector, error)
	}{
		{"DSN path overridden by WithHTTPPath", func() (*driver.Connector, error) {
			return driver.OpenConnector(elsewhere, driver.WithHosts(driver.NewHosts()),
				driver.WithConnOptions(dbsql.WithHTTPPath(warehouse.HTTPPath)))
		}},
		{"NewConnector", func() (*driver.Connector, error) {
			return driver.NewConnector(driver.WithHosts(driver.NewHosts()), driver.WithConnOptions(connOptions(srv)...))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv.TakeTelemetryRequests()
			asked := srv.FeatureFlagRequests()
			c, err := tc.open()
			require.NoError(t, err)
			db := sql.OpenDB(c)
			var n int
			require.NoError(t, db.QueryRow("SELECT 1").Scan(&n))
			require.NoError(t, db.Close())
			assert.Greater(t, srv.FeatureFlagRequests(), asked, "the server's flag is asked")
			assert.Zero(t, c.Stats().Dropped.Closed, "nothing held back for the flag is dropped at close")
			assert.NotEmpty(t, statementLogs(decodeLogs(t, srv)), "the statement is exported")
		})
	}
}
