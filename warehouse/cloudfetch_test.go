package warehouse_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
	"github.com/dbtelemetry/dbtelemetry/warehouse/internal/tcli"
)

// thousandRowFiles are opts plus the options that make every CloudFetch file 1000 rows
// of one BIGINT, all of one size.
func thousandRowFiles(opts ...warehouse.Option) []warehouse.Option {
	return append([]warehouse.Option{
		warehouse.WithCloudFetchThreshold(1000), warehouse.WithChunkRows(1000), warehouse.WithBatchRows(1000), settled,
	}, opts...)
}

// download GETs a CloudFetch link, reads the whole body and returns the status.
func download(t *testing.T, client *http.Client, link string) int {
	t.Helper()
	resp, err := client.Get(link)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode
}

// oneConnection is a client whose requests take turns on one connection: the server
// reads a request only once its handler for the previous one has returned, so what that
// handler did after the client had the body (keeping or freeing files) is done by then.
func oneConnection(t *testing.T) *http.Client {
	tr := &http.Transport{MaxConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// A link's expiryTime is in Unix seconds (DRIVER-PROTOCOL §3), linkTTL after the link
// is handed out and the same instant as its URL's X-Expires: the driver compares it with
// time.Now().Unix() to skip expired links. The file comes with a Content-Length equal to
// the link's bytesNum, as from an object store, so a client can tell a cut body.
func TestCloudFetchLinkExpiryAndLength(t *testing.T) {
	srv := start(t, warehouse.WithCloudFetchThreshold(10), warehouse.WithLinkTTL(time.Hour), settled)
	before := time.Now()
	_, dr := executeWithLinks(t, rawClient(t, srv, http.DefaultTransport), 1000)
	after := time.Now()
	l := dr.ResultSet.Results.ResultLinks[0]
	assert.GreaterOrEqual(t, l.ExpiryTime, before.Add(time.Hour).Unix())
	assert.LessOrEqual(t, l.ExpiryTime, after.Add(time.Hour).Unix())
	u, err := url.Parse(l.FileLink)
	require.NoError(t, err)
	assert.Equal(t, strconv.FormatInt(l.ExpiryTime, 10), u.Query().Get("X-Expires"))

	resp, err := http.Get(l.FileLink)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, l.BytesNum, resp.ContentLength, "sent with its Content-Length, not chunked")
}

// The files of pages not fetched yet have no expiry until their links go out, and the
// sweep of expired files leaves them alone: a client that reads a long result slowly
// still downloads its last pages.
func TestUnsentFilesSurviveSweep(t *testing.T) {
	// A short failed-operation TTL makes the janitor sweep every 20 ms; links stay valid.
	srv := start(t, thousandRowFiles(warehouse.WithLinkTTL(time.Minute),
		warehouse.WithFailedOperationTTL(40*time.Millisecond))...)
	rc := rawClient(t, srv, http.DefaultTransport)
	resp, dr := executeWithLinks(t, rc, 10_000) // 10 files: 8 links in the first page, 2 left
	require.Nil(t, dr.CloseOperation, "more pages to fetch")
	time.Sleep(200 * time.Millisecond) // about ten sweeps
	fr, err := rc.FetchResults(context.Background(), &tcli.TFetchResultsReq{
		OperationHandle: resp.OperationHandle, Orientation: tcli.TFetchOrientation_FETCH_NEXT, MaxRows: 100_000,
	})
	require.NoError(t, err)
	links := fr.Results.ResultLinks
	require.Len(t, links, 2)
	for _, l := range links {
		assert.Equal(t, http.StatusOK, download(t, http.DefaultClient, l.FileLink))
	}
}

// The served-file retention is how many bytes of served files the server may keep:
// files that add up to exactly the retention are all kept, and downloadable again.
func TestServedRetentionBoundary(t *testing.T) {
	probe := start(t, thousandRowFiles()...)
	_, dr := executeWithLinks(t, rawClient(t, probe, http.DefaultTransport), 2000)
	size := dr.ResultSet.Results.ResultLinks[0].BytesNum

	srv := start(t, thousandRowFiles(warehouse.WithServedFileRetention(2*size))...)
	_, dr = executeWithLinks(t, rawClient(t, srv, http.DefaultTransport), 3000)
	links := dr.ResultSet.Results.ResultLinks
	require.Len(t, links, 3)
	for _, l := range links {
		require.Equal(t, size, l.BytesNum)
	}
	client := oneConnection(t)
	assert.Equal(t, http.StatusOK, download(t, client, links[0].FileLink))
	assert.Equal(t, http.StatusOK, download(t, client, links[1].FileLink))
	assert.Equal(t, http.StatusOK, download(t, client, links[0].FileLink), "two files fit the retention exactly")
	assert.Equal(t, 3, srv.HeldChunks(), "two served, one not yet")
}

// ChunkDownloads counts the files served successfully: a download the client cuts short
// is not counted. The file, 32 MiB, is larger than the socket buffers hold, so the
// server's write fails when the client hangs up.
func TestCutDownloadNotCounted(t *testing.T) {
	srv := start(t, warehouse.WithCloudFetchThreshold(10), warehouse.WithAsyncThreshold(30*time.Second))
	rc := rawClient(t, srv, http.DefaultTransport)
	sess := openRawSession(t, rc)
	// Few wide rows: cheap to make, even under the race detector.
	resp := executeDirect(t, rc, sess, "SELECT repeat('x', 1 << 20) AS s FROM range(32)", 100, true)
	links := resp.DirectResults.ResultSet.Results.ResultLinks
	require.Len(t, links, 1)
	require.Greater(t, links[0].BytesNum, int64(32<<20))

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	file, err := (&http.Client{Transport: tr}).Get(links[0].FileLink)
	require.NoError(t, err)
	_, err = io.ReadFull(file.Body, make([]byte, 1024))
	require.NoError(t, err)
	require.NoError(t, file.Body.Close()) // unread: the transport closes the connection
	id := lastStatement(t, srv).ID
	require.Eventually(t, func() bool {
		st, _ := srv.Statement(id)
		return st.ChunkDownloads == 0
	}, 5*time.Second, 10*time.Millisecond, "the cut download is not counted")
}

// Files hold whole Arrow batches: a batch larger than chunkRows still makes one file of
// its own, so a WithChunkRows below the batch size gives one file per batch (rather than
// a cutting loop that never moves on).
func TestBatchLargerThanChunk(t *testing.T) {
	// The async threshold bounds the wait for the result; should the files never be cut,
	// Close would wait for ever, so it gets a bound too.
	srv, err := warehouse.NewServer(warehouse.WithCloudFetchThreshold(1000), warehouse.WithChunkRows(500),
		warehouse.WithBatchRows(1000), warehouse.WithAsyncThreshold(10*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { closeWithin(t, srv, 2*time.Second) })
	_, dr := executeWithLinks(t, rawClient(t, srv, http.DefaultTransport), 3000)
	links := dr.ResultSet.Results.ResultLinks
	require.Len(t, links, 3)
	for i, l := range links {
		assert.Equal(t, int64(i*1000), l.StartRowOffset)
		assert.Equal(t, int64(1000), l.RowCount)
	}
}

// closeWithin closes srv, and ends the test binary if Close takes longer than d: it
// waits for the server's goroutines, and one stuck in a loop (which may also eat memory
// as it goes) would hang the whole run.
func closeWithin(t *testing.T, srv *warehouse.Server, d time.Duration) {
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(d):
		panic(fmt.Sprintf("%s: Server.Close did not return within %v: a server goroutine is stuck", t.Name(), d))
	}
}

// The janitor sweeps often enough that no expired file outlives its link by more than
// half the link TTL (sweepInterval), so a client that never downloads does not keep
// the memory of its files for long.
func TestExpiredFilesSweptWithinHalfTTL(t *testing.T) {
	const ttl = 600 * time.Millisecond
	srv := start(t, thousandRowFiles(warehouse.WithLinkTTL(ttl), warehouse.WithFailedOperationTTL(time.Hour))...)
	_, dr := executeWithLinks(t, rawClient(t, srv, http.DefaultTransport), 3000)
	handedOut := time.Now()
	require.NotNil(t, dr.CloseOperation, "every link handed out")
	require.Equal(t, 3, srv.HeldChunks())
	// Swept at most ttl/2 after expiry. The slack is for scheduling: it and the time from
	// the server's start to the hand-out (~40 ms) must stay well under ttl/2, by which a
	// janitor ticking once a TTL from the server's start would be later.
	const slack = 180 * time.Millisecond
	require.Eventually(t, func() bool { return srv.HeldChunks() == 0 },
		time.Until(handedOut.Add(ttl+ttl/2+slack)), 5*time.Millisecond, "expired files are gone within TTL/2 of expiry")
}
