package driver_test

import (
	"context"
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

// cloudFetchServer starts a warehouse that sends results of 10,000 rows or more by
// CloudFetch, in files of 10,000 rows and batches of 5,000: small results that still take
// several files. It closes when the test ends.
func cloudFetchServer(t *testing.T) *warehouse.Server {
	t.Helper()
	srv, err := warehouse.NewServer(warehouse.WithCloudFetchThreshold(10000),
		warehouse.WithChunkRows(10000), warehouse.WithBatchRows(5000))
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// queryRows runs query on db and reads its rows to the end: how many, and the error
// that ended them.
func queryRows(ctx context.Context, db *sql.DB, query string) (int, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}
