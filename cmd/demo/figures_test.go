package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// figuresInputs is a run whose every figure is known by construction: 100 lookups of 1…100
// ms in the baseline, then failing, cut and slow statements in the outage, 2 DDL, six
// delivered logs (one of them neither an operation nor an error) and the telemetry
// counters of an outage.
func figuresInputs(t *testing.T) inputs {
	t.Helper()
	var mix []sample
	for i := 1; i <= 100; i++ {
		mix = append(mix, sample{kind: kindLookup, phase: 0, id: fmt.Sprintf("l%d", i), latency: time.Duration(i) * time.Millisecond, rows: 1, bytes: 24})
	}
	terminal := telemetry.Class{Name: "not_found", SQLState: "42P01", Terminal: true}
	for i := range 4 {
		mix = append(mix, sample{kind: kindMissing, phase: 1, id: fmt.Sprintf("m%d", i), latency: 2 * time.Millisecond, err: errors.New("missing"), class: terminal})
	}
	timeout := telemetry.Class{Name: "timeout"}
	mix = append(mix,
		sample{kind: kindCancelled, phase: 1, id: "c1", latency: time.Second, err: context.DeadlineExceeded, class: timeout},
		sample{kind: kindCancelled, phase: 1, id: "c2", latency: time.Second, err: context.DeadlineExceeded, class: timeout},
		// Ctrl-C: an interruption, not an error, and no latency.
		sample{kind: kindCancelled, phase: 1, latency: 5 * time.Millisecond, err: context.Canceled, class: timeout, interrupted: true},
		sample{kind: kindSlow, phase: 1, id: "s1", latency: 1500 * time.Millisecond, rows: 1, bytes: 8},
		sample{kind: kindSlow, phase: 1, id: "s2", latency: 1500 * time.Millisecond, rows: 1, bytes: 8},
		sample{kind: kindSlow, phase: 1, id: "s3", latency: 1500 * time.Millisecond, rows: 1, bytes: 8},
		// An aggregate that failed where none should: retryable, unexpected, and quick.
		sample{kind: kindAggregate, phase: 1, id: "a1", latency: 3 * time.Millisecond, err: errors.New("boom"), class: telemetry.Class{Name: "server_error"}},
	)
	ddl := []sample{
		{kind: kindDDL, phase: -1, id: "d1", latency: 3 * time.Millisecond},
		{kind: kindDDL, phase: -1, id: "d2", latency: 3 * time.Millisecond, rows: 1000},
	}
	stmtLog := func(id string, op *telemetry.SQLOperation) telemetry.FrontendLog {
		return telemetry.FrontendLog{Entry: &telemetry.LogEntry{SQLDriverLog: &telemetry.SQLDriverLog{SQLStatementID: id, SQLOperation: op}}}
	}
	logs := []telemetry.FrontendLog{
		stmtLog("", &telemetry.SQLOperation{OperationDetail: &telemetry.OperationDetail{OperationType: telemetry.OpCreateSession}}),
		stmtLog("l1", &telemetry.SQLOperation{ExecutionResult: "INLINE_ARROW"}),
		stmtLog("s1", &telemetry.SQLOperation{ExecutionResult: "INLINE_ARROW", ChunkDetails: &telemetry.ChunkDetails{TotalChunksIterated: 3}}),
		stmtLog("s2", &telemetry.SQLOperation{ExecutionResult: "INLINE_ARROW", OperationDetail: &telemetry.OperationDetail{NOperationStatusCalls: 2}}),
		{Entry: &telemetry.LogEntry{SQLDriverLog: &telemetry.SQLDriverLog{SQLStatementID: "c1", ErrorInfo: &telemetry.ErrorInfo{ErrorName: "timeout"}}}},
		{Entry: &telemetry.LogEntry{SQLDriverLog: &telemetry.SQLDriverLog{SessionID: "x"}}}, // neither an operation nor an error
	}
	var delivered []string
	for i := range logs {
		b, err := json.Marshal(&logs[i])
		require.NoError(t, err)
		delivered = append(delivered, string(b))
	}
	runStart := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return inputs{
		opts: options{concurrency: 3, duration: 12 * time.Second}, d: duckDB, scanRows: 10,
		mix: mix, ddl: ddl, runStart: runStart, enabled: true, delivered: delivered,
		phases: []phaseSpan{{name: phaseBaseline, start: 0, end: 2 * time.Second}, {name: phaseOutage, start: 2 * time.Second, end: 4 * time.Second}},
		stats: aggregator.Stats{
			Received: 20, Queued: 13, Exported: 6, Batches: 10, BatchesFailed: 4, Retried: 2,
			Exporter: telemetry.ExportStats{BatchesFailed: 1, BatchesRejected: 3, BreakerOpened: 1},
			Dropped:  aggregator.Dropped{ExportFailed: 5, Unfinished: 2},
			Evicted:  aggregator.Evicted{Capacity: 2, TTL: 1},
		},
		transitions: []exporter.Transition{{From: telemetry.BreakerClosed, To: telemetry.BreakerOpen, At: runStart.Add(1500 * time.Millisecond)}},
		answers:     map[int]int{200: 6, 503: 2, 0: 1},
	}
}

