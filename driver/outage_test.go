package driver_test

// Memory during a telemetry outage: the application queries at full rate while the
// warehouse's telemetry ingest hangs every request. Telemetry must hold a bounded amount
// of memory and a fixed number of goroutines whatever the outage lasts.
//
// The warehouse runs in a child process (this test binary, re-executed), so that the heap
// and goroutines measured are the client's alone: the warehouse keeps a record of every
// statement it ran, which would otherwise grow with the query count.
//
// The CI version runs 5 s with generous bounds. The soak runs 60 s and checks the goal
// (heap growth ≤ 10 %, no goroutine growth after warm-up):
//
//	DBTELEMETRY_SOAK=60s go test -run TestOutageMemory -v ./driver/

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

const (
	soakEnv         = "DBTELEMETRY_SOAK"
	outageChildEnv  = "DBTELEMETRY_OUTAGE_WAREHOUSE"
	outageChildTest = "TestOutageWarehouseProcess"
)

// outagePlan is how long the outage runs and how the exporter meets it.
type outagePlan struct {
	duration, warmup, sample time.Duration
	attempt, breakerDelay    time.Duration // per-attempt timeout; how long the breaker stays open
	maxHeapGrowth            float64       // bound on (highest heap after warm-up) / (highest at warm-up) - 1
	maxGoroutineGrowth       int           // bound on the goroutines after warm-up over those at warm-up
}

func planFromEnv(t *testing.T) outagePlan {
	short := outagePlan{duration: 5 * time.Second, warmup: 1500 * time.Millisecond, sample: 250 * time.Millisecond,
		attempt: 200 * time.Millisecond, breakerDelay: time.Second, maxHeapGrowth: 0.5, maxGoroutineGrowth: 4}
	v := os.Getenv(soakEnv)
	if v == "" {
		return short
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 60s", soakEnv, v)
	}
	t.Logf("soak: %s", d)
	return outagePlan{duration: d, warmup: d / 4, sample: time.Second,
		attempt: time.Second, breakerDelay: 5 * time.Second, maxHeapGrowth: 0.10, maxGoroutineGrowth: 0}
}

// TestOutageWarehouseProcess is the child process of TestOutageMemory: a warehouse whose
// telemetry ingest hangs, until its stdin closes. It does nothing in a normal run.
func TestOutageWarehouseProcess(t *testing.T) {
	if os.Getenv(outageChildEnv) != "1" {
		t.Skip("the child process of TestOutageMemory")
	}
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Hang: true, Times: -1})
	fmt.Printf("DSN %s\n", srv.DSN())
	_, _ = io.Copy(io.Discard, os.Stdin)
	require.NoError(t, srv.Close())
}

// startOutageWarehouse runs the child warehouse and returns its DSN; it stops at cleanup.
func startOutageWarehouse(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+outageChildTest+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), outageChildEnv+"=1")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if dsn, ok := strings.CutPrefix(lines.Text(), "DSN "); ok {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return dsn
		}
	}
	t.Fatalf("the warehouse process gave no DSN: %v", lines.Err())
	return ""
}

// sample is one measurement of the process.
type sample struct {
	at         time.Duration
	heap       uint64 // live heap after a GC
	goroutines int
	queries    int64
}

func measure(at time.Duration, queries int64) sample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return sample{at: at, heap: ms.HeapAlloc, goroutines: runtime.NumGoroutine(), queries: queries}
}

func TestOutageMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for seconds")
	}
	plan := planFromEnv(t)
	dsn := startOutageWarehouse(t)

	hosts := driver.NewHosts(exporter.WithAttemptTimeout(plan.attempt),
		exporter.WithBreaker(exporter.DefaultBreakerFailures, plan.breakerDelay, exporter.DefaultBreakerSuccesses))
	c, err := driver.OpenConnector(dsn+"?enableTelemetry=true&telemetry_flush_interval=100ms", driver.WithHosts(hosts))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	db.SetMaxIdleConns(e2eClients)
	defer func() {
		require.NoError(t, db.Close())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, hosts.Close(ctx))
	}()

	// Full rate: e2eClients clients, each a query after the other. A sample is taken
	// between queries (pause), so that it counts no query's request in flight: what varies
	// is telemetry's alone.
	ctx, stop := context.WithCancel(context.Background())
	var pause sync.RWMutex
	var queries atomic.Int64
	var failures atomic.Int64
	var wg sync.WaitGroup
	for range e2eClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				pause.RLock()
				var n int
				if err := db.QueryRowContext(ctx, e2eSmallQuery).Scan(&n); err != nil && ctx.Err() == nil {
					failures.Add(1)
				}
				pause.RUnlock()
				queries.Add(1)
			}
		}()
	}

	began := time.Now()
	var samples []sample
	tick := time.NewTicker(plan.sample)
	for time.Since(began) < plan.duration {
		<-tick.C
		pause.Lock()
		samples = append(samples, measure(time.Since(began), queries.Load()))
		pause.Unlock()
	}
	tick.Stop()
	stop()
	wg.Wait()
	stats := c.Stats()

	// The warm-up is over when the export queue is full and the exporter has been through
	// its failures: from then on nothing may grow. The reference is the highest heap and
	// goroutine count of the warm-up's second half (an export attempt in flight holds a
	// batch and a connection's goroutines, and comes and goes); after it, neither may rise
	// above that by more than the plan's bounds. The heap's trend (least squares over the
	// samples after warm-up) is reported, not bounded: over a few seconds the collector's
	// sawtooth moves it more than a leak would.
	// On a loaded machine a sample waits for the queries in flight and may come late: when
	// none fell in the warm-up's second half, its last sample is the reference.
	var ref, lastWarm sample
	var after []sample
	for _, s := range samples {
		switch {
		case s.at > plan.warmup:
			after = append(after, s)
		default:
			lastWarm = s
			if s.at > plan.warmup/2 {
				ref.heap, ref.goroutines = max(ref.heap, s.heap), max(ref.goroutines, s.goroutines)
				ref.at, ref.queries = s.at, s.queries
			}
		}
	}
	if ref.heap == 0 {
		ref = lastWarm
	}
	require.NotEmpty(t, after)
	require.NotZero(t, ref.heap, "no sample in the warm-up")
	var top sample
	for _, s := range after {
		top.heap, top.goroutines = max(top.heap, s.heap), max(top.goroutines, s.goroutines)
	}
	last := after[len(after)-1]
	growth := float64(top.heap)/float64(ref.heap) - 1
	rate := float64(last.queries-ref.queries) / (last.at - ref.at).Seconds()

	t.Logf("%-8s %10s %10s %10s", "at", "heap KiB", "goroutines", "queries")
	for _, s := range samples {
		t.Logf("%-8s %10d %10d %10d", s.at.Round(time.Millisecond), s.heap>>10, s.goroutines, s.queries)
	}
	t.Logf("outage: %.0f queries/s; heap at warm-up %d KiB, max after %d KiB (%+.1f%%, bound %.0f%%), trend %+.0f KiB/min; "+
		"goroutines at warm-up %d, max after %d (bound +%d); telemetry: %d events, %d logs queued, %d exported, "+
		"%d dropped (queue full %d), %d batches failed, breaker %s",
		rate, ref.heap>>10, top.heap>>10, 100*growth, 100*plan.maxHeapGrowth, heapTrend(after)/1024,
		ref.goroutines, top.goroutines, plan.maxGoroutineGrowth, stats.Received, stats.Queued, stats.Exported,
		stats.Dropped.Total(), stats.Dropped.QueueFull, stats.BatchesFailed, stats.Breaker)

	assert.Zero(t, failures.Load(), "queries fail while telemetry is out")
	assert.Positive(t, stats.Received, "telemetry was on")
	assert.Zero(t, stats.Exported, "the ingest hung: nothing can have been exported")
	assert.LessOrEqual(t, growth, plan.maxHeapGrowth, "heap growth after warm-up")
	assert.LessOrEqual(t, top.goroutines-ref.goroutines, plan.maxGoroutineGrowth, "goroutine growth after warm-up")
}

// heapTrend is the least-squares slope of the heap over the samples, in bytes per minute.
func heapTrend(ss []sample) float64 {
	if len(ss) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, s := range ss {
		x, y := s.at.Minutes(), float64(s.heap)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(len(ss))
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}
