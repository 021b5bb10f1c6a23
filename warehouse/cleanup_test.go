package warehouse_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
	"github.com/dbtelemetry/dbtelemetry/warehouse/internal/tcli"
)

// A client whose deadline passes before ExecuteStatement answers never learns the handle,
// so it can neither cancel nor close the statement: the server stops it, and the next
// statement on the same connection runs at once.
func TestAbandonedExecuteFreesSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(ctx context.Context, db *sql.DB, q string) error
	}{
		{"query", func(ctx context.Context, db *sql.DB, q string) error {
			rows, err := db.QueryContext(ctx, q)
			if err == nil {
				rows.Close()
			}
			return err
		}},
		{"exec", func(ctx context.Context, db *sql.DB, q string) error {
			_, err := db.ExecContext(ctx, q)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t)
			db := open(t, srv, "")
			db.SetMaxOpenConns(1)
			require.NoError(t, db.Ping(), "the session is open before the deadline starts")
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			err := tc.run(ctx, db, "SELECT wait_ms(20000)")
			cancel()
			require.ErrorIs(t, err, context.DeadlineExceeded)

			began := time.Now()
			var one int32
			require.NoError(t, db.QueryRowContext(ctxTimeout(t, 5*time.Second), "SELECT 1").Scan(&one))
			assert.Less(t, time.Since(began), 4*time.Second, "the session's connection was free (the statement would hold it 20 s)")
			assert.Len(t, srv.Sessions(), 1, "on the same session")
			st := findStatement(t, srv, "SELECT wait_ms")
			require.Eventually(t, func() bool {
				st, _ = srv.Statement(st.ID)
				return st.State == warehouse.StateCanceled
			}, 5*time.Second, 10*time.Millisecond, "DuckDB was interrupted (state %s)", st.State)
			assert.True(t, st.Closed)
			assert.Zero(t, srv.OpenOperations())
		})
	}
}

// Closing a CloudFetch result read in part frees the files whose links the client never
// received; the driver's own read of the first links is what stays, until served.
func TestClosePartlyReadCloudFetch(t *testing.T) {
	srv := start(t, warehouse.WithChunkRows(1000), warehouse.WithBatchRows(1000))
	db := open(t, srv, "")
	rows, err := db.Query("SELECT range AS i FROM range(300000)")
	require.NoError(t, err)
	require.True(t, rows.Next())
	require.NoError(t, rows.Close())
	st := lastStatement(t, srv)
	require.Equal(t, warehouse.DeliveryCloudFetch, st.Delivery)
	require.Equal(t, 300, st.Chunks)
	assert.True(t, st.Closed)
	assert.LessOrEqual(t, srv.HeldChunks(), 8, "only files of links handed out (one page) stay")
	assert.Zero(t, srv.OpenOperations())
}

// Over raw Thrift, which downloads exactly what the test says: after CloseOperation the
// links already handed out still work and the rest are gone; links never downloaded are
// swept when they expire, without a later CloudFetch result to trigger it.
func TestCloudFetchFilesAreFreed(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rows     int
		ttl      time.Duration
		download bool
	}{
		{"closed after the first page, its links downloaded", 30000, time.Hour, true},
		{"closed after the first page, nothing downloaded", 30000, 500 * time.Millisecond, false},
		{"closed by direct results, nothing downloaded", 5000, 500 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No retention: a file is freed once served (TestServedFileRetention keeps some).
			srv := start(t, warehouse.WithCloudFetchThreshold(1000), warehouse.WithChunkRows(1000),
				warehouse.WithBatchRows(1000), warehouse.WithLinkTTL(tc.ttl), warehouse.WithServedFileRetention(0), settled)
			ctx := context.Background()
			rc := rawClient(t, srv, http.DefaultTransport)
			resp, dr := executeWithLinks(t, rc, tc.rows)
			links := dr.ResultSet.Results.ResultLinks
			if dr.CloseOperation == nil {
				require.Less(t, len(links), tc.rows/1000, "the first page holds some of the links")
				cl, err := rc.CloseOperation(ctx, &tcli.TCloseOperationReq{OperationHandle: resp.OperationHandle})
				require.NoError(t, err)
				require.Equal(t, tcli.TStatusCode_SUCCESS_STATUS, cl.Status.StatusCode)
			}
			assert.Equal(t, len(links), srv.HeldChunks(), "only the files of links handed out stay")
			assert.Zero(t, srv.OpenOperations())
			if tc.download {
				for _, l := range links {
					r, err := http.Get(l.FileLink)
					require.NoError(t, err)
					_, _ = io.Copy(io.Discard, r.Body)
					r.Body.Close()
					assert.Equal(t, http.StatusOK, r.StatusCode)
				}
				// A file is freed just after its last byte is written.
				require.Eventually(t, func() bool { return srv.HeldChunks() == 0 }, 5*time.Second, 10*time.Millisecond,
					"served files are freed")
				return
			}
			require.Eventually(t, func() bool { return srv.HeldChunks() == 0 }, 5*time.Second, 20*time.Millisecond,
				"files whose links expired are swept")
		})
	}
}

