package driver

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// idleServer counts the connections it saw closed.
func idleServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var closed atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &closed
}

// get makes one request through rt, leaving its connection idle in rt's pool.
func get(t *testing.T, rt http.RoundTripper, url string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := rt.RoundTrip(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
}

// Connector.Close releases the idle connections of the transport the connector made
// (newBaseTransport), but leaves those of a caller's *http.Transport (dbsql.WithTransport),
// which the caller may share with other clients, open: ownBase tells them apart.
func TestCloseReleasesOnlyItsOwnTransportsIdleConnections(t *testing.T) {
	t.Run("own", func(t *testing.T) {
		srv, closed := idleServer(t)
		c, err := NewConnector(WithConnOptions(dbsql.WithServerHostname("h.example.com")), WithHosts(NewHosts()))
		require.NoError(t, err)
		own, ok := c.tr.base.(*http.Transport)
		require.True(t, ok, "the connector's own transport")
		get(t, own, srv.URL)
		require.NoError(t, c.Close())
		assert.Eventually(t, func() bool { return closed.Load() == 1 }, 5*time.Second, 5*time.Millisecond,
			"the own transport's idle connection closed")
	})
	t.Run("the caller's", func(t *testing.T) {
		srv, closed := idleServer(t)
		callers := &http.Transport{}
		t.Cleanup(callers.CloseIdleConnections)
		c, err := NewConnector(WithConnOptions(dbsql.WithServerHostname("h.example.com"), dbsql.WithTransport(callers)),
			WithHosts(NewHosts()))
		require.NoError(t, err)
		require.Same(t, callers, c.tr.base, "the caller's transport is the base")
		get(t, callers, srv.URL)
		require.NoError(t, c.Close())
		time.Sleep(100 * time.Millisecond)
		assert.Zero(t, closed.Load(), "the caller's idle connection is left open")
	})
}
