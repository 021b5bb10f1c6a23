package driver_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// rotatingAuth is an authenticator whose bearer token the test replaces, as an OAuth
// token source refreshes its token.
type rotatingAuth struct{ token atomic.Pointer[string] }

func (a *rotatingAuth) set(token string) { a.token.Store(&token) }

func (a *rotatingAuth) Authenticate(r *http.Request) error {
	r.Header.Set("Authorization", "Bearer "+*a.token.Load())
	return nil
}

// tokenGate is a front end of the warehouse that accepts the tokens it holds (and
// forwards with the warehouse's own), answering 401 to others, and records the token of
// each telemetry post.
type tokenGate struct {
	mu    sync.Mutex
	valid map[string]bool
	posts []string // the token of each /telemetry-ext post, with " 401" when refused
}

func (g *tokenGate) expire(tokens ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, tok := range tokens {
		delete(g.valid, tok)
	}
}

func (g *tokenGate) telemetryPosts() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.posts...)
}

func newTokenGate(t *testing.T, srv *warehouse.Server, valid ...string) (*tokenGate, *httptest.Server) {
	up, err := url.Parse(srv.URL())
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(up)
	g := &tokenGate{valid: map[string]bool{}}
	for _, tok := range valid {
		g.valid[tok] = true
	}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		g.mu.Lock()
		ok := g.valid[tok]
		if r.URL.Path == "/telemetry-ext" {
			post := tok
			if !ok {
				post += " 401"
			}
			g.posts = append(g.posts, post)
		}
		g.mu.Unlock()
		if !ok {
			http.Error(w, "token expired", http.StatusUnauthorized)
			return
		}
		r.Header.Set("Authorization", "Bearer "+srv.Token())
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return g, front
}

// Of two pools on one host, the one whose token the server accepted last speaks for the
// host's telemetry: a pool opened later whose token expired while it sat idle does not
// make the other pool's logs go out with its stale token (and fail with 401).
func TestHostExportsWithTheCredentialsAcceptedLast(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	gate, front := newTokenGate(t, srv, "A1", "A2", "B1")
	dsn := "http://token:x@" + strings.TrimPrefix(front.URL, "http://") + warehouse.HTTPPath + "?enableTelemetry=true&telemetry_flush_interval=1h"
	hosts := driver.NewHosts()
	t.Cleanup(func() { _ = hosts.Close(context.Background()) })
	open := func(auth *rotatingAuth) (*driver.Connector, *sql.DB) {
		c, err := driver.OpenConnector(dsn, driver.WithHosts(hosts), driver.WithConnOptions(dbsql.WithAuthenticator(auth)))
		require.NoError(t, err)
		db := sql.OpenDB(c)
		t.Cleanup(func() { _ = db.Close() })
		return c, db
	}
	authA, authB := &rotatingAuth{}, &rotatingAuth{}
	authA.set("A1")
	authB.set("B1")
	cA, dbA := open(authA)
	var n int
	require.NoError(t, dbA.QueryRow("SELECT 1").Scan(&n))
	_, dbB := open(authB) // newer than A
	require.NoError(t, dbB.QueryRow("SELECT 1").Scan(&n))
	require.NoError(t, cA.Flush(context.Background()))
	before := len(gate.telemetryPosts())

	// B sits idle and its token expires; A's token is refreshed and A runs on.
	gate.expire("A1", "B1")
	authA.set("A2")
	require.NoError(t, dbA.QueryRow("SELECT 2").Scan(&n))
	require.NoError(t, cA.Flush(context.Background()), "A's logs go out")
	after := gate.telemetryPosts()[before:]
	require.NotEmpty(t, after)
	for _, post := range after {
		assert.Equal(t, "A2", post, "with A's refreshed token")
	}
	assert.Zero(t, cA.Stats().Dropped.ExportFailed)
}
