package warehouse_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

func TestTypesRoundTrip(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	date := time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)
	ts := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)
	cases := []struct {
		name string
		expr string
		want any
	}{
		{"boolean", "true", true},
		{"tinyint", "CAST(-7 AS TINYINT)", int8(-7)},
		{"smallint", "CAST(-300 AS SMALLINT)", int16(-300)},
		{"int", "CAST(70000 AS INTEGER)", int32(70000)},
		{"bigint", "CAST(9007199254740993 AS BIGINT)", int64(9007199254740993)},
		// Unsigned types widen to the next signed type that holds every value.
		{"utinyint", "CAST(200 AS UTINYINT)", int16(200)},
		{"usmallint", "CAST(60000 AS USMALLINT)", int32(60000)},
		{"uinteger", "CAST(4000000000 AS UINTEGER)", int64(4000000000)},
		{"ubigint", "CAST(18446744073709551615 AS UBIGINT)", "18446744073709551615"},
		{"hugeint", "CAST(-99999999999999999999999999999999999999 AS HUGEINT)", "-99999999999999999999999999999999999999"}, // DECIMAL(38,0)'s least
		{"float", "CAST(1.5 AS FLOAT)", float32(1.5)},
		{"double", "CAST(2.25 AS DOUBLE)", float64(2.25)},
		{"decimal", "CAST(12345.678 AS DECIMAL(10,3))", "12345.678"},
		{"negative decimal", "CAST(-0.05 AS DECIMAL(4,2))", "-0.05"},
		{"decimal keeps its scale", "CAST(1.5 AS DECIMAL(10,3))", "1.500"},
		{"decimal zero", "CAST(0 AS DECIMAL(10,3))", "0.000"},
		{"negative decimal keeps its scale", "CAST(-0.5 AS DECIMAL(4,2))", "-0.50"},
		{"decimal without scale", "CAST(42 AS DECIMAL(5,0))", "42"},
		{"wide decimal", "CAST('-12345678901234567890.120' AS DECIMAL(38,3))", "-12345678901234567890.120"},
		{"string", "'héllo, wörld'", "héllo, wörld"},
		{"empty string", "''", ""},
		{"binary", "CAST(X'00FF6162' AS BINARY)", []byte{0x00, 0xff, 'a', 'b'}},
		{"date", "DATE '2024-02-29'", date},
		{"timestamp", "TIMESTAMP '2024-02-29 13:14:15.123456'", ts},
		{"interval", "INTERVAL 14 MONTH", "1-2 0 00:00:00.000000"},
		{"negative interval", "INTERVAL (-14) MONTH", "-1-2 0 00:00:00.000000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got, null any
			q := fmt.Sprintf("SELECT %[1]s AS v, CAST(NULL AS %[2]s) AS n", tc.expr, typeOf(tc.expr))
			require.NoError(t, db.QueryRow(q).Scan(&got, &null))
			assert.Equal(t, tc.want, got)
			assert.Nil(t, null, "NULL of the same type")
		})
	}
	t.Run("column types", func(t *testing.T) {
		rows, err := db.Query("SELECT true AS b, CAST(1 AS TINYINT) AS t, CAST(1 AS SMALLINT) AS s, 1 AS i, CAST(1 AS BIGINT) AS l, CAST(1 AS FLOAT) AS f, CAST(1 AS DOUBLE) AS d, CAST(1 AS DECIMAL(9,2)) AS dec, 'x' AS str, 'x'::BLOB AS bin, DATE '2024-01-01' AS dt, TIMESTAMP '2024-01-01 00:00:00' AS ts, CAST(1 AS UBIGINT) AS ub, CAST(1 AS HUGEINT) AS hi")
		require.NoError(t, err)
		defer rows.Close()
		cts, err := rows.ColumnTypes()
		require.NoError(t, err)
		var names []string
		for _, c := range cts {
			names = append(names, c.DatabaseTypeName())
		}
		assert.Equal(t, []string{"BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL", "STRING", "BINARY", "DATE", "TIMESTAMP", "DECIMAL", "DECIMAL"}, names)
	})
}

