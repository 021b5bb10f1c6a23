package driver_test

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// downloadCounter is an http.RoundTripper that counts the CloudFetch downloads going
// through it and passes everything to next.
type downloadCounter struct {
	next      http.RoundTripper
	downloads atomic.Int64
}

func (d *downloadCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/cloudfetch/") {
		d.downloads.Add(1)
	}
	return d.next.RoundTrip(r)
}

// The driver downloads CloudFetch files with http.DefaultClient: a program that
// configures it (a proxy, tracing, custom TLS roots, an HTTP mock in tests) has the
// driver's downloads go through that. Wrapped, they still do, and telemetry still
// counts them.
func TestCloudFetchDownloadsUseTheDefaultClientAsUnwrapped(t *testing.T) {
	srv := cloudFetchServer(t)
	counter := &downloadCounter{next: http.DefaultTransport}
	useDefaultClientTransport(t, counter)

	const query = "SELECT range FROM range(25000)"
	read := func(db *sql.DB) {
		rows, err := db.QueryContext(context.Background(), query)
		require.NoError(t, err)
		var n int
		for rows.Next() {
			n++
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		require.Equal(t, 25000, n)
	}

	raw, err := sql.Open("databricks", srv.DSN())
	require.NoError(t, err)
	read(raw)
	require.NoError(t, raw.Close())
	rawDownloads := counter.downloads.Swap(0)
	require.Equal(t, int64(3), rawDownloads, "the raw driver downloads its files with http.DefaultClient")

	logs := logsOf(t, srv, "", func(db *sql.DB) { read(db) })
	assert.Equal(t, rawDownloads, counter.downloads.Load(), "downloads through http.DefaultClient, wrapped")

	// Telemetry still sees the files.
	var id string
	for _, st := range srv.Statements() {
		if st.SQL == query {
			id = st.ID // the wrapped run's: the last
		}
	}
	require.NotEmpty(t, id)
	stmt := statementLogs(logs)[id]
	require.NotEmpty(t, stmt)
	last := stmt[len(stmt)-1].SQLOperation
	require.NotNil(t, last.ChunkDetails)
	assert.Equal(t, int32(3), last.ChunkDetails.TotalChunksIterated)
}
