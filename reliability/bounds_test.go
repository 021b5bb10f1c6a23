package reliability_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// MaxOpenStatements bounds the statements the host's aggregator holds, through the real
// driver: with the rows of more queries left open than the limit, each on a connection of
// its own, the aggregator never holds more than the limit, evicts the oldest to make room
// (each evicted statement still logged), and every log is accounted for after db.Close.
// The fault matrix checks the bound against the default 5000 with a workload that never
// has more than a handful of statements open: a limit that was never enforced passed it.
func TestOpenStatementsStayWithinTheLimit(t *testing.T) {
	const limit, open = 4, 12
	srv := startWarehouse(t)
	cfg := telemetry.DefaultConfig()
	cfg.MaxOpenStatements = limit
	cfg.FlushInterval = 50 * time.Millisecond
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true",
		driver.WithHosts(driver.NewHosts()), driver.WithTelemetryConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rows []*sql.Rows
	defer func() {
		for _, r := range rows {
			_ = r.Close()
		}
	}()
	for k := range open {
		r, err := db.QueryContext(ctx, "SELECT range AS v FROM range(3)")
		if err != nil {
			t.Fatalf("query %d: %v", k, err)
		}
		rows = append(rows, r)
		if !r.Next() {
			t.Fatalf("query %d: no first row: %v", k, r.Err())
		}
		// Stats hands the open rows' starts over to the aggregator first.
		if st := c.Stats(); st.OpenStatements > limit {
			t.Errorf("with %d queries' rows open the aggregator holds %d statements; the limit is %d", k+1, st.OpenStatements, limit)
		}
	}
	if st := c.Stats(); st.OpenStatements != limit || st.Evicted.Capacity != open-limit {
		t.Errorf("with %d queries' rows open: %d statements held, %d evicted for room; want %d and %d",
			open, st.OpenStatements, st.Evicted.Capacity, limit, open-limit)
	}
	for _, r := range rows {
		if err := r.Close(); err != nil {
			t.Errorf("rows.Close: %v", err)
		}
	}
	rows = nil
	if err := db.Close(); err != nil {
		t.Errorf("db.Close: %v", err)
	}
	st := c.Stats()
	if lost := st.Queued - st.Exported - st.Dropped.QueueFull - st.Dropped.ExportFailed - st.Dropped.Unfinished; lost != 0 || st.Pending != 0 {
		t.Errorf("logs unaccounted for after Close: %d (pending %d): %+v", lost, st.Pending, st)
	}
	if st.Exported == 0 || int64(len(srv.TelemetryLogs())) < st.Exported {
		t.Errorf("the ingest received %d logs; the exporter counted %d delivered", len(srv.TelemetryLogs()), st.Exported)
	}
}
