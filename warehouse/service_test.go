package warehouse_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/apache/arrow/go/v12/arrow"
	"github.com/apache/arrow/go/v12/arrow/array"
	dbsql "github.com/databricks/databricks-sql-go"
	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	dbsqlrows "github.com/databricks/databricks-sql-go/rows"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
	"github.com/dbtelemetry/dbtelemetry/warehouse/internal/tcli"
)

// A DSN naming both a catalog and a schema starts the session in that schema of that
// catalog (DuckDB's in-memory database is the catalog "memory"), not in the catalog's
// default schema.
func TestInitialCatalogAndSchema(t *testing.T) {
	srv := start(t)
	_, err := open(t, srv, "").Exec("CREATE SCHEMA analytics")
	require.NoError(t, err)
	db := open(t, srv, "catalog=memory&schema=analytics")
	var catalog, schema string
	require.NoError(t, db.QueryRow("SELECT current_database(), current_schema()").Scan(&catalog, &schema))
	assert.Equal(t, "memory", catalog)
	assert.Equal(t, "analytics", schema)
}

// Inline pages follow the FetchResults contract the driver relies on: a page holds at
// most maxRows rows, and as many whole batches as fit (a full page, not one batch fewer);
// each page's startRowOffset is the absolute index of its first row; hasMoreRows is
// false on the last page only; only the direct result page that holds everything
// carries closeOperation; every page carries the result set metadata. With the default batch size (above maxRows) and with batches
// that divide it.
func TestInlinePagesHoldMaxRows(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []warehouse.Option
	}{
		{"default batches", nil},
		{"batches of 250", []warehouse.Option{warehouse.WithBatchRows(250)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t, append(tc.opts, settled)...)
			ctx := context.Background()
			rc := rawClient(t, srv, http.DefaultTransport)
			sess := openRawSession(t, rc)
			resp := executeDirect(t, rc, sess, "SELECT range FROM range(2500)", 1000, false)
			dr := resp.DirectResults
			require.Equal(t, tcli.TOperationState_FINISHED_STATE, dr.OperationStatus.GetOperationState())
			assert.Nil(t, dr.CloseOperation, "more pages follow")
			page := dr.ResultSet
			var n, sum int64
			for i, want := range []struct{ start, rows int64 }{{0, 1000}, {1000, 1000}, {2000, 500}} {
				if i > 0 {
					var err error
					page, err = rc.FetchResults(ctx, &tcli.TFetchResultsReq{
						OperationHandle: resp.OperationHandle, Orientation: tcli.TFetchOrientation_FETCH_NEXT,
						MaxRows: 1000, IncludeResultSetMetadata: ptr(true),
					})
					require.NoError(t, err)
					require.Equal(t, tcli.TStatusCode_SUCCESS_STATUS, page.Status.StatusCode)
				}
				assert.NotNil(t, page.ResultSetMetadata, "page %d carries the metadata (the driver's Arrow-batch API reads it)", i)
				assert.Equal(t, want.start, page.Results.StartRowOffset, "page %d", i)
				var rows int64
				for _, b := range page.Results.ArrowBatches {
					bn, bs := sumArrow(t, append(append([]byte{}, dr.ResultSetMetadata.ArrowSchema...), b.Batch...))
					require.Equal(t, b.RowCount, bn)
					rows, n, sum = rows+bn, n+bn, sum+bs
				}
				assert.Equal(t, want.rows, rows, "page %d", i)
				assert.Equal(t, i < 2, page.GetHasMoreRows(), "page %d", i)
			}
			assert.Equal(t, int64(2500), n)
			assert.Equal(t, int64(2499*2500/2), sum)
		})
	}
}

