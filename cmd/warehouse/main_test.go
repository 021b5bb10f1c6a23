package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// The standalone warehouse forgets the telemetry requests it recorded as it goes, and
// stops doing so when its context ends.
func TestForgetTelemetry(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	post := func() {
		req, err := http.NewRequest(http.MethodPost, srv.URL()+"/telemetry-unauth", strings.NewReader(`{"protoLogs":["{}"]}`))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
	}
	for range 3 {
		post()
	}
	require.Len(t, srv.TelemetryRequests(), 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		forgetTelemetry(ctx, srv, 10*time.Millisecond)
	}()
	assert.Eventually(t, func() bool { return len(srv.TelemetryRequests()) == 0 }, 2*time.Second, 5*time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("forgetTelemetry did not return when its context ended")
	}
	post()
	time.Sleep(50 * time.Millisecond)
	assert.Len(t, srv.TelemetryRequests(), 1, "nothing forgets once it returned")
}
