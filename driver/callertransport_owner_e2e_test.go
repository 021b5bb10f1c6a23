package driver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// rtFunc is the usual adapter type for a caller's transport (a func type: not comparable).
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A caller's transport of a type Go cannot compare (the usual func adapter) still has
// the CloudFetch downloads go through the wrapper over it, and telemetry counts them:
// comparing it with the driver's client's transport panicked (recovered), and the
// downloads bypassed the wrapper.
func TestFuncCallerTransportDownloadsAreObserved(t *testing.T) {
	srv := cloudFetchServer(t)
	const query = "SELECT range FROM range(25000)"
	var downloads atomic.Int64
	rt := rtFunc(func(r *http.Request) (*http.Response, error) {
		if strings.HasPrefix(r.URL.Path, "/cloudfetch/") {
			downloads.Add(1)
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true",
		driver.WithConnOptions(dbsql.WithTransport(rt)), driver.WithHosts(driver.NewHosts()))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	require.Equal(t, 25000, countAll(t, db, query))
	require.NoError(t, db.Close())
	assert.EqualValues(t, 3, downloads.Load(), "downloads through the caller's transport")
	id := ""
	for _, s := range srv.Statements() {
		if s.SQL == query {
			id = s.ID
		}
	}
	stmt := statementLogs(decodeLogs(t, srv))[id]
	require.NotEmpty(t, stmt)
	last := stmt[len(stmt)-1].SQLOperation
	require.NotNil(t, last.ChunkDetails, "telemetry saw the files")
	assert.EqualValues(t, 3, last.ChunkDetails.TotalChunksIterated)
}

// selfSigned returns a self-signed certificate for 127.0.0.1, and its leaf.
func selfSigned(t *testing.T) (tls.Certificate, *x509.Certificate) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k, Leaf: leaf}, leaf
}

// Connector A skips verification (WithSkipTLSHostVerify); connector B of the same host
// verifies (its own transport trusts the host's certificate only). B's telemetry, with
// B's credentials, never goes out through A's transport: a man in the middle with a
// certificate B refuses receives none of it. When the host's exporter was shared, made
// with the first connector's transport, it did.
func TestVerifyingConnectorsTelemetryNeverSkipsVerification(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	target, err := url.Parse(srv.URL())
	require.NoError(t, err)
	good, goodLeaf := selfSigned(t)
	evil, _ := selfSigned(t)
	var useEvil atomic.Bool
	var evilTelemetry, evilAuth atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if useEvil.Load() && r.TLS != nil && r.URL.Path == "/telemetry-ext" {
			evilTelemetry.Add(1)
			if r.Header.Get("Authorization") != "" {
				evilAuth.Add(1)
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	front.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := good
		if useEvil.Load() {
			c = evil
		}
		return &tls.Config{Certificates: []tls.Certificate{c}}, nil
	}}
	front.StartTLS()
	defer front.Close()
	dsn := "token:" + srv.Token() + "@" + strings.TrimPrefix(front.URL, "https://") + warehouse.HTTPPath + "?enableTelemetry=true"

	hosts := driver.NewHosts()
	a, err := driver.OpenConnector(dsn, driver.WithSkipTLSHostVerify(), driver.WithHosts(hosts))
	require.NoError(t, err)
	dbA := sql.OpenDB(a)
	var n int
	require.NoError(t, dbA.QueryRow("SELECT 1").Scan(&n))

	roots := x509.NewCertPool()
	roots.AddCert(goodLeaf)
	var bTelemetry atomic.Int64
	bBase := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	bRT := rtPtr{f: func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == "/telemetry-ext" {
			bTelemetry.Add(1)
		}
		return bBase.RoundTrip(r)
	}}
	b, err := driver.OpenConnector(dsn, driver.WithConnOptions(dbsql.WithTransport(&bRT)), driver.WithHosts(hosts))
	require.NoError(t, err)
	dbB := sql.OpenDB(b)
	dbB.SetMaxIdleConns(0) // B's session closes after its query, before the certificate changes
	require.NoError(t, dbB.QueryRow("SELECT 2").Scan(&n))
	require.NoError(t, dbA.Close())
	require.NoError(t, a.Close())

	useEvil.Store(true) // a man in the middle, with a certificate B does not trust
	bBase.CloseIdleConnections()
	_, err = bBase.RoundTrip(httptest.NewRequest(http.MethodGet, front.URL+"/", nil).WithContext(context.Background()))
	var tlsErr *tls.CertificateVerificationError
	require.ErrorAs(t, err, &tlsErr, "B refuses that certificate")

	require.NoError(t, dbB.Close())
	require.NoError(t, b.Close())
	t.Logf("telemetry posts through B's transport: %d; to the untrusted certificate: %d (%d with Authorization)", bTelemetry.Load(), evilTelemetry.Load(), evilAuth.Load())
	assert.Zero(t, evilAuth.Load(), "B's credentials reached a server whose certificate B refuses")
}

// rtPtr is a caller's transport of a pointer type.
type rtPtr struct {
	f func(*http.Request) (*http.Response, error)
}

func (p *rtPtr) RoundTrip(r *http.Request) (*http.Response, error) { return p.f(r) }
