package warehouse

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"regexp"
	"strconv"
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

// prepareCatalog adds the warehouse's functions to the database's catalog, and
// Databricks' default schema, default, beside DuckDB's main.
func prepareCatalog(db *sql.DB) error {
	info, err := duckdb.NewTypeInfo(duckdb.TYPE_BIGINT)
	if err != nil {
		return err
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), `CREATE SCHEMA IF NOT EXISTS "default"`); err != nil {
		return err
	}
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
	loc, set, err := zoneSetting(name)
	if err != nil {
		return nil, "", fmt.Errorf("invalid session time zone %q: %w", name, err)
	}
	return loc, set, nil
}

// driverZone is the time zone in which the driver shows instants, the session
// configuration conf given: the Go driver loads its `timezone` (time.LoadLocation) and
// stays on UTC when that fails (a fixed offset such as +05:00 is no zone Go can load).
func driverZone(conf map[string]string) *time.Location {
	if v, ok := confValue(conf, "timezone"); ok && v != "" {
		if loc, err := time.LoadLocation(v); err == nil {
			return loc
		}
	}
	return time.UTC
}

// zoneSetting is the time zone name names (an IANA name, UTC, or a fixed offset such as
// +05:30), and the DuckDB statement that makes it the session's.
func zoneSetting(name string) (*time.Location, string, error) {
	loc, err := loadZone(name)
	if err != nil {
		return nil, "", err
	}
	return loc, "SET TimeZone = '" + strings.ReplaceAll(loc.String(), "'", "''") + "'", nil
}

// offsetRe matches a fixed offset from UTC as Spark's time zones take one: +05:30, -8:00,
// GMT+8, and the same after UTC or GMT.
var offsetRe = regexp.MustCompile(`^(?i:UTC|GMT)?([+-])(\d{1,2})(?::(\d{2}))?$`)

// loadZone loads the zone name names. A fixed offset becomes DuckDB's Etc/GMT zone when
// it is whole hours, from -12 to +14 (Etc/GMT signs are reversed); other offsets are
// refused, as DuckDB names no zone for them. "Local" is refused too: it would be the
// host's zone (Databricks refuses it as well); and so is an empty name.
func loadZone(name string) (*time.Location, error) {
	switch {
	case name == "":
		return nil, errors.New("no time zone named") // time.LoadLocation would answer UTC
	case strings.EqualFold(name, "Local"):
		return nil, errors.New(`"Local" names no time zone`)
	}
	m := offsetRe.FindStringSubmatch(name)
	if m == nil {
		return time.LoadLocation(name)
	}
	h, _ := strconv.Atoi(m[2])
	if m[3] != "" && m[3] != "00" || m[1] == "+" && h > 14 || m[1] == "-" && h > 12 {
		return nil, fmt.Errorf("unsupported offset %q: only whole hours, from -12 to +14", name)
	}
	if h == 0 {
		return time.UTC, nil
	}
	sign := "-" // +05:00 is Etc/GMT-5
	if m[1] == "-" {
		sign = "+"
	}
	return time.LoadLocation("Etc/GMT" + sign + strconv.Itoa(h))
}

// setZoneRe matches Databricks' SET of the session time zone: SET TIME ZONE LOCAL,
// SET TIME ZONE 'zone', and SET spark.sql.session.timeZone = zone (or timezone = zone).
// SET TIME ZONE INTERVAL is left to DuckDB, which refuses it.
var setZoneRe = regexp.MustCompile(`(?i)^\s*SET\s+(?:TIME\s+ZONE\s+(?:(LOCAL)|'([^']*)'|"([^"]*)")|(?:spark\.sql\.session\.timeZone|timezone)\s*=\s*(?:'([^']*)'|"([^"]*)"|([^\s;'"]+)))\s*;?\s*$`)

// timeZoneSet reports whether stmt, a SET, sets the session's time zone, and the zone it
// names: LOCAL is the warehouse's own zone, UTC (never the host's, see sessionZone).
func timeZoneSet(stmt string) (zone string, ok bool) {
	m := setZoneRe.FindStringSubmatch(stmt)
	if m == nil {
		return "", false
	}
	if m[1] != "" {
		return "UTC", true
	}
	for _, g := range m[2:] {
		if g != "" {
			return strings.TrimSpace(g), true
		}
	}
	return "", true
}

// zoneError is a SET of a time zone that names none.
type zoneError struct{ zone string }

func (e *zoneError) Error() string {
	return fmt.Sprintf(`The value '%s' in the config "spark.sql.session.timeZone" is invalid. Cannot resolve the given timezone.`, e.zone)
}

// setAnsiRe matches Databricks' SET of ANSI mode: SET ansi_mode = false, and its Spark
// name.
var setAnsiRe = regexp.MustCompile(`(?i)^\s*SET\s+(?:ansi_mode|spark\.sql\.ansi\.enabled)\s*=\s*'?(true|false)'?\s*;?\s*$`)

// ansiModeStatement is the DuckDB statement that does what stmt, a SET, asks when it sets
// ANSI mode (DuckDB has no such setting: the session's "/" macro is replaced).
func ansiModeStatement(stmt string) (string, bool) {
	m := setAnsiRe.FindStringSubmatch(stmt)
	if m == nil {
		return "", false
	}
	return divideMacro(strings.EqualFold(m[1], "false")), true
}

// divideMacro is the DuckDB statement that gives the session's "/" ANSI mode's meaning,
// or the legacy one when off.
func divideMacro(off bool) string {
	if off {
		return legacyDivide
	}
	return ansiDivide
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
