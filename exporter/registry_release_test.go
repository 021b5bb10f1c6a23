package exporter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// signalCtxLayer's Close signals that it started, then waits for its context, like an
// aggregator whose final export hangs.
type signalCtxLayer struct{ entered chan struct{} }

func (l signalCtxLayer) Close(ctx context.Context) error {
	close(l.entered)
	<-ctx.Done()
	return ctx.Err()
}

// The last Release of a host that Registry.Close is already shutting down waits for that
// shutdown within its own context, not within Close's.
func TestReleaseHonoursItsContextWhileCloseShutsTheHost(t *testing.T) {
	entered := make(chan struct{})
	r := NewRegistry(WithLayer(func(Target, telemetry.Exporter) Layer { return signalCtxLayer{entered: entered} }))
	h, err := r.Acquire("adb-1.azuredatabricks.net")
	require.NoError(t, err)

	cctx, ccancel := context.WithCancel(context.Background())
	defer ccancel()
	closed := make(chan error, 1)
	go func() { closed <- r.Close(cctx) }()
	<-entered // Close took the host and is flushing it

	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer rcancel()
	released := make(chan error, 1)
	go func() { released <- h.Release(rctx) }()
	select {
	case err := <-released:
		require.ErrorIs(t, err, context.DeadlineExceeded, "Release gave up at its own deadline")
	case <-time.After(10 * time.Second):
		t.Fatal("Release still blocked: it waited for Close's context")
	}
	ccancel()
	require.ErrorIs(t, <-closed, context.Canceled)
	require.NoError(t, h.Release(context.Background()), "a second Release is ignored")
}

// WithHTTPClient(nil) in the host options means "no caller's client", as it does for
// NewHTTPExporter: the host gets a client of its own instead of a panic.
func TestAcquireWithNilHostHTTPClient(t *testing.T) {
	callerClient := &http.Client{}
	for _, tc := range []struct {
		name     string
		registry []Option
	}{
		{name: "registry without a client"},
		{name: "registry with a caller's client", registry: []Option{WithHTTPClient(callerClient)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, rc := newServer(t, nil)
			r := newTestRegistry(t, tc.registry...)
			var h *Handle
			require.NotPanics(t, func() {
				var err error
				h, err = r.Acquire(srv.URL, WithLoopbackDSN(), WithHostOptions(WithHTTPClient(nil)))
				require.NoError(t, err)
			})
			e := h.Exporter()
			require.NotNil(t, e.cfg.client)
			assert.NotSame(t, callerClient, e.cfg.client)
			assert.True(t, e.cfg.ownClient, "the host's own client, released when it closes")
			require.NoError(t, e.Export(context.Background(), batch(1)))
			assert.Equal(t, int64(1), rc.hits.Load())
			require.NoError(t, h.Release(context.Background()))
		})
	}
}

// A second Registry.Close while a first one still flushes a host waits for that shutdown,
// within its own context: when it returns, the host is closed.
func TestCloseAgainWaitsForTheFirstClose(t *testing.T) {
	entered := make(chan struct{})
	r := NewRegistry(WithLayer(func(Target, telemetry.Exporter) Layer { return signalCtxLayer{entered: entered} }))
	_, err := r.Acquire("adb-1.azuredatabricks.net")
	require.NoError(t, err)

	cctx, ccancel := context.WithCancel(context.Background())
	defer ccancel()
	closed := make(chan error, 1)
	go func() { closed <- r.Close(cctx) }()
	<-entered // the first Close took the host and is flushing it

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, r.Close(ctx), context.DeadlineExceeded, "the second Close waited for the host, within its ctx")
	ccancel()
	require.ErrorIs(t, <-closed, context.Canceled)
	require.NoError(t, r.Close(context.Background()), "the host is closed: nothing left to wait for")
}

// errLayer is a Layer whose Close (the host's final flush) fails with err.
type errLayer struct{ err error }

func (l errLayer) Close(context.Context) error { return l.err }

// A host that its last Release closed leaves the registry for good: a registry that
// outlives many short-lived hosts keeps none of them, and its Close neither waits for
// them again nor reports their old shutdown errors.
func TestReleasedHostsLeaveTheRegistry(t *testing.T) {
	boom := errors.New("final flush failed")
	r := NewRegistry(WithLayer(func(Target, telemetry.Exporter) Layer { return errLayer{err: boom} }))
	for i := range 3 {
		h, err := r.Acquire(fmt.Sprintf("adb-%d.azuredatabricks.net", i))
		require.NoError(t, err)
		require.ErrorIs(t, h.Release(context.Background()), boom, "host %d", i)
	}
	r.mu.Lock()
	kept := len(r.closing)
	r.mu.Unlock()
	assert.Zero(t, kept, "hosts kept after their last Release")
	assert.NoError(t, r.Close(context.Background()), "Close reports only the hosts it closed")
}
