package driver_test

// End-to-end benchmarks against the local warehouse, through the real driver over real
// HTTP. Each workload is one benchmark function whose sub-benchmarks are the ways of
// opening the database: the raw driver; wrapped with our telemetry on; wrapped with it
// off; the raw driver with its own built-in telemetry on. They run one after the other
// in one process, each on a fresh warehouse (so that none runs against the records and
// heap the previous one left); then "paired" runs them in turns on one warehouse, with a
// second raw driver and the raw driver under sqlmw's NullInterceptor as controls (see
// e2ePaired; a turn is one settling op and four measured ones on the small queries, one
// op on the big results: see turn), for ratios that hold on a machine whose load varies
// from one second to the next.
// `go run ./internal/benchreport` prints the ratios.
//
// The warehouse runs in this process, on the same CPUs as the client: its work is part
// of every variant's time alike. Our telemetry and the built-in's go to light ingests
// (see openWrapped and openBuiltin).

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/ngrok/sqlmw"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/internal/ingesttest"
	"github.com/dbtelemetry/dbtelemetry/internal/paired"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

const (
	e2eSmallQuery  = "SELECT 1"
	e2eInlineQuery = "SELECT range FROM range(100000)"  // at the 100k-row threshold: inline Arrow
	e2eCloudQuery  = "SELECT range FROM range(1000000)" // 4 CloudFetch files of 250k rows
	e2eClients     = 8
)

// e2eVariant opens the database one way.
type e2eVariant struct {
	name string
	open func(tb testing.TB, srv e2eTarget) *sql.DB
}

// e2eVariants are the four ways, in report order.
func e2eVariants() []e2eVariant {
	return []e2eVariant{
		{"raw", func(tb testing.TB, srv e2eTarget) *sql.DB {
			return sqlOpen(tb, "databricks", srv.DSN())
		}},
		{"wrapped-on", func(tb testing.TB, srv e2eTarget) *sql.DB {
			return openWrapped(tb, srv, true)
		}},
		{"wrapped-off", func(tb testing.TB, srv e2eTarget) *sql.DB {
			return openWrapped(tb, srv, false)
		}},
		// The driver's own telemetry, on as enableTelemetry=true sets it (so no flag fetch
		// decides it), its posts delivered to a light ingest (see openBuiltin).
		{"builtin-on", openBuiltin},
	}
}

func sqlOpen(tb testing.TB, name, dsn string) *sql.DB {
	db, err := sql.Open(name, dsn)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// openWrapped is sql.Open("databricks-telemetry", dsn) with hosts of its own, so that the
// variant's exporter and aggregator are made and closed with it. Its telemetry goes to a
// light ingest of its own (ingesttest).
func openWrapped(tb testing.TB, srv e2eTarget, on bool) *sql.DB {
	ingest := httptest.NewServer(http.HandlerFunc(ingesttest.Handler))
	tb.Cleanup(ingest.Close)
	base := http.DefaultTransport.(*http.Transport).Clone()
	tb.Cleanup(base.CloseIdleConnections)
	toIngest := &ingesttest.Redirect{Host: ingest.Listener.Addr().String(), Base: base}
	hosts := driver.NewHosts(exporter.WithHTTPClient(&http.Client{Transport: toIngest}))
	dsn := srv.DSN() + "?enableTelemetry=false"
	if on {
		dsn = srv.DSN() + "?enableTelemetry=true"
	}
	c, err := driver.OpenConnector(dsn, driver.WithHosts(hosts))
	require.NoError(tb, err)
	db := sql.OpenDB(c)
	tb.Cleanup(func() {
		_ = db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hosts.Close(ctx)
	})
	return db
}

// Why a light ingest (ingesttest.Handler) rather than the warehouse's own: the
// warehouse's ingest decodes each batch (about 6 µs per log) and keeps it in memory for
// its records (a heap that grows by about 1 KB per query); in this process, both would be
// charged to the telemetry variants alone. BenchmarkExportToWarehouse measures the
// warehouse's ingest.

// e2eBench runs the workload body (one op) on each variant as a sub-benchmark of its
// own, each on a fresh warehouse (or the one e2eServer names) with a warm pool of
// e2eClients connections, and reports besides the time the process's CPU time per op
// (cpu-ns/op: client and, in this process, warehouse, which the machine's other load
// barely moves); then "paired" runs it on all four at once, in turns (see e2ePaired).
func e2eBench(b *testing.B, t turn, body func(db *sql.DB) error) {
	for _, v := range e2eVariants() {
		b.Run(v.name, func(b *testing.B) {
			db := v.open(b, e2eServer(b))
			warm(b, db)
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				if err := body(db); err != nil {
					b.Fatal(err)
				}
			}
			if cpu := processCPU() - cpu; cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			}
		})
	}
	b.Run("paired", func(b *testing.B) { e2ePaired(b, body, t) })
}

