package exporter

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// connTracker counts a test server's open client connections.
type connTracker struct {
	mu   sync.Mutex
	open map[net.Conn]bool
}

func (c *connTracker) state(conn net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.open[conn] = true
	case http.StateClosed, http.StateHijacked:
		delete(c.open, conn)
	}
}

func (c *connTracker) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.open)
}

func trackedServer(t *testing.T) (*httptest.Server, *connTracker) {
	t.Helper()
	ct := &connTracker{open: map[net.Conn]bool{}}
	srv := httptest.NewUnstartedServer(&recorder{})
	srv.Config.ConnState = ct.state
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, ct
}

func eventually(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// With the registry's own client, a host keeps no connection between requests (see
// newTransport): none outlives an export, and so none its host's last Release.
func TestRegistryLastReleaseClosesTheHostsConnections(t *testing.T) {
	a, aConns := trackedServer(t)
	b, bConns := trackedServer(t)
	r := newTestRegistry(t)
	ctx := context.Background()
	ha, err := r.Acquire(a.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("t")))
	noErr(t, err, "acquire a")
	hb, err := r.Acquire(b.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("t")))
	noErr(t, err, "acquire b")
	noErr(t, ha.Exporter().Export(ctx, batch(1)), "export a")
	noErr(t, hb.Exporter().Export(ctx, batch(1)), "export b")
	if !eventually(2*time.Second, func() bool { return aConns.count() == 0 && bConns.count() == 0 }) {
		t.Fatalf("connections kept after the exports: a %d, b %d", aConns.count(), bConns.count())
	}
	noErr(t, ha.Release(ctx), "release a")
	noErr(t, hb.Exporter().Export(ctx, batch(1)), "export b again")
	noErr(t, hb.Release(ctx), "release b")
	if !eventually(2*time.Second, func() bool { return bConns.count() == 0 }) {
		t.Fatalf("%d connections to b are still open", bConns.count())
	}
}
