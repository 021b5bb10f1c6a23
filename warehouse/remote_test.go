package warehouse_test

import (
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// onlyHost is the transport of a client that reaches the server by one name only, as a
// client on another machine does: 127.0.0.1 is not the server there.
type onlyHost struct{ host string }

func (o onlyHost) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Hostname() != o.host {
		return nil, fmt.Errorf("this client cannot reach %s: the server is %s", r.URL.Host, o.host)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// A server on every address (cmd/warehouse -addr :PORT) hands out CloudFetch links on
// the host its client reached it by: a client elsewhere downloads its results. The real
// driver reaches it here as "localhost" only.
func TestCloudFetchLinksOnTheClientsHost(t *testing.T) {
	srv := start(t, warehouse.WithAddr("0.0.0.0:0"), warehouse.WithCloudFetchThreshold(10))
	_, port, err := net.SplitHostPort(srv.Addr())
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	c, err := dbsql.NewConnector(dbsql.WithServerHostname("http://localhost"), dbsql.WithPort(p),
		dbsql.WithHTTPPath(warehouse.HTTPPath), dbsql.WithAccessToken(srv.Token()),
		dbsql.WithTransport(onlyHost{"localhost"}), dbsql.WithRetries(0, 0, 0))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	defer db.Close()
	rows, err := db.Query("SELECT i FROM range(100) t(i)")
	require.NoError(t, err)
	assert.Equal(t, 100, countRows(t, rows))
	st := srv.Statements()
	require.NotEmpty(t, st)
	last := st[len(st)-1]
	assert.Equal(t, warehouse.DeliveryCloudFetch, last.Delivery)
	assert.Positive(t, last.Chunks)
	assert.Equal(t, last.Chunks, last.ChunkDownloads, "every file downloaded")
}