// turn is how a paired run takes turns: each variant runs settle ops unmeasured, then
// measured ops. An op pays for what the op before it left behind: the built-in
// telemetry's work after each statement slows the next op by 40–50 µs, whichever
// variant runs it (by about a quarter of that with 300 µs idle between ops). Measured
// one op per turn, the built-in's cost fell on the other variants, and its own
// `SELECT 1` came out at 0.97× the raw driver's. The settling ops take that, so that
// each variant's measured ops pay for its own aftermath only, as they would in an
// application that uses one driver. The 8 clients' op (8 statements at once, about 2 ms)
// leaves 8 statements' aftermath: it settles too. On the big results (30 ms and more) it
// is under half a percent of an op, and settling would multiply their run time.
type turn struct{ settle, measured int }

var (
	smallTurn = turn{settle: 1, measured: 4}
	bigTurn   = turn{settle: 0, measured: 1}
)

// e2ePaired runs a turn (see turn) on every variant per iteration, in a new random order
// each iteration, all on one warehouse, and reports each variant's mean time per
// measured op (<variant>-ns/op) and the ratios of those means: on/raw, off/raw,
// builtin/raw and on/builtin. Measured at the same moments, the ratios hold on a machine
// whose load changes from one second to the next, where those of the sequential
// sub-benchmarks drift. The order is shuffled so that no variant always follows the
// same one. A second raw driver runs along (raw2/raw): two identical instances differ by
// that much, the noise floor of the run. So does the raw driver under sqlmw with
// NullInterceptor (null/raw): the floor, end to end, of any sqlmw interceptor. Each
// ratio comes in time and in the process's CPU time (<ratio>-cpu), and in time with its
// standard error over the turns (<ratio>-se). What the
// variants share (the process's GC, the CPUs) is shared in production too; a variant's
// garbage is collected on everyone's time here, so its own share of the GC is understated.
func e2ePaired(b *testing.B, body func(db *sql.DB) error, t turn) {
	vs := append(e2eVariants(), e2eVariant{"sqlmw-null", openNull}, e2eVariant{"raw2", e2eVariants()[0].open})
	dbs := make([]*sql.DB, len(vs))
	srv := e2eServer(b) // one for all: no variant runs on a luckier instance
	for i, v := range vs {
		dbs[i] = v.open(b, srv)
		warm(b, dbs[i])
	}
	// Each variant's ops run under a pprof label (variant=raw, wrapped-on, …, raw2), and
	// so do the goroutines the driver starts for them (CloudFetch downloads): a CPU
	// profile of the run splits by variant (go tool pprof -tagfocus variant=wrapped-on).
	labelled := make([]context.Context, len(vs)) // made once: a switch costs no allocation
	for i, v := range vs {
		labelled[i] = pprof.WithLabels(context.Background(), pprof.Labels("variant", v.name))
	}
	cpu := make([]time.Duration, len(vs)) // the process's CPU time during the measured ops
	perTurn := make([][]float64, len(vs)) // each turn's measured time
	b.ResetTimer()
	paired.Turns(b, len(vs), paired.Seed(1), func(j int) {
		var turn time.Duration
		for k := range t.settle + t.measured {
			began, cpuBegan := time.Now(), processCPU()
			pprof.SetGoroutineLabels(labelled[j])
			err := body(dbs[j])
			pprof.SetGoroutineLabels(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if k >= t.settle {
				turn += time.Since(began)
				cpu[j] += processCPU() - cpuBegan
			}
		}
		perTurn[j] = append(perTurn[j], float64(turn))
	})
	b.StopTimer()
	for j, v := range vs[:5] {
		var spent float64
		for _, d := range perTurn[j] {
			spent += d
		}
		b.ReportMetric(spent/float64(b.N*t.measured), v.name+"-ns/op")
	}
	// Each ratio is a variant's time over its reference's, with its standard error from
	// its spread over the turns (see paired.Ratio): how far the run's ratio may be from
	// the one more turns would give.
	ratios := []struct {
		unit string
		a, c int
	}{{"on/raw", 1, 0}, {"off/raw", 2, 0}, {"builtin/raw", 3, 0}, {"on/builtin", 1, 3}, {"null/raw", 4, 0}, {"raw2/raw", 5, 0}}
	for _, q := range ratios {
		r, se := paired.Ratio(perTurn[q.a], perTurn[q.c])
		b.ReportMetric(r, q.unit)
		if !math.IsNaN(se) {
			b.ReportMetric(se, q.unit+"-se")
		}
	}
	// The same ratios in CPU time: what the process spent while each variant's ops ran
	// (its client and the warehouse's work for it, and whatever ran in the background
	// then), which the machine's other load does not stretch as it stretches time.
	if cpu[0] > 0 {
		for _, q := range ratios {
			b.ReportMetric(float64(cpu[q.a])/float64(cpu[q.c]), q.unit+"-cpu")
		}
	}
}

// openNull is the raw driver under sqlmw with NullInterceptor (the same connector as
// sql.Open("databricks", dsn) makes, wrapped): what any sqlmw interceptor pays before it
// does anything.
func openNull(tb testing.TB, srv e2eTarget) *sql.DB {
	d := sqlmw.Driver(sqlOpen(tb, "databricks", srv.DSN()).Driver(), sqlmw.NullInterceptor{})
	return openDB(tb, connectorOf(tb, d, srv.DSN()))
}

// connectorOf is d's connector for dsn.
func connectorOf(tb testing.TB, d sqldriver.Driver, dsn string) sqldriver.Connector {
	c, err := d.(sqldriver.DriverContext).OpenConnector(dsn)
	require.NoError(tb, err)
	return c
}

// openDB is sql.OpenDB(c), closed with the test.
func openDB(tb testing.TB, c sqldriver.Connector) *sql.DB {
	db := sql.OpenDB(c)
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// e2eTarget is the warehouse an end-to-end benchmark runs against: all its variants
// need is the DSN.
type e2eTarget interface{ DSN() string }

// elsewhere is a warehouse outside the benchmark's process, by its DSN.
type elsewhere string

func (e elsewhere) DSN() string { return string(e) }

// e2eServer is the end-to-end benchmarks' warehouse: the one paired.WarehouseEnv names
// (benchreport -warehouse), else a local one in this process, closed with the benchmark.
// In this process, the warehouse's work and garbage share the CPUs and the heap with the
// client's, so that a ratio's denominator counts the server's time too; in a process of
// its own, the process's CPU time is the client's alone.
func e2eServer(b *testing.B) e2eTarget {
	if dsn := os.Getenv(paired.WarehouseEnv); dsn != "" {
		return elsewhere(dsn)
	}
	srv, err := warehouse.NewServer()
	require.NoError(b, err)
	b.Cleanup(func() { _ = srv.Close() })
	return srv
}

// warm opens e2eClients connections and runs one query on each.
func warm(b *testing.B, db *sql.DB) {
	db.SetMaxIdleConns(e2eClients)
	ctx := context.Background()
	conns := make([]*sql.Conn, e2eClients)
	for i := range conns {
		c, err := db.Conn(ctx)
		require.NoError(b, err)
		var n int
		require.NoError(b, c.QueryRowContext(ctx, e2eSmallQuery).Scan(&n))
		conns[i] = c
	}
	for _, c := range conns {
		_ = c.Close()
	}
}

func smallQuery(db *sql.DB) error {
	var n int
	return db.QueryRowContext(context.Background(), e2eSmallQuery).Scan(&n)
}

// readAll runs query and reads every row; it fails unless there are want rows.
func readAll(db *sql.DB, query string, want int64) error {
	rows, err := db.QueryContext(context.Background(), query)
	if err != nil {
		return err
	}
	var v, n int64
	for rows.Next() {
		if err := rows.Scan(&v); err != nil {
			_ = rows.Close()
			return err
		}
		n++
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("read %d rows, want %d", n, want)
	}
	return nil
}

// concurrentWave is the op of the concurrent workload: e2eClients clients run one
// SELECT 1 each, at once. A short op makes the paired run's turns short: on this
// workload the machine's speed drifts by a fifth from one 20 ms stretch to the next
// (waves of 64 queries varied that much, raw against raw), and only turns about as
// short as the drift take it out of the ratios.
func concurrentWave(db *sql.DB) error {
	errs := make(chan error, e2eClients)
	for range e2eClients {
		go func() { errs <- smallQuery(db) }()
	}
	var first error
	for range e2eClients {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// BenchmarkE2ESmallQuery: one SELECT 1 per op, one client.
func BenchmarkE2ESmallQuery(b *testing.B) { e2eBench(b, smallTurn, smallQuery) }

// BenchmarkE2EConcurrent8: per op, 8 clients run a SELECT 1 each, at once (8 queries).
func BenchmarkE2EConcurrent8(b *testing.B) { e2eBench(b, smallTurn, concurrentWave) }

// BenchmarkE2EInline100k: a 100,000-row result, delivered inline as Arrow batches, read
// row by row.
func BenchmarkE2EInline100k(b *testing.B) {
	e2eBench(b, bigTurn, func(db *sql.DB) error { return readAll(db, e2eInlineQuery, 100_000) })
}

// BenchmarkE2ECloudFetch1M: a 1,000,000-row result, delivered as CloudFetch files, read
// row by row.
func BenchmarkE2ECloudFetch1M(b *testing.B) {
	e2eBench(b, bigTurn, func(db *sql.DB) error { return readAll(db, e2eCloudQuery, 1_000_000) })
}

// driverBatch returns a batch of n logs as the wrapped driver makes them: the
// connection's open, then SELECT 1 statements.
func driverBatch(b *testing.B, srv *warehouse.Server, n int) []*telemetry.FrontendLog {
	exp := &driver.LogCapture{}
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithExporter(exp), driver.WithBatchSize(n))
	require.NoError(b, err)
	db := sql.OpenDB(c)
	db.SetMaxIdleConns(1)
	for range n - 1 {
		require.NoError(b, smallQuery(db))
	}
	require.NoError(b, db.Close())
	logs := exp.Logs()
	require.GreaterOrEqual(b, len(logs), n)
	return logs[:n]
}

// BenchmarkExportToWarehouse: one batch of 100 driver logs per op, POSTed by the HTTP
// exporter (encoding, retry and breaker policies, round trip) to the local warehouse's
// ingest, which decodes and records it. The aggregator's side (events/s with 8 emitters)
// is aggregator.BenchmarkThroughput8Emitters.
func BenchmarkExportToWarehouse(b *testing.B) {
	srv, err := warehouse.NewServer()
	require.NoError(b, err)
	b.Cleanup(func() { _ = srv.Close() })
	logs := driverBatch(b, srv, 100)
	tgt, err := exporter.ParseTarget(srv.URL(), true)
	require.NoError(b, err)
	exp := exporter.NewHTTPExporter(tgt, exporter.WithCredentials(exporter.BearerToken(srv.Token())))
	b.Cleanup(func() { _ = exp.Close(context.Background()) })
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	began := time.Now()
	for range b.N {
		if err := exp.Export(ctx, logs); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(began)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "batches/s")
	b.ReportMetric(float64(b.N*len(logs))/elapsed.Seconds(), "logs/s")
	if got := len(srv.TelemetryRequests()); got < b.N {
		b.Fatalf("the ingest received %d batches, want %d", got, b.N)
	}
}
