package reliability_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// 200 goroutines over pools that open and close a connection for every statement
// (SetMaxIdleConns(0)), on three hosts at once, two long-lived connectors per host and
// short-lived connectors coming and going on the same hosts: every statement returns
// its result, the hosts' reference counts go back to zero, no aggregator or exporter
// goroutine is left, and every session's connection log arrives once, authenticated.
// CI runs it with -race; -soak=D keeps every goroutine going for D.
func TestConcurrentPoolsOnSeveralHosts(t *testing.T) {
	const (
		goroutines   = 200
		hostsN       = 3
		perGoroutine = 4
	)
	var srvs []*warehouse.Server
	for range hostsN {
		srvs = append(srvs, startWarehouse(t))
	}
	ignore := goleak.IgnoreCurrent()
	var logs logBuffer
	hosts := driver.NewHosts(exporter.WithAttemptTimeout(5 * time.Second))
	open := func(srv *warehouse.Server) (*driver.Connector, *sql.DB) {
		c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&telemetry_flush_interval=50ms",
			driver.WithHosts(hosts), driver.WithLogger(logs.logger()))
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(c)
		db.SetMaxIdleConns(0) // every statement opens and closes its own session
		return c, db
	}
	type pool struct {
		srv *warehouse.Server
		c   *driver.Connector
		db  *sql.DB
	}
	var pools []pool
	for _, srv := range srvs {
		for range 2 {
			c, db := open(srv)
			pools = append(pools, pool{srv, c, db})
		}
	}

	var (
		wg        sync.WaitGroup
		ran, bad  atomic.Int64
		maxHosts  atomic.Int64
		failureMu sync.Mutex
		failures  []string
	)
	fail := func(format string, args ...any) {
		bad.Add(1)
		failureMu.Lock()
		defer failureMu.Unlock()
		if len(failures) < 5 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for g := range goroutines {
		wg.Go(func() {
			p := pools[g%len(pools)]
			db := p.db
			if g%10 == 9 {
				// A connector of its own, opened and closed around its statements, on a
				// host the long-lived ones share.
				_, db = open(p.srv)
				defer func() {
					if err := db.Close(); err != nil {
						fail("close a short-lived pool: %v", err)
					}
				}()
			}
			deadline := time.Now().Add(*soak)
			for k := 0; k < perGoroutine || time.Now().Before(deadline); k++ {
				var got int64
				var tag string
				want := fmt.Sprintf("g%d-%d", g, k)
				err := db.QueryRowContext(ctx, "SELECT ? * 2, ?", g*100+k, want).Scan(&got, &tag)
				ran.Add(1)
				if err != nil || got != int64(2*(g*100+k)) || tag != want {
					fail("goroutine %d statement %d: %d, %q, %v", g, k, got, tag, err)
				}
				maxHosts.Store(max(maxHosts.Load(), int64(hosts.Len())))
			}
		})
	}
	wg.Wait()
	if n := bad.Load(); n > 0 {
		t.Errorf("%d of %d statements failed, e.g. %v", n, ran.Load(), failures)
	}
	if n := maxHosts.Load(); n > hostsN {
		t.Errorf("%d hosts registered at once for %d warehouses", n, hostsN)
	}
	for _, srv := range srvs {
		if n := hosts.Refs("http://" + srv.Addr()); n != 2 {
			t.Errorf("host %s holds %d references with its two long-lived pools open", srv.Addr(), n)
		}
	}
	began := time.Now()
	for _, p := range pools {
		if err := p.db.Close(); err != nil {
			t.Errorf("db.Close: %v", err)
		}
	}
	// A batch whose answer came after its attempt's timeout (5 s, on a machine loaded
	// enough) went out again: its logs may arrive twice, and only then.
	retried := map[*warehouse.Server]bool{}
	for _, p := range pools {
		retried[p.srv] = retried[p.srv] || p.c.Stats().Exporter.Retries > 0
	}
	if d := time.Since(began); d > time.Duration(len(pools))*closeDeadline {
		t.Errorf("closing %d pools took %v", len(pools), d)
	}
	if n := hosts.Len(); n != 0 {
		t.Errorf("%d hosts still referenced after every db.Close", n)
	}
	for _, srv := range srvs {
		if n := hosts.Refs("http://" + srv.Addr()); n != 0 {
			t.Errorf("host %s keeps %d references", srv.Addr(), n)
		}
	}
	if err := goleak.Find(append([]goleak.Option{ignore}, driverOwned...)...); err != nil {
		t.Errorf("goroutines left after every db.Close: %v", err)
	}

	// Telemetry kept up: each warehouse's sessions have their connection logs, at most
	// once each, and nothing private went out.
	for i, srv := range srvs {
		sessions := map[string]bool{}
		for _, s := range srv.Sessions() {
			sessions[s.ID] = true
		}
		opened := map[string]int{}
		for _, s := range srv.TelemetryLogs() {
			var l telemetry.FrontendLog
			if err := json.Unmarshal([]byte(s), &l); err != nil {
				t.Fatalf("undecodable log: %v", err)
			}
			if d := l.Entry.SQLDriverLog; d.SQLOperation != nil && d.SQLOperation.OperationDetail != nil &&
				d.SQLOperation.OperationDetail.OperationType == telemetry.OpCreateSession {
				opened[d.SessionID]++
			}
		}
		for id, n := range opened {
			if !sessions[id] || n != 1 && (n == 0 || !retried[srv]) {
				t.Errorf("warehouse %d: session %q has %d CREATE_SESSION logs", i, id, n)
			}
		}
		if len(opened) < len(sessions) {
			t.Errorf("warehouse %d: %d sessions, %d CREATE_SESSION logs", i, len(sessions), len(opened))
		}
		scanTelemetry(t, srv, []string{srv.Token(), "SELECT", "g1-"})
		paths := map[string]int{}
		for _, r := range srv.TelemetryRequests() {
			paths[r.Path]++
		}
		t.Logf("warehouse %d: %d sessions, %d statements, %d logs received, requests %v, a batch sent again: %v", i, len(sessions), len(srv.Statements()), len(srv.TelemetryLogs()), paths, retried[srv])
	}
	for i, line := range logs.lines() {
		scanPrivate(t, fmt.Sprintf("debug log line %d", i), line, []string{"SELECT", "g1-"})
	}
	t.Logf("%d statements on %d goroutines, %d hosts at most, pools closed in %v", ran.Load(), goroutines, maxHosts.Load(), time.Since(began).Round(time.Millisecond))
}
