package warehouse_test

import (
	"errors"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A TIMESTAMP parameter (a time.Time, or a dbsql.Parameter of SqlTimestamp) is bound as
// an instant: where text is asked of it, CAST(? AS STRING) gives its text. It used to be
// bound to whatever type DuckDB guessed for the placeholder (here VARCHAR), which
// duckdb-go cannot do with a time.Time: an INTERNAL_ERROR with no message at all.
func TestTimestampParameterAsString(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	at := time.Date(2024, 3, 10, 2, 30, 0, 0, time.UTC)
	for _, arg := range []any{at, dbsql.Parameter{Type: dbsql.SqlTimestamp, Value: "2024-03-10 02:30:00"}} {
		var got string
		require.NoError(t, db.QueryRow("SELECT CAST(? AS STRING)", arg).Scan(&got), "%v", arg)
		assert.Contains(t, got, "2024-03-10 02:30:00")
	}
}

// An error whose DuckDB message is empty (duckdb-go's own, binding a parameter) still
// says what went wrong; and a function DuckDB has not for a timestamp (it casts no
// timestamp to text implicitly, unlike Databricks) is an ANALYSIS_ERROR that says so.
func TestErrorsCarryTheirMessage(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	at := time.Date(2024, 3, 10, 2, 30, 0, 0, time.UTC)
	for _, q := range []string{"SELECT upper(?)", "SELECT ?::INTEGER"} {
		var got any
		err := db.QueryRow(q, at).Scan(&got)
		var ee dbsqlerr.DBExecutionError
		require.True(t, errors.As(err, &ee), "%s: %v", q, err)
		assert.NotRegexp(t, `\] +SQLSTATE`, err.Error(), "%s: an error with no message", q)
		t.Logf("%s: %v", q, err)
	}
}
