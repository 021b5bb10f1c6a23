package driver_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// An ingest that acknowledges the final flush with 200 and is slow to send the rest of
// its answer. The logs count as exported, never as dropped: without debug logging the
// answer is not read, and the pool's Close does not wait for it; with it, Close ends the
// export at its deadline while the answer is still read, and the server holds the logs
// all the same.
func TestAcknowledgedFinalFlushCountsAsExported(t *testing.T) {
	for _, debug := range []bool{false, true} {
		t.Run(fmt.Sprint("debug ", debug), func(t *testing.T) {
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
			level := zerolog.InfoLevel
			if debug {
				level = zerolog.DebugLevel
			}
			c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithHosts(driver.NewHosts()),
				driver.WithLogger(zerolog.New(io.Discard).Level(level)))
			require.NoError(t, err)
			db := sql.OpenDB(c)
			var n int
			require.NoError(t, db.QueryRow("SELECT 1").Scan(&n))
			began := time.Now()
			require.NoError(t, db.Close()) // the final flush, within the 2 s CloseTimeout
			if !debug {
				assert.Less(t, time.Since(began), time.Second, "Close did not wait for the answer")
			}
			st := c.Stats()
			require.Positive(t, received.Load(), "the ingest received and acknowledged the logs")
			assert.Equal(t, received.Load(), st.Exported, "logs the server acknowledged are exported")
			assert.Zero(t, st.Dropped.ExportFailed, "none of them counted as dropped")
			assert.Zero(t, st.Exporter.BatchesFailed)
		})
	}
}