// A statement that finishes within ExecuteStatement is answered as soon as it finishes,
// not when the async threshold runs out: with a 30 s threshold, a quick query still
// returns at once, in its direct results, without polling.
func TestFinishedStatementAnswersAtOnce(t *testing.T) {
	srv := start(t, settled)
	db := open(t, srv, "")
	var one int
	require.NoError(t, db.QueryRowContext(ctxTimeout(t, 10*time.Second), "SELECT 1").Scan(&one))
	st := lastStatement(t, srv)
	assert.False(t, st.Async)
	assert.Zero(t, st.Polls)
}

// A statement that fails within ExecuteStatement is closed by its direct results: the
// driver's QueryContext returns the error and sends nothing more, so the server frees it
// at once (not only after WithFailedOperationTTL).
func TestFailedDirectResultsCloseTheStatement(t *testing.T) {
	srv := start(t, settled)
	db := open(t, srv, "")
	before := srv.RPCs()["CloseOperation"]
	rows, err := db.QueryContext(ctxTimeout(t, 20*time.Second), "SELECT * FROM no_such_table")
	if err == nil {
		rows.Close()
	}
	require.Error(t, err)
	assert.Zero(t, srv.OpenOperations(), "the failed statement is forgotten")
	st := lastStatement(t, srv)
	assert.True(t, st.Closed, "closed by the direct results")
	assert.False(t, st.Async)
	assert.Equal(t, before, srv.RPCs()["CloseOperation"], "the driver needs no CloseOperation")
}

// With useArrowNativeDecimal the driver asks for DECIMAL as Arrow decimal128: its Arrow
// batches (rows.GetArrowBatches) carry decimal128 with the column's precision and scale
// and the exact value, wide ones included; without it, DECIMAL is a string column. A
// huge or unsigned integer (SUM of a BIGINT is DuckDB's HUGEINT) is the DECIMAL(38,0)
// its column type says, in both.
func TestNativeDecimalArrowBatches(t *testing.T) {
	srv := start(t)
	const q = "SELECT CAST(12345.678 AS DECIMAL(10,3)) AS a, CAST('-12345678901234567890.120' AS DECIMAL(38,3)) AS b, " +
		"CAST('-99999999999999999999999999999999999999' AS HUGEINT) AS c, CAST(18446744073709551615 AS UBIGINT) AS d"
	dec38 := &arrow.Decimal128Type{Precision: 38, Scale: 0}
	str := arrow.BinaryTypes.String
	for _, tc := range []struct {
		params string
		want   []arrow.DataType
		values []string // a decimal128 column's unscaled value
	}{
		{"useArrowNativeDecimal=true", []arrow.DataType{&arrow.Decimal128Type{Precision: 10, Scale: 3}, &arrow.Decimal128Type{Precision: 38, Scale: 3}, dec38, dec38},
			[]string{"12345678", "-12345678901234567890120", "-99999999999999999999999999999999999999", "18446744073709551615"}},
		{"", []arrow.DataType{str, str, str, str}, []string{"12345.678", "-12345678901234567890.120", "-99999999999999999999999999999999999999", "18446744073709551615"}},
	} {
		t.Run(tc.params, func(t *testing.T) {
			db := open(t, srv, tc.params)
			ctx := ctxTimeout(t, 20*time.Second)
			conn, err := db.Conn(ctx)
			require.NoError(t, err)
			defer conn.Close()
			rows, err := conn.QueryContext(ctx, q)
			require.NoError(t, err)
			defer rows.Close()
			cts, err := rows.ColumnTypes()
			require.NoError(t, err)
			for _, ct := range cts {
				assert.Equal(t, "DECIMAL", ct.DatabaseTypeName(), ct.Name())
			}
			var a, b, c, d string
			require.True(t, rows.Next())
			require.NoError(t, rows.Scan(&a, &b, &c, &d))
			assert.Equal(t, "12345.678", a)
			assert.Equal(t, "-12345678901234567890.120", b)
			assert.Equal(t, "-99999999999999999999999999999999999999", c)
			assert.Equal(t, "18446744073709551615", d)
			require.NoError(t, rows.Close())

			// The Arrow batches, as a client of the driver's rows.Rows reads them.
			var got []string
			var types []arrow.DataType
			err = conn.Raw(func(dc any) error {
				qc := dc.(driver.QueryerContext)
				r, err := qc.QueryContext(ctx, q, nil)
				if err != nil {
					return err
				}
				defer r.Close()
				it, err := r.(dbsqlrows.Rows).GetArrowBatches(ctx)
				if err != nil {
					return err
				}
				defer it.Close()
				for it.HasNext() {
					rec, err := it.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						return err
					}
					for i := range int(rec.NumCols()) {
						types = append(types, rec.Column(i).DataType())
						if d, ok := rec.Column(i).(*array.Decimal128); ok {
							got = append(got, d.Value(0).BigInt().String())
						} else {
							got = append(got, rec.Column(i).ValueStr(0))
						}
					}
					rec.Release()
				}
				return nil
			})
			require.NoError(t, err)
			require.Len(t, types, 4)
			for i := range types {
				assert.True(t, arrow.TypeEqual(tc.want[i], types[i]), "column %d: %s, want %s", i, types[i], tc.want[i])
			}
			assert.Equal(t, tc.values, got)
		})
	}
}

