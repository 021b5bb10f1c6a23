package warehouse_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// firstColumn runs q and returns every row's first column printed with %v (NULL as
// "NULL"), or the query's SQLSTATE when it fails.
func firstColumn(t *testing.T, db *sql.DB, q string) (string, string) {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), q)
	if err == nil {
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v any
			if err = rows.Scan(&v); err != nil {
				break
			}
			if v == nil {
				out = append(out, "NULL")
			} else {
				out = append(out, fmt.Sprint(v))
			}
		}
		if err == nil {
			err = rows.Err()
		}
		if err == nil {
			return strings.Join(out, ","), ""
		}
	}
	var ee dbsqlerr.DBExecutionError
	if errors.As(err, &ee) {
		return "", ee.SqlState()
	}
	t.Fatalf("%s: %v", q, err)
	return "", ""
}

// TestSparkFunctionsThroughTheDriver runs, through the real driver, the operators and
// functions whose DuckDB answer differed from Databricks' without an error (each value is
// the Databricks SQL reference's, in ANSI mode, the default of its SQL warehouses).
func TestSparkFunctionsThroughTheDriver(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	for _, tc := range []struct {
		name, sql string
		want      string // the rows' first column, joined by commas
		state     string // the SQLSTATE when the statement fails
	}{
		// ORDER BY: "NULLs sort first if sort order is ASC and NULLS sort last if DESC".
		{"NULLs first ascending", `SELECT x FROM VALUES (1), (NULL), (2) AS t(x) ORDER BY x`, "NULL,1,2", ""},
		{"NULLs last descending", `SELECT x FROM VALUES (1), (NULL), (2) AS t(x) ORDER BY x DESC`, "2,1,NULL", ""},
		{"NULLs first in a window", `SELECT row_number() OVER (ORDER BY x) FROM VALUES (1), (NULL) AS t(x) ORDER BY x NULLS LAST`, "2,1", ""},
		{"NULLS LAST when asked", `SELECT x FROM VALUES (1), (NULL) AS t(x) ORDER BY x NULLS LAST`, "1,NULL", ""},
		// concat "is a synonym for ||".
		{"concat with a NULL", `SELECT concat('a', NULL)`, "NULL", ""},
		{"concat of a NULL column", `SELECT concat(f, ' ', l) FROM VALUES ('Ada', CAST(NULL AS STRING)) AS t(f, l)`, "NULL", ""},
		{"concat", `SELECT concat('Spark', 'SQL', 1)`, "SparkSQL1", ""},
		{"concat of one", `SELECT concat('a')`, "a", ""},
		// % and mod: REMAINDER_BY_ZERO (22012) in ANSI mode.
		{"% by zero", `SELECT 1 % 0`, "", "22012"},
		{"mod by zero", `SELECT mod(1, 0)`, "", "22012"},
		{"% of a DOUBLE by zero", `SELECT 7.0D % 0`, "", "22012"},
		{"% of NULL by zero", `SELECT NULL % 0`, "NULL", ""},
		{"try_mod by zero", `SELECT try_mod(3, 0)`, "NULL", ""},
		{"% keeps the dividend's sign", `SELECT -7 % 3`, "-1", ""},
		{"% by a negative", `SELECT 5 % -3`, "2", ""},
		{"mod", `SELECT mod(7, 2)`, "1", ""},
		// regexp_replace replaces every match, from pos, with Java's $n.
		{"regexp_replace", `SELECT regexp_replace('100-200', '(\\d+)', 'num')`, "num-num", ""},
		{"regexp_replace with a group", `SELECT regexp_replace('a-b-c', '(\\w)', '[$1]')`, "[a]-[b]-[c]", ""},
		{"regexp_replace from a position", `SELECT regexp_replace('a-b-c', '-', '', 3)`, "a-bc", ""},
		// regexp_extract and regexp_extract_all take group 1 by default.
		{"regexp_extract", `SELECT regexp_extract('100-200', '(\\d+)-(\\d+)')`, "100", ""},
		{"regexp_extract of group 2", `SELECT regexp_extract('100-200', '(\\d+)-(\\d+)', 2)`, "200", ""},
		{"regexp_extract_all", `SELECT regexp_extract_all('100-200, 300-400', '(\\d+)-(\\d+)')`, `["100","300"]`, ""},
		// split takes a regular expression.
		{"split", `SELECT split('oneAtwoBthreeC', '[ABC]')`, `["one","two","three",""]`, ""},
		// log(x) is ln(x); out of bounds, NULL.
		{"log", `SELECT round(log(100), 6)`, "4.60517", ""},
		{"log to a base", `SELECT log(2, 8)`, "3", ""},
		{"ln of 0", `SELECT ln(0)`, "NULL", ""},
		{"log of -1", `SELECT log(-1)`, "NULL", ""},
		{"log10 of 0", `SELECT log10(0)`, "NULL", ""},
		// dayofweek: 1 = Sunday … 7 = Saturday; weekday: 0 = Monday … 6 = Sunday.
		{"dayofweek", `SELECT dayofweek(DATE'2009-07-30')`, "5", ""},
		{"dayofweek of a Saturday", `SELECT dayofweek(DATE'2024-01-06')`, "7", ""},
		{"weekday", `SELECT weekday(DATE'2009-07-30')`, "3", ""},
		{"weekday of a Sunday", `SELECT weekday(DATE'2024-01-07')`, "6", ""},
		// substr: a pos of 0 is 1.
		{"substr from 0", `SELECT substr('hello', 0, 2)`, "he", ""},
		{"substring from 0", `SELECT substring('hello', 0, 1)`, "h", ""},
		{"substr from the end", `SELECT substr('Spark SQL', -3)`, "SQL", ""},
		{"substring FROM FOR", `SELECT substring('Spark SQL' FROM 5 FOR 1)`, "k", ""},
		// A cast to an integral type truncates toward zero (int(-5.6) is -5), and a string
		// must be an integer (CAST_INVALID_INPUT, 22018); out of range, CAST_OVERFLOW (22003).
		{"CAST of a DECIMAL to INT", `SELECT CAST(-5.6 AS INT)`, "-5", ""},
		{"CAST of a DOUBLE to BIGINT", `SELECT CAST(2.7D AS BIGINT)`, "2", ""},
		{"CAST of a column", `SELECT CAST(x * 1.5 AS INT) FROM VALUES (3) AS t(x)`, "4", ""},
		{"::INT", `SELECT 2.7::INT`, "2", ""},
		{"::INT of a negative number", `SELECT -2.7::INT`, "-2", ""},
		{"::INT of a call", `SELECT abs(-2.7)::INT`, "2", ""},
		{"int()", `SELECT int(-5.6)`, "-5", ""},
		{"a string with a fraction", `SELECT CAST('1.5' AS INT)`, "", "22018"},
		{"a string with an exponent", `SELECT '1e3'::BIGINT`, "", "22018"},
		{"a string with blanks", `SELECT CAST(' 12 ' AS INT)`, "12", ""},
		{"TRY_CAST of a malformed string", `SELECT TRY_CAST('1.5' AS INT)`, "NULL", ""},
		{"an overflow", `SELECT CAST(128.5D AS TINYINT)`, "", "22003"},
		{"NULL", `SELECT CAST(NULL AS INT)`, "NULL", ""},
		{"a boolean", `SELECT CAST(true AS INT)`, "1", ""},
		// [ ]: "The first element of an ARRAY is at index 0"; a MAP's subscript is a key.
		{"an array's first element", `SELECT split('a,b,c', ',')[0]`, "a", ""},
		{"an array literal's", `SELECT [10, 20, 30][2]`, "30", ""},
		{"a column's", `SELECT a[1] FROM (SELECT [7, 8] AS a)`, "8", ""},
		{"twice", `SELECT [[1, 2], [3, 4]][1][0]`, "3", ""},
		{"out of range", `SELECT [1, 2][2]`, "NULL", ""},
		{"negative", `SELECT [1, 2][-1]`, "NULL", ""},
		{"a map's integer key", `SELECT MAP {1: 'x', 0: 'y'}[1]`, "x", ""},
		{"a map's string key", `SELECT MAP {'k': 'v'}['k']`, "v", ""},
		// left and right: "If len is less than 1, an empty string is returned".
		{"left of a negative length", `SELECT left('Spark SQL', -1)`, "", ""},
		{"right of 0", `SELECT right('Spark SQL', 0)`, "", ""},
		{"left", `SELECT left('Spark SQL', 3)`, "Spa", ""},
		{"right", `SELECT right('Spark SQL', 3)`, "SQL", ""},
		// array_position: "If the element is not found in the array, a 0 is returned".
		{"array_position not found", `SELECT array_position([3, 2, 1, 4, 1], 5)`, "0", ""},
		{"array_position", `SELECT array_position([3, 2, 1, 4, 1], 1)`, "3", ""},
		// array_distinct keeps the order: array_distinct(array(1, 2, 3, NULL, 3)) is [1,2,3,NULL].
		{"array_distinct", `SELECT array_distinct([1, 2, 3, NULL, 3])`, "[1,2,3,null]", ""},
		// dayname and monthname: "three-letter English acronym".
		{"dayname", `SELECT dayname(DATE'2024-11-01')`, "Fri", ""},
		{"monthname", `SELECT monthname(DATE'2024-11-01')`, "Nov", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, state := firstColumn(t, db, tc.sql)
			assert.Equal(t, tc.state, state, tc.sql)
			assert.Equal(t, tc.want, got, tc.sql)
		})
	}

	// With ANSI mode off, % and mod by zero are NULL; SET switches it back.
	legacy := open(t, srv, "ansi_mode=false")
	legacy.SetMaxOpenConns(1)
	for _, q := range []string{`SELECT 1 % 0`, `SELECT mod(1, 0)`, `SELECT 7.0D % 0`} {
		got, state := firstColumn(t, legacy, q)
		assert.Equal(t, "NULL", got, q)
		assert.Empty(t, state, q)
	}
	_, err := legacy.Exec("SET ansi_mode = true")
	require.NoError(t, err)
	_, state := firstColumn(t, legacy, `SELECT 1 % 0`)
	assert.Equal(t, "22012", state)
	_, err = legacy.Exec("RESET")
	require.NoError(t, err)
	got, _ := firstColumn(t, legacy, `SELECT 1 % 0`)
	assert.Equal(t, "NULL", got, "RESET restores the session's mode")

	// A parameter cast to INT is DuckDB's to cast (it rounds), as the README says.
	var n int64
	require.NoError(t, db.QueryRow(`SELECT CAST(? AS INT)`, "7").Scan(&n))
	assert.Equal(t, int64(7), n)
}

