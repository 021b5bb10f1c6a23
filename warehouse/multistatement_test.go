package warehouse_test

import (
	"errors"
	"testing"

	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Databricks SQL runs one statement per ExecuteStatement (Spark's singleStatement:
// statement ';'* EOF): "INSERT …; SELECT …" is a PARSE_SYNTAX_ERROR (42601). DuckDB would
// run both and answer with the SELECT's rows, which the warehouse then counted as the
// INSERT's RowsAffected.
func TestMultipleStatementsInOneExecute(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	db.SetMaxOpenConns(1)
	_, err := db.Exec("CREATE TABLE t(a INT)")
	require.NoError(t, err)
	_, err = db.Exec("INSERT INTO t VALUES (1), (2), (3)")
	require.NoError(t, err)

	res, err := db.Exec("INSERT INTO t VALUES (4); SELECT * FROM t")
	if err == nil {
		n, _ := res.RowsAffected()
		assert.Equal(t, int64(1), n, "RowsAffected of an INSERT of one row")
	}
	var ee dbsqlerr.DBExecutionError
	require.True(t, errors.As(err, &ee), "two statements in one execute: want a syntax error as on Databricks, got %v", err)
	assert.Equal(t, "42601", ee.SqlState())
}

// What follows a statement's last ';' may be blanks, comments and more ';'; a ';' in a
// literal, a quoted name or a comment ends nothing.
func TestOneStatementWithSemicolons(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	for _, q := range []string{
		"SELECT 1;",
		"SELECT 1 ; ;  \n",
		"SELECT 1; -- done; really\n",
		"SELECT 1; /* ; SELECT 2 */",
		"SELECT length('a;b') - 2",
		`SELECT 1 AS "x;y"`,
		"SELECT 1 -- ; SELECT 2\n",
	} {
		var n int
		require.NoError(t, db.QueryRow(q).Scan(&n), "%q", q)
		assert.Equal(t, 1, n, "%q", q)
	}
	for _, q := range []string{"SELECT 1; SELECT 2", "SELECT 1;SELECT 2;", "SELECT 1; 'x'", "SELECT 1;/**/SELECT 2"} {
		_, err := db.Exec(q)
		var ee dbsqlerr.DBExecutionError
		require.True(t, errors.As(err, &ee), "%q: %v", q, err)
		assert.Equal(t, "42601", ee.SqlState(), "%q", q)
		assert.Contains(t, err.Error(), "[PARSE_SYNTAX_ERROR]", "%q", q)
	}
}
