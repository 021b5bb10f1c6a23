package fakedb

import (
	"database/sql/driver"
	"io"
	"math"
	"reflect"
	"strconv"
)

// ColumnType is the Databricks type of a result column; its String is the
// name the real driver's ColumnTypeDatabaseTypeName reports.
type ColumnType int

// The supported column types, with the Go type of their values (the real
// driver's scan types).
const (
	BigInt  ColumnType = iota // BIGINT, int64
	Int                       // INT, int32
	Double                    // DOUBLE, float64
	Boolean                   // BOOLEAN, bool (row i holds i%2 == 1)
	String                    // STRING, string (decimal digits of i mod 1024)
)

// String returns the Databricks type name, e.g. "BIGINT".
func (t ColumnType) String() string {
	switch t {
	case BigInt:
		return "BIGINT"
	case Int:
		return "INT"
	case Double:
		return "DOUBLE"
	case Boolean:
		return "BOOLEAN"
	case String:
		return "STRING"
	}
	return "ColumnType(" + strconv.Itoa(int(t)) + ")"
}

func (t ColumnType) valid() bool { return t >= BigInt && t <= String }

// scanType is what the real driver's getScanType returns for the type.
func (t ColumnType) scanType() reflect.Type {
	switch t {
	case BigInt:
		return reflect.TypeFor[int64]()
	case Int:
		return reflect.TypeFor[int32]()
	case Double:
		return reflect.TypeFor[float64]()
	case Boolean:
		return reflect.TypeFor[bool]()
	case String:
		return reflect.TypeFor[string]()
	}
	return nil
}

// tableLen is the period of the row values; a power of two.
const tableLen = 1024

// table returns the pre-boxed values of rows 0..tableLen-1, so that Next only
// copies interface values and never allocates.
func (t ColumnType) table() []driver.Value {
	v := make([]driver.Value, tableLen)
	for k := range v {
		switch t {
		case BigInt:
			v[k] = int64(k)
		case Int:
			v[k] = int32(k)
		case Double:
			v[k] = float64(k)
		case Boolean:
			v[k] = k%2 == 1
		case String:
			v[k] = strconv.Itoa(k)
		}
	}
	return v
}

// Column describes a result column.
type Column struct {
	Name string
	Type ColumnType
}

// rows mirrors the real driver's internal/rows.rows: the same optional
// interfaces and the same column metadata answers.
type rows struct {
	names  []string // shared by all rows of a connector: read-only
	cols   []Column
	values [][]driver.Value
	total  int
	next   int
	closed bool
}

var (
	_ driver.Rows                           = (*rows)(nil)
	_ driver.RowsColumnTypeScanType         = (*rows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*rows)(nil)
	_ driver.RowsColumnTypeNullable         = (*rows)(nil)
	_ driver.RowsColumnTypeLength           = (*rows)(nil)
)

// Columns returns the column names. The slice is shared and must not be
// modified (database/sql only reads it).
func (r *rows) Columns() []string { return r.names }

// Close releases nothing and may be called any number of times.
func (r *rows) Close() error {
	r.closed = true
	return nil
}

// Next writes the next row into dest without allocating; it returns io.EOF
// after the last row or once the rows are closed.
func (r *rows) Next(dest []driver.Value) error {
	if r.closed || r.next >= r.total {
		return io.EOF
	}
	k := r.next & (tableLen - 1)
	for j := range dest {
		if j < len(r.values) {
			dest[j] = r.values[j][k]
		}
	}
	r.next++
	return nil
}

// ColumnTypeScanType returns the Go type of the column's values, or nil for
// an index out of range.
func (r *rows) ColumnTypeScanType(index int) reflect.Type {
	if index < 0 || index >= len(r.cols) {
		return nil
	}
	return r.cols[index].Type.scanType()
}

// ColumnTypeDatabaseTypeName returns the Databricks type name ("BIGINT"), or
// "" for an index out of range.
func (r *rows) ColumnTypeDatabaseTypeName(index int) string {
	if index < 0 || index >= len(r.cols) {
		return ""
	}
	return r.cols[index].Type.String()
}

// ColumnTypeNullable returns (false, false) — unknown — as the real driver
// does for every column.
func (r *rows) ColumnTypeNullable(index int) (nullable, ok bool) { return false, false }

// ColumnTypeLength returns (math.MaxInt64, true) for STRING and (0, false)
// otherwise, as the real driver does.
func (r *rows) ColumnTypeLength(index int) (length int64, ok bool) {
	if index < 0 || index >= len(r.cols) || r.cols[index].Type != String {
		return 0, false
	}
	return math.MaxInt64, true
}
