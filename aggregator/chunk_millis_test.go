package aggregator

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// chunk_details must be self-consistent: the slowest chunk took at least the average
// chunk time (sum / iterated), and the first chunk took no more than the slowest. The
// reference drivers sum per-chunk whole milliseconds, so this always holds there. Here
// three sub-millisecond downloads (0.7 ms each) give a slowest and initial chunk of 0 ms
// but a sum of 2 ms: an average of 0.67 ms from chunks none of which took a millisecond.
func TestChunkLatenciesConsistent(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp)
	for _, ev := range []telemetry.Event{
		start("q1"),
		chunk("q1", 0, 700*time.Microsecond, false),
		chunk("q1", 1, 700*time.Microsecond, false),
		chunk("q1", 2, 700*time.Microsecond, false),
		{Kind: telemetry.KindStatementComplete, SessionID: "sess-1", StatementID: "q1", ResultFormat: telemetry.ResultExternalLinks,
			ChunksPresent: 3, Latency: 10 * time.Millisecond, ResultReadyLatency: 5 * time.Millisecond, ConsumptionLatency: 5 * time.Millisecond},
	} {
		a.Handle(ev)
	}
	flush(t, a)
	byID := byStatement(exp.logs())
	require.Contains(t, byID, "q1")
	cd := byID["q1"].SQLOperation.ChunkDetails
	require.NotNil(t, cd)
	t.Logf("chunk_details: %+v", *cd)
	require.Equal(t, int32(3), cd.TotalChunksIterated)
	assert.LessOrEqual(t, cd.SumChunksDownloadTimeMillis, cd.SlowestChunkLatencyMillis*int64(cd.TotalChunksIterated),
		"sum_chunks_download_time_millis cannot exceed slowest_chunk_latency_millis × total_chunks_iterated")
	assert.LessOrEqual(t, cd.InitialChunkLatencyMillis, cd.SlowestChunkLatencyMillis)
}
