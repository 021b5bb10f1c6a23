package warehouse_test

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDatabricksLiteralsThroughTheDriver sends Databricks SQL's string literals and
// quoted names through the real driver: each reads as it does on Databricks.
func TestDatabricksLiteralsThroughTheDriver(t *testing.T) {
	db := open(t, start(t), "")
	for _, tc := range []struct {
		name, sql string
		args      []any
		want      any
	}{
		{"backticks", "SELECT `my col` FROM (SELECT 'v' AS `my col`)", nil, "v"},
		{"a backtick in a name", "SELECT `a``b` FROM (SELECT 'w' AS `a``b`)", nil, "w"},
		{"double quotes", `SELECT "it's"`, nil, "it's"},
		{"a backslash escape", `SELECT 'O\'Connell'`, nil, "O'Connell"},
		{"a line feed", `SELECT 'Some\nText'`, nil, "Some\nText"},
		{"two quotes", `SELECT 'it''s'`, nil, "its"},
		{"a raw string", `SELECT r'C:\temp'`, nil, `C:\temp`},
		{"a unicode escape", `SELECT '\u00e9t\u00e9'`, nil, "été"},
		{"a NUL", `SELECT 'a\0b'`, nil, "a\x00b"},
		{"LIKE's default escape", `SELECT '50%' LIKE '50\%'`, nil, true},
		{"LIKE's escape, unmatched", `SELECT '50x' LIKE '50\%'`, nil, false},
		{"a binary literal", `SELECT X'00FF41'`, nil, []byte{0, 0xff, 'A'}},
		{"a BIGINT literal", `SELECT 1L + 1`, nil, int64(2)},
		{"a TINYINT literal", `SELECT -64Y AS col`, nil, int8(-64)},
		{"a DOUBLE literal", `SELECT -5555555555555555.1D`, nil, -5.555555555555555e15},
		{"a DECIMAL literal", `SELECT 5.321E2BD`, nil, "532.1"},
		{"a short DATE literal", `SELECT DATE'2020-06' = DATE'2020-06-01'`, nil, true},
		{"null-safe equality", `SELECT NULL <=> NULL`, nil, true},
		{"a marker in double quotes", `SELECT "?" || ?`, []any{"!"}, "?!"},
		{"a timestamp in double quotes", `SELECT hour(TIMESTAMP "2024-01-01 10:00:00+02:00")`, nil, int64(8)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got any
			require.NoError(t, db.QueryRow(tc.sql, tc.args...).Scan(&got))
			assert.Equal(t, tc.want, got)
		})
	}
	// A semicolon inside an escaped string is no second statement.
	var got string
	require.NoError(t, db.QueryRow(`SELECT 'a\'; b'`).Scan(&got))
	assert.Equal(t, "a'; b", got)
}

