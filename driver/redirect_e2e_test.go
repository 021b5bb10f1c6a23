package driver_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
