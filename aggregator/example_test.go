package aggregator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// printExporter prints each log as JSON, without the fields that change on every run.
type printExporter struct{}

func (printExporter) Export(_ context.Context, logs []*telemetry.FrontendLog) error {
	for _, l := range logs {
		c := l.Clone() // the log is the aggregator's: change a copy
		c.FrontendLogEventID = "UUID"
		c.Context.ClientContext.TimestampMillis = 0
		b, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("marshal: %w", err)
		}
		fmt.Println(string(b))
	}
	return nil
}

func (printExporter) Close(context.Context) error { return nil }

func ExampleAggregator() {
	agg := aggregator.New(printExporter{},
		aggregator.WithBatchSize(100),
		aggregator.WithFlushInterval(5*time.Second),
		aggregator.WithSystemConfiguration(&telemetry.SystemConfiguration{DriverName: telemetry.DriverName, DriverVersion: "1.15.1"}),
	)
	noEnv := func(string) (string, bool) { return "", false }
	em := telemetry.NewEmitter(agg, telemetry.WithLookupEnv(noEnv))

	// What the driver wrapper emits for one CloudFetch query.
	em.Emit(&telemetry.Event{Kind: telemetry.KindStatementStart, SessionID: "s1", StatementID: "q1",
		StatementType: telemetry.StatementQuery})
	em.Emit(&telemetry.Event{Kind: telemetry.KindChunk, SessionID: "s1", StatementID: "q1",
		ChunkIndex: 0, Latency: 40 * time.Millisecond, Bytes: 1 << 20, Compressed: true})
	em.Emit(&telemetry.Event{Kind: telemetry.KindChunk, SessionID: "s1", StatementID: "q1",
		ChunkIndex: 1, Latency: 60 * time.Millisecond, Bytes: 1 << 20, Compressed: true})
	em.Emit(&telemetry.Event{Kind: telemetry.KindStatementComplete, SessionID: "s1", StatementID: "q1",
		ResultFormat: telemetry.ResultExternalLinks, ChunksPresent: 2, PollCount: 1,
		PollLatency: 15 * time.Millisecond, Latency: 300 * time.Millisecond,
		ResultReadyLatency: 180 * time.Millisecond, ConsumptionLatency: 120 * time.Millisecond})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = agg.Flush(ctx) // the timer or a full batch would do it too
	_ = agg.Close(ctx)

	s := agg.Stats()
	fmt.Printf("received=%d exported=%d dropped=%d\n", s.Received, s.Exported, s.Dropped.Total())
	// Output:
	// {"frontend_log_event_id":"UUID","context":{"client_context":{"client_type":"golang-dbtelemetry","client_version":"0.1.0"}},"entry":{"sql_driver_log":{"session_id":"s1","sql_statement_id":"q1","operation_latency_ms":300,"system_configuration":{"driver_version":"1.15.1","driver_name":"databricks-sql-go"},"sql_operation":{"statement_type":"QUERY","is_compressed":true,"execution_result":"EXTERNAL_LINKS","chunk_details":{"initial_chunk_latency_millis":40,"slowest_chunk_latency_millis":60,"total_chunks_present":2,"total_chunks_iterated":2,"sum_chunks_download_time_millis":100},"result_latency":{"result_set_ready_latency_millis":180,"result_set_consumption_latency_millis":120},"operation_detail":{"n_operation_status_calls":1,"operation_status_latency_millis":15,"operation_type":"EXECUTE_STATEMENT"}}}}}
	// received=4 exported=1 dropped=0
}

// A caller that holds a statement's start back (as the driver does while the statement's
// rows are open) hands it over when the aggregator asks: here at Close, which then logs
// the statement as one whose rows were never closed.
func ExampleAggregator_AddHandOver() {
	// A clock that stands still, for the output's sake: the statement's latency runs from
	// its hand-over to Close, which on the real clock may take a millisecond or more.
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	agg := aggregator.New(printExporter{},
		aggregator.WithSystemConfiguration(&telemetry.SystemConfiguration{DriverName: telemetry.DriverName, DriverVersion: "1.15.1"}),
		aggregator.WithClock(func() time.Time { return now }),
	)
	// fn may run on the export goroutine and on Close's at once: the held start is
	// taken atomically, so that it is handed over exactly once.
	var held atomic.Pointer[telemetry.Event]
	held.Store(&telemetry.Event{Kind: telemetry.KindStatementStart, SessionID: "s1", StatementID: "q1",
		StatementType: telemetry.StatementQuery})
	remove := agg.AddHandOver(func() {
		if ev := held.Swap(nil); ev != nil {
			agg.Handle(*ev)
		}
	})
	defer remove()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = agg.Close(ctx)

	s := agg.Stats()
	fmt.Printf("received=%d evicted at close=%d\n", s.Received, s.Evicted.Close)
	// Output:
	// {"frontend_log_event_id":"UUID","context":{"client_context":{"client_type":"golang-dbtelemetry","client_version":"0.1.0"}},"entry":{"sql_driver_log":{"session_id":"s1","sql_statement_id":"q1","operation_latency_ms":0,"system_configuration":{"driver_version":"1.15.1","driver_name":"databricks-sql-go"},"sql_operation":{"statement_type":"QUERY","operation_detail":{"operation_type":"EXECUTE_STATEMENT"}}}}}
	// received=1 evicted at close=1
}

// A producer that runs one statement at a time (the driver: a connection) hands the
// completions of statements that had no other event to an Outbox of its own: each is its
// statement's whole log, built without a shard's lock. It closes the Outbox when it stops.
func ExampleAggregator_NewOutbox() {
	agg := aggregator.New(printExporter{},
		aggregator.WithSystemConfiguration(&telemetry.SystemConfiguration{DriverName: telemetry.DriverName, DriverVersion: "1.15.1"}),
	)
	box := agg.NewOutbox()

	// A query read at once: its completion carries its start (operation and type).
	box.Complete(&telemetry.Event{Kind: telemetry.KindStatementComplete, SessionID: "s1", StatementID: "q1",
		OperationType: telemetry.OpExecuteStatement, StatementType: telemetry.StatementQuery,
		ResultFormat: telemetry.ResultInlineArrow, Latency: 12 * time.Millisecond,
		ResultReadyLatency: 10 * time.Millisecond, ConsumptionLatency: 2 * time.Millisecond})
	box.Close() // the connection closes: its logs go to the export queue

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = agg.Close(ctx)

	s := agg.Stats()
	fmt.Printf("received=%d exported=%d outboxes=%d\n", s.Received, s.Exported, s.Outboxes)
	// Output:
	// {"frontend_log_event_id":"UUID","context":{"client_context":{"client_type":"golang-dbtelemetry","client_version":"0.1.0"}},"entry":{"sql_driver_log":{"session_id":"s1","sql_statement_id":"q1","operation_latency_ms":12,"system_configuration":{"driver_version":"1.15.1","driver_name":"databricks-sql-go"},"sql_operation":{"statement_type":"QUERY","execution_result":"INLINE_ARROW","result_latency":{"result_set_ready_latency_millis":10,"result_set_consumption_latency_millis":2},"operation_detail":{"operation_type":"EXECUTE_STATEMENT"}}}}}
	// received=1 exported=1 outboxes=0
}