// Files served in full stay downloadable within the served-file retention, the ones
// served longest ago going first beyond it, as long as their links are valid: a client
// whose download was cut short downloads the file again.
func TestServedFileRetention(t *testing.T) {
	probe := start(t, warehouse.WithCloudFetchThreshold(1000), warehouse.WithChunkRows(1000), warehouse.WithBatchRows(1000), settled)
	_, dr := executeWithLinks(t, rawClient(t, probe, http.DefaultTransport), 3000)
	size := dr.ResultSet.Results.ResultLinks[0].BytesNum // every file holds 1000 rows of one BIGINT

	// Room for two files: the third one served pushes out the first.
	srv := start(t, warehouse.WithCloudFetchThreshold(1000), warehouse.WithChunkRows(1000), warehouse.WithBatchRows(1000),
		warehouse.WithServedFileRetention(2*size+size/2), settled)
	_, dr = executeWithLinks(t, rawClient(t, srv, http.DefaultTransport), 3000)
	links := dr.ResultSet.Results.ResultLinks
	require.Len(t, links, 3)
	get := func(l *tcli.TSparkArrowResultLink) int {
		r, err := http.Get(l.FileLink)
		require.NoError(t, err)
		body, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		require.NoError(t, r.Body.Close())
		if r.StatusCode == http.StatusOK {
			assert.Len(t, body, int(l.BytesNum))
		}
		return r.StatusCode
	}
	assert.Equal(t, http.StatusOK, get(links[0]))
	assert.Equal(t, http.StatusOK, get(links[0]), "served again")
	assert.Equal(t, http.StatusOK, get(links[1]))
	assert.Equal(t, 3, srv.HeldChunks(), "two served, one not yet")
	assert.Equal(t, http.StatusOK, get(links[2]))
	// The handler counts a file served once its write returned, which may be just after
	// the client read the last byte.
	require.Eventually(t, func() bool { return srv.HeldChunks() == 2 }, 5*time.Second, 5*time.Millisecond, "the oldest served went")
	assert.Equal(t, http.StatusNotFound, get(links[0]))
	assert.Equal(t, http.StatusOK, get(links[1]))
	assert.Equal(t, http.StatusOK, get(links[2]))
	assert.Equal(t, 6, lastStatement(t, srv).ChunkDownloads, "every download served in full")
}

// The driver downloads a CloudFetch file again when its body is cut short (a 200 whose
// read fails midway): the retry finds the file, and the rows all come.
func TestCloudFetchDownloadRetried(t *testing.T) {
	srv := start(t, warehouse.WithCloudFetchThreshold(10))
	host, port, err := net.SplitHostPort(srv.Addr())
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	c, err := dbsql.NewConnector(dbsql.WithServerHostname("http://"+host), dbsql.WithPort(p),
		dbsql.WithHTTPPath(warehouse.HTTPPath), dbsql.WithAccessToken(srv.Token()),
		dbsql.WithTransport(&cutFirstDownload{}), dbsql.WithRetries(4, 10*time.Millisecond, 50*time.Millisecond))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })
	rows, err := db.Query("SELECT range FROM range(1000)")
	require.NoError(t, err)
	assert.Equal(t, 1000, countRows(t, rows))
	st := lastStatement(t, srv)
	assert.Equal(t, warehouse.DeliveryCloudFetch, st.Delivery)
	assert.Equal(t, st.Chunks+1, st.ChunkDownloads, "the cut download and its retry")
}

// cutFirstDownload cuts the body of the first CloudFetch download after 16 bytes.
type cutFirstDownload struct{ cut atomic.Bool }

