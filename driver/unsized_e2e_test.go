package driver_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// unsizedProxy forwards to upstream and answers as a streaming front end may: without
// Content-Length, the body flushed at once and the end of the (chunked) stream only
// 30 ms later. The driver reads each Thrift message to its last byte, so it reads a
// reply's end only at its next call.
func unsizedProxy(t *testing.T, upstream string) *httptest.Server {
	px := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+upstream+r.URL.RequestURI(), r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer func() { _ = resp.Body.Close() }()
		for k, v := range resp.Header {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(resp.StatusCode)
		body, _ := io.ReadAll(resp.Body)
		_, _ = w.Write(body)
		w.(http.Flusher).Flush()
		time.Sleep(30 * time.Millisecond)
	}))
	t.Cleanup(px.Close)
	return px
}

// Through a front end whose Thrift replies carry no Content-Length and end late, every
// log still says what it says through the warehouse alone: the session of the
// CREATE_SESSION log, and a CloudFetch statement's result format and chunks; and the
// connector keeps no CloudFetch link once the statements' rows are closed.
func TestRepliesWithoutContentLength(t *testing.T) {
	srv, err := warehouse.NewServer(warehouse.WithCloudFetchThreshold(10))
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	px := unsizedProxy(t, srv.Addr())
	dsn := strings.Replace(srv.DSN(), srv.Addr(), strings.TrimPrefix(px.URL, "http://"), 1)
	exp := &driver.LogCapture{}
	c, err := driver.OpenConnector(dsn, driver.WithExporter(exp), driver.WithTelemetry(true), driver.WithHosts(driver.NewHosts()))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	const queries = 3
	for range queries {
		require.Equal(t, 1000, countAll(t, db, "SELECT range FROM range(1000)"))
	}
	assert.Zero(t, driver.LinksKept(c), "no link kept after the rows closed")
	require.NoError(t, db.Close())
	require.NoError(t, c.Close())

	sessions := srv.Sessions()
	require.Len(t, sessions, 1)
	var opened, statements int
	for _, l := range exp.Logs() {
		d := l.Entry.SQLDriverLog
		if op := d.SQLOperation; op != nil && op.OperationDetail != nil && op.OperationDetail.OperationType == telemetry.OpCreateSession {
			opened++
			assert.Equal(t, sessions[0].ID, d.SessionID, "the CREATE_SESSION log names its session")
			continue
		}
		if d.SQLStatementID == "" || d.SQLOperation == nil {
			continue
		}
		statements++
		assert.Equal(t, telemetry.ResultExternalLinks, d.SQLOperation.ExecutionResult)
		rec, ok := srv.Statement(d.SQLStatementID)
		require.True(t, ok, "the warehouse ran %s", d.SQLStatementID)
		if cd := d.SQLOperation.ChunkDetails; assert.NotNil(t, cd) {
			assert.EqualValues(t, rec.Chunks, cd.TotalChunksPresent)
			assert.EqualValues(t, rec.ChunkDownloads, cd.TotalChunksIterated)
			assert.Positive(t, cd.TotalChunksIterated)
		}
	}
	assert.Equal(t, 1, opened)
	assert.Equal(t, queries, statements)
}

// A wide table's replies pass 256 KiB on their schema alone (resultSetMetadata, in the
// ExecuteStatement reply and in every FetchResults reply), before any row: its CloudFetch
// result is still told from an inline one, with its links learnt and its downloads
// counted, whether the replies carry a Content-Length or not. An inline result as wide is
// still inline.
func TestWideResults(t *testing.T) {
	const columns = 3000 // a schema of about 400 KiB
	cols := make([]string, columns)
	for i := range cols {
		cols[i] = fmt.Sprintf("range AS column_with_a_long_name_%04d", i)
	}
	query := "SELECT " + strings.Join(cols, ", ") + " FROM range(100)"
	for _, tc := range []struct {
		name      string
		threshold int64 // rows from which the warehouse answers by CloudFetch
		unsized   bool
		want      string
	}{
		{"cloudfetch", 10, false, telemetry.ResultExternalLinks},
		{"cloudfetch without Content-Length", 10, true, telemetry.ResultExternalLinks},
		{"inline", 1000, false, telemetry.ResultInlineArrow},
		{"inline without Content-Length", 1000, true, telemetry.ResultInlineArrow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := warehouse.NewServer(warehouse.WithCloudFetchThreshold(tc.threshold))
			require.NoError(t, err)
			t.Cleanup(func() { _ = srv.Close() })
			dsn := srv.DSN()
			if tc.unsized {
				px := unsizedProxy(t, srv.Addr())
				dsn = strings.Replace(dsn, srv.Addr(), strings.TrimPrefix(px.URL, "http://"), 1)
			}
			exp := &driver.LogCapture{}
			c, err := driver.OpenConnector(dsn, driver.WithExporter(exp), driver.WithTelemetry(true), driver.WithHosts(driver.NewHosts()))
			require.NoError(t, err)
			db := sql.OpenDB(c)
			require.Equal(t, 100, countAll(t, db, query))
			assert.Zero(t, driver.LinksKept(c), "no link kept after the rows closed")
			require.NoError(t, db.Close())
			require.NoError(t, c.Close())

			statements := 0
			for _, l := range exp.Logs() {
				d := l.Entry.SQLDriverLog
				if d.SQLStatementID == "" || d.SQLOperation == nil {
					continue
				}
				statements++
				rec, ok := srv.Statement(d.SQLStatementID)
				require.True(t, ok)
				assert.Equal(t, tc.want, d.SQLOperation.ExecutionResult)
				if tc.want != telemetry.ResultExternalLinks {
					assert.Nil(t, d.SQLOperation.ChunkDetails)
					continue
				}
				require.Equal(t, warehouse.DeliveryCloudFetch, rec.Delivery)
				if cd := d.SQLOperation.ChunkDetails; assert.NotNil(t, cd, "chunks downloaded") {
					assert.EqualValues(t, rec.Chunks, cd.TotalChunksPresent)
					assert.EqualValues(t, rec.ChunkDownloads, cd.TotalChunksIterated)
				}
			}
			assert.Equal(t, 1, statements)
		})
	}
}

// queryer is a *sql.DB or a *sql.Conn.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// countAll runs query on db (a database or one of its connections), reads its rows to the
// end without scanning them, closes them and returns how many there were.
func countAll(t *testing.T, db queryer, query string) int {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query)
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		n++
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	return n
}
