package warehouse_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// slowDripBody is what a SlowDrip fault without Garbage answers, whatever the group.
const slowDripBody = `{"errors":[],"numSuccess":0}`

// A fault's fields combine as Fault documents: Latency first, then the first of Hang,
// Drop, Garbage, Status that is set, and SlowDrip alone answers 200 with the ingest's
// body on any group. Tests that inject combined faults rely on this order.
func TestFaultFieldsCombine(t *testing.T) {
	srv := start(t)
	client := &http.Client{Timeout: 300 * time.Millisecond}
	call := map[warehouse.Group]func(*testing.T) (*http.Response, []byte, error){
		warehouse.GroupTelemetry: func(t *testing.T) (*http.Response, []byte, error) {
			return post(t, client, srv, "/telemetry-ext", telemetryBody)
		},
		warehouse.GroupFeatureFlag: func(t *testing.T) (*http.Response, []byte, error) { return getFlag(t, client, srv) },
	}
	for _, tc := range []struct {
		name  string
		group warehouse.Group
		fault warehouse.Fault
		body  string        // the whole body answered with 200; "": no answer, the client times out
		size  int           // with Garbage: the body's length instead
		took  time.Duration // at least
	}{
		{name: "hang beats drop", group: warehouse.GroupTelemetry, fault: warehouse.Fault{Hang: true, Drop: true}},
		{
			name: "garbage beats status", group: warehouse.GroupTelemetry,
			fault: warehouse.Fault{Garbage: true, Status: http.StatusServiceUnavailable, BodyBytes: 10}, size: 10,
		},
		{
			name: "slow drip alone on telemetry", group: warehouse.GroupTelemetry,
			fault: warehouse.Fault{SlowDrip: 2 * time.Millisecond}, body: slowDripBody,
		},
		{
			name: "slow drip alone on the feature flag", group: warehouse.GroupFeatureFlag,
			fault: warehouse.Fault{SlowDrip: 2 * time.Millisecond}, body: slowDripBody,
		},
		{
			name: "latency then slow drip", group: warehouse.GroupFeatureFlag,
			fault: warehouse.Fault{Latency: 50 * time.Millisecond, SlowDrip: 2 * time.Millisecond},
			body:  slowDripBody, took: 50 * time.Millisecond,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.InjectFaults(tc.group, tc.fault)
			began := time.Now()
			resp, body, err := call[tc.group](t)
			assert.GreaterOrEqual(t, time.Since(began), tc.took)
			if tc.body == "" && tc.size == 0 {
				var ne net.Error
				require.ErrorAs(t, err, &ne)
				assert.True(t, ne.Timeout(), "no answer until the client gives up, not a closed connection: %v", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			if tc.size > 0 {
				assert.Len(t, body, tc.size)
			} else {
				assert.Equal(t, tc.body, string(body))
			}
		})
	}
}

// A SlowDrip body is sent as it is written, one byte per interval, so that a client sees
// the answer begin at once and then stall (a read timeout, not a header timeout): the
// status and the first bytes arrive long before the 2.8 s the body takes.
func TestSlowDripStreams(t *testing.T) {
	srv := start(t)
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{SlowDrip: 100 * time.Millisecond})
	resp, body, err := post(t, &http.Client{Timeout: 300 * time.Millisecond}, srv, "/telemetry-ext", telemetryBody)
	require.Error(t, err, "the body outlasts the client's timeout")
	require.NotNil(t, resp, "the answer began before the timeout: %v", err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotEmpty(t, body)
	assert.True(t, strings.HasPrefix(slowDripBody, string(body)), "%q is the start of the body", body)
}

// InjectFaults queues behind the faults already queued, across calls: retry tests that
// inject a 503 and then a 429 get them in that order, then a normal answer.
func TestInjectFaultsQueuesAcrossCalls(t *testing.T) {
	srv := start(t)
	client := &http.Client{Timeout: 5 * time.Second}
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: http.StatusServiceUnavailable})
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: http.StatusTooManyRequests})
	var got []int
	for range 3 {
		resp, _, err := post(t, client, srv, "/telemetry-ext", telemetryBody)
		require.NoError(t, err)
		got = append(got, resp.StatusCode)
	}
	assert.Equal(t, []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusOK}, got)
}

// FaultsServed counts every request a fault answered or delayed: a Latency-only fault,
// which lets the request through, counts too. Tests use it to check a fault was hit.
func TestFaultsServedCountsDelays(t *testing.T) {
	srv := start(t)
	srv.InjectFaults(warehouse.GroupTelemetry,
		warehouse.Fault{Latency: 10 * time.Millisecond},
		warehouse.Fault{Status: http.StatusServiceUnavailable})
	for _, want := range []int{http.StatusOK, http.StatusServiceUnavailable, http.StatusOK} {
		resp, _, err := post(t, &http.Client{Timeout: 5 * time.Second}, srv, "/telemetry-ext", telemetryBody)
		require.NoError(t, err)
		assert.Equal(t, want, resp.StatusCode)
	}
	assert.Equal(t, 2, srv.FaultsServed(warehouse.GroupTelemetry))
}

// ClearFaults drops the group's queued faults only: another group's stay queued, and the
// count of faults already served is kept, so a test can stop an endless storm and
// still check how many requests it answered.
func TestClearFaults(t *testing.T) {
	srv := start(t)
	client := &http.Client{Timeout: 5 * time.Second}
	forever := warehouse.Fault{Status: http.StatusServiceUnavailable, Times: -1}
	srv.InjectFaults(warehouse.GroupTelemetry, forever)
	srv.InjectFaults(warehouse.GroupFeatureFlag, forever)
	resp, _, err := post(t, client, srv, "/telemetry-ext", telemetryBody)
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

	srv.ClearFaults(warehouse.GroupTelemetry)
	resp, _, err = post(t, client, srv, "/telemetry-ext", telemetryBody)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the storm is over")
	assert.Equal(t, 1, srv.FaultsServed(warehouse.GroupTelemetry), "the served fault is still counted")
	resp, _, err = getFlag(t, client, srv)
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "the feature-flag faults are still queued")
}

// RetryAfter is sent in whole seconds, rounded: one second is "1" (not left out), 1.5 s
// is "2", and less than half a second is "1", not "0" (retry at once). Retry tests read
// the header to check the client waited as told.
func TestRetryAfterWholeSeconds(t *testing.T) {
	srv := start(t)
	for _, tc := range []struct {
		after time.Duration
		want  string
	}{
		{time.Second, "1"},
		{1500 * time.Millisecond, "2"},
		{200 * time.Millisecond, "1"},
	} {
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: http.StatusTooManyRequests, RetryAfter: tc.after})
		resp, _, err := post(t, &http.Client{Timeout: 5 * time.Second}, srv, "/telemetry-ext", telemetryBody)
		require.NoError(t, err)
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		assert.Equal(t, tc.want, resp.Header.Get("Retry-After"), "RetryAfter %v", tc.after)
	}
}
