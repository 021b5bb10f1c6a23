package driver_test

import (
	"context"
	"database/sql"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// spogFront stands for the front end of a Databricks unified (SPOG) host, which serves
// many workspaces: a Thrift call names its workspace in its URL (the cluster path's
// /o/<id>/ segment), but any other request to the host (telemetry, feature flags) must
// name it in X-Databricks-Org-Id, or the front redirects it to /login, as the Go
// driver's connector.go says of such hosts (extractSpogHeaders). The driver sends that
// header on its feature-flag fetch as on its telemetry. Each workspace has a token of
// its own (a PAT is a workspace's): a request whose token is not its workspace's gets
// 401. Accepted requests go on to the warehouse with the warehouse's token.
type spogFront struct {
	srv    *httptest.Server
	tokens map[string]string // workspace id -> its token

	mu        sync.Mutex
	flagOrgs  []string // X-Databricks-Org-Id of each feature-flag fetch that reached the front
	redirects int      // requests sent to /login: no workspace named
	refused   int      // telemetry and flag requests refused: a token of another workspace
}

func spogPath(workspace string) string {
	return "/sql/protocolv1/o/" + workspace + "/0528-220959-uzmcn1qt"
}

func newSPOGFront(t *testing.T, wh *warehouse.Server, tokens map[string]string) *spogFront {
	t.Helper()
	target, err := url.Parse(wh.URL())
	require.NoError(t, err)
	f := &spogFront{tokens: tokens}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	pass := func(w http.ResponseWriter, r *http.Request, ws string) {
		if r.Header.Get("Authorization") != "Bearer "+f.tokens[ws] {
			if r.URL.Path != spogPath(ws) {
				f.mu.Lock()
				f.refused++
				f.mu.Unlock()
			}
			http.Error(w, "invalid access token", http.StatusUnauthorized)
			return
		}
		r.Header.Set("Authorization", "Bearer "+wh.Token())
		proxy.ServeHTTP(w, r)
	}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for ws := range f.tokens {
			if r.URL.Path == spogPath(ws) {
				r.URL.Path = warehouse.HTTPPath // the cluster path routes by its URL
				pass(w, r, ws)
				return
			}
		}
		org := r.Header.Get("X-Databricks-Org-Id")
		f.mu.Lock()
		if strings.HasPrefix(r.URL.Path, "/api/2.0/connector-service/feature-flags/") {
			f.flagOrgs = append(f.flagOrgs, org)
		}
		_, known := f.tokens[org]
		if !known {
			f.redirects++
		}
		f.mu.Unlock()
		if !known {
			http.Redirect(w, r, "/login", http.StatusFound)
			return
		}
		pass(w, r, org)
	}))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

// dsn is a DSN of workspace ws through the front.
func (f *spogFront) dsn(ws, params string) string {
	return "http://token:" + url.QueryEscape(f.tokens[ws]) + "@" + strings.TrimPrefix(f.srv.URL, "http://") + spogPath(ws) + params
}

func (f *spogFront) counts() (flagOrgs []string, redirects, refused int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.flagOrgs...), f.redirects, f.refused
}

// On a unified host, with the feature flag deciding (no enableTelemetry in the DSN), the
// flag fetch names the connection's workspace as the telemetry export does: without it
// the front redirected the fetch to /login, which read as "off", and no connection on
// such a host ever sent telemetry.
func TestFeatureFlagFetchNamesTheWorkspaceOnAUnifiedHost(t *testing.T) {
	const workspace = "6051921418418893"
	wh, err := warehouse.NewServer(warehouse.WithTelemetryFlag(true))
	require.NoError(t, err)
	defer wh.Close()
	front := newSPOGFront(t, wh, map[string]string{workspace: wh.Token()})

	c, err := driver.OpenConnector(front.dsn(workspace, ""), driver.WithHosts(driver.NewHosts()))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	var n int
	require.NoError(t, db.QueryRowContext(context.Background(), "SELECT 1").Scan(&n))
	require.NoError(t, db.Close())

	orgs, redirects, refused := front.counts()
	require.NotEmpty(t, orgs, "the flag was asked for")
	for _, o := range orgs {
		assert.Equal(t, workspace, o, "the flag fetch names the workspace (X-Databricks-Org-Id)")
	}
	assert.Zero(t, redirects, "no request of the telemetry was sent to /login")
	assert.Zero(t, refused, "no request of the telemetry was refused")
	st := c.Stats()
	assert.Positive(t, st.Exported, "the flag said on: telemetry was exported (%+v)", st)
	assert.Zero(t, st.Dropped.Total(), "%+v", st)
	assert.NotEmpty(t, wh.TelemetryRequests(), "telemetry reached the warehouse")
}

// Two pools on one unified host, each in a workspace of its own with that workspace's
// token: each pool's telemetry goes out with its own workspace's token. The host's
// exporter used the token the server accepted last for every batch, whatever workspace
// the batch named: a pool's batches went out with the other workspace's token, and the
// front refused them (401).
func TestTelemetryOfTwoWorkspacesOnAUnifiedHostUsesEachWorkspacesToken(t *testing.T) {
	wh, err := warehouse.NewServer()
	require.NoError(t, err)
	defer wh.Close()
	const ws1, ws2 = "1111111111111111", "2222222222222222"
	front := newSPOGFront(t, wh, map[string]string{ws1: "dapi-token-of-ws1", ws2: "dapi-token-of-ws2"})
	hosts := driver.NewHosts()
	defer func() { _ = hosts.Close(context.Background()) }()

	ctx := context.Background()
	var conns []*driver.Connector
	var dbs []*sql.DB
	for _, ws := range []string{ws1, ws2} {
		c, err := driver.OpenConnector(front.dsn(ws, "?enableTelemetry=true&telemetry_flush_interval=1h"), driver.WithHosts(hosts))
		require.NoError(t, err)
		db := sql.OpenDB(c)
		defer db.Close()
		conns, dbs = append(conns, c), append(dbs, db)
	}
	// Both pools ran a statement; then each flushes, the second pool's token being the
	// last one the server accepted.
	for _, db := range dbs {
		var n int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&n))
	}
	for _, c := range conns {
		assert.NoError(t, c.Flush(ctx))
	}
	_, redirects, refused := front.counts()
	assert.Zero(t, refused, "telemetry requests sent with another workspace's token")
	assert.Zero(t, redirects, "telemetry requests that named no workspace")
	for i, c := range conns {
		st := c.Stats()
		assert.Positive(t, st.Exported, "pool %d: %+v", i, st)
		assert.Zero(t, st.Dropped.Total(), "pool %d: %+v", i, st)
	}
}