// concat takes any number of arguments, as in Spark: beyond the macros' 32, the
// statement nests them. A NULL among them still makes it NULL.
func TestConcatOfManyArguments(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	var args []string
	want := ""
	for i := range 40 {
		c := string(rune('a' + i%26))
		args = append(args, "'"+c+"'")
		want += c
	}
	for _, n := range []int{33, 40} {
		q := "SELECT concat(" + strings.Join(args[:n], ", ") + ")"
		got, state := firstColumn(t, db, q)
		assert.Empty(t, state, "concat of %d arguments fails", n)
		assert.Equal(t, want[:n], got, "concat of %d arguments", n)
	}
	got, state := firstColumn(t, db, "SELECT concat("+strings.Join(args[:33], ", ")+", NULL)")
	assert.Empty(t, state)
	assert.Equal(t, "NULL", got, "a NULL among many arguments")
}

// array_sort places NULLs last (Databricks' reference: array_sort(array('b', 'd', null,
// 'c', 'a')) is ["a","b","c","d",null]), although DuckDB's follows the NULL order that
// gives ORDER BY Spark's NULLs first.
func TestArraySortPutsNullsLast(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	got, state := firstColumn(t, db, `SELECT array_sort(['b', 'd', NULL, 'c', 'a'])`)
	require.Empty(t, state)
	assert.Equal(t, `["a","b","c","d",null]`, got)
	got, state = firstColumn(t, db, `SELECT array_sort([3, NULL, 1])`)
	require.Empty(t, state)
	assert.Equal(t, `[1,3,null]`, got)
}

