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
	if err := duckdb.RegisterScalarUDF(conn, "wait_ms", sleepUDF{info: info}); err != nil {
		return err
	}
	return registerIntegralCasts(conn)
}

// divideByZeroMarker and remainderByZeroMarker start the messages of the errors the ANSI
// macros raise; mapError turns them into Databricks' DIVIDE_BY_ZERO and REMAINDER_BY_ZERO
// (SQLSTATE 22012).
const (
	divideByZeroMarker    = "DIVIDE_BY_ZERO: "
	remainderByZeroMarker = "REMAINDER_BY_ZERO: "
)

// The arithmetic macros give "/", "%" and mod Databricks' meaning, which DuckDB's differ
// from on a zero divisor (DuckDB answers inf, NaN or NULL): in ANSI mode (the default of
// Databricks SQL warehouses) they fail with DIVIDE_BY_ZERO or REMAINDER_BY_ZERO, unless
// the dividend is NULL (the answer is then NULL, as Spark checks the dividend first);
// with ansi_mode=false they answer NULL. try_divide and try_mod answer NULL in both. The
// macros live in the connection's temp schema, which DuckDB searches before any other
// whatever the current schema, and call DuckDB's own operators by their qualified names:
// results, types and NULLs are otherwise DuckDB's. "//" keeps DuckDB's meaning
// (Databricks has no "//"). A macro substitutes its arguments, so a volatile divisor
// (random(), wait_ms) is evaluated once for the check and once for the operation.
//
// ansiArithmetic and legacyArithmetic are each one statement of several: OpenSession,
// SET ansi_mode and RESET run one or the other.
const (
	ansiArithmetic = `CREATE OR REPLACE TEMP MACRO "/"(a, b) AS ` +
		`CASE WHEN b = 0 AND a IS NOT NULL THEN error('` + divideByZeroMarker + `Division by zero') ELSE system.main."/"(a, b) END; ` +
		`CREATE OR REPLACE TEMP MACRO "%"(a, b) AS ` +
		`CASE WHEN b = 0 AND a IS NOT NULL THEN error('` + remainderByZeroMarker + `Remainder by zero') ELSE system.main."%"(a, b) END; ` +
		`CREATE OR REPLACE TEMP MACRO mod(a, b) AS ` +
		`CASE WHEN b = 0 AND a IS NOT NULL THEN error('` + remainderByZeroMarker + `Remainder by zero') ELSE system.main."%"(a, b) END`
	legacyArithmetic = `CREATE OR REPLACE TEMP MACRO "/"(a, b) AS ` +
		`CASE WHEN b = 0 THEN NULL ELSE system.main."/"(a, b) END; ` +
		`CREATE OR REPLACE TEMP MACRO "%"(a, b) AS ` +
		`CASE WHEN b = 0 THEN NULL ELSE system.main."%"(a, b) END; ` +
		`CREATE OR REPLACE TEMP MACRO mod(a, b) AS ` +
		`CASE WHEN b = 0 THEN NULL ELSE system.main."%"(a, b) END`
	tryArithmetic = `CREATE OR REPLACE TEMP MACRO try_divide(a, b) AS ` +
		`CASE WHEN b = 0 THEN NULL ELSE system.main."/"(a, b) END; ` +
		`CREATE OR REPLACE TEMP MACRO try_mod(a, b) AS ` +
		`CASE WHEN b = 0 THEN NULL ELSE system.main."%"(a, b) END`
)

