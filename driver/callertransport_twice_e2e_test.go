package driver_test

import (
	"database/sql"
	"net/http"
	"testing"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
)

// Two dbsql.WithTransport: the driver downloads its CloudFetch files through the client
// the first one made, and sends its Thrift calls through the second. Wrapped, the
// downloads keep going through the first (callerDownloads leaves a client that is not
// the caller's last transport's as it is), as unwrapped.
func TestSecondCallerTransportLeavesTheDownloadsToTheFirst(t *testing.T) {
	srv := cloudFetchServer(t)
	const query = "SELECT range FROM range(25000)"

	rawFirst, rawSecond := &gatewayRT{}, &gatewayRT{}
	rawConn, err := dbsql.NewConnector(append(connOptions(srv), dbsql.WithTransport(rawFirst), dbsql.WithTransport(rawSecond))...)
	require.NoError(t, err)
	raw := sql.OpenDB(rawConn)
	require.Equal(t, 25000, countAll(t, raw, query))
	require.NoError(t, raw.Close())
	require.EqualValues(t, 3, rawFirst.downloads.Load(), "unwrapped: the downloads through the first")
	require.Zero(t, rawSecond.downloads.Load())
	require.Positive(t, rawSecond.thrift.Load(), "unwrapped: the Thrift calls through the second")

	// Transports of a type Go can compare, and func adapters, which the wrapper tells
	// apart by their type alone: the downloads used to go through the second of those.
	for _, tc := range []struct {
		name string
		as   func(*gatewayRT) http.RoundTripper
	}{
		{"pointers", func(g *gatewayRT) http.RoundTripper { return g }},
		{"func adapters", func(g *gatewayRT) http.RoundTripper { return rtFunc(g.RoundTrip) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, second := &gatewayRT{}, &gatewayRT{}
			c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true",
				driver.WithConnOptions(dbsql.WithTransport(tc.as(first)), dbsql.WithTransport(tc.as(second))), driver.WithHosts(driver.NewHosts()))
			require.NoError(t, err)
			db := sql.OpenDB(c)
			require.Equal(t, 25000, countAll(t, db, query))
			require.NoError(t, db.Close())
			assert.Equal(t, rawFirst.downloads.Load(), first.downloads.Load(), "the downloads through the first, as unwrapped")
			assert.Zero(t, second.downloads.Load(), "none through the second")
			assert.Positive(t, second.thrift.Load(), "the Thrift calls through the second")
		})
	}
}
