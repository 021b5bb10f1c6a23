package warehouse_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A status fault carries X-Databricks-Reason-Phrase, which the driver puts into the
// error it returns once it gives up on the request (DRIVER-PROTOCOL §1).
func TestStatusFaultReasonPhrase(t *testing.T) {
	srv := start(t)
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: http.StatusServiceUnavailable})
	resp, _, err := post(t, &http.Client{Timeout: 5 * time.Second}, srv, "/telemetry-ext", telemetryBody)
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "injected fault", resp.Header.Get("X-Databricks-Reason-Phrase"))
}
