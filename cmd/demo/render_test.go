package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// tableRow returns the trimmed cells of the first row whose first cell is first, in the
// table that follows the line containing title.
func tableRow(t *testing.T, text, title, first string) []string {
	t.Helper()
	_, after, ok := strings.Cut(text, title)
	require.True(t, ok, "no %q in:\n%s", title, text)
	for _, line := range strings.Split(after, "\n") {
		cells := strings.Split(line, "│")
		if len(cells) < 3 {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if cells[1] == first {
			return cells[1 : len(cells)-1]
		}
	}
	t.Fatalf("no row %q after %q in:\n%s", first, title, text)
	return nil
}

// The text report prints each figure of the Report where its header says: the headline's
// statement count, errors as terminal/retryable, the totals row, a phase's share of logs
// delivered, the batches by fate, the ingest's total and verdict, and each check's mark.
func TestWriteTextFigures(t *testing.T) {
	five, two := 5, 2
	r := &Report{
		Target: "http://127.0.0.1:1", Local: true, Dialect: "DuckDB", Concurrency: 3, ElapsedS: 4,
		Statements: 1234567, Interrupts: 1, Setup: 4, Histogram: []Bucket{{Label: "< 1 ms", ToMs: 1, Count: 1234566}},
		Kinds: []KindReport{
			{Kind: "missing-table", Count: 4, ErrorsTerminal: 4, Logs: 2},
			{Kind: "scan", Count: 3, Rows: 3_000_000, Bytes: 24_000_000, ErrorsRetryable: 1, Logs: 3, Chunks: 12, Polls: 5},
		},
		Phases: []PhaseReport{{Name: phaseBaseline, EndS: 2, Statements: 100, PerSecond: 50, Errors: 10, Logs: 50}},
		Telemetry: TelemetryReport{
			Enabled: true, Exported: 7, Batches: 10, Delivered: 6, BatchesFailed: 1, Rejected: 3, Retries: 2,
			ByKind: []LogKindRow{{Kind: logStatement, Exported: 5, Received: &five}, {Kind: logError, Exported: 2, Received: &two}},
		},
		Warehouse: &WarehouseReport{IngestLogs: 7},
		Checks:    []Check{{Name: "a", OK: true, Detail: "fine"}, {Name: "b", Detail: "wrong"}},
	}
	var b bytes.Buffer
	writeText(&b, r)
	text := b.String()

	require.Contains(t, text, "1,234,567 statements (and 4 for setup), 1 of them interrupted, in 4.0 s on 3 connections against the local warehouse at http://127.0.0.1:1 (DuckDB), finished.")
	require.Contains(t, text, "  but the 1 interrupted, which have no latency to show.\n")
	for _, tc := range []struct {
		title, row string
		col        int
		want       string
	}{
		{"Statements by kind", "missing-table", 7, "4/0"},
		{"Statements by kind", "scan", 7, "0/1"},
		{"Statements by kind", "total", 1, "7"},
		{"Statements by kind", "total", 5, "3,000,000"},
		{"Statements by kind", "total", 7, "4/1"},
		{"Statements by kind", "total", 8, "5"},
		{"Statements by kind", "total", 10, "12"},
		{"Statements by kind", "total", 11, "5"},
		{"The workload by phase", phaseBaseline, 3, "100"},
		{"The workload by phase", phaseBaseline, 8, "10"},
		{"The workload by phase", phaseBaseline, 9, "50 (50%)"},
		{"Logs by kind", "total", 1, "7"},
		{"Logs by kind", "total", 2, "7"},
	} {
		row := tableRow(t, text, tc.title, tc.row)
		require.Greater(t, len(row), tc.col, "%s %s: %q", tc.title, tc.row, row)
		require.Equal(t, tc.want, row[tc.col], "%s, row %s, column %d: %q", tc.title, tc.row, tc.col, row)
	}
	require.Contains(t, text, "batches 10: 6 delivered, 1 failed after retries, 3 dropped at once by the open breaker; retries 2;")
	require.Contains(t, text, "Connector.Stats().Exported = 7; the warehouse ingest received 7: they agree.")
	require.Contains(t, text, "  AGREE    a: fine\n")
	require.Contains(t, text, "  DISAGREE b: wrong\n")

	r.Warehouse.IngestLogs = 6
	b.Reset()
	writeText(&b, r)
	require.Contains(t, b.String(), "Connector.Stats().Exported = 7; the warehouse ingest received 6: they DISAGREE.")
}

// The note under the statements blames fewer logs than statements on the outage only
// where there was one: against the local warehouse, not against -dsn.
func TestKindsNoteNamesTheOutageOnlyLocally(t *testing.T) {
	for _, tc := range []struct {
		local      bool
		want, fail string
	}{
		{true, "the outage lost some", "telemetry dropped some"},
		{false, "telemetry dropped some", "outage"},
	} {
		var b bytes.Buffer
		writeKinds(&b, &Report{Local: tc.local, Kinds: []KindReport{{Kind: "lookup", Count: 2, Logs: 1}}})
		require.Contains(t, b.String(), tc.want, "local %v", tc.local)
		require.NotContains(t, b.String(), tc.fail, "local %v", tc.local)
	}
}

// The outage line says what the endpoint did: 503s and a hang when requests met them, and
// that it was down with no export meanwhile when none did (-queries 1).
func TestOutageLineSaysWhatWasServed(t *testing.T) {
	served := outageLine(&outageResult{Began: 1, Hang: 2, Opened: 2.5, Ended: 4, Served: 9, Note: "interrupted"})
	require.Equal(t, "503s from 1.0 s, hang from 2.0 s, breaker open at 2.5 s (interrupted)", served)
	none := outageLine(&outageResult{Began: 0, Ended: 0.3, Note: "the workload ended before the breaker closed again"})
	require.Equal(t, "endpoint down from 0.0 s to 0.3 s, and no export came meanwhile (the workload ended before the breaker closed again)", none)
}
