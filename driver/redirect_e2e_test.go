package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// redirectingStore answers every CloudFetch link with a 307 to a second URL that serves
// the file, as an object store may redirect a download to another endpoint.
type redirectingStore struct{ next http.RoundTripper }

func (s redirectingStore) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case r.URL.Path == "/moved":
		to, err := url.Parse(r.URL.Query().Get("to"))
		if err != nil {
			return nil, err
		}
		r2 := r.Clone(r.Context())
		r2.URL, r2.Host = to, to.Host
		return s.next.RoundTrip(r2)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/cloudfetch/"):
		loc := "http://" + r.URL.Host + "/moved?to=" + url.QueryEscape(r.URL.String())
		return &http.Response{StatusCode: http.StatusTemporaryRedirect, Status: "307 Temporary Redirect",
			Header: http.Header{"Location": []string{loc}}, Body: http.NoBody, Request: r,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
	}
	return s.next.RoundTrip(r)
}

// A CloudFetch file the store serves after a redirect is downloaded once: one chunk,
// no failed attempt and no retry.
func TestRedirectedDownloadIsAChunk(t *testing.T) {
	srv := cloudFetchServer(t)
	useDefaultClientTransport(t, redirectingStore{next: http.DefaultTransport})

	const query = "SELECT range FROM range(25000)"
	logs := logsOf(t, srv, "", func(db *sql.DB) {
		rows, err := db.QueryContext(context.Background(), query)
		require.NoError(t, err)
		var n int
		for rows.Next() {
			n++
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		require.Equal(t, 25000, n)
	})
	rec := statementRecord(t, srv, query)
	require.Equal(t, 3, rec.ChunkDownloads)
	stmt := statementLogs(logs)[rec.ID]
	require.Len(t, stmt, 1)
	op := stmt[0].SQLOperation
	require.NotNil(t, op.ChunkDetails)
	assert.Equal(t, int32(3), op.ChunkDetails.TotalChunksPresent)
	assert.Equal(t, int32(3), op.ChunkDetails.TotalChunksIterated, "the files downloaded after a redirect")
	assert.Zero(t, op.RetryCount, "a redirect is no failed attempt")
}

// The program sets http.DefaultClient's redirect policy after sql.Open (in main, once
// the pool exists): the raw driver's CloudFetch downloads obey it, as they use
// http.DefaultClient itself, and so do the wrapped ones: the same error, no rows. The
// warehouse, on every address, hands out its links on the host the driver reached it by:
// a front, which redirects every download to the warehouse itself.
func TestDefaultClientRedirectPolicySetAfterOpen(t *testing.T) {
	srv, err := warehouse.NewServer(warehouse.WithAddr("0.0.0.0:0"),
		warehouse.WithCloudFetchThreshold(10000), warehouse.WithChunkRows(10000), warehouse.WithBatchRows(5000))
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	_, port, err := net.SplitHostPort(srv.Addr())
	require.NoError(t, err)
	target := &url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", port)}
	proxy := httputil.NewSingleHostReverseProxy(target) // the Host stays the front's
	var redirects atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/cloudfetch/") {
			redirects.Add(1)
			to := *target
			to.Path, to.RawQuery = r.URL.Path, r.URL.RawQuery
			http.Redirect(w, r, to.String(), http.StatusTemporaryRedirect)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	dsn := "http://token:" + url.QueryEscape(srv.Token()) + "@" + front.Listener.Addr().String() + warehouse.HTTPPath
	raw, err := sql.Open("databricks", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = raw.Close() })
	wrapped, err := sql.Open(driver.DriverName, dsn+"?enableTelemetry=true")
	require.NoError(t, err)
	t.Cleanup(func() { _ = wrapped.Close() })

	const query = "SELECT range FROM range(25000)"
	n, err := queryRows(context.Background(), wrapped, query)
	require.NoError(t, err, "redirected downloads, followed")
	require.Equal(t, 25000, n)
	require.Positive(t, redirects.Load())

	refusingRedirects.set.Do(func() { http.DefaultClient.CheckRedirect = refuseWhileOn })
	refusingRedirects.on.Store(true)
	t.Cleanup(func() { refusingRedirects.on.Store(false) })
	nRaw, errRaw := queryRows(context.Background(), raw, query)
	nWrapped, errWrapped := queryRows(context.Background(), wrapped, query)
	require.Error(t, errRaw, "the raw driver obeys the policy")
	require.Error(t, errWrapped, "so does the wrapped one")
	assert.Contains(t, errWrapped.Error(), "policy: no redirects")
	assert.Equal(t, nRaw, nWrapped)
}

// refusingRedirects is http.DefaultClient's redirect policy for the tests, set once: it is
// turned off when a test ends, not unset, as downloads its failed rows left may still be
// reading http.DefaultClient's field.
var refusingRedirects struct {
	set sync.Once
	on  atomic.Bool
}

// refuseWhileOn refuses every redirect while refusingRedirects is on; else it is
// net/http's default policy.
func refuseWhileOn(_ *http.Request, via []*http.Request) error {
	switch {
	case refusingRedirects.on.Load():
		return errors.New("policy: no redirects")
	case len(via) >= 10:
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// A Thrift endpoint that answers each call with a 307 to the warehouse's path: the
// driver's client follows it, sending the same body again, which is no retry.
func TestThriftRedirectIsNoRetry(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	target, err := url.Parse(srv.URL())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var redirects atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			redirects.Add(1)
			http.Redirect(w, r, warehouse.HTTPPath, http.StatusTemporaryRedirect)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	dsn := "http://token:" + url.QueryEscape(srv.Token()) + "@" + strings.TrimPrefix(front.URL, "http://") + "/old?enableTelemetry=true"
	db, err := sql.Open(driver.DriverName, dsn)
	require.NoError(t, err)
	var v int
	require.NoError(t, db.QueryRowContext(context.Background(), "SELECT 7").Scan(&v))
	require.Equal(t, 7, v)
	require.NoError(t, db.Close())
	require.Positive(t, redirects.Load())
	st := statementLogs(decodeLogs(t, srv))[statementID(t, srv, "SELECT 7")]
	require.Len(t, st, 1)
	assert.Zero(t, st[0].SQLOperation.RetryCount, "each call was redirected once, and none retried")
}
