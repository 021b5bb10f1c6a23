package driver_test

import (
	"database/sql"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// portlessToWarehouse sends the requests the raw driver addresses to its host without a
// port (its feature-flag fetch and its telemetry posts go to https://<host>/…) to the
// local warehouse, and every other request to base unchanged: the raw driver's built-in
// telemetry then asks the warehouse's flag and posts to its ingest, as against a real
// workspace.
type portlessToWarehouse struct {
	addr string
	base http.RoundTripper
}

func (t portlessToWarehouse) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Port() == "" {
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host, req.Host = "http", t.addr, ""
	}
	return t.base.RoundTrip(req)
}

// The driver keeps its built-in telemetry's feature-flag answer and its telemetry client
// per host name, for the whole process. A wrapped connection must stay out of them: with
// a raw pool of the driver open on the same host, its server flag on, the wrapped
// connection's session and statements must not be logged by the driver's built-in
// telemetry (through the raw pool's client): not with enableTelemetry=false ("nothing at
// all"), and not with enableTelemetry=true (ours logs them: the built-in would count them
// twice).
func TestWrappedConnectionsStayOutOfTheRawDriversBuiltinTelemetry(t *testing.T) {
	for _, enable := range []string{"false", "true"} {
		t.Run("enableTelemetry="+enable, func(t *testing.T) {
			srv, err := warehouse.NewServer() // the server's flag on
			require.NoError(t, err)
			defer srv.Close()
			u, err := url.Parse(srv.DSN())
			require.NoError(t, err)
			port, err := strconv.Atoi(u.Port())
			require.NoError(t, err)
			tok, _ := u.User.Password()
			base := driver.NewBaseTransport(nil)
			defer base.CloseIdleConnections()
			rawConn, err := dbsql.NewConnector(dbsql.WithServerHostname("http://"+u.Hostname()), dbsql.WithPort(port),
				dbsql.WithHTTPPath(u.Path), dbsql.WithAccessToken(tok),
				dbsql.WithSessionParams(map[string]string{"QUERY_TAGS": "side:raw"}),
				dbsql.WithTransport(portlessToWarehouse{addr: srv.Addr(), base: base}))
			require.NoError(t, err)
			raw := sql.OpenDB(rawConn)
			require.NoError(t, raw.Ping()) // its connection stays in the pool: the host's built-in telemetry is on

			wrapped, err := sql.Open(driver.DriverName, srv.DSN()+"?enableTelemetry="+enable+"&QUERY_TAGS=side:wrapped")
			require.NoError(t, err)
			var v int
			require.NoError(t, wrapped.QueryRow("SELECT 41 + 1").Scan(&v))
			require.Equal(t, 42, v)
			require.NoError(t, wrapped.Close())
			require.NoError(t, raw.Close()) // the built-in telemetry flushes on its last release

			ids := map[string]string{}
			for _, s := range srv.Sessions() {
				ids[s.Configuration["QUERY_TAGS"]] = s.ID
			}
			require.NotEmpty(t, ids["side:raw"])
			require.NotEmpty(t, ids["side:wrapped"])
			builtin := func() (raw, wrapped int) {
				for _, l := range srv.TelemetryLogs() {
					if !strings.Contains(l, `"client_type":"golang"`) {
						continue // ours (golang-dbtelemetry)
					}
					if strings.Contains(l, ids["side:raw"]) {
						raw++
					}
					if strings.Contains(l, ids["side:wrapped"]) {
						wrapped++
					}
				}
				return raw, wrapped
			}
			require.Eventually(t, func() bool { r, _ := builtin(); return r > 0 }, 5*time.Second, 10*time.Millisecond,
				"the raw pool's built-in telemetry is on and exports (else this test proves nothing)")
			_, w := builtin()
			assert.Zero(t, w, "logs of the driver's built-in telemetry about the wrapped connection")
		})
	}
}
