package aggregator

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/dbtelemetry/dbtelemetry/internal/testmem"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// A closed aggregator keeps its counters (Stats after Close), not the buffers it used
// while it ran: its shards' outboxes, maps and free entries, the queue's rings and the
// export goroutine's batch buffers. Whoever holds a closed aggregator holds it all the
// same: a Connector the program keeps for its Stats, or, with the driver, the driver's
// own 15-minute timeout watcher of each connection, which keeps the connection's context
// and transport, and through them its connector, long after db.Close (sql.Open and Close
// per request leave one closed aggregator per request behind for 15 minutes).
func TestClosedAggregatorKeepsNoBuffers(t *testing.T) {
	const n = 16
	before := testmem.LiveHeap()
	aggs := make([]*Aggregator, n)
	for i := range aggs {
		hang := make(chan struct{})
		exp := discardExporter{hang: hang} // the queue fills up while the ingest hangs
		a := New(exp, WithFlushInterval(time.Hour), WithBatchSize(100))
		for k := range 600 {
			id := fmt.Sprintf("stmt-%d-%d", i, k)
			a.Handle(start(id))
			if k%2 == 0 {
				a.Handle(complete(id)) // the other half stays open until Close
			}
		}
		close(hang)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = a.Close(ctx)
		cancel()
		<-a.done
		aggs[i] = a
	}
	per := (testmem.LiveHeap() - before) / n
	runtime.KeepAlive(aggs)
	// Its struct and its shards' counters, plus a little, and a little more per shard (a
	// machine of many CPUs has up to 64): one shard's outbox alone is about 5 KiB.
	shards := int64(len(aggs[0].shards))
	limit := int64(unsafe.Sizeof(Aggregator{})) + shards*(int64(unsafe.Sizeof(shard{}))+64) + 8<<10
	t.Logf("a closed aggregator of %d shards retains %d B (limit %d B)", len(aggs[0].shards), per, limit)
	if per > limit {
		t.Errorf("a closed aggregator retains %d KiB (more than %d KiB): its buffers outlive Close", per>>10, limit>>10)
	}
	st := aggs[0].Stats()
	if st.Queued != st.Exported+st.Dropped.QueueFull+st.Dropped.ExportFailed+st.Dropped.Unfinished || st.Pending != 0 || st.OpenStatements != 0 {
		t.Errorf("Stats after Close do not add up: %+v", st)
	}
}

// discardExporter keeps nothing; it waits for hang (or its ctx) first.
type discardExporter struct{ hang chan struct{} }

func (d discardExporter) Export(ctx context.Context, _ []*telemetry.FrontendLog) error {
	select {
	case <-d.hang:
	case <-ctx.Done():
	}
	return nil
}

func (discardExporter) Close(context.Context) error { return nil }
