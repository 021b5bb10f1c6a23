package aggregator

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// nopExporter accepts every batch at once.
type nopExporter struct{}

func (nopExporter) Export(context.Context, []*telemetry.FrontendLog) error { return nil }
func (nopExporter) Close(context.Context) error                            { return nil }

const eventsPerStatement = 6 // start, 4 chunks, complete

// statementEvents fills evs with the events of one CloudFetch statement.
func statementEvents(evs *[eventsPerStatement]telemetry.Event, session, id string) {
	evs[0] = telemetry.Event{Kind: telemetry.KindStatementStart, SessionID: session, StatementID: id,
		OperationType: telemetry.OpExecuteStatement, StatementType: telemetry.StatementQuery}
	for i := 1; i <= 4; i++ {
		evs[i] = telemetry.Event{Kind: telemetry.KindChunk, SessionID: session, StatementID: id,
			ChunkIndex: int32(i - 1), Latency: time.Duration(i) * time.Millisecond, Bytes: 4 << 20, Compressed: true}
	}
	evs[5] = telemetry.Event{Kind: telemetry.KindStatementComplete, SessionID: session, StatementID: id,
		ResultFormat: telemetry.ResultExternalLinks, ChunksPresent: 4, PollCount: 2,
		Latency: 900 * time.Millisecond, ResultReadyLatency: 300 * time.Millisecond, ConsumptionLatency: 600 * time.Millisecond}
}

func statementIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("01ef%s-%04x-7c5a-9d2e-%012x", prefix, i, i*7919)
	}
	return ids
}

// BenchmarkEmitToAggregator: one event through an enabled Emitter into the aggregator,
// on one goroutine (ns/op and allocs/op of the hot path).
func BenchmarkEmitToAggregator(b *testing.B) {
	a := New(nopExporter{}, WithSystemConfiguration(&telemetry.SystemConfiguration{}))
	defer a.Close(context.Background())
	em := telemetry.NewEmitter(a, telemetry.WithLookupEnv(func(string) (string, bool) { return "", false }))
	ids := statementIDs("aa", 1024)
	var evs [eventsPerStatement]telemetry.Event
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % eventsPerStatement
		if k == 0 {
			statementEvents(&evs, "sess", ids[(i/eventsPerStatement)%len(ids)])
		}
		em.Emit(&evs[k])
	}
	b.StopTimer()
	reportDrops(b, a)
}

// BenchmarkThroughput8Emitters: 8 goroutines emit CloudFetch statements (start, 4 chunks,
// complete) through one Emitter into one Aggregator with the default configuration and an
// exporter that accepts at once. Reports events/s across all emitters.
func BenchmarkThroughput8Emitters(b *testing.B) {
	const emitters = 8
	a := New(nopExporter{}, WithSystemConfiguration(&telemetry.SystemConfiguration{}))
	em := telemetry.NewEmitter(a, telemetry.WithLookupEnv(func(string) (string, bool) { return "", false }))
	ids := make([][]string, emitters)
	for g := range ids {
		ids[g] = statementIDs(fmt.Sprintf("%02x", g), 4096)
	}
	per := b.N/emitters + 1
	b.ReportAllocs()
	b.ResetTimer()
	began := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < emitters; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var evs [eventsPerStatement]telemetry.Event
			for i := 0; i < per; i++ {
				k := i % eventsPerStatement
				if k == 0 {
					statementEvents(&evs, "sess", ids[g][(i/eventsPerStatement)%len(ids[g])])
				}
				em.Emit(&evs[k])
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(began)
	b.StopTimer()
	b.ReportMetric(float64(emitters*per)/elapsed.Seconds(), "events/s")
	_ = a.Close(context.Background())
	reportDrops(b, a)
}

func reportDrops(b *testing.B, a *Aggregator) {
	s := a.Stats()
	b.ReportMetric(float64(s.Dropped.Total()), "dropped")
	b.ReportMetric(float64(s.Exported), "logs-exported")
}

// BenchmarkBuildLogs: turning a batch of 100 finished statements into FrontendLogs, on the
// export goroutine.
func BenchmarkBuildLogs(b *testing.B) {
	a := New(nopExporter{}, WithSystemConfiguration(&telemetry.SystemConfiguration{}))
	defer a.Close(context.Background())
	var evs [eventsPerStatement]telemetry.Event
	statementEvents(&evs, "sess", "01ef-stmt")
	e := &entry{id: "01ef-stmt", session: "sess"}
	for i := range evs {
		mergeStatement(&e.stmt, &evs[i])
	}
	recs := make([]record, 100)
	for i := range recs {
		recs[i] = statementRecord(e, &evs[5], time.Now())
	}
	var dst []*telemetry.FrontendLog
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = a.buildLogs(dst[:0], recs)
	}
}

// BenchmarkStatementStartComplete: one small query's events through an enabled Emitter
// into the aggregator, on one goroutine: the aggregator's share of the driver's
// per-query hot path. "separate" sends statement.start, then statement.complete (a
// statement whose start was emitted: its rows stayed open, or on a connection the
// driver does not track); "carried" sends the completion alone, carrying the start, as
// the driver does for a statement it held back (see AddHandOver). Statement ids are new
// for every statement, as the driver's are. ns/op is per statement.
func BenchmarkStatementStartComplete(b *testing.B) {
	for _, carried := range []bool{false, true} {
		name := "separate"
		if carried {
			name = "carried"
		}
		b.Run(name, func(b *testing.B) {
			a := New(nopExporter{}, WithSystemConfiguration(&telemetry.SystemConfiguration{}))
			defer a.Close(context.Background())
			em := telemetry.NewEmitter(a, telemetry.WithLookupEnv(func(string) (string, bool) { return "", false }))
			ids := statementIDs("bb", 1<<16)
			began := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := ids[i%len(ids)]
				done := telemetry.Event{Kind: telemetry.KindStatementComplete, Time: began.Add(2 * time.Millisecond),
					SessionID: "sess", StatementID: id, Latency: 2 * time.Millisecond, ResultFormat: telemetry.ResultInlineArrow,
					ResultReadyLatency: time.Millisecond, ConsumptionLatency: time.Millisecond}
				if carried {
					done.OperationType, done.StatementType = telemetry.OpExecuteStatement, telemetry.StatementQuery
				} else {
					start := telemetry.Event{Kind: telemetry.KindStatementStart, Time: began, Latency: time.Millisecond,
						SessionID: "sess", StatementID: id, OperationType: telemetry.OpExecuteStatement,
						StatementType: telemetry.StatementQuery, ResultFormat: telemetry.ResultInlineArrow}
					em.Emit(&start)
				}
				em.Emit(&done)
			}
			b.StopTimer()
			reportDrops(b, a)
		})
	}
}
