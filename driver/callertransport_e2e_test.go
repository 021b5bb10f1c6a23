package driver_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// gatewayRT is a caller's transport (dbsql.WithTransport): it counts the driver's Thrift
// calls, its CloudFetch downloads and the telemetry posts going through it, and adds a
// header a gateway would want.
type gatewayRT struct {
	thrift, downloads, telemetry atomic.Int64
}

func (g *gatewayRT) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/cloudfetch/"):
		g.downloads.Add(1)
	case r.URL.Path == "/telemetry-ext" || r.URL.Path == "/telemetry-unauth":
		g.telemetry.Add(1)
	case r.Header.Get("Content-Type") == "application/x-thrift":
		g.thrift.Add(1)
	}
	r = r.Clone(r.Context())
	r.Header.Set("X-Gateway-Key", "k")
	return http.DefaultTransport.RoundTrip(r)
}

// A caller's dbsql.WithTransport (a gateway's header, custom TLS, tracing) is not
// replaced by the wrapper's transport, which goes through it: the driver's Thrift calls
// and CloudFetch downloads take it as unwrapped (the same downloads as the raw driver
// with it), telemetry still sees the files, and the host's telemetry posts take it too.
func TestCallerTransportCarriesEveryCall(t *testing.T) {
	srv := cloudFetchServer(t)
	const query = "SELECT range FROM range(25000)"
	read := func(db *sql.DB) { require.Equal(t, 25000, countAll(t, db, query)) }

	rawRT := &gatewayRT{}
	rawConn, err := dbsql.NewConnector(append(connOptions(srv), dbsql.WithTransport(rawRT))...)
	require.NoError(t, err)
	raw := sql.OpenDB(rawConn)
	read(raw)
	require.NoError(t, raw.Close())
	require.EqualValues(t, 3, rawRT.downloads.Load(), "the raw driver downloads through the caller's transport")

	rt := &gatewayRT{}
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true",
		driver.WithConnOptions(dbsql.WithTransport(rt)), driver.WithHosts(driver.NewHosts()))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	read(db)
	require.NoError(t, db.Close())

	assert.Positive(t, rt.thrift.Load(), "Thrift calls through the caller's transport")
	assert.Equal(t, rawRT.downloads.Load(), rt.downloads.Load(), "downloads through it, as unwrapped")
	assert.Positive(t, rt.telemetry.Load(), "the host's telemetry through it")
	for _, s := range srv.Sessions() {
		assert.Equal(t, "k", s.Header.Get("X-Gateway-Key"), "the caller's transport set its header")
	}
	st := c.Stats()
	assert.Zero(t, st.Dropped.Total(), "%+v", st)
	id := ""
	for _, s := range srv.Statements() {
		if s.SQL == query {
			id = s.ID // the wrapped run's: the last
		}
	}
	stmt := statementLogs(decodeLogs(t, srv))[id]
	require.NotEmpty(t, stmt, "the wrapped run's statement log")
	last := stmt[len(stmt)-1].SQLOperation
	require.NotNil(t, last.ChunkDetails, "telemetry saw the files")
	assert.EqualValues(t, 3, last.ChunkDetails.TotalChunksIterated)
}

// A warehouse behind a certificate of its own (self-signed, in front of the local one):
// with the driver's dbsql.WithSkipTLSHostVerify, or this package's WithSkipTLSHostVerify,
// queries run and so does the host's telemetry, the feature flag's fetch included (it
// was refused by the telemetry client's own verification, and every log lost).
func TestSkipTLSHostVerifyCoversTelemetry(t *testing.T) {
	srv, err := warehouse.NewServer(warehouse.WithTelemetryFlag(true))
	require.NoError(t, err)
	defer srv.Close()
	target, err := url.Parse(srv.URL())
	require.NoError(t, err)
	front := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	defer front.Close()
	dsn := "token:" + srv.Token() + "@" + strings.TrimPrefix(front.URL, "https://") + warehouse.HTTPPath

	cases := []struct {
		name   string
		params string
		opt    driver.Option
	}{
		{"ours, telemetry on", "?enableTelemetry=true", driver.WithSkipTLSHostVerify()},
		{"the driver's, telemetry on", "?enableTelemetry=true", driver.WithConnOptions(dbsql.WithSkipTLSHostVerify())},
		{"the driver's, the flag decides", "", driver.WithConnOptions(dbsql.WithSkipTLSHostVerify())},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			telemetryReaches(t, srv, dsn+tc.params, tc.params == "", tc.opt)
		})
	}
	// Without skipping, the certificate is refused: the front is what the test says it is.
	_, err = http.Get(front.URL) //nolint:noctx // a test's one request
	var tlsErr *tls.CertificateVerificationError
	assert.ErrorAs(t, err, &tlsErr)
}

// telemetryReaches runs one query on a pool of its own over dsn, on hosts of its own,
// closes it, and checks that its telemetry reached srv, nothing dropped, and, when
// flagDecides, that the server's flag was read.
func telemetryReaches(t *testing.T, srv *warehouse.Server, dsn string, flagDecides bool, opts ...driver.Option) {
	t.Helper()
	before, flagsBefore := len(srv.TelemetryRequests()), srv.FeatureFlagRequests()
	c, err := driver.OpenConnector(dsn, append(opts, driver.WithHosts(driver.NewHosts()))...)
	require.NoError(t, err)
	db := sql.OpenDB(c)
	var n int
	require.NoError(t, db.QueryRowContext(context.Background(), "SELECT 1").Scan(&n))
	require.NoError(t, db.Close())
	st := c.Stats()
	assert.Zero(t, st.Dropped.Total(), "%+v", st)
	assert.Positive(t, st.Exported, "%+v", st)
	assert.Greater(t, len(srv.TelemetryRequests()), before, "telemetry reached the warehouse")
	if flagDecides {
		assert.Greater(t, srv.FeatureFlagRequests(), flagsBefore, "the flag was read")
	}
}