func (c *cutFirstDownload) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && strings.HasPrefix(r.URL.Path, "/cloudfetch/") && c.cut.CompareAndSwap(false, true) {
		resp.Body = &cutBody{rc: resp.Body, left: 16}
	}
	return resp, err
}

// cutBody ends with io.ErrUnexpectedEOF after left bytes.
type cutBody struct {
	rc   io.ReadCloser
	left int
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n, err := b.rc.Read(p[:min(len(p), b.left)])
	b.left -= n
	return n, err
}

func (b *cutBody) Close() error { return b.rc.Close() }

// The driver does not close a statement that ended cancelled, failed or timed out while
// it polled (QueryContext returns the error; after CancelOperation nothing more is sent):
// the server forgets it after WithFailedOperationTTL. The error the user sees is the
// same, and ExecContext, which does close it, still closes it.
func TestFailedOperationsAreForgotten(t *testing.T) {
	const failing = "SELECT CAST(wait_ms(1100)::VARCHAR || 'x' AS INTEGER)"
	cases := []struct {
		name    string
		params  string
		exec    bool
		q       string
		timeout time.Duration
		check   func(t *testing.T, err error)
		state   string
		closed  bool // by the client's CloseOperation, not by the server forgetting it
	}{
		{name: "query cancelled", q: "SELECT wait_ms(60000)", timeout: 1200 * time.Millisecond, state: warehouse.StateCanceled,
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, context.DeadlineExceeded) }},
		// Finished at 300 ms, while the client waited for its first poll; its context
		// ends at 800 ms and it sends CancelOperation, then nothing more.
		{name: "query cancelled after it finished", q: "SELECT wait_ms(300)", timeout: 800 * time.Millisecond, state: warehouse.StateFinished,
			check: func(t *testing.T, err error) { assert.ErrorIs(t, err, context.DeadlineExceeded) }},
		{name: "query failed", q: failing, state: warehouse.StateError, check: sqlState("22018")},
		{name: "query timed out", params: "timeout=1", q: "SELECT wait_ms(3000)", state: warehouse.StateTimedOut, check: sqlState("HYT00")},
		{name: "exec failed", exec: true, q: failing, state: warehouse.StateError, check: sqlState("22018"), closed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t, warehouse.WithFailedOperationTTL(300*time.Millisecond))
			db := open(t, srv, tc.params)
			ctx := ctxTimeout(t, 30*time.Second)
			if tc.timeout > 0 {
				ctx = ctxTimeout(t, tc.timeout)
			}
			var err error
			if tc.exec {
				_, err = db.ExecContext(ctx, tc.q)
			} else {
				var rows *sql.Rows
				if rows, err = db.QueryContext(ctx, tc.q); err == nil {
					rows.Close()
				}
			}
			require.Error(t, err)
			tc.check(t, err)
			st := findStatement(t, srv, tc.q)
			require.Eventually(t, func() bool { return srv.OpenOperations() == 0 }, 5*time.Second, 20*time.Millisecond)
			st, _ = srv.Statement(st.ID)
			assert.True(t, st.Async, "the client polled")
			assert.Equal(t, tc.state, st.State)
			assert.Equal(t, tc.closed, st.Closed)
		})
	}
}

func sqlState(want string) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		var ee dbsqlerr.DBExecutionError
		require.True(t, errors.As(err, &ee), "got %T: %v", err, err)
		assert.Equal(t, want, ee.SqlState())
	}
}

// Wide rows end an Arrow batch before its row count (WithBatchBytes): one inline batch is
// one Thrift binary field, which the driver refuses over 100 MB. The driver reads every
// row of the many batches.
func TestWideRowsSplitBatches(t *testing.T) {
	srv := start(t, warehouse.WithBatchBytes(64<<10), settled)
	rc := rawClient(t, srv, http.DefaultTransport)
	sess := openRawSession(t, rc)
	const q = "SELECT repeat('x', 1000) AS s FROM range(1000)"
	resp := executeDirect(t, rc, sess, q, 100000, false)
	batches := resp.DirectResults.ResultSet.Results.ArrowBatches
	require.GreaterOrEqual(t, len(batches), 1000*1000/(64<<10), "about 64 KiB of strings per batch")
	var rows int64
	for _, b := range batches {
		assert.Less(t, len(b.Batch), 80<<10)
		rows += b.RowCount
	}
	assert.Equal(t, int64(1000), rows)

	// Many fixed-width columns count too: 8 BIGINTs a row, 64 bytes.
	resp = executeDirect(t, rc, sess, "SELECT range a, range b, range c, range d, range e, range f, range g, range h FROM range(10000)", 100000, false)
	batches = resp.DirectResults.ResultSet.Results.ArrowBatches
	assert.GreaterOrEqual(t, len(batches), 10000*64/(64<<10))
	rows = 0
	for _, b := range batches {
		rows += b.RowCount
	}
	assert.Equal(t, int64(10000), rows)

	db := open(t, srv, "")
	got, err := db.Query(q)
	require.NoError(t, err)
	read := 0
	for got.Next() {
		var s string
		require.NoError(t, got.Scan(&s))
		require.Len(t, s, 1000)
		read++
	}
	require.NoError(t, got.Err())
	require.NoError(t, got.Close())
	assert.Equal(t, 1000, read)
}

