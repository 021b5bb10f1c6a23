package warehouse

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"regexp"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// sleepUDF is wait_ms(ms BIGINT) → BIGINT: it waits ms milliseconds and returns them
// (DuckDB's own sleep_ms cannot be interrupted, this one can).
// Tests and the demo use it for statements that are slow on purpose (status polling,
// cancellation); it stops early when the statement is cancelled.
type sleepUDF struct{ info duckdb.TypeInfo }

func (u sleepUDF) Config() duckdb.ScalarFuncConfig {
	return duckdb.ScalarFuncConfig{InputTypeInfos: []duckdb.TypeInfo{u.info}, ResultTypeInfo: u.info, Volatile: true}
}

func (u sleepUDF) Executor() duckdb.ScalarFuncExecutor {
	return duckdb.ScalarFuncExecutor{RowContextExecutor: func(ctx context.Context, v []driver.Value) (any, error) {
		ms, ok := v[0].(int64)
		if !ok {
			return nil, fmt.Errorf("wait_ms: want BIGINT, got %T", v[0])
		}
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
			return ms, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}
}

// registerUDFs adds the warehouse's functions to the database's catalog.
func registerUDFs(db *sql.DB) error {
	info, err := duckdb.NewTypeInfo(duckdb.TYPE_BIGINT)
	if err != nil {
		return err
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		return err
	}
	defer conn.Close()
	return duckdb.RegisterScalarUDF(conn, "wait_ms", sleepUDF{info: info})
}

// divideByZeroMarker starts the message of the error ansiDivide raises; mapError turns it
// into Databricks' DIVIDE_BY_ZERO (SQLSTATE 22012).
const divideByZeroMarker = "DIVIDE_BY_ZERO: "

// divisionMacros give "/" Databricks' meaning, which DuckDB's differs from on a zero
// divisor (DuckDB answers inf or NULL): in ANSI mode (the default of Databricks SQL
// warehouses) it fails with DIVIDE_BY_ZERO, unless the dividend is NULL (the answer is
// then NULL, as Spark checks the dividend first); with ansi_mode=false it answers NULL.
// try_divide answers NULL in both. The macros live in the connection's temp schema, which
// DuckDB searches before any other whatever the current schema, and call DuckDB's own "/"
// by its qualified name: results, types and NULLs are otherwise DuckDB's. "//" and "%"
// keep DuckDB's meaning (Databricks has no "//"). A macro substitutes its arguments, so
// a volatile divisor (random(), wait_ms) is evaluated once for the check and once for
// the division.
const (
	ansiDivide = `CREATE OR REPLACE TEMP MACRO "/"(a, b) AS ` +
		`CASE WHEN b = 0 AND a IS NOT NULL THEN error('` + divideByZeroMarker + `Division by zero') ELSE system.main."/"(a, b) END`
	legacyDivide = `CREATE OR REPLACE TEMP MACRO "/"(a, b) AS ` +
		`CASE WHEN b = 0 THEN NULL ELSE system.main."/"(a, b) END`
	tryDivide = `CREATE OR REPLACE TEMP MACRO try_divide(a, b) AS ` +
		`CASE WHEN b = 0 THEN NULL ELSE system.main."/"(a, b) END`
)

// initSession prepares each new DuckDB connection (one per session) for the dialect, in
// ANSI mode; OpenSession switches a session whose configuration turns it off.
func initSession(execer driver.ExecerContext) error {
	for _, q := range []string{tryDivide, ansiDivide} {
		if _, err := execer.ExecContext(context.Background(), q, nil); err != nil {
			return err
		}
	}
	return nil
}

// sessionZone is the time zone a session configuration names (`timezone`, as the driver
// sends it; UTC when none), and the statement that sets it on DuckDB, which reads
// TIMESTAMP WITH TIME ZONE literals and renders them in it (by default in the host's).
func sessionZone(conf map[string]string) (*time.Location, string, error) {
	name := "UTC"
	if v, ok := confValue(conf, "timezone"); ok && v != "" {
		name = v
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, "", fmt.Errorf("invalid session time zone %q: %w", name, err)
	}
	return loc, "SET TimeZone = '" + strings.ReplaceAll(loc.String(), "'", "''") + "'", nil
}

// setAnsiRe matches Databricks' SET of ANSI mode: SET ansi_mode = false, and its Spark
// name.
var setAnsiRe = regexp.MustCompile(`(?i)^\s*SET\s+(?:ansi_mode|spark\.sql\.ansi\.enabled)\s*=\s*'?(true|false)'?\s*;?\s*$`)

// ansiModeStatement is the DuckDB statement that does what stmt, a SET, asks when it sets
// ANSI mode (DuckDB has no such setting: the session's "/" macro is replaced).
func ansiModeStatement(stmt string) (string, bool) {
	m := setAnsiRe.FindStringSubmatch(stmt)
	switch {
	case m == nil:
		return "", false
	case strings.EqualFold(m[1], "false"):
		return legacyDivide, true
	}
	return ansiDivide, true
}

// ansiOff reports whether a session configuration turns Databricks' ANSI mode off.
func ansiOff(conf map[string]string) bool {
	v, _ := confValue(conf, "ansi_mode", "spark.sql.ansi.enabled")
	return strings.EqualFold(v, "false")
}

// confValue is the trimmed value of the first session parameter found under one of
// names, whose case does not matter (the driver sends the DSN's spelling).
func confValue(conf map[string]string, names ...string) (string, bool) {
	for k, v := range conf {
		for _, n := range names {
			if strings.EqualFold(k, n) {
				return strings.TrimSpace(v), true
			}
		}
	}
	return "", false
}