// A wall time the session's clocks skip (summer time begins) is moved forward by the gap,
// as Spark and DuckDB's TIMESTAMPTZ move it: a literal, a parameter and a nested value
// alike. A wall time the clocks show twice (summer time ends) is the earlier instant, as
// in Spark. Zones west and east of Greenwich, where time.Date picks differently, the
// day Samoa skipped and the day it repeated.
func TestTimestampAcrossClockChanges(t *testing.T) {
	srv := start(t)
	for _, tc := range []struct {
		zone, wall string
		want       time.Time // the instant, in UTC
		gap        bool      // DuckDB's TIMESTAMPTZ reads it so too (in an overlap it takes the later instant)
	}{
		{"America/New_York", "2024-03-10 02:30:00", time.Date(2024, 3, 10, 7, 30, 0, 0, time.UTC), true},
		{"Europe/Berlin", "2024-03-31 02:30:00", time.Date(2024, 3, 31, 1, 30, 0, 0, time.UTC), true},
		{"Pacific/Apia", "2011-12-30 12:00:00", time.Date(2011, 12, 30, 22, 0, 0, 0, time.UTC), true},
		{"America/New_York", "2024-11-03 01:30:00", time.Date(2024, 11, 3, 5, 30, 0, 0, time.UTC), false},
		{"Europe/Berlin", "2024-10-27 02:30:00", time.Date(2024, 10, 27, 0, 30, 0, 0, time.UTC), false},
		{"America/New_York", "2024-03-10 01:59:59", time.Date(2024, 3, 10, 6, 59, 59, 0, time.UTC), true},
		{"America/New_York", "2024-03-10 03:00:00", time.Date(2024, 3, 10, 7, 0, 0, 0, time.UTC), true},
		// The day Samoa lived twice (1892, +12:33:04 to -11:26:56): the earlier instant,
		// which only a look a whole day around the wall time finds.
		{"Pacific/Apia", "1892-07-04 12:00:00", time.Date(1892, 7, 3, 23, 26, 56, 0, time.UTC), false},
	} {
		t.Run(tc.zone+" "+tc.wall, func(t *testing.T) {
			db := open(t, srv, "timezone="+tc.zone)
			var lit, tz time.Time
			var equal bool
			require.NoError(t, db.QueryRow(fmt.Sprintf("SELECT TIMESTAMP '%[1]s', TIMESTAMPTZ '%[1]s', TIMESTAMP '%[1]s' = TIMESTAMPTZ '%[1]s'", tc.wall)).Scan(&lit, &tz, &equal))
			if tc.gap {
				assert.True(t, equal)
				assert.True(t, tc.want.Equal(tz), "TIMESTAMPTZ (DuckDB's own): %v, want %v", tz.UTC(), tc.want)
			}
			assert.True(t, tc.want.Equal(lit), "TIMESTAMP: %v, want %v", lit.UTC(), tc.want)

			var param time.Time
			require.NoError(t, db.QueryRow("SELECT ?", dbsql.Parameter{Type: dbsql.SqlTimestamp, Value: tc.wall}).Scan(&param))
			assert.True(t, tc.want.Equal(param), "parameter: %v, want %v", param.UTC(), tc.want)

			var nested string
			require.NoError(t, db.QueryRow(fmt.Sprintf("SELECT [TIMESTAMP '%s']", tc.wall)).Scan(&nested))
			assert.Equal(t, fmt.Sprintf("[%q]", tc.want.In(lit.Location()).String()), nested)
		})
	}
}

// Complex types arrive as JSON strings, as the driver renders the Arrow lists, structs and
// maps Databricks sends: decimals as exact number literals, dates and timestamps quoted in
// Go's time.String form (UTC session). An array is an array whatever its element type.
// The session's time zone (the driver's `timezone`, UTC by default) is DuckDB's, whatever
// the host's: a timestamp literal is a wall time in it, a TIMESTAMPTZ an instant.
func TestSessionTimeZone(t *testing.T) {
	srv := start(t)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	for _, tc := range []struct {
		params string
		zone   string
		loc    *time.Location
	}{
		{"", "UTC", time.UTC},
		{"timezone=America/New_York", "America/New_York", ny},
	} {
		t.Run(tc.zone, func(t *testing.T) {
			db := open(t, srv, tc.params)
			var zone string
			require.NoError(t, db.QueryRow("SELECT current_setting('TimeZone')").Scan(&zone))
			assert.Equal(t, tc.zone, zone)
			var ts, tz time.Time
			require.NoError(t, db.QueryRow("SELECT TIMESTAMP '2024-01-01 00:00:00', TIMESTAMPTZ '2024-01-01 00:00:00'").Scan(&ts, &tz))
			want := time.Date(2024, 1, 1, 0, 0, 0, 0, tc.loc)
			assert.True(t, want.Equal(ts), "TIMESTAMP: %v, want %v", ts, want)
			assert.True(t, want.Equal(tz), "TIMESTAMPTZ: %v, want %v", tz, want)
			assert.Equal(t, 0, ts.In(tc.loc).Hour(), "the driver shows it in the session's zone")

			// Nested, a TIMESTAMP is the same wall time, a TIMESTAMPTZ the same instant,
			// both shown in the session's zone.
			var wall, instant string
			require.NoError(t, db.QueryRow("SELECT [TIMESTAMP '2024-01-01 00:00:00'], [TIMESTAMPTZ '2024-01-01 00:00:00']").Scan(&wall, &instant))
			assert.Equal(t, fmt.Sprintf(`[%q]`, want.String()), wall)
			assert.Equal(t, fmt.Sprintf(`[%q]`, want.String()), instant)
			// A MAP's keys are shown as its values are.
			var wallKey, instantKey string
			require.NoError(t, db.QueryRow("SELECT MAP {TIMESTAMP '2024-01-01 00:00:00': TIMESTAMP '2024-01-01 00:00:00'}, MAP {TIMESTAMPTZ '2024-01-01 00:00:00': 1}").Scan(&wallKey, &instantKey))
			assert.Equal(t, fmt.Sprintf(`{%q:%q}`, want.String(), want.String()), wallKey)
			assert.Equal(t, fmt.Sprintf(`{%q:1}`, want.String()), instantKey)

			// A timestamp parameter is an instant; it compares with the session's literals.
			var back time.Time
			var same bool
			at := time.Date(2024, 1, 1, 5, 0, 0, 0, time.UTC).In(time.FixedZone("X", 3600))
			require.NoError(t, db.QueryRow("SELECT ?, ? = TIMESTAMP '2024-01-01 00:00:00'", at, want).Scan(&back, &same))
			assert.True(t, at.Equal(back), "parameter: %v, want %v", back, at)
			assert.True(t, same, "a parameter and a literal of the same instant are equal")

			// A TIMESTAMP parameter without a zone is a wall time in the session's zone, as
			// a literal is.
			wallParam := dbsql.Parameter{Type: dbsql.SqlTimestamp, Value: "2024-01-01 00:00:00"}
			require.NoError(t, db.QueryRow("SELECT ?, ? = TIMESTAMP '2024-01-01 00:00:00'", wallParam, wallParam).Scan(&back, &same))
			assert.True(t, want.Equal(back), "wall-time parameter: %v, want %v", back, want)
			assert.True(t, same, "a wall-time parameter equals the literal")
		})
	}
}

