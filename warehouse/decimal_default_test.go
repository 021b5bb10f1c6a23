package warehouse_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A DECIMAL without a precision is Databricks' DECIMAL(10,0), not DuckDB's (18,3): in a
// cast and in a table's column, through the driver, rounding half away from zero.
func TestBareDecimalIsTenZero(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	var a, b, c string
	require.NoError(t, db.QueryRow("SELECT CAST(5.345 AS DECIMAL), 2.5::NUMERIC, CAST(-2.5 AS DEC)").Scan(&a, &b, &c))
	assert.Equal(t, []string{"5", "3", "-3"}, []string{a, b, c})

	_, err := db.Exec("CREATE TABLE prices (item STRING, price DECIMAL)")
	require.NoError(t, err)
	_, err = db.Exec("INSERT INTO prices VALUES ('a', 12.6)")
	require.NoError(t, err)
	rows, err := db.Query("SELECT price FROM prices")
	require.NoError(t, err)
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	require.NoError(t, err)
	assert.Equal(t, "DECIMAL", cts[0].DatabaseTypeName())
	require.True(t, rows.Next())
	var price string
	require.NoError(t, rows.Scan(&price))
	assert.Equal(t, "13", price)
	require.NoError(t, rows.Close())

	// Too wide for DECIMAL(10,0): Databricks' overflow, not a silent DECIMAL(18,3).
	_, err = db.Exec("SELECT CAST(12345678901 AS DECIMAL)")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "[NUMERIC_VALUE_OUT_OF_RANGE]")
	assert.Contains(t, err.Error(), "SQLSTATE: 22003")
}

// Words a bare-DECIMAL rewrite must leave alone still run: columns named dec, numeric and
// decimal, used in a view's and a CTAS's query, and a precision after a comment.
func TestDecimalWordsAsNames(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	for _, q := range []string{
		"CREATE TABLE src (id INT, amount INT)",
		"INSERT INTO src VALUES (1, 7)",
		"ALTER TABLE src ADD COLUMN dec INT",
		"ALTER TABLE src ADD COLUMN numeric INT",
		"ALTER TABLE src ADD COLUMN decimal INT",
		"CREATE VIEW v1 AS SELECT count(DISTINCT dec) AS n, sum(amount) FILTER (WHERE dec > 0) AS s FROM src",
		"CREATE TABLE t1 AS SELECT id, CASE numeric WHEN 1 THEN 'one' END AS label FROM src WHERE (NOT dec IS NULL)",
		"CREATE TABLE p (a INT, b DECIMAL -- money\n(12,2))",
	} {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}
	var got string
	require.NoError(t, db.QueryRow("SELECT CAST(1.25 AS DECIMAL /* money */ (10,2))").Scan(&got))
	assert.Equal(t, "1.25", got)
}
