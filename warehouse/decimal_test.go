package warehouse

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRewriteBareDecimal(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"a cast", "SELECT CAST(5.345 AS DECIMAL)", "SELECT CAST(5.345 AS DECIMAL(10,0))"},
		{"a try_cast in lower case", "select try_cast ( x as numeric ) from t", "select try_cast ( x as DECIMAL(10,0) ) from t"},
		{"a cast inside a call", "SELECT round(CAST(x AS dec), 1)", "SELECT round(CAST(x AS DECIMAL(10,0)), 1)"},
		{"'::'", "SELECT x::DECIMAL, y :: numeric", "SELECT x::DECIMAL(10,0), y :: DECIMAL(10,0)"},
		{"a column list", "CREATE TABLE t (id INT, price DECIMAL, `total` NUMERIC NOT NULL, q DEC(4,1))",
			"CREATE TABLE t (id INT, price DECIMAL(10,0), `total` DECIMAL(10,0) NOT NULL, q DEC(4,1))"},
		{"an added column", "ALTER TABLE t ADD COLUMN c DECIMAL", "ALTER TABLE t ADD COLUMN c DECIMAL(10,0)"},
		{"a changed type", "ALTER TABLE t ALTER COLUMN c TYPE decimal", "ALTER TABLE t ALTER COLUMN c TYPE DECIMAL(10,0)"},
		{"a precision stays", "SELECT CAST(x AS DECIMAL (12, 2)), x::NUMERIC(5,1)", "SELECT CAST(x AS DECIMAL (12, 2)), x::NUMERIC(5,1)"},
		{"an alias stays", "SELECT 1 AS decimal, count(*) AS numeric FROM t", "SELECT 1 AS decimal, count(*) AS numeric FROM t"},
		{"a name stays", "SELECT decimal, dec FROM t WHERE numeric > 0", "SELECT decimal, dec FROM t WHERE numeric > 0"},
		{"a column named so stays", "CREATE TABLE t (decimal INT, dec DECIMAL)", "CREATE TABLE t (decimal INT, dec DECIMAL(10,0))"},
		{"strings and comments stay", "SELECT 'CAST(x AS DECIMAL)' -- x::DECIMAL\n/* CAST(y AS DECIMAL) */",
			"SELECT 'CAST(x AS DECIMAL)' -- x::DECIMAL\n/* CAST(y AS DECIMAL) */"},
		{"a cast's AS only", "SELECT (SELECT 1) AS decimal FROM (SELECT CAST(1 AS INT) AS x)",
			"SELECT (SELECT 1) AS decimal FROM (SELECT CAST(1 AS INT) AS x)"},
		{"a CTAS's select", "CREATE TABLE t AS SELECT CAST(x AS DECIMAL) AS y, z AS decimal FROM s",
			"CREATE TABLE t AS SELECT CAST(x AS DECIMAL(10,0)) AS y, z AS decimal FROM s"},
		{"DECIMALS is no type", "SELECT CAST(x AS decimals)", "SELECT CAST(x AS decimals)"},
		// Names, not types: a column added so named, words after keywords in a view's or a
		// CTAS's query; and a precision after a comment.
		{"a column added named dec", "ALTER TABLE s ADD COLUMN dec INT", "ALTER TABLE s ADD COLUMN dec INT"},
		{"a column added named numeric", "ALTER TABLE s ADD numeric INT", "ALTER TABLE s ADD numeric INT"},
		{"a view's query", "CREATE VIEW v AS SELECT count(DISTINCT dec) FILTER (WHERE dec > 0), CASE numeric WHEN 1 THEN 1 END FROM s WHERE (NOT dec IS NULL)",
			"CREATE VIEW v AS SELECT count(DISTINCT dec) FILTER (WHERE dec > 0), CASE numeric WHEN 1 THEN 1 END FROM s WHERE (NOT dec IS NULL)"},
		{"a precision after a comment", "SELECT CAST(x AS DECIMAL /* money */ (10,2)), y::NUMERIC -- n\n(5,1)",
			"SELECT CAST(x AS DECIMAL /* money */ (10,2)), y::NUMERIC -- n\n(5,1)"},
		{"added columns in a list", "ALTER TABLE s ADD COLUMNS (c DECIMAL COMMENT 'x', d NUMERIC)",
			"ALTER TABLE s ADD COLUMNS (c DECIMAL(10,0) COMMENT 'x', d DECIMAL(10,0))"},
		{"a column option follows", "CREATE TABLE t (a DECIMAL NOT NULL, b DEC DEFAULT 0)", "CREATE TABLE t (a DECIMAL(10,0) NOT NULL, b DECIMAL(10,0) DEFAULT 0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, rewriteBareDecimal(tc.in))
		})
	}
}
