package driver_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
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
	front := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target))
	front.EnableHTTP2 = true
	front.Config.ErrorLog = log.New(io.Discard, "", 0)
	front.StartTLS()
	defer front.Close()
	roots := x509.NewCertPool()
	roots.AddCert(front.Certificate())
	dsn := "token:" + srv.Token() + "@" + strings.TrimPrefix(front.URL, "https://") + warehouse.HTTPPath

	for _, tc := range []struct{ name, params string }{
		{"telemetry on", "?enableTelemetry=true"},
		{"the flag decides", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
			defer rt.CloseIdleConnections()
			telemetryReaches(t, srv, dsn+tc.params, tc.params == "", driver.WithConnOptions(dbsql.WithTransport(rt)))
		})
	}
}
