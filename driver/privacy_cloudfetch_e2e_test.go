package driver_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A CloudFetch download that fails for good on the transport (the connection dropped on
// every attempt) ends the row loop with the driver's own error, which quotes the file's
// pre-signed link: Get "http://…/cloudfetch/…?X-Expires=…&X-Signature=…": EOF. The
// statement's exported log carries that error, and nothing of the link: not its path,
// its query, its signature, its port, in plain, URL-encoded or JSON-escaped form. (The privacy
// workloads download every file; only this one exports an error quoting a link.)
func TestCloudFetchLinkInDownloadErrorIsNotExported(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&maxDownloadThreads=1",
		driver.WithConnOptions(dbsql.WithRetries(1, 10*time.Millisecond, 20*time.Millisecond)))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const query = "SELECT range FROM range(1000000)"
	rows, err := db.QueryContext(ctx, query)
	require.NoError(t, err)
	srv.InjectFaults(warehouse.GroupCloudFetch, warehouse.Fault{}, warehouse.Fault{Drop: true, Times: -1})
	for rows.Next() {
	}
	rowErr := rows.Err()
	require.NoError(t, rows.Close())
	srv.ClearFaults(warehouse.GroupCloudFetch)
	require.Error(t, rowErr)
	require.Contains(t, rowErr.Error(), "/cloudfetch/", "the driver's error quotes the link")
	require.NoError(t, db.Close())

	var exported string
	for _, l := range decodeLogs(t, srv) {
		if ei := l.Entry.SQLDriverLog.ErrorInfo; ei != nil && strings.Contains(ei.StackTrace, "download") {
			exported = ei.StackTrace
		}
	}
	require.NotEmpty(t, exported, "the download's error is exported")
	// The link as the driver quoted it, cut out of its own error message.
	msg := rowErr.Error()
	start := strings.Index(msg, "http://")
	require.GreaterOrEqual(t, start, 0)
	end := start + strings.IndexAny(msg[start:], "\" ")
	link := msg[start:end]
	u, err := url.Parse(link)
	require.NoError(t, err)
	forbidden := []string{"/cloudfetch/", "X-Signature", "X-Expires", u.RawQuery, u.Path, url.QueryEscape(link), strings.ReplaceAll(link, "&", `\u0026`)}
	for _, sig := range u.Query()["X-Signature"] {
		forbidden = append(forbidden, sig, url.QueryEscape(sig))
	}
	for i, r := range srv.TelemetryRequests() {
		for _, f := range forbidden {
			require.NotContains(t, string(r.Body), f, "telemetry request %d", i)
		}
	}
	t.Logf("driver error: %s\nexported: %s", msg, exported)
}

// headerRecorder records the Authorization header of every CloudFetch download it
// forwards, and whether it saw any download at all.
type headerRecorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	auth []string // one per download: its Authorization header, "" when none
}

func (h *headerRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasPrefix(req.URL.Path, "/cloudfetch/") {
		h.mu.Lock()
		h.auth = append(h.auth, req.Header.Get("Authorization"))
		h.mu.Unlock()
	}
	return h.base.RoundTrip(req)
}

func (h *headerRecorder) downloads() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.auth...)
}

// The warehouse serves its CloudFetch files from the DSN's own host, where the token is
// sent: still, no download carries it, wrapped as unwrapped, whether the downloads go
// through http.DefaultClient (the driver's default) or through a transport of the
// caller's (dbsql.WithTransport). A pre-signed link authorises itself; the token sent
// along would reach whoever serves the links (a storage host, a proxy), and the
// wrapper's transport, which sees every download, must not add it.
func TestCloudFetchDownloadsCarryNoCredentials(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	const query = "SELECT range FROM range(300000)"
	cases := []struct {
		name   string
		caller bool // the caller's transport (dbsql.WithTransport) instead of http.DefaultClient's
		open   func(rt http.RoundTripper) *sql.DB
	}{
		{"raw driver, default client", false, func(http.RoundTripper) *sql.DB {
			db, err := sql.Open("databricks", srv.DSN())
			require.NoError(t, err)
			return db
		}},
		{"wrapped, default client", false, func(http.RoundTripper) *sql.DB {
			db, err := sql.Open("databricks-telemetry", srv.DSN()+"?enableTelemetry=true")
			require.NoError(t, err)
			return db
		}},
		{"wrapped, caller's transport", true, func(rt http.RoundTripper) *sql.DB {
			c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithConnOptions(dbsql.WithTransport(rt)))
			require.NoError(t, err)
			return sql.OpenDB(c)
		}},
		{"wrapped, options only", false, func(http.RoundTripper) *sql.DB {
			c, err := driver.NewConnector(driver.WithConnOptions(connOptions(srv)...), driver.WithTelemetry(true))
			require.NoError(t, err)
			return sql.OpenDB(c)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &headerRecorder{base: http.DefaultTransport}
			if !tc.caller {
				prev := http.DefaultClient.Transport
				http.DefaultClient.Transport = rec
				defer func() { http.DefaultClient.Transport = prev }()
			}
			db := tc.open(rec)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rows, err := db.QueryContext(ctx, query)
			require.NoError(t, err)
			for rows.Next() {
			}
			require.NoError(t, rows.Err())
			require.NoError(t, rows.Close())
			require.NoError(t, db.Close())
			got := rec.downloads()
			require.NotEmpty(t, got, "the files were downloaded through the recorder")
			for i, a := range got {
				require.Empty(t, a, "download %d carries an Authorization header", i)
			}
		})
	}
}
