package driver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/ngrok/sqlmw"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/internal/fakedb"
	"github.com/dbtelemetry/dbtelemetry/internal/paired"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// The hot-path benchmarks run one workload over the in-memory fake of the Databricks
// connection (no network) four ways, side by side in one process so that their ratios
// come from one run: the raw fake, the fake under sqlmw with NullInterceptor (the floor
// for any sqlmw interceptor), our telemetry on, and our telemetry off.
// `go run ./internal/benchreport` prints the ratios.

const (
	hotSmallQuery  = "SELECT 1"
	hotStreamQuery = "SELECT id FROM stream"
)

// nopExporter accepts every batch at once.
type nopExporter struct{}

func (nopExporter) Export(context.Context, []*telemetry.FrontendLog) error { return nil }
func (nopExporter) Close(context.Context) error                            { return nil }

func hotFakeOptions() []fakedb.Option {
	return []fakedb.Option{fakedb.WithQueryRows(hotStreamQuery, math.MaxInt)}
}

// hotVariant is one way of opening the fake.
type hotVariant struct {
	name string
	open func(tb testing.TB) (*sql.DB, *Connector)
}

// hotVariants are the four ways, in report order.
func hotVariants() []hotVariant {
	return []hotVariant{
		{"raw", func(tb testing.TB) (*sql.DB, *Connector) {
			return hotDB(tb, fakedb.NewConnector(hotFakeOptions()...)), nil
		}},
		{"sqlmw-null", func(tb testing.TB) (*sql.DB, *Connector) {
			c, err := sqlmw.Driver(connectorDriver{fakedb.NewConnector(hotFakeOptions()...)}, sqlmw.NullInterceptor{}).(driver.DriverContext).OpenConnector("")
			require.NoError(tb, err)
			return hotDB(tb, c), nil
		}},
		{"ours-on", func(tb testing.TB) (*sql.DB, *Connector) {
			c := hotConnector(tb, true)
			return hotDB(tb, c), c
		}},
		{"ours-off", func(tb testing.TB) (*sql.DB, *Connector) {
			c := hotConnector(tb, false)
			return hotDB(tb, c), c
		}},
	}
}

