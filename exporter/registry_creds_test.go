package exporter

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
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

// acceptedToken is a bearer token that says when the server last accepted it.
type acceptedToken struct {
	token string
	at    *atomic.Int64 // Unix ns; 0: never
}

func (a acceptedToken) Authenticate(req *http.Request) error {
	req.Header.Set("Authorization", "Bearer "+a.token)
	return nil
}

func (a acceptedToken) LastAccepted() time.Time {
	if ns := a.at.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Of a host's connections, those the server accepted last speak for the host, whatever
// their order: a newer connection whose token went stale does not; credentials that
// cannot say when they were accepted come after those that can, newest first.
func TestRegistryPrefersTheCredentialsAcceptedLast(t *testing.T) {
	srv, rc := newServer(t, nil)
	r := newTestRegistry(t)
	ctx := context.Background()
	var atA, atB atomic.Int64
	acquire := func(c Credentials) *Handle {
		h, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(c))
		noErr(t, err, "acquire")
		return h
	}
	a := acquire(acceptedToken{"token-a", &atA})
	b := acquire(acceptedToken{"token-b", &atB})
	plain := acquire(BearerToken("token-plain")) // the newest, but never known accepted
	export := func() string {
		noErr(t, plain.Exporter().Export(ctx, batch(1)), "export")
		reqs := rc.requests()
		return reqs[len(reqs)-1].Header.Get("Authorization")
	}

	equal(t, export(), "Bearer token-plain", "none known accepted yet: the newest")
	atB.Store(time.Now().UnixNano())
	atA.Store(time.Now().Add(time.Second).UnixNano())
	equal(t, export(), "Bearer token-a", "a accepted last, before the newest that cannot say")
	atB.Store(time.Now().Add(2 * time.Second).UnixNano())
	equal(t, export(), "Bearer token-b", "then b")
	noErr(t, a.Release(ctx), "release a")
	noErr(t, b.Release(ctx), "release b")
	equal(t, export(), "Bearer token-plain", "once they left, the live connection")
	noErr(t, plain.Release(ctx), "release plain")
}

// A connection without credentials that joins a host after one with credentials must not
// make the host forget them: once the connection with credentials has left, before
// anything was sent, the host's logs still go to /telemetry-ext with its credentials
// (the registry keeps the newest credentials given), not stripped to /telemetry-unauth.
func TestRegistryConnectionWithoutCredentialsKeepsTheKeptOnes(t *testing.T) {
	srv, rc := newServer(t, nil)
	r := newTestRegistry(t)
	ctx := context.Background()
	a, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("token-a")))
	noErr(t, err, "a")
	b, err := r.Acquire(srv.URL, WithLoopbackDSN()) // no credentials
	noErr(t, err, "b")
	noErr(t, a.Release(ctx), "release a before anything was sent")
	noErr(t, b.Exporter().Export(ctx, batch(1)), "export")
	noErr(t, b.Release(ctx), "release b")

	reqs := rc.requests()
	equal(t, len(reqs), 1, "requests")
	equal(t, reqs[0].Path, telemetryExtPath, "path")
	equal(t, reqs[0].Header.Get("Authorization"), "Bearer token-a", "credentials")
}
