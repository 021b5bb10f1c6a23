package driver_test

import (
	"database/sql"
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

	first, second := &gatewayRT{}, &gatewayRT{}
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true",
		driver.WithConnOptions(dbsql.WithTransport(first), dbsql.WithTransport(second)), driver.WithHosts(driver.NewHosts()))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	require.Equal(t, 25000, countAll(t, db, query))
	require.NoError(t, db.Close())
	assert.Equal(t, rawFirst.downloads.Load(), first.downloads.Load(), "the downloads through the first, as unwrapped")
	assert.Zero(t, second.downloads.Load(), "none through the second")
	assert.Positive(t, second.thrift.Load(), "the Thrift calls through the second")
}
