package driver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A warehouse behind a front end that speaks HTTP/2 over TLS, as Databricks' do, reached
// through a caller's *http.Transport that speaks HTTP/2 too (dbsql.WithTransport): the
// queries run over HTTP/2, and the host's telemetry, which goes out on a clone of that
// transport kept to HTTP/1.1, reaches the warehouse, the feature flag's fetch included.
// The clone used to offer h2 in ALPN all the same: the front picked it, the exporter
// spoke HTTP/1.1 on an HTTP/2 connection, and every batch and flag fetch failed.
func TestTelemetryThroughAnHTTP2Front(t *testing.T) {
	srv, err := warehouse.NewServer(warehouse.WithTelemetryFlag(true))
	require.NoError(t, err)
	defer srv.Close()
	target, err := url.Parse(srv.URL())
	require.NoError(t, err)
	host, newTransport := startHTTP2Front(t, httputil.NewSingleHostReverseProxy(target))
	dsn := "token:" + srv.Token() + "@" + host + warehouse.HTTPPath

	for _, tc := range []struct{ name, params string }{
		{"telemetry on", "?enableTelemetry=true"},
		{"the flag decides", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := newTransport()
			defer rt.CloseIdleConnections()
			telemetryReaches(t, srv, dsn+tc.params, tc.params == "", driver.WithConnOptions(dbsql.WithTransport(rt)))
		})
	}
}

// A front that resets the HTTP/2 stream of one statement (an RST_STREAM, as a proxy sends
// when its upstream failed): net/http names the reset in text alone, under the driver's
// execution error, and the statement's error log says a retryable connection failure,
// not a terminal execution error.
func TestHTTP2StreamResetIsARetryableConnectionError(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	target, err := url.Parse(srv.URL())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	const marker = "reset_this_stream"
	host, newTransport := startHTTP2Front(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || bytes.Contains(body, []byte(marker)) {
			panic(http.ErrAbortHandler) // over HTTP/2: RST_STREAM, INTERNAL_ERROR
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
	}))
	rt := newTransport()
	defer rt.CloseIdleConnections()
	dsn := "token:" + srv.Token() + "@" + host + warehouse.HTTPPath + "?enableTelemetry=true"
	c, err := driver.OpenConnector(dsn, driver.WithHosts(driver.NewHosts()),
		driver.WithConnOptions(dbsql.WithTransport(rt), dbsql.WithRetries(0, time.Millisecond, time.Millisecond)))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, db.PingContext(ctx))
	_, err = db.ExecContext(ctx, "SELECT '"+marker+"'")
	require.ErrorContains(t, err, "stream error")
	require.NoError(t, db.Close())
	require.NoError(t, c.Close())

	var names []string
	for _, l := range decodeLogs(t, srv) {
		if ei := l.Entry.SQLDriverLog.ErrorInfo; ei != nil {
			names = append(names, ei.ErrorName)
		}
	}
	assert.Equal(t, []string{telemetry.ErrNameConnection}, names)
}

// startHTTP2Front serves h over TLS with HTTP/2, until the test ends, and returns its
// host:port and a maker of caller transports that trust it and speak HTTP/2.
func startHTTP2Front(t *testing.T, h http.Handler) (host string, newTransport func() *http.Transport) {
	front := httptest.NewUnstartedServer(h)
	front.EnableHTTP2 = true
	front.Config.ErrorLog = log.New(io.Discard, "", 0)
	front.StartTLS()
	t.Cleanup(front.Close)
	roots := x509.NewCertPool()
	roots.AddCert(front.Certificate())
	return strings.TrimPrefix(front.URL, "https://"), func() *http.Transport {
		return &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	}
}
