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
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, rewriteBareDecimal(tc.in))
		})
	}
}