// A handle the server no longer knows is refused, as Databricks refuses it: closing a
// session or a statement twice answers INVALID_HANDLE the second time.
func TestCloseUnknownHandles(t *testing.T) {
	srv := start(t, settled)
	ctx := context.Background()
	rc := rawClient(t, srv, http.DefaultTransport)
	sess := openRawSession(t, rc)
	resp := executeDirect(t, rc, sess, "SELECT range FROM range(5000)", 1000, false)
	for i, want := range []tcli.TStatusCode{tcli.TStatusCode_SUCCESS_STATUS, tcli.TStatusCode_INVALID_HANDLE_STATUS} {
		cl, err := rc.CloseOperation(ctx, &tcli.TCloseOperationReq{OperationHandle: resp.OperationHandle})
		require.NoError(t, err)
		assert.Equal(t, want, cl.Status.StatusCode, "CloseOperation %d", i+1)
	}
	for i, want := range []tcli.TStatusCode{tcli.TStatusCode_SUCCESS_STATUS, tcli.TStatusCode_INVALID_HANDLE_STATUS} {
		cl, err := rc.CloseSession(ctx, &tcli.TCloseSessionReq{SessionHandle: sess})
		require.NoError(t, err)
		assert.Equal(t, want, cl.Status.StatusCode, "CloseSession %d", i+1)
	}
}

// DML returns Databricks' counts as its result set: INSERT num_affected_rows and
// num_inserted_rows, UPDATE and DELETE num_affected_rows only.
func TestDMLResultColumns(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	db.SetMaxOpenConns(1)
	_, err := db.Exec("CREATE TABLE t(a INTEGER)")
	require.NoError(t, err)
	for _, tc := range []struct {
		q     string
		cols  []string
		count int64
	}{
		{"INSERT INTO t VALUES (1), (2), (3)", []string{"num_affected_rows", "num_inserted_rows"}, 3},
		{"UPDATE t SET a = a + 1 WHERE a > 1", []string{"num_affected_rows"}, 2},
		{"DELETE FROM t", []string{"num_affected_rows"}, 3},
	} {
		rows, err := db.Query(tc.q)
		require.NoError(t, err, tc.q)
		cols, err := rows.Columns()
		require.NoError(t, err)
		assert.Equal(t, tc.cols, cols, tc.q)
		require.True(t, rows.Next(), tc.q)
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		for _, v := range vals {
			assert.Equal(t, tc.count, v, tc.q)
		}
		require.NoError(t, rows.Close())
	}
}

var _ = sql.ErrNoRows

