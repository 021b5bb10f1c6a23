package driver_test

import (
	"context"
	"database/sql"
	"runtime"
	"testing"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/internal/testmem"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A pool opened and closed per request (the sql.Open-per-request anti-pattern) leaves
// its connector reachable after db.Close: the driver's own 15-minute timeout watcher of
// each connection (see docs/RELIABILITY.md) keeps the connection's context and transport,
// and through them the connector, as a program that keeps the Connector for its Stats
// does. What a closed connector keeps must then be small: with telemetry on, no more
// than a few KiB over a connector with telemetry off. Its closed aggregator used to keep
// every buffer it had used (shard outboxes, batch buffers, the queue's rings): about
// 100 KiB per closed pool on 2 CPUs, 150 KiB on 16, for 15 minutes.
func TestClosedPoolsKeepLittleMemory(t *testing.T) {
	srv, err := warehouse.NewServer(warehouse.WithStatementRecords(10))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const pools = 100
	perPool := func(param string) int64 {
		hosts := driver.NewHosts()
		defer hosts.Close(context.Background())
		kept := make([]*driver.Connector, 0, pools)
		before := testmem.LiveHeap()
		for range pools {
			c, err := driver.OpenConnector(srv.DSN()+"?"+param, driver.WithHosts(hosts))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			for k := range 10 { // a request's statements
				var n int
				if err := db.QueryRowContext(context.Background(), "SELECT ?", k).Scan(&n); err != nil || n != k {
					t.Fatal(n, err)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			kept = append(kept, c)
		}
		_ = srv.TakeTelemetryRequests() // the warehouse's records are not the pools'
		per := (testmem.LiveHeap() - before) / pools
		runtime.KeepAlive(kept)
		return per
	}
	perPool("enableTelemetry=false") // warm up
	off := perPool("enableTelemetry=false")
	on := perPool("enableTelemetry=true")
	t.Logf("a closed pool keeps %d B with telemetry on, %d B with it off (GOMAXPROCS %d)", on, off, runtime.GOMAXPROCS(0))
	if extra := on - off; extra > 48<<10 {
		t.Errorf("a closed pool with telemetry on keeps %d KiB more than one with it off", extra>>10)
	}
}