// buildReport's figures are the samples' and the logs', counted as the report says: by
// kind (count, nearest-rank percentiles, rows, bytes, errors by class, interruptions,
// and what the delivered logs say), by phase, in the histogram, the errors table and the
// telemetry counters.
func TestBuildReportFigures(t *testing.T) {
	r := buildReport(figuresInputs(t))

	require.Equal(t, 111, r.Statements, "workload statements, DDL excluded")
	require.Equal(t, 1, r.Interrupts)
	byKind := map[string]KindReport{}
	for _, k := range r.Kinds {
		byKind[k.Kind] = k
	}
	require.Equal(t, KindReport{
		Kind: "lookup", Description: kinds[kindLookup].desc, Count: 100, P50Ms: 50, P95Ms: 95, P99Ms: 99, Rows: 100, Bytes: 2400,
		Logs: 1, Delivery: map[string]int{"INLINE_ARROW": 1},
	}, byKind["lookup"])
	require.Equal(t, KindReport{
		Kind: "cancelled", Description: kinds[kindCancelled].desc, Count: 3, P50Ms: 1000, P95Ms: 1000, P99Ms: 1000,
		ErrorsRetryable: 2, Interrupted: 1, ErrorLogs: 1,
	}, byKind["cancelled"])
	require.Equal(t, KindReport{
		Kind: "slow", Description: kinds[kindSlow].desc, Count: 3, P50Ms: 1500, P95Ms: 1500, P99Ms: 1500, Rows: 3, Bytes: 24,
		Logs: 2, Delivery: map[string]int{"INLINE_ARROW": 2}, Chunks: 3, Polls: 2,
	}, byKind["slow"])
	require.Equal(t, 4, byKind["missing-table"].ErrorsTerminal)
	require.Zero(t, byKind["missing-table"].ErrorsRetryable)
	require.Equal(t, 1, byKind["aggregate"].ErrorsRetryable)
	require.Equal(t, 2, byKind["setup"].Count, "DDL has its row")
	require.Equal(t, int64(1000), byKind["setup"].Rows)

	require.Len(t, r.Phases, 2)
	require.Equal(t, PhaseReport{Name: phaseBaseline, StartS: 0, EndS: 2, Statements: 100, PerSecond: 50, QuickP50Ms: 50, QuickP95Ms: 95, QuickP99Ms: 99, Logs: 1}, r.Phases[0])
	// The outage's quick statement is the failed aggregate alone (slow ones are not quick);
	// its errors are the failures, not the interruption.
	require.Equal(t, PhaseReport{Name: phaseOutage, StartS: 2, EndS: 4, Statements: 11, PerSecond: 5.5, QuickP50Ms: 3, QuickP95Ms: 3, QuickP99Ms: 3, Errors: 7, Logs: 2}, r.Phases[1])

	counts := map[string]int{}
	total := 0
	for _, b := range r.Histogram {
		counts[b.Label] = b.Count
		total += b.Count
	}
	require.Equal(t, 110, total, "every workload statement but the interrupted one, DDL excluded")
	require.Equal(t, map[string]int{
		"0 ms–1 ms": 0, "1 ms–2 ms": 1, "2 ms–5 ms": 3 + 4 + 1, "5 ms–10 ms": 5, "10 ms–20 ms": 10, "20 ms–50 ms": 30,
		"50 ms–100 ms": 50, "100 ms–200 ms": 1, "200 ms–500 ms": 0, "500 ms–1 s": 0, "1 s–2 s": 2 + 3, "≥ 2 s": 0,
	}, counts, "a latency on an edge counts in the bucket it opens")

	type errRow struct {
		kind, name, class string
		count, logs       int
		expected          bool
	}
	var errs []errRow
	for _, e := range r.Errors {
		errs = append(errs, errRow{e.Kind, e.Name, e.Class, e.Count, e.TelemetryLogs, e.Expected})
	}
	require.Equal(t, []errRow{
		{"aggregate", "server_error", classRetryable, 1, 0, false},
		{"missing-table", "not_found", classTerminal, 4, 0, true},
		{"cancelled", "timeout", classRetryable, 2, 1, true},
	}, errs)

	tel := r.Telemetry
	require.Equal(t, [3]int64{6, 1, 3}, [3]int64{tel.Delivered, tel.BatchesFailed, tel.Rejected}, "delivered, failed after retries, rejected by the breaker")
	require.Equal(t, int64(10), tel.Batches)
	require.Equal(t, int64(2), tel.Retries)
	require.Equal(t, int64(7), tel.DroppedTotal)
	require.Equal(t, int64(3), tel.Evicted)
	require.Equal(t, 6, tel.DeliveredLogs)
	require.Equal(t, map[string]int{"200": 6, "503": 2, "no answer": 1}, tel.Answers)
	require.Equal(t, []LogKindRow{{Kind: logConnOpen, Exported: 1}, {Kind: logConnClose}, {Kind: logStatement, Exported: 3}, {Kind: logError, Exported: 1}, {Kind: logOther, Exported: 1}}, tel.ByKind)
	require.Len(t, tel.Transitions, 1)
	require.InDelta(t, 1.5, tel.Transitions[0].AtS, 1e-9)
}
