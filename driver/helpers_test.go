package driver_test

import (
	"database/sql"
	"net"
	"net/http"
	"strconv"
	"testing"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// connOptions are the driver's connector options for the warehouse.
func connOptions(srv *warehouse.Server) []dbsql.ConnOption {
	host, port, _ := net.SplitHostPort(srv.Addr())
	p, _ := strconv.Atoi(port)
	return []dbsql.ConnOption{
		dbsql.WithServerHostname("http://" + host),
		dbsql.WithPort(p),
		dbsql.WithHTTPPath(warehouse.HTTPPath),
		dbsql.WithAccessToken(srv.Token()),
	}
}

// rawAndWrapped opens the raw driver and the wrapped one (telemetry on) on srv, closed
// when the test ends: the two sides of a parity test.
func rawAndWrapped(t *testing.T, srv *warehouse.Server) (raw, wrapped *sql.DB) {
	t.Helper()
	raw, err := sql.Open("databricks", srv.DSN())
	require.NoError(t, err)
	t.Cleanup(func() { _ = raw.Close() })
	wrapped, err = sql.Open("databricks-telemetry", srv.DSN()+"?enableTelemetry=true")
	require.NoError(t, err)
	t.Cleanup(func() { _ = wrapped.Close() })
	return raw, wrapped
}

// useDefaultClientTransport makes rt the transport of http.DefaultClient, through which
// the driver downloads CloudFetch files, until the test ends.
func useDefaultClientTransport(t *testing.T, rt http.RoundTripper) {
	t.Helper()
	saved := http.DefaultClient.Transport
	http.DefaultClient.Transport = rt
	t.Cleanup(func() { http.DefaultClient.Transport = saved })
}
