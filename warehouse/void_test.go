package warehouse_test

import (
	"database/sql"
	"testing"

	dbsql "github.com/databricks/databricks-sql-go"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A bare NULL in the select list, a literal or a parameter bound to NULL, is a VOID
// column, as Databricks types it (Thrift's NULL_TYPE, which the driver names NULL);
// DuckDB says INTEGER. A NULL that is cast or computed keeps its type. The rows scan as
// nil, inline and by CloudFetch.
func TestNullLiteralColumnType(t *testing.T) {
	srv := start(t, warehouse.WithCloudFetchThreshold(10), warehouse.WithChunkRows(7))
	db := open(t, srv, "")
	for _, tc := range []struct {
		name, query string
		want        []string
		args        []any
	}{
		{"bare", "SELECT NULL", []string{"NULL"}, nil},
		{"lower case, aliased", "select null as a", []string{"NULL"}, nil},
		{"parenthesised", "SELECT (NULL) AS a", []string{"NULL"}, nil},
		{"among others", "SELECT NULL AS a, CAST(NULL AS INT) AS b, NULL + 1 AS c, 1 AS d, 'x' AS e", []string{"NULL", "INT", "INT", "INT", "STRING"}, nil},
		{"from a table, with a filter naming NULL", "SELECT NULL AS a, i FROM range(3) t(i) WHERE i IS NOT NULL", []string{"NULL", "BIGINT"}, nil},
		{"in a CTE's outer select", "WITH t AS (SELECT 1 AS x) SELECT x, NULL AS n FROM t", []string{"INT", "NULL"}, nil},
		{"no NULL", "SELECT 1 AS a", []string{"INT"}, nil},
		{"NULL only in a filter", "SELECT 1 AS a WHERE NULL IS NULL", []string{"INT"}, nil},
		// Where the select list does not map to the columns one to one: DuckDB's type.
		{"behind a star", "SELECT * FROM (SELECT NULL AS a)", []string{"INT"}, nil},
		{"set operation", "SELECT NULL AS a UNION ALL SELECT NULL", []string{"INT"}, nil},
		// The driver sends a nil argument as a VOID parameter.
		{"nil parameters", "SELECT ? AS a, ? AS b, ? + 1 AS c", []string{"NULL", "BIGINT", "INT"}, []any{nil, 1, nil}},
		{"VOID parameter", "SELECT ? AS a", []string{"NULL"}, []any{dbsql.Parameter{Type: dbsql.SqlVoid}}},
		{"named nil parameter", "SELECT :n AS a, :v AS b", []string{"NULL", "STRING"}, []any{sql.Named("n", nil), sql.Named("v", "x")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := db.Query(tc.query, tc.args...)
			require.NoError(t, err)
			defer rows.Close()
			cts, err := rows.ColumnTypes()
			require.NoError(t, err)
			var got []string
			for _, c := range cts {
				got = append(got, c.DatabaseTypeName())
			}
			assert.Equal(t, tc.want, got)
			vals := make([]any, len(cts))
			ptrs := make([]any, len(cts))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rows.Next() {
				require.NoError(t, rows.Scan(ptrs...))
				for i, typ := range tc.want {
					if typ == "NULL" {
						assert.Nil(t, vals[i], "column %d", i)
					}
				}
			}
			require.NoError(t, rows.Err())
		})
	}

	t.Run("by CloudFetch", func(t *testing.T) {
		rows, err := db.Query("SELECT i, NULL AS n FROM range(100) t(i) ORDER BY i")
		require.NoError(t, err)
		defer rows.Close()
		cts, err := rows.ColumnTypes()
		require.NoError(t, err)
		assert.Equal(t, "NULL", cts[1].DatabaseTypeName())
		var n int64
		for rows.Next() {
			var i int64
			var null any
			require.NoError(t, rows.Scan(&i, &null))
			assert.Equal(t, n, i)
			assert.Nil(t, null)
			n++
		}
		require.NoError(t, rows.Err())
		assert.EqualValues(t, 100, n)
		recs := srv.Statements()
		assert.Equal(t, warehouse.DeliveryCloudFetch, recs[len(recs)-1].Delivery)
	})
}
