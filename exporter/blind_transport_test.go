package exporter

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// From the hostile-endpoint review (session 38): a caller's transport that does not watch
// the request's context held an attempt, the export and the flag fetch for ever.

// blockingBlindTransport never answers and never looks at the request's context: a
// caller's RoundTripper over a connection without deadlines, to an endpoint that hangs.
type blockingBlindTransport struct {
	release chan struct{}
	once    sync.Once
	calls   chan struct{}
}

func (rt *blockingBlindTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.calls <- struct{}{}
	<-rt.release
	return nil, context.Canceled
}

func (rt *blockingBlindTransport) free() { rt.once.Do(func() { close(rt.release) }) }

// SPEC §4: "each attempt bounded (default 10 s)". A transport that ignores the
// request's context while it waits for the headers must not hold an attempt (nor the
// export, nor the feature-flag fetch) past the attempt timeout, as a body that never
// ends does not (TestEndlessBodyEndsWithTheAttempt).
func TestBlindRoundTripHoldsNoAttemptPastItsTimeout(t *testing.T) {
	rt := &blockingBlindTransport{release: make(chan struct{}), calls: make(chan struct{}, 16)}
	e := defaultExporter(t, rt, WithMaxRetries(0), WithAttemptTimeout(100*time.Millisecond))
	t.Cleanup(rt.free) // before the exporter's Close, which waits for the export
	done := make(chan error, 1)
	go func() { done <- e.Export(context.Background(), batch(1)) }()
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(3 * time.Second):
		t.Fatalf("Export still running 3 s after its only attempt's 100 ms timeout")
	}
}

// The exporter's Close, its context done, leaves no export running: "Close stops
// accepting exports and waits, within ctx, for those in flight; when ctx ends first they
// are cancelled". With a blind transport the cancelled export never ends.
func TestBlindRoundTripExportEndsAtClose(t *testing.T) {
	rt := &blockingBlindTransport{release: make(chan struct{}), calls: make(chan struct{}, 16)}
	e := defaultExporter(t, rt, WithMaxRetries(0), WithAttemptTimeout(time.Hour))
	t.Cleanup(rt.free)
	done := make(chan error, 1)
	go func() { done <- e.Export(context.Background(), batch(1)) }()
	<-rt.calls
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = e.Close(ctx)
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatalf("Export still running 3 s after Close cancelled it")
	}
}

// SPEC §5: the flag request has a timeout (WithFlagTimeout). A transport that ignores
// the request's context must not hold the host's one fetch in flight past it: every
// caller, and every later connection, would wait on that fetch for ever.
func TestBlindRoundTripFlagFetchEndsAtItsTimeout(t *testing.T) {
	rt := &blockingBlindTransport{release: make(chan struct{}), calls: make(chan struct{}, 16)}
	e := defaultExporter(t, rt, WithFlagTimeout(100*time.Millisecond))
	t.Cleanup(rt.free)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	done := make(chan bool, 1)
	go func() { done <- e.FeatureFlags().Enabled(ctx) }()
	select {
	case on := <-done:
		require.False(t, on, "a failed fetch is off")
		require.NoError(t, ctx.Err())
	case <-time.After(10 * time.Second):
		t.Fatal("the flag fetch held its caller past the 100 ms flag timeout")
	}
}