// A "::" cast to an integral type whose operand is parenthesized (a negative number is,
// by the lexis) after a keyword: the keyword is no call's name (DEFAULT
// spark_cast_int(DEFAULT (-1)) was a syntax error).
func TestIntegralCastAfterAKeyword(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`CREATE TABLE kw_k1 (a BIGINT DEFAULT -1::BIGINT, b INT)`,
		`CREATE TABLE kw_k2 (a INT DEFAULT (2)::INT, b INT)`,
		`CREATE TABLE kw_k3 (a INT, b INT)`,
		`ALTER TABLE kw_k3 ALTER COLUMN a SET DEFAULT -1::INT`,
	} {
		_, err := db.Exec(q)
		assert.NoError(t, err, q)
	}
	got, state := firstColumn(t, db, `SELECT substring('hello' FROM 2 FOR (3)::INT)`)
	assert.Empty(t, state)
	assert.Equal(t, "ell", got)
}

// Subscripts by an integer literal after a field, a call named like a keyword, and array
// types, which are no subscripts: each worked, or answered DuckDB's NULL, before the
// subscripts counted from 0, and broke with them.
func TestSubscriptEdgesThroughTheDriver(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	db.SetMaxOpenConns(1)
	for _, tc := range []struct{ q, want string }{
		{`SELECT l[0].f[0] FROM (SELECT [{'f': [1, 2]}] AS l)`, "1"},
		{`SELECT (s).f[1] FROM (SELECT {'f': [3, 4]} AS s)`, "4"},
		{`SELECT range(5)[1]`, "1"},
		{`SELECT map([1, 2], [[3], [4]])[1][0]`, "3"},
		{`SELECT CAST([1, 2] AS INT[2])`, "[1,2]"},
	} {
		got, state := firstColumn(t, db, tc.q)
		assert.Empty(t, state, tc.q)
		assert.Equal(t, tc.want, got, tc.q)
	}
	for _, q := range []string{
		`CREATE TABLE typed_arrays (x STRUCT(f INT)[2], y MAP(INT, INT)[2], z INT[3])`,
		`CREATE TABLE keyword_column (range INT[2])`,
	} {
		_, err := db.Exec(q)
		assert.NoError(t, err, q)
	}
	// A brace's comma is no concat's argument.
	args := strings.Repeat("'a', ", 31)
	got, state := firstColumn(t, db, "SELECT concat("+args+"MAP {1: 'x', 2: 'y'}[1])")
	assert.Empty(t, state)
	assert.Equal(t, strings.Repeat("a", 31)+"x", got)
}