// WithCloudFetchThreshold is a row count *above* which results go by CloudFetch: a
// result of exactly that many rows is still inline.
func TestCloudFetchThresholdIsExclusive(t *testing.T) {
	srv := start(t, warehouse.WithCloudFetchThreshold(1000), warehouse.WithChunkRows(500))
	db := open(t, srv, "")
	for _, tc := range []struct {
		rows int
		want warehouse.Delivery
	}{{1000, warehouse.DeliveryInline}, {1001, warehouse.DeliveryCloudFetch}} {
		rows, err := db.QueryContext(ctxTimeout(t, 20*time.Second), "SELECT range FROM range(?)", tc.rows)
		require.NoError(t, err)
		assert.Equal(t, tc.rows, countRows(t, rows))
		assert.Equal(t, tc.want, lastStatement(t, srv).Delivery, "%d rows", tc.rows)
	}
}

// A session is idle from its last statement's end, not from its start: a statement that
// ran longer than the idle timeout, answered in its direct results (so the client made
// no other call), leaves a session that still takes the next statement soon after.
func TestLongStatementKeepsSession(t *testing.T) {
	srv := start(t, warehouse.WithSessionIdleTimeout(time.Second), settled)
	rc := rawClient(t, srv, http.DefaultTransport)
	sess := openRawSession(t, rc)
	exec := func(q string) {
		t.Helper()
		resp := executeDirect(t, rc, sess, q, 1000, false)
		require.Equal(t, tcli.TOperationState_FINISHED_STATE, resp.DirectResults.OperationStatus.GetOperationState(), q)
	}
	exec("SELECT wait_ms(2500)")
	time.Sleep(600 * time.Millisecond) // more than a sweep (500 ms), less than the idle timeout
	exec("SELECT 1")
}

// More of Databricks' SQLSTATEs, as DBExecutionError.SqlState carries them: a constraint
// violation (23000), an arithmetic overflow (22003); and a negative day-time interval
// parameter is negative in all its fields, as Databricks reads "-1 02:03:04".
func TestMoreSQLStatesAndParameters(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	db.SetMaxOpenConns(1)
	_, err := db.Exec("CREATE TABLE pk(a INTEGER PRIMARY KEY)")
	require.NoError(t, err)
	_, err = db.Exec("INSERT INTO pk VALUES (1)")
	require.NoError(t, err)
	for _, tc := range []struct{ q, state string }{
		{"INSERT INTO pk VALUES (1)", "23000"},
		{"SELECT CAST(9223372036854775807 AS BIGINT) + 1", "22003"},
	} {
		_, err := db.Exec(tc.q)
		var ee dbsqlerr.DBExecutionError
		require.ErrorAs(t, err, &ee, tc.q)
		assert.Equal(t, tc.state, ee.SqlState(), "%s: %v", tc.q, err)
	}
	var iv string
	require.NoError(t, db.QueryRow("SELECT ?", dbsql.Parameter{Type: dbsql.SqlIntervalDay, Value: "-1 02:03:04"}).Scan(&iv))
	// One sign for the whole interval: minus one day, two hours, three minutes and four seconds.
	assert.Equal(t, "-1 02:03:04.000000", iv)
}

// DuckDB errors of no kind the warehouse names more precisely take the defaults of their
// family: a binder error other than an unknown column is ANALYSIS_ERROR (42000), a
// catalog error other than a missing table, schema or routine is CATALOG_ERROR (42704).
// Only a message's first line is sent: DuckDB's following lines ("LINE 1: …" and a caret
// under the statement) quote the SQL back.
func TestDefaultSQLStates(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	for _, tc := range []struct{ q, state, class string }{
		{"SELECT abs('x'::VARCHAR)", "42000", "[ANALYSIS_ERROR]"},
		{"DROP TYPE nosuch", "42704", "[CATALOG_ERROR]"},
		{"SELECT 1 FROM range(3) WHERE", "42601", "[PARSE_SYNTAX_ERROR]"},
	} {
		_, err := db.ExecContext(ctxTimeout(t, 20*time.Second), tc.q)
		var ee dbsqlerr.DBExecutionError
		require.True(t, errors.As(err, &ee), "%s: %v", tc.q, err)
		assert.Equal(t, tc.state, ee.SqlState(), tc.q)
		assert.Contains(t, err.Error(), tc.class, tc.q)
		assert.NotContains(t, err.Error(), "\n", "%s: the message's first line only", tc.q)
		assert.NotContains(t, err.Error(), "LINE 1", tc.q)
	}
}

