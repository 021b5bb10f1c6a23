package warehouse_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
	"github.com/dbtelemetry/dbtelemetry/warehouse/internal/tcli"
)

// TelemetryLogs is what the ingest accepted: a well-formed batch answered with a fault
// (503, 429) is recorded as a request but its logs are not accepted.
func TestTelemetryLogsOnlyAccepted(t *testing.T) {
	srv := start(t)
	client := &http.Client{Timeout: 5 * time.Second}
	srv.InjectFaults(warehouse.GroupTelemetry,
		warehouse.Fault{Status: http.StatusServiceUnavailable},
		warehouse.Fault{Status: http.StatusTooManyRequests})
	for _, want := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusOK} {
		resp, _, err := post(t, client, srv, "/telemetry-ext", telemetryBody)
		require.NoError(t, err)
		assert.Equal(t, want, resp.StatusCode)
	}
	require.Len(t, srv.TelemetryRequests(), 3)
	assert.Equal(t, []string{`{"frontend_log_event_id":"a"}`, `{"frontend_log_event_id":"b"}`}, srv.TelemetryLogs(),
		"only the batch answered 200")
}

// A telemetry handler of the caller's that writes nothing is answered 200 by net/http:
// the request is recorded so, and its logs as accepted. A hang (the client gives up) and
// a dropped connection answer nothing, and are recorded as 0.
func TestSilentTelemetryHandlerIsRecordedAs200(t *testing.T) {
	srv := start(t, warehouse.WithTelemetryHandler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	client := &http.Client{Timeout: 5 * time.Second}
	resp, _, err := post(t, client, srv, "/telemetry-ext", telemetryBody)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "what the client saw")
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Drop: true}, warehouse.Fault{Hang: true})
	_, _, err = post(t, client, srv, "/telemetry-ext", telemetryBody)
	require.Error(t, err, "dropped")
	_, _, err = post(t, &http.Client{Timeout: 200 * time.Millisecond}, srv, "/telemetry-ext", telemetryBody)
	require.Error(t, err, "hung")
	require.Eventually(t, func() bool { return len(srv.TelemetryRequests()) == 3 && srv.TelemetryRequests()[2].Status == 0 },
		5*time.Second, 10*time.Millisecond)
	var statuses []int
	for _, r := range srv.TelemetryRequests() {
		statuses = append(statuses, r.Status)
	}
	assert.Equal(t, []int{200, 0, 0}, statuses)
	assert.Len(t, srv.TelemetryLogs(), 2, "the batch answered 200")
}

// The ingest checks the wire format's required fields and the size limit exactly.
func TestTelemetryIngestValidation(t *testing.T) {
	const limit = 256
	srv := start(t, warehouse.WithMaxBodyBytes(limit))
	client := &http.Client{Timeout: 5 * time.Second}
	pad := func(n int) string { // a valid body of exactly n bytes
		b := `{"uploadTime":1,"items":[],"protoLogs":[],"x":""}`
		return strings.Replace(b, `"x":""`, `"x":"`+strings.Repeat("a", n-len(b))+`"`, 1)
	}
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"valid", telemetryBody, http.StatusOK},
		{"no uploadTime", `{"items":[],"protoLogs":["{}"]}`, http.StatusBadRequest},
		{"no protoLogs", `{"uploadTime":1,"items":[]}`, http.StatusBadRequest},
		{"no items (SPEC §3: required, always empty)", `{"uploadTime":1,"protoLogs":["{}"]}`, http.StatusBadRequest},
		{"items null", `{"uploadTime":1,"items":null,"protoLogs":["{}"]}`, http.StatusBadRequest},
		{"trailing data", `{"uploadTime":1,"items":[],"protoLogs":["{}"]} {"uploadTime":1}`, http.StatusBadRequest},
		{"trailing space", `{"uploadTime":1,"items":[],"protoLogs":["{}"]}` + " \n", http.StatusOK},
		{"exactly the limit", pad(limit), http.StatusOK},
		{"one byte over the limit", pad(limit + 1), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, err := post(t, client, srv, "/telemetry-ext", tc.body)
			require.NoError(t, err)
			assert.Equal(t, tc.status, resp.StatusCode, string(body))
		})
	}
	// Each is recorded with the status it was answered, and done with: Take takes them all.
	var statuses []int
	for _, r := range srv.TakeTelemetryRequests() {
		statuses = append(statuses, r.Status)
	}
	assert.Equal(t, []int{200, 400, 400, 400, 400, 400, 200, 200, 413}, statuses)
	assert.Empty(t, srv.TelemetryRequests())
}

