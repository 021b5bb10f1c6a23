package driver_test

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// The connection's log (driver_connection_params of CREATE_SESSION) says what the driver
// uses: the driver's own options (WithConnOptions) override the DSN's http path and
// timeout, and a connector made with NewConnector reports its options' timeout.
func TestConnectionParamsFollowTheDriversOptions(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	elsewhere := strings.Replace(srv.DSN(), warehouse.HTTPPath, "/sql/1.0/warehouses/elsewhere", 1)
	cases := []struct {
		name    string
		open    func(hosts driver.Option) (*driver.Connector, error)
		timeout int64 // socket_timeout, seconds
	}{
		{"NewConnector with WithTimeout", func(hosts driver.Option) (*driver.Connector, error) {
			return driver.NewConnector(hosts, driver.WithTelemetry(true),
				driver.WithConnOptions(append(connOptions(srv), dbsql.WithTimeout(7*time.Second))...))
		}, 7},
		{"DSN timeout overridden by WithTimeout", func(hosts driver.Option) (*driver.Connector, error) {
			return driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&timeout=5", hosts,
				driver.WithConnOptions(dbsql.WithTimeout(9*time.Second)))
		}, 9},
		{"DSN path overridden by WithHTTPPath", func(hosts driver.Option) (*driver.Connector, error) {
			return driver.OpenConnector(elsewhere+"?enableTelemetry=true", hosts,
				driver.WithConnOptions(dbsql.WithHTTPPath(warehouse.HTTPPath)))
		}, 0},
		{"DSN alone", func(hosts driver.Option) (*driver.Connector, error) {
			return driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&timeout=5", hosts)
		}, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv.TakeTelemetryRequests()
			c, err := tc.open(driver.WithHosts(driver.NewHosts()))
			require.NoError(t, err)
			db := sql.OpenDB(c)
			var n int
			require.NoError(t, db.QueryRow("SELECT 1").Scan(&n))
			require.NoError(t, db.Close())
			var params []*telemetry.DriverConnectionParams
			for _, l := range decodeLogs(t, srv) {
				if opType(l) == telemetry.OpCreateSession {
					params = append(params, l.Entry.SQLDriverLog.DriverConnectionParams)
				}
			}
			require.Len(t, params, 1)
			require.NotNil(t, params[0])
			assert.Equal(t, warehouse.HTTPPath, params[0].HTTPPath, "the path the driver calls")
			assert.Equal(t, tc.timeout, params[0].SocketTimeout, "the driver's query timeout")
		})
	}
}