func TestComplexTypes(t *testing.T) {
	srv := start(t)
	cases := []struct {
		name, expr, typ, want string
	}{
		{"timestamps", "[TIMESTAMP '2024-01-01 12:00:00.5', NULL]", "ARRAY", `["2024-01-01 12:00:00.5 +0000 UTC",null]`},
		{"timestamps with time zone", "[TIMESTAMPTZ '2024-01-01 00:00:00+02']", "ARRAY", `["2023-12-31 22:00:00 +0000 UTC"]`},
		{"list of timestamps", "list(TIMESTAMP '2024-01-01 00:00:00')", "ARRAY", `["2024-01-01 00:00:00 +0000 UTC"]`},
		{"dates", "[DATE '2020-01-01']", "ARRAY", `["2020-01-01 00:00:00 +0000 UTC"]`},
		{"decimals", "[1.5::DECIMAL(4,1), -0.05::DECIMAL(4,1), NULL]", "ARRAY", `[1.5,-0.1,null]`},
		{"wide decimals", "[12345678901234567890.123456789::DECIMAL(38,9)]", "ARRAY", `[12345678901234567890.123456789]`},
		{"decimals keep their scale", "[1.50::DECIMAL(4,2), 0::DECIMAL(4,2)]", "ARRAY", `[1.50,0.00]`},
		{"fixed-size array", "[1, 2, 3]::INTEGER[3]", "ARRAY", `[1,2,3]`},
		{"nested arrays", "[[1, 2], [3]]", "ARRAY", `[[1,2],[3]]`},
		{"array of structs", "[{'a': 2.25::DECIMAL(5,2), 'b': DATE '2020-01-01'}]", "ARRAY", `[{"a":2.25,"b":"2020-01-01 00:00:00 +0000 UTC"}]`},
		{"array of maps", "[MAP {'k': 1.5::DECIMAL(4,1)}]", "ARRAY", `[{"k":1.5}]`},
		{"struct", "{'b': [1.5::DECIMAL(4,1)], 'a': 'x'}", "STRUCT", `{"b":[1.5],"a":"x"}`}, // declared order
		{"struct with quoted names", `{'"q"': 1, 'a b': {'z': 2, 'y': 3}}`, "STRUCT", `{"\"q\"":1,"a b":{"z":2,"y":3}}`},
		{"array of structs in order", "[{'y': 1, 'x': 2}]", "ARRAY", `[{"y":1,"x":2}]`},
		{"array of structs holding arrays, in order", "[{'y': [1], 'x': 2}]", "ARRAY", `[{"y":[1],"x":2}]`},
		{"map", "MAP {'k': [TIMESTAMP '2024-01-01 00:00:00']}", "MAP", `{"k":["2024-01-01 00:00:00 +0000 UTC"]}`},
		{"map in order", "MAP {'b': 1, 'a': 2}", "MAP", `{"b":1,"a":2}`},
		{"map keys shown as values are", "MAP {1.50::DECIMAL(4,2): 1, 2.00::DECIMAL(4,2): 2}", "MAP", `{"1.50":1,"2.00":2}`},
		{"map timestamp key", "MAP {TIMESTAMPTZ '2024-01-01 00:00:00+00': 1}", "MAP", `{"2024-01-01 00:00:00 +0000 UTC":1}`},
		{"map string key with a quote", `MAP {'a"b': 1}`, "MAP", `{"a\"b":1}`},
		{"map empty string key", "MAP {'': 1}", "MAP", `{"":1}`},
		{"struct with a comma and a parenthesis in a name", "{'z,y)': 1, 'a': 2}", "STRUCT", `{"z,y)":1,"a":2}`}, // declared order
	}
	// Native decimals change top-level DECIMAL columns only.
	for _, mode := range []struct{ name, params string }{{"string decimals", ""}, {"native decimals", "useArrowNativeDecimal=true"}} {
		db := open(t, srv, mode.params)
		for _, tc := range cases {
			t.Run(mode.name+"/"+tc.name, func(t *testing.T) {
				rows, err := db.Query("SELECT " + tc.expr + " AS v")
				require.NoError(t, err)
				defer rows.Close()
				cts, err := rows.ColumnTypes()
				require.NoError(t, err)
				assert.Equal(t, tc.typ, cts[0].DatabaseTypeName())
				require.True(t, rows.Next(), "%v", rows.Err())
				var got any
				require.NoError(t, rows.Scan(&got))
				assert.Equal(t, tc.want, got)
			})
		}
	}
}