// A garbage fault's body is 1 KiB by default, BodyBytes long otherwise (a body larger
// than the random block it repeats included), and SlowDrip with Garbage drips it.
func TestGarbageFaultDefaults(t *testing.T) {
	srv := start(t)
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Garbage: true})
	resp, body, err := post(t, &http.Client{Timeout: 5 * time.Second}, srv, "/telemetry-ext", telemetryBody)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Len(t, body, 1024)

	const big = 1<<20 + 7
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Garbage: true, BodyBytes: big})
	resp, body, err = post(t, &http.Client{Timeout: 5 * time.Second}, srv, "/telemetry-ext", telemetryBody)
	require.NoError(t, err)
	assert.Equal(t, int64(big), resp.ContentLength)
	assert.Len(t, body, big)

	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Garbage: true, BodyBytes: 100, SlowDrip: 50 * time.Millisecond})
	_, _, err = post(t, &http.Client{Timeout: 500 * time.Millisecond}, srv, "/telemetry-ext", telemetryBody)
	require.Error(t, err, "a dripped garbage body of 100 bytes takes 5 s, past the client's timeout")
}

// A CloudFetch link works only with its signature and before it expires, as a presigned
// URL does.
func TestCloudFetchLinkChecks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ttl    time.Duration
		wait   time.Duration
		mangle func(q url.Values)
		status int
	}{
		{"as given", time.Hour, 0, func(url.Values) {}, http.StatusOK},
		{"wrong signature", time.Hour, 0, func(q url.Values) { q.Set("X-Signature", "0123") }, http.StatusForbidden},
		{"no signature", time.Hour, 0, func(q url.Values) { q.Del("X-Signature") }, http.StatusForbidden},
		// The sweep of expired files runs every linkTTL/2 from the server's start (here
		// at 1 s, 2 s, 3 s): a link used 100 ms after it expired (at 2 s and a few ms)
		// is still stored, and must be refused.
		{"expired", 2 * time.Second, 2100 * time.Millisecond, func(url.Values) {}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t, warehouse.WithCloudFetchThreshold(10), warehouse.WithLinkTTL(tc.ttl), settled)
			link := cloudFetchLink(t, srv)
			time.Sleep(tc.wait)
			u, err := url.Parse(link)
			require.NoError(t, err)
			q := u.Query()
			tc.mangle(q)
			u.RawQuery = q.Encode()
			resp, err := http.Get(u.String())
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if tc.wait > 0 && resp.StatusCode == http.StatusNotFound {
				// A machine so loaded that the sweep ran first: the link is refused all the
				// same, as a file no longer stored.
				t.Logf("the sweep removed the file before the request")
				return
			}
			assert.Equal(t, tc.status, resp.StatusCode)
		})
	}
}

// cloudFetchLink runs a CloudFetch query over raw Thrift and returns its first link.
func cloudFetchLink(t *testing.T, srv *warehouse.Server) string {
	t.Helper()
	_, dr := executeWithLinks(t, rawClient(t, srv, http.DefaultTransport), 100)
	return dr.ResultSet.Results.ResultLinks[0].FileLink
}

// executeWithLinks opens a session on rc and runs SELECT range FROM range(rows) there
// with CloudFetch and direct results, as the driver does; it fails unless the direct
// results say the statement finished and carry links.
func executeWithLinks(t *testing.T, rc *tcli.TCLIServiceClient, rows int) (*tcli.TExecuteStatementResp, *tcli.TSparkDirectResults) {
	t.Helper()
	sess := openRawSession(t, rc)
	resp := executeDirect(t, rc, sess, fmt.Sprintf("SELECT range FROM range(%d)", rows), 100000, true)
	dr := resp.DirectResults
	require.Equal(t, tcli.TOperationState_FINISHED_STATE, dr.OperationStatus.GetOperationState())
	require.NotEmpty(t, dr.ResultSet.Results.ResultLinks)
	return resp, dr
}