// DuckDB's TIME and UUID, which Databricks has not, come back as strings: a TIME keeps
// its fraction of a second, a UUID its canonical form.
func TestTimeAndUUIDAsStrings(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	for _, tc := range []struct{ q, want string }{
		{"SELECT TIME '12:34:56.789'", "12:34:56.789"},
		{"SELECT TIME '12:34:56.000123'", "12:34:56.000123"},
		{"SELECT TIME '12:34:56'", "12:34:56"},
		{"SELECT uuid '6ba7b810-9dad-11d1-80b4-00c04fd430c8'", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"},
	} {
		var got any
		require.NoError(t, db.QueryRowContext(ctxTimeout(t, 20*time.Second), tc.q).Scan(&got), tc.q)
		assert.Equal(t, tc.want, got, tc.q)
	}
}

// The names Databricks gives its default catalog and schema work as they do there: a
// DSN with catalog=main&schema=default (or hive_metastore, spark_catalog, in any case)
// starts in schema default of DuckDB's catalog, where a table made in one such session
// is seen by the next. A catalog that does not exist still fails the session.
func TestDatabricksDefaultNamespace(t *testing.T) {
	srv := start(t)
	for _, params := range []string{"catalog=main&schema=default", "schema=default", "catalog=hive_metastore&schema=default", "catalog=SPARK_CATALOG&schema=default"} {
		t.Run(params, func(t *testing.T) {
			db := open(t, srv, params)
			var catalog, schema string
			require.NoError(t, db.QueryRow("SELECT current_database(), current_schema()").Scan(&catalog, &schema))
			assert.Equal(t, "memory", catalog)
			assert.Equal(t, "default", schema)
		})
	}
	_, err := open(t, srv, "catalog=main&schema=default").Exec("CREATE TABLE t AS SELECT 42 AS v")
	require.NoError(t, err)
	var v int
	require.NoError(t, open(t, srv, "catalog=main&schema=default").QueryRow("SELECT v FROM t").Scan(&v))
	assert.Equal(t, 42, v)
	require.NoError(t, open(t, srv, "").QueryRow("SELECT v FROM `default`.t").Scan(&v), "in schema default of the one catalog")

	err = open(t, srv, "catalog=nosuch&schema=default").Ping()
	require.Error(t, err)
}

// A huge integer of more than 38 digits has no DECIMAL(38,0) form: it fails the
// statement, as Databricks' arithmetic would have failed it, whether the client reads
// decimals as strings or as Arrow decimals; 38 digits read whole either way.
func TestHugeIntBeyondDecimal38(t *testing.T) {
	srv := start(t)
	const q = "SELECT CAST('170141183460469231731687303715884105727' AS HUGEINT) AS v"
	for _, params := range []string{"", "useArrowNativeDecimal=true"} {
		db := open(t, srv, params)
		var s string
		err := db.QueryRow(q).Scan(&s)
		require.Error(t, err, params)
		assert.Contains(t, err.Error(), "[NUMERIC_VALUE_OUT_OF_RANGE] A value cannot be represented as Decimal(38, 0). SQLSTATE: 22003", params)
		assert.NotContains(t, err.Error(), "170141183460469231731687303715884105727", "the value is the caller's data")
		var max string
		require.NoError(t, db.QueryRow("SELECT CAST('-99999999999999999999999999999999999999' AS HUGEINT)").Scan(&max), params)
		assert.Equal(t, "-99999999999999999999999999999999999999", max, params)
	}
}
