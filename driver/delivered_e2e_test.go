package driver_test

import (
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// An ingest that acknowledges the final flush with 200 and is slow to send the rest of
// its answer: the pool's Close ends the export at its deadline while the answer is still
// read, but the server holds the logs: they count as exported, not as dropped.
func TestAcknowledgedFinalFlushCountsAsExported(t *testing.T) {
	var received atomic.Int64
	slowAnswer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ProtoLogs []string `json:"protoLogs"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &req)
		received.Add(int64(len(req.ProtoLogs)))
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"errors":[],`)
		w.(http.Flusher).Flush()
		select { // the rest of the answer comes late
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		_, _ = io.WriteString(w, `"numSuccess":1}`)
	})
	srv, err := warehouse.NewServer(warehouse.WithTelemetryHandler(slowAnswer))
	require.NoError(t, err)
	defer srv.Close()
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithHosts(driver.NewHosts()))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	var n int
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&n))
	require.NoError(t, db.Close()) // the final flush, cut at the 2 s CloseTimeout
	st := c.Stats()
	require.Positive(t, received.Load(), "the ingest received and acknowledged the logs")
	assert.Equal(t, received.Load(), st.Exported, "logs the server acknowledged are exported")
	assert.Zero(t, st.Dropped.ExportFailed, "none of them counted as dropped")
	assert.Zero(t, st.Exporter.BatchesFailed)
}