// TestSparkLexisThroughTheDriver sends what Spark's lexer and DuckDB's read differently
// (a comment's end, blanks, a NUL, a $, number suffixes at their edges, names that start
// with digits, DATE texts Spark refuses, named markers that differ only in case) through
// the real driver: the statement the warehouse runs is the one Databricks would, and
// nothing hidden in a comment runs.
func TestSparkLexisThroughTheDriver(t *testing.T) {
	db := open(t, start(t), "")
	for _, q := range []string{"CREATE TABLE victim(a INT)", "INSERT INTO victim VALUES (1), (2), (3)"} {
		_, err := db.Exec(q)
		require.NoError(t, err)
	}
	d := func(s string) time.Time { v, _ := time.Parse(time.DateOnly, s); return v }
	victims := func() int {
		var n int
		require.NoError(t, db.QueryRow("SELECT count(*) FROM victim").Scan(&n))
		return n
	}
	for _, tc := range []struct {
		name, sql string
		args      []any
		want      any // an error's text when a string starting with "[", else the value
	}{
		{"a comment ends at a carriage return", "SELECT 1 -- note\r; DROP TABLE victim", nil, "[PARSE_SYNTAX_ERROR]"},
		{"what follows it is code", "SELECT -- note\r\"x\"", nil, "x"},
		{"a marker after it is bound", "SELECT 1 -- note\r+ ?", []any{41}, int64(42)},
		{"a backslash takes a comment on", "SELECT 1 AS a -- in C:\\temp\\\nUNION ALL SELECT 2\n", nil, int32(1)},
		{"a NUL in a comment", "SELECT count(*) FROM victim -- a \x00\nWHERE a = 1", nil, int64(1)},
		{"a NUL in code", "SELECT 1 AS a \x00, 2 AS b", nil, "[PARSE_SYNTAX_ERROR]"},
		{"a $ in a name", "SELECT 1 AS a$b$; DROP TABLE victim; SELECT 2 AS c$b$", nil, "[PARSE_SYNTAX_ERROR]"},
		{"a nested comment before the verb", "/* outer /* inner */ INSERT */ SELECT 7 AS seven", nil, int32(7)},
		{"a comment that does not close at once", "/*/ INSERT */ SELECT 7 AS seven", nil, int32(7)},
		{"an open comment", "SELECT 1 /* a /* b */", nil, "[UNCLOSED_BRACKETED_COMMENT]"},
		{"a CTE named delete", "WITH delete AS (SELECT 5 AS five) SELECT five FROM delete", nil, int32(5)},
		{"a form feed and a vertical tab", "\fSELECT\v1;\f", nil, int32(1)},
		{"a no-break space", "SELECT\u00a01", nil, int32(1)},
		{"a LIKE pattern after a comment", `SELECT '50%' LIKE /* pattern */ '50\%'`, nil, true},
		{"strings across a comment", `SELECT 'a' /* c */ 'b'`, nil, "ab"},
		{"an open string", `SELECT 'a\' AS x`, nil, "[PARSE_SYNTAX_ERROR]"},
		{"a marker's name starting with _", `SELECT :_p + 1`, []any{dbsql.Parameter{Name: "_p", Value: 1}}, int32(2)},
		{"no U& prefix", `SELECT u&'1' FROM (SELECT 3 AS u)`, nil, int32(1)},
		{"min TINYINT literal", `SELECT -128Y`, nil, int8(-128)},
		{"a name spelled like a keyword, minus", `SELECT t.by - 1L + t.values -1L FROM (SELECT 5 AS by, 6 AS values) t`, nil, int64(9)},
		{"a marker named like a keyword, minus", `SELECT :limit - 1L`, []any{dbsql.Parameter{Name: "limit", Value: 5}}, int64(4)},
		{"the least TINYINT after <=>", `SELECT -128Y <=> -128Y`, nil, true},
		{"the least TINYINT after FROM", `SELECT 1Y IS DISTINCT FROM -128Y`, nil, true},
		{"a negative BD cast", `SELECT -1.5BD::STRING`, nil, "-1.5"},
		{"a negative number cast", `SELECT -1.5::STRING`, nil, "-1.5"},
		{"min SMALLINT literal", `SELECT -32768S`, nil, int16(-32768)},
		{"min BIGINT literal", `SELECT -9223372036854775808L`, nil, int64(-9223372036854775808)},
		{"BIGINT after a no-break space", "SELECT\u00a01L + 1", nil, int64(2)},
		{"BIGINT before a no-break space", "SELECT 1L\u00a0+ 1", nil, int64(2)},
		{"DOUBLE after an ideographic space", "SELECT\u30001.5D", nil, 1.5},
		{"DATE year then a time", `SELECT DATE'2020 10:00'`, nil, "["},
		{"DATE year-month then T", `SELECT DATE'2020-6T00'`, nil, "["},
		{"a name ending in digits and L", "SELECT a1L FROM (SELECT 5 AS a1L)", nil, int32(5)},
		{"a backticked 1L", "SELECT `1L` FROM (SELECT 7 AS `1L`)", nil, int32(7)},
		{"exponent double", `SELECT 1e-3D`, nil, 0.001},
		{"1.E2BD", `SELECT 1.E2BD`, nil, "100"},
		{"operators round suffixes", `SELECT (2-1L)*(3S)+1Y`, nil, int64(4)},
		{"<=> in a string", `SELECT 'a<=>b'`, nil, "a<=>b"},
		{"a date column", `SELECT date FROM (SELECT DATE'2020-01-02' AS date)`, nil, d("2020-01-02")},
		{"date function", `SELECT date('2020-01-02')`, nil, d("2020-01-02")},
		{"repeated _ marker", `SELECT :_p + :_p`, []any{dbsql.Parameter{Name: "_p", Value: 1}}, int32(2)},
		{"_ marker cast to TIMESTAMP", `SELECT CAST(CAST(:_a AS TIMESTAMP) AS STRING)`, []any{dbsql.Parameter{Name: "_a", Value: "2024-01-01 10:00:00"}}, "2024-01-01 10:00:00"},
		{"_ marker and p_ marker", `SELECT :_p * 10 + :p_p`, []any{dbsql.Parameter{Name: "_p", Value: 1}, dbsql.Parameter{Name: "p_p", Value: 2}}, int32(12)},
		{"DATE with an 8-digit year", `SELECT DATE'12345678'`, nil, "["},
		{"a qualified name starting with a digit", "SELECT t.1col FROM (SELECT 3 AS `1col`) t", nil, int32(3)},
		{"hex-like text is a name", "SELECT 0x1F FROM (SELECT 9 AS `0x1F`)", nil, int32(9)},
		{"BD beyond precision 38", `SELECT 1234567890123456789012345678901234567890BD`, nil, "["},
		{"<=> in a comment", "SELECT 1 -- a <=> b\n+ 1", nil, int32(2)},
		{"DATE after a comment", "SELECT DATE /* c */ '2020-6'", nil, d("2020-06-01")},
		{"case of markers", `SELECT :a * 10 + :A`, []any{dbsql.Parameter{Name: "a", Value: 1}, dbsql.Parameter{Name: "A", Value: 2}}, int32(12)},
		{"a1 marker", `SELECT :a1 + 1`, []any{dbsql.Parameter{Name: "a1", Value: 1}}, int32(2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got any
			err := db.QueryRow(tc.sql, tc.args...).Scan(&got)
			if s, ok := tc.want.(string); ok && strings.HasPrefix(s, "[") {
				require.Error(t, err)
				assert.Contains(t, err.Error(), s)
			} else {
				require.NoError(t, err)
				if tt, ok := got.(time.Time); ok {
					got = tt.UTC()
				}
				assert.Equal(t, tc.want, got)
			}
			assert.Equal(t, 3, victims(), "nothing hidden ran")
		})
	}
	// A STRING parameter cast to TIMESTAMP is bound under a name of its own, which must
	// not be another parameter's.
	var ts, w string
	require.NoError(t, db.QueryRow("SELECT CAST(CAST(:a AS TIMESTAMP) AS STRING), :a__wall",
		sql.Named("a", "2024-01-01 10:00:00"), sql.Named("a__wall", "hello")).Scan(&ts, &w))
	assert.Equal(t, "2024-01-01 10:00:00", ts)
	assert.Equal(t, "hello", w)
}