// typeOf extracts the SQL type of a test expression for its NULL twin.
func typeOf(expr string) string {
	switch {
	case strings.HasPrefix(expr, "CAST("):
		i := strings.LastIndex(expr, " AS ")
		return strings.TrimSuffix(expr[i+4:], ")")
	case expr == "true":
		return "BOOLEAN"
	case strings.HasPrefix(expr, "'"):
		return "VARCHAR"
	case strings.HasPrefix(expr, "DATE"):
		return "DATE"
	case strings.HasPrefix(expr, "INTERVAL"):
		return "INTERVAL"
	default:
		return "TIMESTAMP"
	}
}

func TestParameters(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	ts := time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)
	cases := []struct {
		name string
		q    string
		args []any
		want any
	}{
		{"positional int", "SELECT ? + 1", []any{41}, int64(42)}, // database/sql sends a BIGINT
		{"typed integer", "SELECT ?", []any{dbsql.Parameter{Type: dbsql.SqlInteger, Value: "41"}}, int32(41)},
		{"typed smallint", "SELECT ?", []any{dbsql.Parameter{Type: dbsql.SqlSmallInt, Value: "-7"}}, int16(-7)},
		{"typed tinyint", "SELECT ?", []any{dbsql.Parameter{Type: dbsql.SqlTinyInt, Value: "7"}}, int8(7)},
		{"typed float", "SELECT ?", []any{dbsql.Parameter{Type: dbsql.SqlFloat, Value: "1.5"}}, float32(1.5)},
		{"positional several", "SELECT ? || '-' || ?", []any{"a", "b"}, "a-b"},
		{"float", "SELECT ? * 2", []any{1.25}, float64(2.5)},
		{"bool", "SELECT NOT ?", []any{false}, true},
		{"string with quote", "SELECT ?", []any{"it's"}, "it's"},
		{"question mark in literal", "SELECT '?' || ?", []any{"x"}, "?x"},
		{"null", "SELECT ? IS NULL", []any{nil}, true},
		{"timestamp", "SELECT ?", []any{ts}, ts},
		{"named", "SELECT :a + :b", []any{sql.Named("a", 40), sql.Named("b", 2)}, int64(42)},
		{"named reused", "SELECT :a * :a", []any{sql.Named("a", 7)}, int64(49)},
		{"named with cast", "SELECT :s::INTEGER + 1", []any{sql.Named("s", "41")}, int32(42)},
		{"interval month", "SELECT ?", []any{dbsql.Parameter{Type: dbsql.SqlIntervalMonth, Value: "3"}}, "0-3 0 00:00:00.000000"},
		{"interval day", "SELECT ?", []any{dbsql.Parameter{Type: dbsql.SqlIntervalDay, Value: "3"}}, "3 00:00:00.000000"},
		{"interval year-month", "SELECT ?", []any{dbsql.Parameter{Type: dbsql.SqlIntervalMonth, Value: "-1-2"}}, "-1-2 0 00:00:00.000000"},
		{"interval day-time", "SELECT ?", []any{dbsql.Parameter{Type: dbsql.SqlIntervalDay, Value: "1 02:03:04.5"}}, "1 02:03:04.500000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got any
			require.NoError(t, db.QueryRow(tc.q, tc.args...).Scan(&got))
			assert.Equal(t, tc.want, got)
		})
	}

	// A typed INTEGER beyond its range overflows, as on Databricks.
	var got any
	err := db.QueryRow("SELECT ?", dbsql.Parameter{Type: dbsql.SqlInteger, Value: "3000000000"}).Scan(&got)
	var ee dbsqlerr.DBExecutionError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, "22003", ee.SqlState())
	assert.Contains(t, err.Error(), "CAST_OVERFLOW")
	assert.NotContains(t, err.Error(), "3000000000", "the value is the caller's data")

	// A typed value its type cannot read is a cast error, whichever side reads it (Go for
	// numbers, booleans and timestamps; DuckDB for dates): every marker has its value.
	for _, p := range []dbsql.Parameter{
		{Type: dbsql.SqlInteger, Value: "abc"},
		{Type: dbsql.SqlBigInt, Value: "1.5"},
		{Type: dbsql.SqlDouble, Value: "abc"},
		{Type: dbsql.SqlBoolean, Value: "maybe"},
		{Type: dbsql.SqlTimestamp, Value: "yesterday"},
		{Type: dbsql.SqlDate, Value: "yesterday"},
	} {
		err := db.QueryRow("SELECT ?", p).Scan(&got)
		require.ErrorAs(t, err, &ee, "%s %q", p.Type, p.Value)
		assert.Equal(t, "22018", ee.SqlState(), "%s %q: %v", p.Type, p.Value, err)
		assert.Contains(t, err.Error(), "CAST_INVALID_INPUT")
		if p.Type != dbsql.SqlDate { // DuckDB's own message for a date quotes it
			assert.NotContains(t, err.Error(), p.Value.(string), "the value is the caller's data")
		}
	}
}

