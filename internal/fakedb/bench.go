package fakedb

import (
	"context"
	"database/sql"
	"testing"
)

// BenchQuery is the per-query benchmark body shared by every variant of the
// hot-path comparison (raw fake, sqlmw with NullInterceptor, our interceptor
// on and off): each iteration runs Query. Run it side by side on databases
// that differ only in wrapping.
func BenchQuery(b *testing.B, db *sql.DB, query string) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := Query(ctx, db, query); err != nil {
			b.Fatal(err)
		}
	}
}

// Query is one query of the hot-path comparison: it runs query with
// QueryContext, reads every row into an int64 (so the first column must
// convert to int64), checks Rows.Err and closes the rows.
func Query(ctx context.Context, db *sql.DB, query string) error {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	var v int64
	for rows.Next() {
		if err := rows.Scan(&v); err != nil {
			_ = rows.Close()
			return err
		}
	}
	if err := rows.Err(); err != nil {
		_ = rows.Close()
		return err
	}
	return rows.Close()
}

// BenchNext is the per-Rows.Next benchmark body: it runs query once, outside
// the timer, and measures one sql.Rows.Next per iteration (no Scan). The
// connector must give query at least as many rows as iterations, e.g. with
// WithQueryRows(query, math.MaxInt).
func BenchNext(b *testing.B, db *sql.DB, query string) {
	b.Helper()
	rows, err := db.QueryContext(context.Background(), query)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	b.ReportAllocs()
	for b.Loop() {
		if !rows.Next() {
			b.Fatalf("rows ended early: %v", rows.Err())
		}
	}
}
