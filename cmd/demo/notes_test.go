package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// The report's own figures call for a note where a reader would otherwise be left to
// work it out: a run whose telemetry reached the endpoint not once, and a local run whose
// budget left a phase without a statement of its own.
func TestOutcomeNotes(t *testing.T) {
	phases := func(n ...int) []PhaseReport {
		names := []string{phaseBaseline, phaseOutage, phaseRecovery}
		var ps []PhaseReport
		for i, s := range n {
			ps = append(ps, PhaseReport{Name: names[i], Statements: s})
		}
		return ps
	}
	for _, tc := range []struct {
		name string
		r    Report
		want []string // the notes, by a part of each
	}{
		{name: "healthy", r: Report{Local: true, Phases: phases(10, 20, 30),
			Telemetry: TelemetryReport{Enabled: true, Queued: 60, Exported: 40}}},
		{name: "nothing delivered", r: Report{Telemetry: TelemetryReport{Enabled: true, Queued: 9, Batches: 3, DroppedTotal: 9,
			Answers: map[string]int{"503": 3}}},
			want: []string{"no telemetry log was delivered: the telemetry endpoint acknowledged none of the 3 batch(es) sent (answers: 503 ×3), so the 9 log(s) were dropped"}},
		{name: "nothing delivered, most batches never sent: the open breaker dropped them", r: Report{Telemetry: TelemetryReport{Enabled: true, Queued: 622,
			Batches: 38, Rejected: 33, DroppedTotal: 622, Answers: map[string]int{"404": 5}}},
			want: []string{"acknowledged none of the 5 batch(es) sent (answers: 404 ×5; 33 more dropped at once by the open breaker, never sent), so the 622 log(s) were dropped"}},
		{name: "off: nothing to deliver", r: Report{Telemetry: TelemetryReport{Enabled: false}}},
		{name: "on, nothing queued", r: Report{Telemetry: TelemetryReport{Enabled: true}}},
		{name: "a phase without statements", r: Report{Local: true, Phases: phases(8, 0, 0),
			Telemetry: TelemetryReport{Enabled: true, Queued: 8, Exported: 8}},
			want: []string{"the outage and recovery phases ran no statement: the budget (12s or 8 statements) was spent"}},
		{name: "the baseline alone empty", r: Report{Local: true, Phases: phases(0, 5, 5),
			Telemetry: TelemetryReport{Enabled: true, Queued: 8, Exported: 8}},
			want: []string{"the baseline phase ran no statement"}},
		{name: "interrupted: phases cut by Ctrl-C, not by the budget", r: Report{Local: true, Interrupted: true, Phases: phases(8, 0, 0),
			Telemetry: TelemetryReport{Enabled: true, Queued: 8, Exported: 8}}},
		{name: "a real warehouse has one phase", r: Report{Phases: []PhaseReport{{Name: phaseWorkload}},
			Telemetry: TelemetryReport{Enabled: true, Queued: 8, Exported: 8}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			notes := outcomeNotes(&tc.r, "the budget (12s or 8 statements)")
			require.Len(t, notes, len(tc.want), "%q", notes)
			for i, w := range tc.want {
				assert.Contains(t, notes[i], w)
			}
		})
	}
}

// Against an endpoint that refuses every batch the run still succeeds (telemetry never
// fails the application), and the report says that nothing was delivered.
func TestNothingDeliveredIsNoted(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: 503, Times: -1})
	t.Setenv(envDSN, srv.DSN()+"?telemetry_retry_count=0&telemetry_flush_interval=50ms")
	t.Setenv(telemetry.DisableEnv, "")
	r := runReport(t, "-queries", "4", "-concurrency", "1")
	require.Zero(t, r.Telemetry.Exported)
	require.Positive(t, r.Telemetry.Queued)
	require.Contains(t, strings.Join(r.Notes, "\n"), "no telemetry log was delivered")
}

// A setup that fails ends its progress line with "failed" (the progress would otherwise
// stop at the setup's goal), and the run exits 1 with the error.
func TestSetupFailureIsShown(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	t.Setenv(envDSN, strings.Replace(srv.DSN(), "token:", "token:wrong", 1))
	var stdout, stderr bytes.Buffer
	code, _ := runDemo(context.Background(), []string{"-queries", "4", "-concurrency", "1"}, &stdout, &stderr, cheaperScan)
	require.Equal(t, exitFailed, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	require.Contains(t, stdout.String(), "setup: failed", "stdout:\n%s", stdout.String())
	require.Contains(t, stderr.String(), "demo: ")
}
