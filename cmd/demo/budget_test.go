package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// With -queries, the baseline ends at a quarter of the statements done, not of the
// duration: of 200 statements on 2 connections with a minute to spend (a quarter of it
// outlasts the workload), the baseline ends after about 50 and the other phases run the
// rest.
func TestQueriesBudgetEndsBaseline(t *testing.T) {
	t.Setenv(envDSN, "")
	t.Setenv(telemetry.DisableEnv, "")
	phases := runReport(t, "-queries", "200", "-concurrency", "2", "-duration", "60s").Phases
	require.Len(t, phases, 3)
	require.Equal(t, 200, phases[0].Statements+phases[1].Statements+phases[2].Statements)
	require.Less(t, phases[0].Statements, 200, "the baseline ended at a quarter of the statements: %+v", phases)
}

// With the server's feature flag off, the events held while the connector waited for its
// answer are dropped and counted (Dropped.Undecided): the note says so, with their number.
// The flag answers late, so that the first statements' events wait for it.
func TestFlagOffNote(t *testing.T) {
	srv, err := warehouse.NewServer(warehouse.WithTelemetryFlag(false))
	require.NoError(t, err)
	defer srv.Close()
	srv.InjectFaults(warehouse.GroupFeatureFlag, warehouse.Fault{Latency: time.Second, Times: -1})
	t.Setenv(envDSN, srv.DSN())
	t.Setenv(telemetry.DisableEnv, "")
	r := runReport(t, "-queries", "4", "-concurrency", "1")
	d := r.Telemetry.Dropped
	require.Positive(t, d.Undecided, "%+v", d)
	require.Contains(t, strings.Join(r.Notes, "\n"),
		fmt.Sprintf("the %d event(s) held for its answer were dropped", d.Closed+d.Undecided))
}

// runReport runs the demo with args and -json (the cheaper scan of the tests), requires
// it to succeed, and returns its report.
func runReport(t *testing.T, args ...string) *Report {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code, res := runDemo(context.Background(), append(args, "-json"), &stdout, &stderr, cheaperScan)
	require.Equal(t, exitOK, code, "stderr:\n%s", stderr.String())
	require.NotNil(t, res)
	require.NotNil(t, res.report)
	return res.report
}
