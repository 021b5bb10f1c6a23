package exporter

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// A 2xx is the ingest's acknowledgement (see attempt): the batch is delivered, also when
// the caller's context ends while the rest of the answer is read (a slow or hostile
// ingest, or the aggregator's Close cutting the export in flight at its deadline).
// failsafe returns ctx.Err() when ctx ends during an attempt, whatever the attempt
// produced; run keeps the success.
func TestAcknowledgedBatchIsDeliveredWhenTheCallerLeavesDuringItsAnswer(t *testing.T) {
	srv, rc := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"errors":[`))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the rest never comes
	})
	// Debug on: the answer's body is read for the debug line. Each attempt's own
	// timeout, 5 s, is not what ends it.
	e := newTestExporter(t, srv, WithLogger(zerolog.New(io.Discard).Level(zerolog.DebugLevel)))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := e.Export(ctx, batch(2))
	equal(t, rc.hits.Load(), int64(1), "the server received the batch once")
	noErr(t, err, "a batch the server acknowledged with 200")
	st := e.ExportStats()
	equal(t, st.LogsExported, int64(2), "logs exported")
	equal(t, st.BatchesFailed, int64(0), "batches failed")
}