func TestMissingTableIsExecutionError(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	_, err := db.Query("SELECT * FROM no_such_table")
	require.Error(t, err)
	var ee dbsqlerr.DBExecutionError
	require.True(t, errors.As(err, &ee), "got %T: %v", err, err)
	assert.Equal(t, "42P01", ee.SqlState())
	assert.Contains(t, err.Error(), "[TABLE_OR_VIEW_NOT_FOUND] The table or view `no_such_table` cannot be found.")
	st, ok := srv.Statement(ee.QueryId())
	require.True(t, ok, "query id %q is the warehouse's statement id", ee.QueryId())
	assert.Equal(t, warehouse.StateError, st.State)
	assert.Equal(t, "42P01", st.SQLState)

	for _, tc := range []struct{ q, state, msg string }{
		{q: "SELEC 1", state: "42601"},
		{q: "SELECT no_such_column", state: "42703"},
		{q: "SELECT CAST('abc' AS INTEGER)", state: "22018"},
		{q: "SELECT CAST(300 AS TINYINT)", state: "22003"},
		{q: "SELECT * FROM no_schema.t", state: "42P01", msg: "[TABLE_OR_VIEW_NOT_FOUND] The table or view `no_schema`.`t` cannot be found."},
		{q: "SELECT 1/0", state: "22012", msg: "[DIVIDE_BY_ZERO] Division by zero."}, // ANSI mode, as a SQL warehouse
		{q: "SELECT sum(1/(range-5)) FROM range(10)", state: "22012"},                // on one row of ten
		{q: "SELECT 1/0.0", state: "22012"},
		{q: "CREATE TABLE dup(a INT)"},
		{q: "CREATE TABLE dup(a INT) --again", state: "42P07"},
		{q: "CREATE TABLE no_schema.t (a INT)", state: "42704", msg: "[SCHEMA_NOT_FOUND] The schema `no_schema` cannot be found."},
		{q: "SELECT no_such_function(1)", state: "42883", msg: "[UNRESOLVED_ROUTINE] Cannot resolve routine `no_such_function` on search path."},
		{q: `SELECT * FROM "no such table"`, state: "42P01", msg: "The table or view `no such table` cannot be found."},
		{q: "SELECT ?", state: "42P02"}, // [UNBOUND_SQL_PARAMETER]: no value for the marker
	} {
		q, state := tc.q, tc.state
		_, err := db.Exec(q)
		if state == "" {
			require.NoError(t, err, q)
			continue
		}
		require.True(t, errors.As(err, &ee), "%s: got %T: %v", q, err, err)
		assert.Equal(t, state, ee.SqlState(), q)
		assert.Contains(t, err.Error(), tc.msg, q)
	}
	// More values than markers: the statement cannot be bound either.
	_, err = db.Exec("SELECT ? AS a", 1, 2)
	require.True(t, errors.As(err, &ee), "got %T: %v", err, err)
	assert.Equal(t, "42P02", ee.SqlState())
	assert.Contains(t, err.Error(), "UNBOUND_SQL_PARAMETER")
}

// TestSetTimeZone checks that Databricks' SET of the session time zone, in each of its
// spellings, changes the zone the session's later statements read and show TIMESTAMP
// literals in, and that a zone that names none fails as Databricks reports it, leaving the
// zone as it was.
func TestSetTimeZone(t *testing.T) {
	srv := start(t)
	conn, err := open(t, srv, "").Conn(context.Background())
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	ctx := context.Background()
	for _, tc := range []struct{ set, zone string }{
		{"SET TIME ZONE 'America/New_York'", "America/New_York"},
		{"set time zone LOCAL", "UTC"},
		{"SET spark.sql.session.timeZone = Asia/Tokyo", "Asia/Tokyo"},
		{"SET timezone = 'Europe/Paris';", "Europe/Paris"},
		{`SET TIME ZONE "+05:00"`, "Etc/GMT-5"},
		{"SET TIME ZONE 'GMT-03:00'", "Etc/GMT+3"},
		{"SET TIME ZONE 'UTC'", "UTC"},
		{"SET TIME ZONE 'GMT+8'", "Etc/GMT-8"},
		{"SET TIME ZONE '+14:00'", "Etc/GMT-14"},
		{"SET TIME ZONE '-12:00'", "Etc/GMT+12"},
	} {
		_, err := conn.ExecContext(ctx, tc.set)
		require.NoError(t, err, tc.set)
		var zone string
		require.NoError(t, conn.QueryRowContext(ctx, "SELECT current_setting('TimeZone')").Scan(&zone), tc.set)
		assert.Equal(t, tc.zone, zone, tc.set)
		loc, err := time.LoadLocation(tc.zone)
		require.NoError(t, err)
		var ts time.Time
		require.NoError(t, conn.QueryRowContext(ctx, "SELECT TIMESTAMP '2024-01-01 00:00:00'").Scan(&ts), tc.set)
		want := time.Date(2024, 1, 1, 0, 0, 0, 0, loc)
		assert.True(t, want.Equal(ts), "%s: TIMESTAMP %v, want %v", tc.set, ts, want)
	}

	_, err = conn.ExecContext(ctx, "SET TIME ZONE 'America/New_York'")
	require.NoError(t, err)
	for _, bad := range []string{"SET TIME ZONE 'Mars/Olympus'", "SET TIME ZONE '+05:30'", "SET timezone = ''", "SET TIME ZONE 'Local'", "SET TIME ZONE '-13:00'"} {
		_, err = conn.ExecContext(ctx, bad)
		var ee dbsqlerr.DBExecutionError
		require.True(t, errors.As(err, &ee), "%s: got %T: %v", bad, err, err)
		assert.Equal(t, "22022", ee.SqlState(), bad)
		assert.Contains(t, err.Error(), "[INVALID_CONF_VALUE.TIME_ZONE]", bad)
		var zone string
		require.NoError(t, conn.QueryRowContext(ctx, "SELECT current_setting('TimeZone')").Scan(&zone))
		assert.Equal(t, "America/New_York", zone, "%s leaves the zone as it was", bad)
	}
}