// CloseSession forgets the session's statements, even those whose result the client had
// not finished reading, inline or by CloudFetch: only the files of links already handed
// out stay, for their downloads.
func TestCloseSessionFreesOperations(t *testing.T) {
	srv := start(t, warehouse.WithCloudFetchThreshold(1000), warehouse.WithChunkRows(100), warehouse.WithBatchRows(100), settled)
	ctx := context.Background()
	rc := rawClient(t, srv, http.DefaultTransport)
	sess := openRawSession(t, rc)
	for _, cloud := range []bool{false, true} {
		resp := executeDirect(t, rc, sess, "SELECT range FROM range(5000)", 1000, cloud)
		require.Nil(t, resp.DirectResults.CloseOperation, "more pages follow: the statement stays open")
	}
	require.Equal(t, 2, srv.OpenOperations())
	cl, err := rc.CloseSession(ctx, &tcli.TCloseSessionReq{SessionHandle: sess})
	require.NoError(t, err)
	require.Equal(t, tcli.TStatusCode_SUCCESS_STATUS, cl.Status.StatusCode)
	assert.Zero(t, srv.OpenOperations(), "CloseSession frees the session's statements")
	assert.Equal(t, 8, srv.HeldChunks(), "only the files of the links handed out stay")
}

// A session that expires forgets its statements with it, even one with pages unread.
func TestIdleSessionFreesOperations(t *testing.T) {
	srv := start(t, warehouse.WithSessionIdleTimeout(300*time.Millisecond), settled)
	rc := rawClient(t, srv, http.DefaultTransport)
	sess := openRawSession(t, rc)
	resp := executeDirect(t, rc, sess, "SELECT range FROM range(5000)", 1000, false)
	require.Nil(t, resp.DirectResults.CloseOperation)
	require.Equal(t, 1, srv.OpenOperations())
	require.Eventually(t, func() bool { return !srv.Sessions()[0].ClosedAt.IsZero() }, 5*time.Second, 10*time.Millisecond)
	assert.Zero(t, srv.OpenOperations(), "the expired session's statements are forgotten")
}

// A client reading a paged result calls on the session at every page: the session is not
// idle while it reads, however long ago its statement finished.
func TestSlowReaderKeepsSession(t *testing.T) {
	srv := start(t, warehouse.WithSessionIdleTimeout(600*time.Millisecond), warehouse.WithBatchRows(100))
	db := open(t, srv, "maxRows=100")
	rows, err := db.Query("SELECT range FROM range(400)")
	require.NoError(t, err)
	defer func() { _ = rows.Close() }()
	n := 0
	for rows.Next() {
		if n++; n%100 == 0 {
			time.Sleep(400 * time.Millisecond) // a page's gap under the idle timeout, two over it
		}
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, 400, n)
}

// Close ends the sessions still open, and their records say so (SessionRecord.ClosedAt
// is zero only while a session is open), as the records outlive Close.
func TestCloseRecordsTheSessionsItEnds(t *testing.T) {
	srv := start(t)
	sess := openRawSession(t, rawClient(t, srv, http.DefaultTransport))
	require.NotNil(t, sess)
	require.Len(t, srv.Sessions(), 1)
	require.True(t, srv.Sessions()[0].ClosedAt.IsZero(), "open")
	before := time.Now()
	require.NoError(t, srv.Close())
	rec := srv.Sessions()[0]
	assert.False(t, rec.ClosedAt.Before(before), "closed by Close, at %v", rec.ClosedAt)
	assert.False(t, rec.Expired, "ended by Close, not by its idle timeout")
}
