package driver_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	dbsqlrows "github.com/databricks/databricks-sql-go/rows"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// interfaces lists which optional database/sql/driver interfaces (and the driver's Arrow
// access) a value implements.
func interfaces(v any) []string {
	checks := []struct {
		name string
		t    reflect.Type
	}{
		{"Pinger", reflect.TypeFor[driver.Pinger]()},
		{"SessionResetter", reflect.TypeFor[driver.SessionResetter]()},
		{"Validator", reflect.TypeFor[driver.Validator]()},
		{"ExecerContext", reflect.TypeFor[driver.ExecerContext]()},
		{"QueryerContext", reflect.TypeFor[driver.QueryerContext]()},
		{"Execer", reflect.TypeFor[driver.Execer]()},   //nolint:staticcheck // checked on purpose
		{"Queryer", reflect.TypeFor[driver.Queryer]()}, //nolint:staticcheck // checked on purpose
		{"ConnPrepareContext", reflect.TypeFor[driver.ConnPrepareContext]()},
		{"ConnBeginTx", reflect.TypeFor[driver.ConnBeginTx]()},
		{"NamedValueChecker", reflect.TypeFor[driver.NamedValueChecker]()},
		{"StmtExecContext", reflect.TypeFor[driver.StmtExecContext]()},
		{"StmtQueryContext", reflect.TypeFor[driver.StmtQueryContext]()},
		{"RowsColumnTypeScanType", reflect.TypeFor[driver.RowsColumnTypeScanType]()},
		{"RowsColumnTypeDatabaseTypeName", reflect.TypeFor[driver.RowsColumnTypeDatabaseTypeName]()},
		{"RowsColumnTypeNullable", reflect.TypeFor[driver.RowsColumnTypeNullable]()},
		{"RowsColumnTypeLength", reflect.TypeFor[driver.RowsColumnTypeLength]()},
		{"RowsColumnTypePrecisionScale", reflect.TypeFor[driver.RowsColumnTypePrecisionScale]()},
		{"RowsNextResultSet", reflect.TypeFor[driver.RowsNextResultSet]()},
		{"dbsqlrows.Rows", reflect.TypeFor[dbsqlrows.Rows]()},
	}
	var out []string
	for _, c := range checks {
		if reflect.TypeOf(v).Implements(c.t) {
			out = append(out, c.name)
		}
	}
	return out
}

// shape opens a connection, a statement and rows through db's raw driver values.
func shape(t *testing.T, db *sql.DB) (conn, stmt, rows []string, arrowRows int64) {
	t.Helper()
	ctx := context.Background()
	c, err := db.Conn(ctx)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Raw(func(dc any) error {
		conn = interfaces(dc)
		s, err := dc.(driver.ConnPrepareContext).PrepareContext(ctx, "SELECT range FROM range(?)")
		require.NoError(t, err)
		stmt = interfaces(s)
		require.NoError(t, s.Close())
		r, err := dc.(driver.QueryerContext).QueryContext(ctx, "SELECT range FROM range(300000)", nil)
		require.NoError(t, err)
		rows = interfaces(r)
		it, err := r.(dbsqlrows.Rows).GetArrowBatches(ctx)
		require.NoError(t, err)
		for it.HasNext() {
			rec, err := it.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			arrowRows += rec.NumRows()
			rec.Release()
		}
		it.Close()
		return r.Close()
	}))
	return conn, stmt, rows, arrowRows
}

// Wrapping changes no interface: the raw driver values database/sql sees through the
// wrapper implement exactly what the driver's own do, Arrow access included.
func TestOptionalInterfacesAsUnwrapped(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	raw, wrapped := rawAndWrapped(t, srv)

	rc, rs, rr, rn := shape(t, raw)
	wc, ws, wr, wn := shape(t, wrapped)
	assert.Equal(t, rc, wc, "connection")
	assert.Equal(t, rs, ws, "statement")
	assert.Equal(t, rr, wr, "rows")
	assert.Equal(t, int64(300000), rn)
	assert.Equal(t, rn, wn, "Arrow batches read through the wrapper")

	// Column types and value checking answer the same.
	ctx := context.Background()
	q := "SELECT true AS b, CAST(1 AS TINYINT) AS t, 1 AS i, CAST(1 AS BIGINT) AS l, CAST(1 AS DOUBLE) AS d, CAST(1.5 AS DECIMAL(5,2)) AS dec, 'x' AS s, 'x'::BLOB AS bin, DATE '2024-01-01' AS dt, TIMESTAMP '2024-01-01 00:00:00' AS ts"
	describe := func(db *sql.DB) []string {
		r, err := db.QueryContext(ctx, q)
		require.NoError(t, err)
		defer r.Close()
		cts, err := r.ColumnTypes()
		require.NoError(t, err)
		var out []string
		for _, c := range cts {
			n, nok := c.Nullable()
			l, lok := c.Length()
			p, s, pok := c.DecimalSize()
			out = append(out, fmt.Sprint(c.Name(), c.DatabaseTypeName(), c.ScanType(), n, nok, l, lok, p, s, pok))
		}
		return out
	}
	assert.Equal(t, describe(raw), describe(wrapped))
	type custom struct{ X int }
	_, rawErr := raw.ExecContext(ctx, "SELECT ?", custom{1})
	_, wErr := wrapped.ExecContext(ctx, "SELECT ?", custom{1})
	require.Error(t, rawErr)
	assert.Equal(t, rawErr.Error(), wErr.Error(), "CheckNamedValue")

	require.NoError(t, wrapped.Close())
	// The statement read through Arrow was still measured.
	var found bool
	for _, st := range srv.Statements() {
		if st.SQL == "SELECT range FROM range(300000)" && st.SessionID != "" {
			for _, l := range srv.TelemetryLogs() {
				found = found || strings.Contains(l, st.ID)
			}
		}
	}
	assert.True(t, found, "the Arrow-read statement has its log")
}