// sparkFunctions give DuckDB's functions of Spark's names Spark's answers where DuckDB's
// differ without an error (each checked against the Databricks SQL reference):
//   - concat is NULL when an argument is (DuckDB's skips NULLs), as || is in both;
//   - regexp_replace replaces every match (DuckDB's the first), from a 1-based position
//     when given one, and takes Java's $1 for a group in the replacement;
//   - regexp_extract and regexp_extract_all take group 1 by default (DuckDB's the match);
//   - split splits at a regular expression (DuckDB's at a string);
//   - log(x) is the natural logarithm (DuckDB's base 10), and ln, log, log10 and log2
//     are NULL out of their bounds (DuckDB fails);
//   - dayofweek counts from 1 on Sunday and weekday from 0 on Monday (DuckDB's both
//     from 0 on Sunday);
//   - substr and substring read a position of 0 as 1 (DuckDB's as the one before 1);
//   - left and right are empty for a length below 1 (DuckDB's count from the other end);
//   - array_position is 0 for an element not found (DuckDB's NULL), a BIGINT;
//   - array_distinct keeps the first of each element in order (DuckDB's reorders), and
//     array_sort puts NULLs last (DuckDB's follows the NULL order, which is Spark's
//     ORDER BY's here: first);
//   - dayname and monthname are three letters (Fri, Nov; DuckDB's whole words);
//   - spark_at(e, i) is e[i] as Spark reads it (see rewriteArraySubscripts): an array's
//     element i counted from 0, NULL out of range; a map's value at key i.
//
// Each calls DuckDB's own function by its qualified name, and keeps its types.
func sparkFunctions() string {
	var b strings.Builder
	b.WriteString(`CREATE OR REPLACE TEMP MACRO concat(a) AS CASE WHEN a IS NULL THEN NULL ELSE system.main.concat(a) END`)
	for n := 2; n <= maxConcatArgs; n++ {
		var params, nulls []string
		for i := range n {
			p := "a" + strconv.Itoa(i)
			params = append(params, p)
			nulls = append(nulls, p+" IS NULL")
		}
		fmt.Fprintf(&b, `, (%s) AS CASE WHEN %s THEN NULL ELSE system.main.concat(%s) END`,
			strings.Join(params, ", "), strings.Join(nulls, " OR "), strings.Join(params, ", "))
	}
	b.WriteString("; ")
	// Java's $n in a replacement is RE2's \n.
	const javaGroups = `system.main.regexp_replace(r, '\$(\d)', '\\\1', 'g')`
	for _, q := range []string{
		`CREATE OR REPLACE TEMP MACRO regexp_replace(s, p, r) AS system.main.regexp_replace(s, p, ` + javaGroups + `, 'g'), ` +
			`(s, p, r, pos) AS CASE WHEN pos <= 1 THEN system.main.regexp_replace(s, p, ` + javaGroups + `, 'g') ` +
			`ELSE system.main.left(s, pos - 1) || system.main.regexp_replace(system.main.substring(s, pos), p, ` + javaGroups + `, 'g') END`,
		`CREATE OR REPLACE TEMP MACRO regexp_extract(s, p) AS system.main.regexp_extract(s, p, 1), (s, p, i) AS system.main.regexp_extract(s, p, i)`,
		`CREATE OR REPLACE TEMP MACRO regexp_extract_all(s, p) AS system.main.regexp_extract_all(s, p, 1), (s, p, i) AS system.main.regexp_extract_all(s, p, i)`,
		`CREATE OR REPLACE TEMP MACRO split(s, p) AS system.main.regexp_split_to_array(s, p)`,
		`CREATE OR REPLACE TEMP MACRO ln(x) AS CASE WHEN x <= 0 THEN NULL ELSE system.main.ln(x) END`,
		`CREATE OR REPLACE TEMP MACRO log(x) AS CASE WHEN x <= 0 THEN NULL ELSE system.main.ln(x) END, ` +
			`(b, x) AS CASE WHEN b <= 0 OR x <= 0 THEN NULL ELSE system.main.log(b, x) END`,
		`CREATE OR REPLACE TEMP MACRO log10(x) AS CASE WHEN x <= 0 THEN NULL ELSE system.main.log10(x) END`,
		`CREATE OR REPLACE TEMP MACRO log2(x) AS CASE WHEN x <= 0 THEN NULL ELSE system.main.log2(x) END`,
		`CREATE OR REPLACE TEMP MACRO dayofweek(d) AS system.main.dayofweek(d) + 1`,
		`CREATE OR REPLACE TEMP MACRO weekday(d) AS system.main.isodow(d) - 1`,
		`CREATE OR REPLACE TEMP MACRO array_sort(a) AS system.main.list_sort(a, 'ASC', 'NULLS LAST')`,
		`CREATE OR REPLACE TEMP MACRO "left"(s, n) AS CASE WHEN n < 1 THEN '' ELSE system.main."left"(s, n) END`,
		`CREATE OR REPLACE TEMP MACRO "right"(s, n) AS CASE WHEN n < 1 THEN '' ELSE system.main."right"(s, n) END`,
		`CREATE OR REPLACE TEMP MACRO array_position(a, e) AS ` +
			`CASE WHEN a IS NULL OR e IS NULL THEN NULL ELSE CAST(coalesce(system.main.array_position(a, e), 0) AS BIGINT) END`,
		`CREATE OR REPLACE TEMP MACRO array_distinct(a) AS list_filter(a, lambda x, i: system.main.list_position(a, x) = i)`,
		`CREATE OR REPLACE TEMP MACRO spark_at(a, i) AS ` +
			`CASE WHEN typeof(a) LIKE '%]' THEN (CASE WHEN i < 0 THEN NULL ELSE a[i + 1] END) ELSE a[i] END`,
		`CREATE OR REPLACE TEMP MACRO dayname(d) AS strftime(d, '%a')`,
		`CREATE OR REPLACE TEMP MACRO monthname(d) AS strftime(d, '%b')`,
	} {
		b.WriteString(q)
		b.WriteString("; ")
	}
	for _, name := range []string{"substring", "substr"} {
		fmt.Fprintf(&b, `CREATE OR REPLACE TEMP MACRO %s(s, pos) AS system.main.substring(s, CASE WHEN pos = 0 THEN 1 ELSE pos END), `+
			`(s, pos, len) AS system.main.substring(s, CASE WHEN pos = 0 THEN 1 ELSE pos END, len); `, name)
	}
	return b.String()
}

// maxConcatArgs is how many arguments the concat macros take; rewriteLongConcats nests a
// concat of more (Spark's takes any number).
const maxConcatArgs = 32

// nullOrder is Spark's order of NULLs where a query names none: first when ascending,
// last when descending (DuckDB's are last both ways).
const nullOrder = `SET default_null_order = 'nulls_first_on_asc_last_on_desc'`

// initSession prepares each new DuckDB connection (one per session) for the dialect, in
// ANSI mode; OpenSession switches a session whose configuration turns it off.
func initSession(execer driver.ExecerContext) error {
	for _, q := range []string{nullOrder, tryArithmetic, sparkFunctions(), ansiArithmetic} {
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

// divideMacro is the DuckDB statement that gives the session's "/", "%" and mod ANSI
// mode's meaning, or the legacy one when off.
func divideMacro(off bool) string {
	if off {
		return legacyArithmetic
	}
	return ansiArithmetic
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
