package warehouse_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// flagPath is the connector feature-flag endpoint as the Go driver asks it.
const flagPath = "/api/2.0/connector-service/feature-flags/GOLANG/1.15.1"

// getFlag asks the feature-flag endpoint with the server's token, as the driver does.
func getFlag(t *testing.T, client *http.Client, srv *warehouse.Server) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL()+flagPath, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// authAs sends requests with this Authorization header in place of theirs ("" sends
// none), so that post and getFlag can ask without the token or with a wrong one.
type authAs string

func (a authAs) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Del("Authorization")
	if a != "" {
		r.Header.Set("Authorization", string(a))
	}
	return http.DefaultTransport.RoundTrip(r)
}

// /telemetry-unauth takes batches without credentials (exporters send there before the
// connection is authenticated), while /telemetry-ext and the feature-flag endpoint refuse
// a missing or wrong token with 401. Exporter tests rely on the refusals being recorded
// with their status and kept out of TelemetryLogs and FeatureFlagRequests.
func TestEndpointAuth(t *testing.T) {
	const token = "dapi-auth-test"
	srv := start(t, warehouse.WithToken(token))
	for _, tc := range []struct {
		name, path, auth string // path "": the feature-flag endpoint
		status           int
	}{
		{"unauth without a token", "/telemetry-unauth", "", http.StatusOK},
		{"unauth ignores a wrong token", "/telemetry-unauth", "Bearer wrong", http.StatusOK},
		{"ext without a token", "/telemetry-ext", "", http.StatusUnauthorized},
		{"ext with a wrong token", "/telemetry-ext", "Bearer wrong", http.StatusUnauthorized},
		{"ext with the token", "/telemetry-ext", "Bearer " + token, http.StatusOK},
		{"flag without a token", "", "", http.StatusUnauthorized},
		{"flag with a wrong token", "", "Bearer wrong", http.StatusUnauthorized},
		{"flag with the token", "", "Bearer " + token, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := &http.Client{Transport: authAs(tc.auth), Timeout: 5 * time.Second}
			var (
				resp *http.Response
				err  error
			)
			if tc.path == "" {
				resp, _, err = getFlag(t, client, srv)
			} else {
				resp, _, err = post(t, client, srv, tc.path, telemetryBody)
			}
			require.NoError(t, err)
			assert.Equal(t, tc.status, resp.StatusCode)
		})
	}
	var statuses []int
	for _, r := range srv.TelemetryRequests() {
		statuses = append(statuses, r.Status)
	}
	assert.Equal(t, []int{200, 200, 401, 401, 200}, statuses, "refused batches are recorded with their 401")
	assert.Len(t, srv.TelemetryLogs(), 3*2, "the logs of the three accepted batches only")
	assert.Equal(t, 1, srv.FeatureFlagRequests(), "a refused flag request is not counted")
}

// The ingest answers JSON whose "errors" is an array, empty, never null, as the service
// does (SPEC §3): exporters decode it and count a null as a malformed answer.
func TestIngestAnswerErrorsIsArray(t *testing.T) {
	srv := start(t)
	resp, body, err := post(t, &http.Client{Timeout: 5 * time.Second}, srv, "/telemetry-ext", telemetryBody)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var answer map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &answer))
	assert.Equal(t, "[]", string(answer["errors"]))
}

// Without WithFeatureFlagTTL the feature-flag endpoint answers JSON with ttl_seconds 900
// (15 minutes, as documented): the driver caches the flag that long.
func TestFeatureFlagDefaultTTL(t *testing.T) {
	srv := start(t)
	resp, body, err := getFlag(t, &http.Client{Timeout: 5 * time.Second}, srv)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var answer struct {
		TTL int64 `json:"ttl_seconds"`
	}
	require.NoError(t, json.Unmarshal(body, &answer))
	assert.Equal(t, int64(900), answer.TTL)
}
