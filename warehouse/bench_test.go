package warehouse_test

import (
	"database/sql"
	"strconv"
	"testing"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// These benchmarks measure the raw driver against the local warehouse; the telemetry
// overhead benchmarks compare against the same workloads.

func BenchmarkSmallQuery(b *testing.B) {
	srv := start(b)
	db := open(b, srv, "")
	var v int
	for b.Loop() {
		if err := db.QueryRow("SELECT 1").Scan(&v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSmallQueryParallel8(b *testing.B) {
	srv := start(b)
	db := open(b, srv, "")
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	b.SetParallelism(4) // 4 × GOMAXPROCS(2) = 8 concurrent clients
	b.RunParallel(func(pb *testing.PB) {
		var v int
		for pb.Next() {
			if err := db.QueryRow("SELECT 1").Scan(&v); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchmarkScan(b *testing.B, srv *warehouse.Server, db *sql.DB, rows int64, want warehouse.Delivery) {
	b.Helper()
	q := "SELECT range FROM range(" + strconv.FormatInt(rows, 10) + ")"
	for b.Loop() {
		r, err := db.Query(q)
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		var v int64
		for r.Next() {
			if err := r.Scan(&v); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if err := r.Close(); err != nil || n != rows {
			b.Fatalf("read %d rows: %v", n, err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	if got := srv.Statements()[len(srv.Statements())-1].Delivery; got != want {
		b.Fatalf("delivered %s, want %s", got, want)
	}
}

func BenchmarkInlineRows100k(b *testing.B) {
	srv := start(b)
	benchmarkScan(b, srv, open(b, srv, ""), 100_000, warehouse.DeliveryInline)
}

func BenchmarkCloudFetchRows1M(b *testing.B) {
	srv := start(b)
	benchmarkScan(b, srv, open(b, srv, ""), 1_000_000, warehouse.DeliveryCloudFetch)
}
