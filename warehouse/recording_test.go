package warehouse_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A telemetry request is recorded with the status actually answered, the first
// WriteHeader (net/http ignores later ones), and only a 200 counts as accepted: the logs
// of a batch a custom handler answers 202 stay out of TelemetryLogs. Tests of exporters
// against WithTelemetryHandler rely on both.
func TestRecordedTelemetryStatus(t *testing.T) {
	srv := start(t, warehouse.WithTelemetryHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		w.WriteHeader(http.StatusInternalServerError) // superfluous: not what the client gets
	})))
	resp, _, err := post(t, &http.Client{Timeout: 5 * time.Second}, srv, "/telemetry-ext", telemetryBody)
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	reqs := srv.TelemetryRequests()
	require.Len(t, reqs, 1)
	assert.Equal(t, http.StatusAccepted, reqs[0].Status)
	assert.Empty(t, srv.TelemetryLogs(), "a 202 is not the ingest's acceptance")
}

// TelemetryRequests hands out copies: a test that edits a request's body or headers
// does not change what later calls (and TelemetryLogs) see.
func TestTelemetryRequestsAreCopies(t *testing.T) {
	srv := start(t)
	got := postOne(t, srv, "/telemetry-ext")
	copy(got.Body, "XXXXXXXX")
	got.Header.Set("Authorization", "changed")
	again := srv.TelemetryRequests()
	assert.Equal(t, telemetryBody, string(again[0].Body))
	assert.Equal(t, "Bearer "+srv.Token(), again[0].Header.Get("Authorization"))
}

// A recorded request's Path is the URL path without its query string, so that tests
// can match it against /telemetry-ext or /telemetry-unauth whatever query the exporter adds.
func TestRecordedPathHasNoQuery(t *testing.T) {
	srv := start(t)
	assert.Equal(t, "/telemetry-unauth", postOne(t, srv, "/telemetry-unauth?o=123").Path)
}

// postOne posts telemetryBody to path on a server that has recorded nothing yet,
// requires a 200 and returns the request as recorded.
func postOne(t *testing.T, srv *warehouse.Server, path string) warehouse.TelemetryRequest {
	t.Helper()
	resp, _, err := post(t, &http.Client{Timeout: 5 * time.Second}, srv, path, telemetryBody)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	reqs := srv.TelemetryRequests()
	require.Len(t, reqs, 1)
	return reqs[0]
}

// With WithStatementRecords(n), a statement pushed out of Statements is forgotten by
// Statement too: a long run keeps n records, not every one in the lookup map.
func TestEvictedStatementIsForgotten(t *testing.T) {
	srv := start(t, warehouse.WithStatementRecords(1))
	db := open(t, srv, "")
	var n int
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&n))
	first := lastStatement(t, srv)
	require.NoError(t, db.QueryRow("SELECT 2").Scan(&n))
	require.Len(t, srv.Statements(), 1)
	_, ok := srv.Statement(first.ID)
	assert.False(t, ok, "an evicted statement is no longer known")
	_, ok = srv.Statement(lastStatement(t, srv).ID)
	assert.True(t, ok, "the kept one is")
}
