package exporter

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// The backoff stays min(base×2^retries, max) however many retries a caller allows
// (WithMaxRetries is unbounded): doubling past the cap must not overflow into a
// negative or zero delay, which would retry against a failing host without waiting.
func TestBackoffDelayManyRetries(t *testing.T) {
	for _, tt := range []struct {
		base, max time.Duration
		retries   int
	}{
		{DefaultBackoffBase, DefaultBackoffMax, 10},
		{DefaultBackoffBase, DefaultBackoffMax, 40},
		{DefaultBackoffBase, DefaultBackoffMax, 63},
		{DefaultBackoffBase, DefaultBackoffMax, 64},
		{DefaultBackoffBase, DefaultBackoffMax, 100},
		{time.Millisecond, time.Hour, 200},
	} {
		got := delayFor(tt.base, tt.max, 0, DefaultRetryAfterCap, tt.retries, &StatusError{StatusCode: 503}, noRand(t))
		equal(t, got, tt.max, "delay after", tt.retries, "retries from", tt.base)
	}
}

// A flag answer larger than the cap is a failed fetch (the flag needs the body), not an
// answer meaning off: the last known value stands (SPEC §5, a failed fetch keeps it).
func TestFeatureFlagTooLargeAnswerKeepsLastValue(t *testing.T) {
	var body atomic.Value
	body.Store(flagBody("true", ""))
	e, rc, clk := flagServer(t, &body)
	ff := e.FeatureFlags()
	ctx := context.Background()
	equal(t, ff.Enabled(ctx), true, "on")

	head := `{"flags":[{"name":"` + DefaultFlagName + `","value":"false"}]`
	body.Store(string(paddedJSON(head, maxFlagBytes+1)))
	clk.advance(DefaultFlagTTL + time.Second)
	equal(t, ff.Enabled(ctx), true, "a too-large answer keeps the last value")
	equal(t, rc.hits.Load(), int64(2), "fetched again once expired")

	// It is retried after MinFlagTTL, like any failed fetch; a good answer then counts.
	body.Store(flagBody("false", ""))
	clk.advance(MinFlagTTL + time.Second)
	equal(t, ff.Enabled(ctx), false, "off once the server says so")
	equal(t, rc.hits.Load(), int64(3), "retried after a minute")
}

// A flag fetch for a connection whose http path names a workspace names it in
// X-Databricks-Org-Id, as the export does; one without a workspace sends no such header.
func TestFeatureFlagNamesTheWorkspace(t *testing.T) {
	for _, tt := range []struct {
		ws   int64
		want string
	}{
		{0, ""},
		{1234567890123456, "1234567890123456"},
	} {
		var body atomic.Value
		body.Store(flagBody("true", ""))
		e, rc, _ := flagServer(t, &body)
		equal(t, e.FeatureFlags().EnabledForWorkspace(context.Background(), tt.ws), true, "enabled", tt.ws)
		reqs := rc.requests()
		equal(t, len(reqs), 1, "requests", tt.ws)
		equal(t, reqs[0].Header.Get("X-Databricks-Org-Id"), tt.want, "org id header for workspace", tt.ws)
		equal(t, reqs[0].Header.Get("Authorization"), "Bearer dapi-flag", "auth", tt.ws)
	}
}

// A unified host serves many workspaces and refuses a workspace's token in a request that
// names another: the host's exporter authenticates a batch, or a flag fetch, that names a
// workspace with the credentials of a connection of that workspace first, whichever
// connection came last (WithConnWorkspace).
func TestRegistryUsesTheCredentialsOfTheRequestsWorkspace(t *testing.T) {
	const wsA, wsB = 1111, 2222
	srv, rc := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte(flagBody("true", "")))
			return
		}
		_, _ = w.Write([]byte(`{"errors":[],"numSuccess":1,"numProtoSuccess":1,"numRealtimeSuccess":0}`))
	})
	r := newTestRegistry(t)
	ctx := context.Background()
	a, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("token-a")), WithConnWorkspace(wsA))
	noErr(t, err, "a")
	b, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("token-b")), WithConnWorkspace(wsB))
	noErr(t, err, "b")
	defer func() { _ = b.Release(ctx) }()
	defer func() { _ = a.Release(ctx) }()

	logsOf := func(ws int64) []*telemetry.FrontendLog {
		logs := batch(2)
		for _, l := range logs {
			l.WorkspaceID = ws
		}
		return logs
	}
	for _, tt := range []struct {
		ws        int64
		wantAuth  string
		wantOrgID string
	}{
		{wsA, "Bearer token-a", "1111"}, // the older connection's, as the batch names its workspace
		{wsB, "Bearer token-b", "2222"},
		{0, "Bearer token-b", ""}, // no workspace named: the newest
	} {
		before := len(rc.requests())
		noErr(t, a.Exporter().Export(ctx, logsOf(tt.ws)), "export for workspace", tt.ws)
		reqs := rc.requests()
		equal(t, len(reqs), before+1, "one request for workspace", tt.ws)
		got := reqs[len(reqs)-1]
		equal(t, got.Path, telemetryExtPath, "path for workspace", tt.ws)
		equal(t, got.Header.Get("Authorization"), tt.wantAuth, "credentials for workspace", tt.ws)
		equal(t, got.Header.Get("X-Databricks-Org-Id"), tt.wantOrgID, "org id for workspace", tt.ws)
	}

	// The flag fetch of a connection of workspace A goes with A's token and names A.
	equal(t, a.FeatureFlags().EnabledForWorkspace(ctx, wsA), true, "flag")
	reqs := rc.requests()
	got := reqs[len(reqs)-1]
	equal(t, got.Method, http.MethodGet, "flag fetch method")
	equal(t, got.Header.Get("Authorization"), "Bearer token-a", "flag fetch credentials")
	equal(t, got.Header.Get("X-Databricks-Org-Id"), "1111", "flag fetch org id")
}
