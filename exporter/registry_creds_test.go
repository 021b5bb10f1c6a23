package exporter

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
)

// A newer connection whose credentials do not work yet (it has not authenticated, or
// never will with a wrong token) used to send the whole host's telemetry to
// /telemetry-unauth, stripped of every id, while older connections' credentials worked.
// The newest credentials that work are used.
func TestRegistryPassesOverCredentialsThatDoNotWork(t *testing.T) {
	srv, rc := newServer(t, nil)
	r := newTestRegistry(t)
	ctx := context.Background()
	a, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("token-a")))
	noErr(t, err, "a")
	var bReady atomic.Bool
	b, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(CredentialsFunc(func(req *http.Request) error {
		req.Header.Set("X-Partial", "set before failing")
		if !bReady.Load() {
			return errors.New("no credentials seen yet")
		}
		req.Header.Set("Authorization", "Bearer token-b")
		return nil
	})))
	noErr(t, err, "b")

	noErr(t, b.Exporter().Export(ctx, batch(1)), "export while b is not authenticated")
	bReady.Store(true)
	noErr(t, b.Exporter().Export(ctx, batch(1)), "export once b is")
	noErr(t, b.Release(ctx), "release b")
	noErr(t, a.Exporter().Export(ctx, batch(1)), "export after b left")
	noErr(t, a.Release(ctx), "release a")

	reqs := rc.requests()
	equal(t, len(reqs), 3, "requests")
	for i, want := range []string{"Bearer token-a", "Bearer token-b", "Bearer token-a"} {
		equal(t, reqs[i].Path, telemetryExtPath, "path of request", i)
		equal(t, reqs[i].Header.Get("Authorization"), want, "credentials of request", i)
	}
	equal(t, reqs[0].Header.Get("X-Partial"), "", "headers of credentials that failed")
}
