package fakedb_test

import (
	"context"
	"database/sql/driver"
	"math"
	"testing"

	"github.com/dbtelemetry/dbtelemetry/internal/fakedb"
)

const (
	smallQuery  = "SELECT 1"
	streamQuery = "SELECT id FROM stream"
)

// benchOptions make smallQuery return one row and streamQuery rows without end.
func benchOptions() []fakedb.Option {
	return []fakedb.Option{fakedb.WithQueryRows(streamQuery, math.MaxInt)}
}

// BenchmarkQuery is the per-query cost (QueryContext, one Next+Scan, Close)
// through database/sql: the raw fake and the fake under sqlmw's
// NullInterceptor.
func BenchmarkQuery(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		fakedb.BenchQuery(b, openDB(b, benchOptions()...), smallQuery)
	})
	b.Run("sqlmw-null", func(b *testing.B) {
		fakedb.BenchQuery(b, openSqlmw(b, benchOptions()...), smallQuery)
	})
}

// BenchmarkNext is the per-sql.Rows.Next cost through database/sql.
func BenchmarkNext(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		fakedb.BenchNext(b, openDB(b, benchOptions()...), streamQuery)
	})
	b.Run("sqlmw-null", func(b *testing.B) {
		fakedb.BenchNext(b, openSqlmw(b, benchOptions()...), streamQuery)
	})
}

// BenchmarkDriver is the fake's own cost, without database/sql: one
// QueryContext+Close on a driver.Conn, and one driver.Rows.Next.
func BenchmarkDriver(b *testing.B) {
	ctx := context.Background()
	cn, err := fakedb.NewConnector(benchOptions()...).Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer cn.Close()
	q := cn.(driver.QueryerContext)
	b.Run("query", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rows, err := q.QueryContext(ctx, smallQuery, nil)
			if err != nil {
				b.Fatal(err)
			}
			_ = rows.Close()
		}
	})
	b.Run("next", func(b *testing.B) {
		rows, err := q.QueryContext(ctx, streamQuery, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer rows.Close()
		dest := make([]driver.Value, 1)
		b.ReportAllocs()
		for b.Loop() {
			if err := rows.Next(dest); err != nil {
				b.Fatal(err)
			}
		}
	})
}
