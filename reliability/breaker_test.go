package reliability_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// The host's circuit breaker counts as the reference drivers' do, through the real
// driver: with the ingest answering 500, each flushed batch is one failure and the fifth
// opens the breaker, not an earlier one; after its delay, with the ingest healthy again,
// the first good batch leaves it half-open and the second closes it. The fault matrix
// shows only that storms open the breaker and that it closes after the fault: a breaker
// that opened after two failures, or closed after one good probe, passed it.
func TestBreakerThresholdsThroughTheDriver(t *testing.T) {
	srv := startWarehouse(t)
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: 500, Times: -1})
	hosts := driver.NewHosts(exporter.WithBreaker(exporter.DefaultBreakerFailures, breakerDelay, exporter.DefaultBreakerSuccesses))
	// No timer flush and no retry: a batch is one Flush, and one attempt.
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&telemetry_flush_interval=1h&telemetry_retry_count=0",
		driver.WithHosts(hosts))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer func() {
		if err := db.Close(); err != nil {
			t.Errorf("db.Close: %v", err)
		}
	}()
	ctx := context.Background()
	// batch runs a statement, whose log is then the batch, and flushes it.
	batch := func() error {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil || n != 1 {
			t.Fatalf("SELECT 1: %d, %v", n, err)
		}
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return c.Flush(fctx)
	}
	state := func() telemetry.BreakerState { return lastState(c.Transitions()) }

	for _, tc := range []struct {
		name    string
		fault   bool // the ingest answers 500
		batches int
		during  telemetry.BreakerState // after each batch but the last
		after   telemetry.BreakerState // after the last
	}{
		{"failed batches open it at the fifth", true, exporter.DefaultBreakerFailures, telemetry.BreakerClosed, telemetry.BreakerOpen},
		{"good probes close it at the second", false, exporter.DefaultBreakerSuccesses, telemetry.BreakerHalfOpen, telemetry.BreakerClosed},
	} {
		if !tc.fault {
			srv.ClearFaults(warehouse.GroupTelemetry)
			time.Sleep(breakerDelay + 50*time.Millisecond) // open → half-open at the next batch
		}
		for i := 1; i <= tc.batches; i++ {
			err := batch()
			if tc.fault != (err != nil) {
				t.Fatalf("%s: batch %d: flush returned %v", tc.name, i, err)
			}
			want := tc.during
			if i == tc.batches {
				want = tc.after
			}
			if got := state(); got != want {
				t.Fatalf("%s: after batch %d the breaker is %s, want %s: %s", tc.name, i, got, want, transitions(c.Transitions()))
			}
		}
	}
	if got, want := transitions(c.Transitions()), "closed→open→half-open→closed"; got != want {
		t.Errorf("breaker history %s, want %s", got, want)
	}
	if st := c.Stats().Exporter; st.BatchesFailed != int64(exporter.DefaultBreakerFailures) || st.BreakerOpened != 1 {
		t.Errorf("want %d failed batches and one opening: %+v", exporter.DefaultBreakerFailures, st)
	}
}