// TestDivision checks that "/" keeps DuckDB's results, types and NULLs where the divisor
// is not zero (ansiArithmetic only adds the error), whatever the current schema.
func TestDivision(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	conn, err := db.Conn(context.Background())
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	_, err = conn.ExecContext(context.Background(), "CREATE SCHEMA elsewhere")
	require.NoError(t, err)
	_, err = conn.ExecContext(context.Background(), "USE elsewhere")
	require.NoError(t, err)
	for _, tc := range []struct {
		q    string
		want any
	}{
		{"SELECT 6/4", 1.5},
		{"SELECT typeof(6/4)", "DOUBLE"},
		{"SELECT 7.5/2.5", 3.0},
		{"SELECT 1/NULL", nil},
		{"SELECT 7//2", int32(3)}, // DuckDB's integer division, and its NULL on a zero divisor
		{"SELECT 7//0", nil},
		{"SELECT CAST(NULL AS INT) / 0", nil}, // a NULL dividend is checked first, as Spark does
		{"SELECT try_divide(6, 4)", 1.5},
		{"SELECT try_divide(6, 0)", nil},
		{"SELECT sum(8/(range+1)) FROM range(4) WHERE range <> 2", 8 + 4 + 2.0},
	} {
		var got any
		require.NoError(t, conn.QueryRowContext(context.Background(), tc.q).Scan(&got), tc.q)
		assert.Equal(t, tc.want, got, tc.q)
	}
	before := srv.RPCs()["GetResultSetMetadata"]
	_, err = conn.ExecContext(context.Background(), "SELECT 1/0")
	var ee dbsqlerr.DBExecutionError
	require.True(t, errors.As(err, &ee), "got %T: %v", err, err)
	assert.Equal(t, "22012", ee.SqlState())
	assert.Contains(t, err.Error(), "[DIVIDE_BY_ZERO] Division by zero.")
	// The failed statement's direct results carry its (empty) metadata: the driver's Exec,
	// which asks whether it was a staging operation, makes no call on its closed handle.
	assert.Equal(t, before, srv.RPCs()["GetResultSetMetadata"], "no GetResultSetMetadata after a failed Exec")
	var got any
	require.NoError(t, conn.QueryRowContext(context.Background(), "SELECT ? / ?", nil, 0).Scan(&got))
	assert.Nil(t, got, "NULL / 0")

	// A session that turns ANSI mode off gets NULL, as on Databricks, however the value is
	// spelt.
	for _, off := range []string{"false", "FALSE", "False"} {
		legacy := open(t, srv, "ansi_mode="+off)
		require.NoError(t, legacy.QueryRow("SELECT 1/0").Scan(&got))
		assert.Nil(t, got, "1/0 with ansi_mode=%s", off)
		require.NoError(t, legacy.QueryRow("SELECT 6/4").Scan(&got))
		assert.Equal(t, 1.5, got)
	}

	// SET switches it within a session, both ways, under either name.
	_, err = conn.ExecContext(context.Background(), "SET ansi_mode = FALSE")
	require.NoError(t, err)
	require.NoError(t, conn.QueryRowContext(context.Background(), "SELECT 1/0").Scan(&got))
	assert.Nil(t, got, "1/0 after SET ansi_mode = FALSE")
	_, err = conn.ExecContext(context.Background(), "set spark.sql.ansi.enabled = 'true';")
	require.NoError(t, err)
	_, err = conn.ExecContext(context.Background(), "SELECT 1/0")
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, "22012", ee.SqlState())
}

