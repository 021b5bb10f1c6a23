package warehouse_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// "One statement per execute ... trailing ';' and comments are fine" (README): a SET of
// the session's time zone with a comment before or after it, or a second ';', is the
// same SET on Databricks. They used to reach DuckDB as they were: DuckDB's own TimeZone
// became Tokyo while the session's zone stayed UTC, and a TIMESTAMP literal then read as
// a UTC wall time, a silently different instant.
func TestSetTimeZoneWithComment(t *testing.T) {
	srv := start(t)
	want := time.Date(2024, 1, 1, 3, 0, 0, 0, time.UTC) // 12:00 in Tokyo
	for _, set := range []string{
		"SET TIME ZONE 'Asia/Tokyo'", // control
		"SET TIME ZONE 'Asia/Tokyo' -- to Tokyo",
		"SET TIME ZONE 'Asia/Tokyo'; -- to Tokyo",
		"/* to Tokyo */ SET TIME ZONE 'Asia/Tokyo'",
		"SET TIME ZONE 'Asia/Tokyo';;",
		"SET spark.sql.session.timeZone = Asia/Tokyo -- to Tokyo",
	} {
		ctx := context.Background()
		conn := sessionAfter(t, srv, set)
		if conn == nil {
			continue
		}
		var ts time.Time
		if err := conn.QueryRowContext(ctx, "SELECT TIMESTAMP '2024-01-01 12:00:00'").Scan(&ts); err != nil {
			t.Fatalf("%q: %v", set, err)
		}
		if !ts.Equal(want) {
			t.Errorf("after %q: TIMESTAMP '2024-01-01 12:00:00' is %v, want %v (a wall time in Asia/Tokyo)", set, ts.UTC(), want)
		}
		conn.Close()
	}
}

// The same for SET ansi_mode: with a comment it used to reach DuckDB, which refused it.
func TestSetAnsiModeWithComment(t *testing.T) {
	srv := start(t)
	for _, set := range []string{"SET ansi_mode = false", "SET ansi_mode = false -- legacy division", "SET ansi_mode = false;;"} {
		ctx := context.Background()
		conn := sessionAfter(t, srv, set)
		if conn == nil {
			continue
		}
		var v any
		if err := conn.QueryRowContext(ctx, "SELECT 1/0").Scan(&v); err != nil || v != nil {
			t.Errorf("after %q: 1/0 = %v, %v; want NULL", set, v, err)
		}
		conn.Close()
	}
}

// sessionAfter opens a session of its own on srv and runs set on it; nil, with the
// failure reported, when set fails.
func sessionAfter(t *testing.T, srv *warehouse.Server, set string) *sql.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := open(t, srv, "").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, set); err != nil {
		t.Errorf("%q: %v", set, err)
		conn.Close()
		return nil
	}
	return conn
}
