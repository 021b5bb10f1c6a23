package reliability_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// db.Close while the telemetry endpoint hangs, with an export in flight and more logs
// queued behind it, keeps its deadline: the final flush is cut at 2 s, the batch in
// flight counts as failed, the logs still queued count as unfinished, every log is
// accounted for when Close returns, and no goroutine is left. The fault matrix clears each fault before it
// closes the database, so none of its Close calls meets a hanging ingest: a Close that
// waited for the export in flight, or that lost the count of the logs left queued,
// passed it.
func TestCloseWhileTheIngestHangs(t *testing.T) {
	const statements = 50
	srv := startWarehouse(t)
	ignore := goleak.IgnoreCurrent()
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Hang: true, Times: -1})
	// An attempt outlasts the close deadline; every 10 logs make a batch, which the
	// export goroutine sends at once (no timer flush meanwhile).
	hosts := driver.NewHosts(exporter.WithAttemptTimeout(time.Minute))
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&telemetry_batch_size=10&telemetry_flush_interval=1h&telemetry_retry_count=0",
		driver.WithHosts(hosts))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for k := range statements {
		var got int
		if err := db.QueryRowContext(ctx, "SELECT ? + 1", k).Scan(&got); err != nil || got != k+1 {
			t.Fatalf("statement %d: %d, %v", k, got, err)
		}
	}
	if !waitFor(10*time.Second, func() bool { return c.Stats().Exporter.Batches > 0 }) {
		t.Fatalf("no batch went to the hanging ingest: %+v", c.Stats())
	}

	began := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("db.Close: %v", err)
		}
	case <-time.After(closeDeadline + 10*time.Second):
		t.Fatalf("db.Close has not returned after %v with the ingest hanging; the deadline is 2 s", time.Since(began))
	}
	took := time.Since(began)
	if took > closeDeadline {
		t.Errorf("db.Close took %v with the ingest hanging; the deadline is 2 s", took)
	}

	// Close cancels the export in flight shortly before its deadline, and the export
	// goroutine has counted what it gave up when Close returns: Stats read at once adds up.
	st := c.Stats()
	if lost := st.Queued - st.Exported - st.Dropped.QueueFull - st.Dropped.ExportFailed - st.Dropped.Unfinished; lost != 0 || st.Pending != 0 {
		t.Errorf("logs unaccounted for after Close: %d (pending %d): %+v", lost, st.Pending, st)
	}
	// What the case is about: a batch was in flight and logs waited behind it.
	if st.Dropped.ExportFailed == 0 || st.Dropped.Unfinished == 0 {
		t.Errorf("want the batch in flight failed and the queued logs unfinished at the deadline: %+v", st)
	}
	if st.Exported != 0 {
		t.Errorf("%d logs counted as exported to an ingest that never answered", st.Exported)
	}
	if n := hosts.Len(); n != 0 {
		t.Errorf("%d hosts still referenced after db.Close", n)
	}
	if err := goleak.Find(append([]goleak.Option{ignore}, driverOwned...)...); err != nil {
		t.Errorf("goroutines left after db.Close: %v", err)
	}
	t.Logf("db.Close in %v: %+v", took.Round(time.Millisecond), st.Dropped)
}