func TestCloudFetch(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	rows, err := db.Query("SELECT * FROM range(1000000)")
	require.NoError(t, err)
	var n, sum int64
	for rows.Next() {
		var v int64
		require.NoError(t, rows.Scan(&v))
		n++
		sum += v
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	assert.Equal(t, int64(1000000), n)
	assert.Equal(t, int64(999999*1000000/2), sum)

	st := lastStatement(t, srv)
	assert.Equal(t, warehouse.DeliveryCloudFetch, st.Delivery)
	assert.Equal(t, int64(1000000), st.Rows)
	assert.GreaterOrEqual(t, st.ChunkDownloads, 2)
	assert.Equal(t, st.Chunks, st.ChunkDownloads)
}

// A link expires linkTTL after the page that lists it went out, not after the statement
// ended: a reader slower than the TTL over the whole result still gets every file.
func TestCloudFetchSlowReader(t *testing.T) {
	srv := start(t, warehouse.WithCloudFetchThreshold(100), warehouse.WithChunkRows(100),
		warehouse.WithBatchRows(100), warehouse.WithLinkTTL(time.Second))
	db := open(t, srv, "")
	rows, err := db.Query("SELECT * FROM range(2400)")
	require.NoError(t, err)
	var n int64
	for rows.Next() {
		n++
		if n%100 == 0 {
			time.Sleep(150 * time.Millisecond) // 3.6 s in all; the second page comes after 1.2 s
		}
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	assert.Equal(t, int64(2400), n)
	st := lastStatement(t, srv)
	assert.Equal(t, 24, st.Chunks)
	assert.Equal(t, 24, st.ChunkDownloads)
}

func TestInlinePaging(t *testing.T) {
	srv := start(t, warehouse.WithBatchRows(700))
	db := open(t, srv, "maxRows=1000")
	var n, sum int64
	rows, err := db.Query("SELECT range AS v, 'row ' || range AS s FROM range(5000)")
	require.NoError(t, err)
	for rows.Next() {
		var v int64
		var s string
		require.NoError(t, rows.Scan(&v, &s))
		require.Equal(t, fmt.Sprint("row ", v), s)
		require.Equal(t, n, v, "rows arrive in order")
		n++
		sum += v
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, int64(5000), n)
	st := lastStatement(t, srv)
	assert.Equal(t, warehouse.DeliveryInline, st.Delivery)
	assert.GreaterOrEqual(t, st.Fetches, 4, "5000 rows in pages of at most 1000")
}

func TestDMLAndTransactions(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	db.SetMaxOpenConns(1)
	_, err := db.Exec("CREATE TABLE items(id INTEGER, name VARCHAR)")
	require.NoError(t, err)
	res, err := db.Exec("INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c')")
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	res, err = db.Exec("UPDATE items SET name = upper(name) WHERE id >= ?", 2)
	require.NoError(t, err)
	n, _ = res.RowsAffected()
	assert.Equal(t, int64(2), n)
	// With RETURNING (DuckDB's, not Databricks SQL's), the rows modified, not a value
	// of the first one returned.
	res, err = db.Exec("INSERT INTO items VALUES (40, 'x'), (41, 'y') RETURNING id")
	require.NoError(t, err)
	n, _ = res.RowsAffected()
	assert.Equal(t, int64(2), n)
	_, err = db.Exec("DELETE FROM items WHERE id >= 40")
	require.NoError(t, err)

	_, err = db.Exec("BEGIN TRANSACTION")
	require.NoError(t, err)
	_, err = db.Exec("DELETE FROM items")
	require.NoError(t, err)
	_, err = db.Exec("ROLLBACK")
	require.NoError(t, err)

	var names string
	require.NoError(t, db.QueryRow("SELECT string_agg(name, ',' ORDER BY id) FROM items").Scan(&names))
	assert.Equal(t, "a,B,C", names)
	assert.Equal(t, int64(2), findStatement(t, srv, "UPDATE items").ModifiedRows)
}

func TestSessionsAreIsolated(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	ctx := context.Background()
	c1, err := db.Conn(ctx)
	require.NoError(t, err)
	defer c1.Close()
	c2, err := db.Conn(ctx)
	require.NoError(t, err)
	defer c2.Close()
	_, err = c1.ExecContext(ctx, "CREATE TEMP TABLE mine AS SELECT 1 AS x")
	require.NoError(t, err)
	var x int
	require.NoError(t, c1.QueryRowContext(ctx, "SELECT x FROM mine").Scan(&x))
	_, err = c2.ExecContext(ctx, "SELECT x FROM mine")
	require.Error(t, err, "a temp table belongs to its session")

	_, err = c1.ExecContext(ctx, "CREATE SCHEMA s1")
	require.NoError(t, err)
	_, err = c1.ExecContext(ctx, "USE s1")
	require.NoError(t, err)
	var schema1, schema2 string
	require.NoError(t, c1.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema1))
	require.NoError(t, c2.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema2))
	assert.Equal(t, "s1", schema1)
	assert.Equal(t, "main", schema2)
}

// A statement on a session the server does not know (here: the server restarted under
// the pool) makes the driver report a bad connection, and database/sql runs it again on a
// new one, as it does against Databricks.
func TestUnknownSessionReconnects(t *testing.T) {
	first, err := warehouse.NewServer(warehouse.WithToken("dapi-restart"))
	require.NoError(t, err)
	addr := first.Addr()
	// The pool's HTTP connections, on a transport of the test's own: see below.
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	c, err := dbsql.NewConnector(dbsql.WithServerHostname("http://"+host), dbsql.WithPort(p),
		dbsql.WithHTTPPath(warehouse.HTTPPath), dbsql.WithAccessToken(first.Token()), dbsql.WithTransport(tr))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(1)
	ctx := ctxTimeout(t, time.Minute)
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&n))
	require.NoError(t, first.Close())
	// A Databricks warehouse restarts behind a front end that keeps the client's TCP
	// connections; this one closed them under the client, whose transport notices only
	// when its read loop runs: the next statement's POST, written before then on the dead
	// connection, failed with EOF (and is not retried) before it reached the new server.
	// What is under test is the session the new server does not know, so the dead
	// connections go first.
	tr.CloseIdleConnections()

	second := start(t, warehouse.WithAddr(addr), warehouse.WithToken("dapi-restart"))
	require.NoError(t, db.QueryRowContext(ctx, "SELECT 2").Scan(&n), "run again on a new session")
	assert.Equal(t, 2, n)
	require.Len(t, second.Sessions(), 1)
	require.Len(t, second.Statements(), 1)
	assert.Equal(t, "SELECT 2", second.Statements()[0].SQL)
	require.NoError(t, db.QueryRowContext(ctx, "SELECT 3").Scan(&n), "the pool keeps the new connection")
	assert.Len(t, second.Sessions(), 1)
	// Before the server's cleanup: the driver would spend its retries (about 15 s) on
	// closing the session against a server that is gone.
	require.NoError(t, db.Close())
}

