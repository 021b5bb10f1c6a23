package warehouse_test

import (
	"database/sql"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	dbsql "github.com/databricks/databricks-sql-go"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A HEAD of a CloudFetch link (a client or proxy checking a file before its download)
// gets the file's headers and is not a download, as from an object store: it is not
// counted in ChunkDownloads and does not free the file, here with no served-file
// retention, so the GET that follows still gets the file.
func TestCloudFetchHeadIsNotADownload(t *testing.T) {
	srv := start(t, warehouse.WithCloudFetchThreshold(10), warehouse.WithServedFileRetention(0), settled)
	link := cloudFetchLink(t, srv)
	client := oneConnection(t)
	head, err := client.Head(link)
	require.NoError(t, err)
	require.NoError(t, head.Body.Close())
	assert.Equal(t, http.StatusOK, head.StatusCode)
	assert.Positive(t, head.ContentLength, "the file's length")
	assert.Equal(t, 0, lastStatement(t, srv).ChunkDownloads, "a HEAD is not a download")
	assert.Equal(t, http.StatusOK, download(t, client, link), "the file is still there")
	assert.Equal(t, 1, lastStatement(t, srv).ChunkDownloads)
}

// The httpHeaders of a CloudFetch link (DRIVER-PROTOCOL §3) reach the server on its
// download: the real driver sets them on its GET, each file's own.
func TestCloudFetchLinkHeadersReachTheDownload(t *testing.T) {
	srv := start(t, thousandRowFiles()...)
	host, port, err := net.SplitHostPort(srv.Addr())
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	rec := &chunkHeaders{}
	c, err := dbsql.NewConnector(dbsql.WithServerHostname("http://"+host), dbsql.WithPort(p),
		dbsql.WithHTTPPath(warehouse.HTTPPath), dbsql.WithAccessToken(srv.Token()), dbsql.WithTransport(rec))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })
	rows, err := db.Query("SELECT range FROM range(3000)")
	require.NoError(t, err)
	assert.Equal(t, 3000, countRows(t, rows))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	slices.Sort(rec.got)
	assert.Equal(t, []string{"0", "1", "2"}, rec.got, "one file of 1000 rows each, its own header")
}

// chunkHeaders records the x-warehouse-chunk header of the CloudFetch downloads it carries.
type chunkHeaders struct {
	mu  sync.Mutex
	got []string
}

func (c *chunkHeaders) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/cloudfetch/") {
		c.mu.Lock()
		c.got = append(c.got, r.Header.Get("x-warehouse-chunk"))
		c.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}