func hotDB(tb testing.TB, c driver.Connector) *sql.DB {
	db := sql.OpenDB(c)
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// hotConnector wraps the fake with our telemetry. On, its events go to an aggregator
// over an exporter that accepts at once, as they would to a host's: the fake makes no
// Thrift call, so the host is never attached from the transport.
func hotConnector(tb testing.TB, on bool) *Connector {
	return fakeConnector(tb, on, nopExporter{})
}

// fakeConnector wraps the fake with our telemetry, on or off; on, its aggregator exports
// to exp (unused when off).
func fakeConnector(tb testing.TB, on bool, exp telemetry.Exporter) *Connector {
	cfg := defaultConfig()
	cfg.enabled = &on
	cfg.hosts = NewHosts()
	cfg.lookupEnv = func(string) (string, bool) { return "", false }
	c, err := (&Connector{cfg: cfg, gate: newGate()}).wrap(fakedb.NewConnector(hotFakeOptions()...))
	require.NoError(tb, err)
	if on {
		c.setAggregator(aggregator.New(exp, aggregator.WithConfig(cfg.tel),
			aggregator.WithSystemConfiguration(&telemetry.SystemConfiguration{})))
	}
	return c
}

// BenchmarkHotPathQuery is the per-query cost through database/sql: QueryContext, one
// Next and Scan, Rows.Err and Close. Each variant runs as a sub-benchmark of its own (with
// allocations), then "paired" runs the four in turns (see hotPaired).
func BenchmarkHotPathQuery(b *testing.B) {
	for _, v := range hotVariants() {
		b.Run(v.name, func(b *testing.B) {
			db, _ := v.open(b)
			fakedb.BenchQuery(b, db, hotSmallQuery)
		})
	}
	b.Run("paired", hotPaired)
}

// hotTurn is the number of queries a variant runs per turn in hotPaired: about 100 µs,
// so that a turn's two clock reads are under a thousandth of it.
const hotTurn = 64

// hotNextTurn is the number of Rows.Next a variant runs per turn in hotPairedNext: about
// 100 µs too.
const hotNextTurn = 2048

// hotPaired runs hotTurn queries on each of the four variants per iteration, in turns
// (see hotPairs), and reports per query (<variant>-ns/query, on-null-ns/query,
// off-null-ns/query, null2-null-ns/query).
func hotPaired(b *testing.B) {
	hotPairs(b, hotTurn, "query", func(_ testing.TB, db *sql.DB) func() error {
		return func() error { return hotQuery(db) }
	})
}

// hotPairedNext runs hotNextTurn Rows.Next on an endless result of each of the four
// variants per iteration, in turns (see hotPairs), and reports per Next
// (<variant>-ns/next, on-null-ns/next, off-null-ns/next, null2-null-ns/next).
func hotPairedNext(b *testing.B) {
	hotPairs(b, hotNextTurn, "next", func(tb testing.TB, db *sql.DB) func() error {
		rows, err := db.QueryContext(context.Background(), hotStreamQuery)
		require.NoError(tb, err)
		tb.Cleanup(func() { _ = rows.Close() })
		return func() error {
			if !rows.Next() {
				return fmt.Errorf("rows ended early: %w", rows.Err())
			}
			return nil
		}
	})
}

// hotPairs runs the four variants, and a second sqlmw-null along, in turns: turn steps of
// each per iteration, in a new random order each iteration. prepare readies a variant's
// database and returns one step on it. It reports each variant's time per step
// (<variant>-ns/<unit>) and ours' differences to sqlmw-null (on-null-ns/<unit>,
// off-null-ns/<unit>). Measured at the same moments, the differences hold on a machine
// whose speed drifts from one second to the next, where those of the sub-benchmarks, run
// seconds apart, move by a tenth of a query or more. The second sqlmw-null's difference
// (null2-null-ns/<unit>) is what two identical instances differ by: the run's noise floor.
func hotPairs(b *testing.B, turn int, unit string, prepare func(testing.TB, *sql.DB) func() error) {
	vs := append(hotVariants(), hotVariants()[1])
	steps := make([]func() error, len(vs))
	for i, v := range vs {
		db, _ := v.open(b)
		steps[i] = prepare(b, db)
		for range turn { // warm: the pool's connection, the aggregator's shards
			require.NoError(b, steps[i]())
		}
	}
	spent := make([]time.Duration, len(vs))
	b.ResetTimer()
	paired.Turns(b, len(vs), paired.Seed(5), func(j int) {
		step := steps[j]
		began := time.Now()
		for range turn {
			if err := step(); err != nil {
				b.Fatal(err)
			}
		}
		spent[j] += time.Since(began)
	})
	b.StopTimer()
	per := make([]float64, len(vs))
	for j := range vs {
		per[j] = float64(spent[j].Nanoseconds()) / float64(b.N*turn)
	}
	for j, v := range vs[:4] {
		b.ReportMetric(per[j], v.name+"-ns/"+unit)
	}
	b.ReportMetric(per[2]-per[1], "on-null-ns/"+unit)
	b.ReportMetric(per[3]-per[1], "off-null-ns/"+unit)
	b.ReportMetric(per[4]-per[1], "null2-null-ns/"+unit)
}

// hotQuery is one query of BenchmarkHotPathQuery: QueryContext, one Next and Scan,
// Rows.Err and Close.
func hotQuery(db *sql.DB) error { return fakedb.Query(context.Background(), db, hotSmallQuery) }

// BenchmarkHotPathNext is the cost of one sql.Rows.Next on an endless result. Each
// variant runs as a sub-benchmark of its own (with allocations), then "paired" runs the
// four in turns (see hotPairedNext).
func BenchmarkHotPathNext(b *testing.B) {
	for _, v := range hotVariants() {
		b.Run(v.name, func(b *testing.B) {
			db, _ := v.open(b)
			fakedb.BenchNext(b, db, hotStreamQuery)
		})
	}
	b.Run("paired", hotPairedNext)
}

// BenchmarkHotPathQueryParallel is the per-query cost with every CPU querying at once:
// nothing on our path is shared across connections but the aggregator's shards.
func BenchmarkHotPathQueryParallel(b *testing.B) {
	for _, v := range hotVariants() {
		b.Run(v.name, func(b *testing.B) {
			db, _ := v.open(b)
			db.SetMaxIdleConns(64)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				var n int64
				for pb.Next() {
					rows, err := db.QueryContext(ctx, hotSmallQuery)
					if err != nil {
						b.Error(err)
						return
					}
					for rows.Next() {
						_ = rows.Scan(&n)
					}
					_ = rows.Close()
				}
			})
		})
	}
}

// The "ours-on" benchmark measures what it claims: every query reaches the aggregator
// as one statement log, with its rows.
func TestHotPathVariantEmits(t *testing.T) {
	var on *Connector
	for _, v := range hotVariants() {
		db, c := v.open(t)
		if v.name == "ours-on" {
			on = c
		}
		for range 10 {
			var n int64
			require.NoError(t, db.QueryRowContext(context.Background(), hotSmallQuery).Scan(&n), v.name)
		}
	}
	require.NotNil(t, on)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, on.Flush(ctx))
	s := on.Stats()
	require.Zero(t, s.Dropped.Total())
	require.EqualValues(t, 11, s.Exported, "one connection.open and ten statement logs")
	require.NoError(t, on.Close())
}

// A query through ours with telemetry on allocates at most one object more than through
// sqlmw with NullInterceptor (the statement's state: its id callback is the connection's),
// and with it off none more than the raw fake. An event that escaped to the heap on its
// way to the aggregator, or a closure per statement, would cost one more per query,
// unseen by any other test.
func TestHotPathAllocations(t *testing.T) {
	allocs := map[string]float64{}
	for _, v := range hotVariants() {
		db, _ := v.open(t)
		require.NoError(t, hotQuery(db)) // the pool's connection, the aggregator's shard
		allocs[v.name] = testing.AllocsPerRun(500, func() {
			if err := hotQuery(db); err != nil {
				t.Fatal(err)
			}
		})
	}
	assert.LessOrEqual(t, allocs["ours-on"], allocs["sqlmw-null"]+1, "allocations per query: %v", allocs)
	assert.LessOrEqual(t, allocs["ours-off"], allocs["raw"], "allocations per query: %v", allocs)
}