func TestSessionRecordsConfiguration(t *testing.T) {
	srv := start(t)
	setup := open(t, srv, "")
	_, err := setup.Exec("CREATE SCHEMA analytics")
	require.NoError(t, err)

	db := open(t, srv, "schema=analytics&userAgentEntry=tests&ansi_mode=true&timezone=Europe/Paris")
	var schema string
	require.NoError(t, db.QueryRow("SELECT current_schema()").Scan(&schema))
	assert.Equal(t, "analytics", schema)
	sessions := srv.Sessions()
	require.Len(t, sessions, 2)
	s := sessions[1]
	assert.Equal(t, "analytics", s.InitialNamespace.Schema)
	assert.Equal(t, "true", s.Configuration["ansi_mode"])
	assert.Contains(t, s.Header.Get("User-Agent"), "godatabrickssqlconnector/")
	assert.Contains(t, s.Header.Get("User-Agent"), "tests")
	assert.Equal(t, int64(42248), s.ClientProtocol)

	// A schema that does not exist fails the session like on Databricks.
	bad := open(t, srv, "schema=nope")
	require.Error(t, bad.Ping())
}

func TestCancelLongQuery(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	for name, q := range map[string]string{
		"sleep":     "SELECT wait_ms(60000)",
		"cpu bound": "SELECT count(*) FROM range(1000000) a, range(1000000) b WHERE a.range + b.range = 7",
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			began := time.Now()
			_, err := db.QueryContext(ctx, q)
			elapsed := time.Since(began)
			require.Error(t, err)
			assert.Less(t, elapsed, 1500*time.Millisecond+time.Second, "cancelled within 1 s of the deadline")
			st := findStatement(t, srv, q)
			require.Eventually(t, func() bool {
				st, _ = srv.Statement(st.ID)
				return st.State == warehouse.StateCanceled
			}, 5*time.Second, 10*time.Millisecond, "the server interrupted DuckDB (state %s)", st.State)
			var one int
			require.NoError(t, db.QueryRow("SELECT 1").Scan(&one), "the server stays healthy")
		})
	}
}

func TestSlowQueryIsPolled(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	var v int64
	require.NoError(t, db.QueryRow("SELECT wait_ms(1300)").Scan(&v))
	assert.Equal(t, int64(1300), v)
	st := findStatement(t, srv, "SELECT wait_ms(1300)")
	assert.True(t, st.Async)
	assert.GreaterOrEqual(t, st.Polls, 1)
	assert.Equal(t, warehouse.StateFinished, st.State)
}

func TestConcurrentClients(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	db.SetMaxOpenConns(32)
	var wg sync.WaitGroup
	errs := make(chan error, 32*50)
	for g := range 32 {
		wg.Go(func() {
			for i := range 50 {
				var got int64
				var s string
				if err := db.QueryRow("SELECT ? * 1000 + ?, 'g' || ?", g, i, g).Scan(&got, &s); err != nil {
					errs <- err
					return
				}
				if got != int64(g*1000+i) || s != fmt.Sprint("g", g) {
					errs <- fmt.Errorf("goroutine %d query %d: got %d %q", g, i, got, s)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Len(t, srv.Statements(), 32*50)
}

func TestWrongTokenIsRefused(t *testing.T) {
	srv := start(t)
	dsn := strings.Replace(srv.DSN(), srv.Token(), "dapi-wrong", 1)
	db, err := sql.Open("databricks", dsn)
	require.NoError(t, err)
	defer db.Close()
	err = db.PingContext(ctxTimeout(t, 30*time.Second))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "401")
	assert.Empty(t, srv.Sessions())

	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/telemetry-ext", strings.NewReader(`{}`))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func lastStatement(t *testing.T, srv *warehouse.Server) warehouse.StatementRecord {
	t.Helper()
	all := srv.Statements()
	require.NotEmpty(t, all)
	return all[len(all)-1]
}

func findStatement(t *testing.T, srv *warehouse.Server, sqlPrefix string) warehouse.StatementRecord {
	t.Helper()
	for _, st := range srv.Statements() {
		if strings.HasPrefix(st.SQL, sqlPrefix) {
			return st
		}
	}
	t.Fatalf("no statement %q", sqlPrefix)
	return warehouse.StatementRecord{}
}

// The DSN carries the token escaped: any token the server accepts works through it.
func TestDSNEscapesTheToken(t *testing.T) {
	for _, token := range []string{"dapi@x", "tok/en", "a:b", "p%41ss", "sp ace", "q?x", "h#x"} {
		t.Run(token, func(t *testing.T) {
			srv := start(t, warehouse.WithToken(token))
			db, err := sql.Open("databricks", srv.DSN())
			require.NoError(t, err)
			defer db.Close()
			require.NoError(t, db.PingContext(ctxTimeout(t, 20*time.Second)))
		})
	}
}

// A server listening on every address gives a DSN and a URL the driver can dial (its
// loopback address), not the unspecified address it listens on.
func TestDSNOfAServerOnEveryAddress(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		t.Run(addr, func(t *testing.T) {
			srv := start(t, warehouse.WithAddr(addr))
			require.Contains(t, srv.DSN(), "@127.0.0.1:")
			require.True(t, strings.HasPrefix(srv.URL(), "http://127.0.0.1:"), srv.URL())
			db, err := sql.Open("databricks", srv.DSN())
			require.NoError(t, err)
			defer db.Close()
			require.NoError(t, db.PingContext(ctxTimeout(t, 20*time.Second)))
		})
	}
}
