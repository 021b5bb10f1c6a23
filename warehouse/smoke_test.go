package warehouse_test

import (
	"database/sql"
	"testing"

	_ "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

func TestSmoke(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	db, err := sql.Open("databricks", srv.DSN())
	require.NoError(t, err)
	defer db.Close()
	var x int
	require.NoError(t, db.QueryRow("SELECT 41 + 1").Scan(&x))
	require.Equal(t, 42, x)
	var n, sum int64
	require.NoError(t, db.QueryRow("SELECT count(*), sum(range) FROM range(10)").Scan(&n, &sum))
	t.Log(n, sum)
	rows, err := db.Query("SELECT * FROM range(1000000)")
	require.NoError(t, err)
	var cnt, total int64
	for rows.Next() {
		var v int64
		require.NoError(t, rows.Scan(&v))
		cnt++
		total += v
	}
	require.NoError(t, rows.Err())
	t.Log(cnt, total)
	t.Logf("%+v", srv.Statements())
}
