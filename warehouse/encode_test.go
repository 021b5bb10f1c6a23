package warehouse_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
	"github.com/dbtelemetry/dbtelemetry/warehouse/internal/tcli"
)

// WithBatchBytes caps a batch's data, counted as documented: 8 bytes a fixed-width value
// and only the data of a string (its bytes, not 8 more a value), a batch ending once it
// reaches the cap so that none holds more; 0 is no cap, the row count alone ending
// batches.
func TestBatchBytesCap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []warehouse.Option
		query string
		want  []int64 // the rows of each batch
	}{
		{"fixed-width values reach the cap exactly", []warehouse.Option{warehouse.WithBatchBytes(16)},
			"SELECT range FROM range(4)", []int64{2, 2}},
		{"a string counts its bytes only", []warehouse.Option{warehouse.WithBatchBytes(8)},
			"SELECT '' AS s FROM range(4)", []int64{4}},
		{"strings and fixed-width values", []warehouse.Option{warehouse.WithBatchBytes(24)},
			"SELECT 'abcd' AS s, range FROM range(4)", []int64{2, 2}},
		{"zero is no cap", []warehouse.Option{warehouse.WithBatchBytes(0), warehouse.WithBatchRows(3)},
			"SELECT range FROM range(4)", []int64{3, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t, append(tc.opts, settled)...)
			rc := rawClient(t, srv, http.DefaultTransport)
			resp := executeDirect(t, rc, openRawSession(t, rc), tc.query, 1000, false)
			var got []int64
			for _, b := range resp.DirectResults.ResultSet.Results.ArrowBatches {
				got = append(got, b.RowCount)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// The Thrift schema describes each column as DRIVER-PROTOCOL §3 asks: positions from 1,
// and a DECIMAL's precision and scale in its type qualifiers, the DuckDB integers too
// wide for a BIGINT (UBIGINT, HUGEINT, UHUGEINT) being DECIMAL(38,0) strings. The driver
// builds its Arrow schema from it when no arrowSchema comes.
func TestThriftSchemaDescribesColumns(t *testing.T) {
	srv := start(t, settled)
	rc := rawClient(t, srv, http.DefaultTransport)
	resp := executeDirect(t, rc, openRawSession(t, rc),
		"SELECT CAST(1 AS DECIMAL(10,3)) AS d, CAST(1 AS UBIGINT) AS ub, CAST(1 AS HUGEINT) AS h, CAST(1 AS UHUGEINT) AS uh, 'x' AS s", 1000, false)
	cols := resp.DirectResults.ResultSetMetadata.Schema.Columns
	require.Len(t, cols, 5)
	for i, want := range []struct {
		name             string
		typ              tcli.TTypeId
		precision, scale int32 // for a DECIMAL
	}{
		{"d", tcli.TTypeId_DECIMAL_TYPE, 10, 3},
		{"ub", tcli.TTypeId_DECIMAL_TYPE, 38, 0},
		{"h", tcli.TTypeId_DECIMAL_TYPE, 38, 0},
		{"uh", tcli.TTypeId_DECIMAL_TYPE, 38, 0},
		{"s", tcli.TTypeId_STRING_TYPE, 0, 0},
	} {
		c := cols[i]
		assert.Equal(t, want.name, c.ColumnName)
		assert.Equal(t, int32(i+1), c.Position, "%s: positions start at 1", want.name)
		entry := c.TypeDesc.Types[0].PrimitiveEntry
		assert.Equal(t, want.typ, entry.Type, want.name)
		if want.typ != tcli.TTypeId_DECIMAL_TYPE {
			assert.Nil(t, entry.TypeQualifiers, want.name)
			continue
		}
		require.NotNil(t, entry.TypeQualifiers, want.name)
		q := entry.TypeQualifiers.Qualifiers
		assert.Equal(t, want.precision, q["precision"].GetI32Value(), "%s precision", want.name)
		assert.Equal(t, want.scale, q["scale"].GetI32Value(), "%s scale", want.name)
	}
}

// The arrowSchema names the Arrow types Databricks sends and the driver (Arrow v12)
// reads: timestamps in microseconds at UTC ("Etc/UTC", as Databricks labels them),
// dates as date32, unsigned ints widened to signed ones, and strings for what has no
// Arrow form the driver takes (decimals by default, nested values, intervals).
func TestArrowSchemaTypes(t *testing.T) {
	srv := start(t, settled)
	rc := rawClient(t, srv, http.DefaultTransport)
	sess := openRawSession(t, rc)
	utc := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "Etc/UTC"}
	cases := []struct {
		expr string
		want arrow.DataType
	}{
		{"true", arrow.FixedWidthTypes.Boolean},
		{"CAST(1 AS UTINYINT)", arrow.PrimitiveTypes.Int16},
		{"CAST(1 AS USMALLINT)", arrow.PrimitiveTypes.Int32},
		{"CAST(1 AS UINTEGER)", arrow.PrimitiveTypes.Int64},
		{"CAST(1 AS FLOAT)", arrow.PrimitiveTypes.Float32},
		{"CAST(1 AS DECIMAL(9,2))", arrow.BinaryTypes.String},
		{"'x'::BLOB", arrow.BinaryTypes.Binary},
		{"DATE '2024-01-01'", arrow.FixedWidthTypes.Date32},
		{"TIMESTAMP '2024-01-01 00:00:00'", utc},
		{"TIMESTAMPTZ '2024-01-01 00:00:00+00'", utc},
		{"CAST(TIMESTAMP '2024-01-01 00:00:00' AS TIMESTAMP_NS)", utc},
		{"[1, 2]", arrow.BinaryTypes.String},
		{"INTERVAL 1 DAY", arrow.BinaryTypes.String},
	}
	exprs := make([]string, len(cases))
	for i, tc := range cases {
		exprs[i] = tc.expr
	}
	resp := executeDirect(t, rc, sess, "SELECT "+strings.Join(exprs, ", "), 1000, false)
	r, err := ipc.NewReader(bytes.NewReader(resp.DirectResults.ResultSetMetadata.ArrowSchema))
	require.NoError(t, err)
	defer r.Release()
	fields := r.Schema().Fields()
	require.Len(t, fields, len(cases))
	for i, tc := range cases {
		assert.True(t, arrow.TypeEqual(tc.want, fields[i].Type), "%s: %s, want %s", tc.expr, fields[i].Type, tc.want)
		assert.True(t, fields[i].Nullable, tc.expr)
	}
}
