package warehouse

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/dbtelemetry/dbtelemetry/warehouse/internal/tcli"
)

// eosMarker ends an Arrow IPC stream: continuation marker and a zero length.
var eosMarker = []byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0}

// encodeOptions are what the client asked for in ExecuteStatement.
type encodeOptions struct {
	decimalAsArrow bool  // send DECIMAL as decimal128 instead of a string
	batchRows      int64 // rows per Arrow record batch
	// batchBytes caps a batch's data (strings, binaries, nested values as text, and 8
	// bytes a fixed-width value): the driver refuses a Thrift binary field over 100 MB.
	batchBytes int
	// loc is the session's time zone: a TIMESTAMP without one is a wall time in it, as
	// Databricks reads timestamp literals (nil: UTC).
	loc *time.Location
	// show is the driver's time zone (nil: UTC), in which it shows every timestamp and
	// date, those inside arrays, maps and structs too: the warehouse sends nested values
	// as text, which must read as the driver would write them.
	show *time.Location
	// void marks the columns typed VOID (see voidColumns); nil: none.
	void []bool
}

// zones are the two time zones rendering a nested value needs: wall, in which a
// TIMESTAMP without a zone is a wall time (the session's, which SET TIME ZONE changes),
// and show, in which the driver shows instants (its Location: the zone its DSN or
// session parameters named, which SET TIME ZONE does not change).
type zones struct{ wall, show *time.Location }

// zones are the options' time zones, UTC for those not set.
func (o encodeOptions) zones() zones {
	z := zones{wall: o.loc, show: o.show}
	if z.wall == nil {
		z.wall = time.UTC
	}
	if z.show == nil {
		z.show = time.UTC
	}
	return z
}

// column converts one DuckDB result column into Arrow and describes it in Thrift.
type column struct {
	name   string
	typeID tcli.TTypeId
	quals  map[string]*tcli.TTypeQualifierValue
	field  arrow.Field
	add    func(b array.Builder, v any) error
}

// encodedResult is a statement's result, ready to be served inline or by CloudFetch.
type encodedResult struct {
	schema    *tcli.TTableSchema
	schemaIPC []byte // one encapsulated IPC Schema message, no EOS
	batches   []encodedBatch
	rows      int64
}

// encodedBatch is one encapsulated IPC RecordBatch message (no schema, no EOS).
type encodedBatch struct {
	start int64
	rows  int64
	ipc   []byte
}

// emptyResult describes a statement that returns no result set (DDL).
func emptyResult() *encodedResult {
	return &encodedResult{schema: &tcli.TTableSchema{Columns: []*tcli.TColumnDesc{}}}
}

// encodeRows drains rows into Arrow record batches of at most opts.batchRows rows and
// about opts.batchBytes of data (0: no cap).
func encodeRows(rows *sql.Rows, opts encodeOptions) (*encodedResult, error) {
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, fmt.Errorf("column types: %w", err)
	}
	cols := make([]column, len(types))
	fields := make([]arrow.Field, len(types))
	for i, ct := range types {
		dbType := ct.DatabaseTypeName()
		if len(opts.void) == len(types) && opts.void[i] {
			dbType = "NULL"
		}
		cols[i] = newColumn(ct.Name(), dbType, opts)
		fields[i] = cols[i].field
	}
	schema := arrow.NewSchema(fields, nil)
	res := &encodedResult{schema: thriftSchema(cols)}
	if res.schemaIPC, err = schemaMessage(schema); err != nil {
		return nil, err
	}

	bld := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer bld.Release()
	// The variable-width columns' builders, whose data grows with every row.
	type dataLener interface{ DataLen() int }
	var varWidth []dataLener
	for i := range cols {
		if b, ok := bld.Field(i).(dataLener); ok {
			varWidth = append(varWidth, b)
		}
	}
	full := func(rows int64) bool {
		if opts.batchBytes <= 0 {
			return false
		}
		n := int(rows) * 8 * (len(cols) - len(varWidth)) // at most 8 bytes a fixed-width value
		for _, b := range varWidth {
			n += b.DataLen()
		}
		return n >= opts.batchBytes
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var inBatch int64
	flush := func() error {
		if inBatch == 0 {
			return nil
		}
		rec := bld.NewRecordBatch()
		defer rec.Release()
		msg, err := batchMessage(schema, rec)
		if err != nil {
			return err
		}
		res.batches = append(res.batches, encodedBatch{start: res.rows, rows: inBatch, ipc: msg})
		res.rows += inBatch
		inBatch = 0
		return nil
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		for i, c := range cols {
			b := bld.Field(i)
			if vals[i] == nil {
				b.AppendNull()
				continue
			}
			if err := c.add(b, vals[i]); err != nil {
				return nil, fmt.Errorf("column %q: %w", c.name, err)
			}
		}
		inBatch++
		if inBatch >= opts.batchRows || full(inBatch) {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return res, nil
}

// stream returns a complete IPC stream (schema, the given batches, EOS): a CloudFetch file.
func (r *encodedResult) stream(batches []encodedBatch) []byte {
	n := len(r.schemaIPC) + len(eosMarker)
	for _, b := range batches {
		n += len(b.ipc)
	}
	out := make([]byte, 0, n)
	out = append(out, r.schemaIPC...)
	for _, b := range batches {
		out = append(out, b.ipc...)
	}
	return append(out, eosMarker...)
}

// schemaMessage returns the encapsulated IPC Schema message for schema: a stream with no
// batches, less its EOS marker.
func schemaMessage(schema *arrow.Schema) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("arrow schema: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), eosMarker), nil
}

// batchMessage returns the encapsulated IPC RecordBatch message for rec: the stream less
// its schema message and EOS marker.
func batchMessage(schema *arrow.Schema, rec arrow.RecordBatch) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	if err := w.Write(rec); err != nil {
		return nil, fmt.Errorf("arrow batch: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("arrow batch: %w", err)
	}
	head, err := schemaMessage(schema)
	if err != nil {
		return nil, err
	}
	b := bytes.TrimSuffix(buf.Bytes(), eosMarker)
	return bytes.Clone(b[len(head):]), nil
}

func thriftSchema(cols []column) *tcli.TTableSchema {
	s := &tcli.TTableSchema{Columns: make([]*tcli.TColumnDesc, len(cols))}
	for i, c := range cols {
		entry := &tcli.TPrimitiveTypeEntry{Type: c.typeID}
		if c.quals != nil {
			entry.TypeQualifiers = &tcli.TTypeQualifiers{Qualifiers: c.quals}
		}
		s.Columns[i] = &tcli.TColumnDesc{
			ColumnName: c.name,
			Position:   int32(i + 1),
			TypeDesc:   &tcli.TTypeDesc{Types: []*tcli.TTypeEntry{{PrimitiveEntry: entry}}},
		}
	}
	return s
}

// newColumn maps a DuckDB type to what Databricks would send: the driver (Arrow v12) reads
// only signed ints, float32/64, utf8, binary, date32, timestamp, decimal128, null and
// nested types, so everything else is cast (unsigned ints widen, huge ints and the types
// Databricks has no Arrow form for become strings).
func newColumn(name, dbType string, opts encodeOptions) column {
	c := column{name: name}
	set := func(id tcli.TTypeId, dt arrow.DataType, add func(array.Builder, any) error) {
		c.typeID, c.field, c.add = id, arrow.Field{Name: name, Type: dt, Nullable: true}, add
	}
	switch base := strings.ToUpper(dbType); {
	// First: an array's name starts with its element type's (TIMESTAMP[], DECIMAL(4,1)[]).
	case strings.HasSuffix(base, "]"):
		set(tcli.TTypeId_ARRAY_TYPE, arrow.BinaryTypes.String, stringAdder(dbType, opts.zones()))
	case base == "BOOLEAN":
		set(tcli.TTypeId_BOOLEAN_TYPE, arrow.FixedWidthTypes.Boolean, func(b array.Builder, v any) error {
			x, ok := v.(bool)
			if !ok {
				return typeErr(v, base)
			}
			b.(*array.BooleanBuilder).Append(x)
			return nil
		})
	case base == "TINYINT":
		set(tcli.TTypeId_TINYINT_TYPE, arrow.PrimitiveTypes.Int8, intAdder(func(b array.Builder, x int64) { b.(*array.Int8Builder).Append(int8(x)) }))
	case base == "SMALLINT" || base == "UTINYINT":
		set(tcli.TTypeId_SMALLINT_TYPE, arrow.PrimitiveTypes.Int16, intAdder(func(b array.Builder, x int64) { b.(*array.Int16Builder).Append(int16(x)) }))
	case base == "INTEGER" || base == "USMALLINT":
		set(tcli.TTypeId_INT_TYPE, arrow.PrimitiveTypes.Int32, intAdder(func(b array.Builder, x int64) { b.(*array.Int32Builder).Append(int32(x)) }))
	case base == "BIGINT" || base == "UINTEGER":
		set(tcli.TTypeId_BIGINT_TYPE, arrow.PrimitiveTypes.Int64, intAdder(func(b array.Builder, x int64) { b.(*array.Int64Builder).Append(x) }))
	case base == "FLOAT":
		set(tcli.TTypeId_FLOAT_TYPE, arrow.PrimitiveTypes.Float32, func(b array.Builder, v any) error {
			x, ok := v.(float32)
			if !ok {
				return typeErr(v, base)
			}
			b.(*array.Float32Builder).Append(x)
			return nil
		})
	case base == "DOUBLE":
		set(tcli.TTypeId_DOUBLE_TYPE, arrow.PrimitiveTypes.Float64, func(b array.Builder, v any) error {
			x, ok := v.(float64)
			if !ok {
				return typeErr(v, base)
			}
			b.(*array.Float64Builder).Append(x)
			return nil
		})
	case strings.HasPrefix(base, "DECIMAL"):
		p, s := decimalSize(base)
		c.quals = map[string]*tcli.TTypeQualifierValue{
			"precision": {I32Value: ptr(int32(p))},
			"scale":     {I32Value: ptr(int32(s))},
		}
		if opts.decimalAsArrow {
			set(tcli.TTypeId_DECIMAL_TYPE, &arrow.Decimal128Type{Precision: int32(p), Scale: int32(s)}, func(b array.Builder, v any) error {
				d, ok := v.(duckdb.Decimal)
				if !ok {
					return typeErr(v, base)
				}
				b.(*array.Decimal128Builder).Append(decimal128.FromBigInt(d.Value))
				return nil
			})
		} else {
			// As Databricks renders a DECIMAL(p,s) as a string: with s digits after the point
			// (1.500, 0.000), which duckdb.Decimal.String drops.
			set(tcli.TTypeId_DECIMAL_TYPE, arrow.BinaryTypes.String, func(b array.Builder, v any) error {
				d, ok := v.(duckdb.Decimal)
				if !ok {
					return typeErr(v, base)
				}
				b.(*array.StringBuilder).Append(decimalString(d))
				return nil
			})
		}
	case base == "HUGEINT" || base == "UHUGEINT" || base == "UBIGINT" || base == "BIGNUM" || base == "VARINT":
		// Described as the DECIMAL(38,0) Databricks would give them (SUM of a BIGINT is
		// a HUGEINT in DuckDB), and sent as such: a string, or decimal128 when the client
		// asked for Arrow decimals. A value of more than 38 digits, which Databricks'
		// arithmetic would have refused, fails the statement in either form.
		c.quals = map[string]*tcli.TTypeQualifierValue{"precision": {I32Value: ptr(int32(38))}, "scale": {I32Value: ptr(int32(0))}}
		if opts.decimalAsArrow {
			set(tcli.TTypeId_DECIMAL_TYPE, &arrow.Decimal128Type{Precision: 38, Scale: 0}, func(b array.Builder, v any) error {
				n, ok := bigIntOf(v)
				if !ok {
					return typeErr(v, base)
				}
				if n.CmpAbs(maxDecimal38) > 0 {
					return &decimalRangeError{precision: 38, scale: 0}
				}
				b.(*array.Decimal128Builder).Append(decimal128.FromBigInt(n))
				return nil
			})
		} else {
			asString := stringAdder(dbType, opts.zones())
			set(tcli.TTypeId_DECIMAL_TYPE, arrow.BinaryTypes.String, func(b array.Builder, v any) error {
				if n, ok := bigIntOf(v); ok && n.CmpAbs(maxDecimal38) > 0 {
					return &decimalRangeError{precision: 38, scale: 0}
				}
				return asString(b, v)
			})
		}
	case base == "VARCHAR" || strings.HasPrefix(base, "ENUM"):
		set(tcli.TTypeId_STRING_TYPE, arrow.BinaryTypes.String, stringAdder(dbType, opts.zones()))
	case base == "BLOB":
		set(tcli.TTypeId_BINARY_TYPE, arrow.BinaryTypes.Binary, func(b array.Builder, v any) error {
			x, ok := v.([]byte)
			if !ok {
				return typeErr(v, base)
			}
			b.(*array.BinaryBuilder).Append(x)
			return nil
		})
	case base == "DATE":
		set(tcli.TTypeId_DATE_TYPE, arrow.FixedWidthTypes.Date32, func(b array.Builder, v any) error {
			t, ok := v.(time.Time)
			if !ok {
				return typeErr(v, base)
			}
			b.(*array.Date32Builder).Append(arrow.Date32FromTime(t))
			return nil
		})
	case strings.HasPrefix(base, "TIMESTAMP"):
		// DuckDB's TIMESTAMP is a wall time (handed over as UTC), its TIMESTAMP WITH TIME
		// ZONE an instant; Databricks' TIMESTAMP is an instant whose literals are read in
		// the session's zone.
		wall := opts.loc != nil && opts.loc != time.UTC && !hasZone(base)
		set(tcli.TTypeId_TIMESTAMP_TYPE, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "Etc/UTC"}, func(b array.Builder, v any) error {
			t, ok := v.(time.Time)
			if !ok {
				return typeErr(v, base)
			}
			if wall {
				t = wallIn(t, opts.loc)
			}
			b.(*array.TimestampBuilder).Append(arrow.Timestamp(t.UnixMicro()))
			return nil
		})
	case base == "NULL" || base == "\"NULL\"":
		set(tcli.TTypeId_NULL_TYPE, arrow.Null, func(b array.Builder, _ any) error {
			b.AppendNull()
			return nil
		})
	case strings.HasPrefix(base, "STRUCT"):
		set(tcli.TTypeId_STRUCT_TYPE, arrow.BinaryTypes.String, stringAdder(dbType, opts.zones()))
	case strings.HasPrefix(base, "MAP"):
		set(tcli.TTypeId_MAP_TYPE, arrow.BinaryTypes.String, stringAdder(dbType, opts.zones()))
	default: // TIME, INTERVAL, UUID, BIT, unions, …: Databricks sends these as strings too.
		set(tcli.TTypeId_STRING_TYPE, arrow.BinaryTypes.String, stringAdder(dbType, opts.zones()))
	}
	return c
}

func ptr[T any](v T) *T { return &v }

// maxDecimal38 is the largest magnitude of a DECIMAL(38,0): 38 nines.
var maxDecimal38 = new(big.Int).Sub(new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil), big.NewInt(1))

// bigIntOf is an integer value of DuckDB's as a big.Int: a HUGEINT's or a BIGNUM's
// (*big.Int), an UBIGINT's (uint64), or one DuckDB hands over as its decimal text.
func bigIntOf(v any) (*big.Int, bool) {
	switch x := v.(type) {
	case *big.Int:
		return x, true
	case uint64:
		return new(big.Int).SetUint64(x), true
	case int64:
		return big.NewInt(x), true
	case string:
		return new(big.Int).SetString(x, 10)
	}
	return nil, false
}

func typeErr(v any, dbType string) error {
	return fmt.Errorf("unexpected %T for %s", v, dbType)
}

func intAdder(appendInt func(array.Builder, int64)) func(array.Builder, any) error {
	return func(b array.Builder, v any) error {
		var x int64
		switch n := v.(type) {
		case int8:
			x = int64(n)
		case int16:
			x = int64(n)
		case int32:
			x = int64(n)
		case int64:
			x = n
		case uint8:
			x = int64(n)
		case uint16:
			x = int64(n)
		case uint32:
			x = int64(n)
		default:
			return typeErr(v, "integer")
		}
		appendInt(b, x)
		return nil
	}
}

func stringAdder(dbType string, z zones) func(array.Builder, any) error {
	shape := parseNested(dbType)
	return func(b array.Builder, v any) error {
		s, err := formatValue(v, shape, z)
		if err != nil {
			return fmt.Errorf("%s: %w", dbType, err)
		}
		b.(*array.StringBuilder).Append(s)
		return nil
	}
}

// hasZone reports whether a DuckDB timestamp type, named in upper case, is an instant
// (TIMESTAMPTZ, TIMESTAMP WITH TIME ZONE) rather than a wall time.
func hasZone(upper string) bool {
	return upper == "TIMESTAMPTZ" || strings.Contains(upper, "TIME ZONE")
}

// wallIn is the instant at which loc's clocks show t's wall time: DuckDB hands a
// TIMESTAMP without a zone over as that wall time in UTC. Where loc's clocks change, it
// reads the wall time as Spark does (java.time's ZonedDateTime.of), which time.Date
// leaves open:
//   - a wall time the clocks skip (summer time begins) moves forward by the gap: 02:30 on
//     the night New York goes from 02:00 to 03:00 is 03:30 EDT, as DuckDB's TIMESTAMPTZ
//     casts read it too;
//   - a wall time the clocks show twice (summer time ends) is the earlier instant, the one
//     with the offset before the change. DuckDB's TIMESTAMPTZ casts take the later one.
func wallIn(t time.Time, loc *time.Location) time.Time {
	r := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
	_, off := r.Zone()
	_, before := r.Add(-clockChangeReach).Zone()
	_, after := r.Add(clockChangeReach).Zone()
	if before == off && after == off {
		return r // no change of the clocks near
	}
	naive := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	var shown, skipped time.Time // the earliest instant that shows t; the latest of a gap
	for _, o := range []int{before, off, after} {
		at := naive.Add(-time.Duration(o) * time.Second)
		_, atOff := at.In(loc).Zone()
		switch {
		case atOff == o && (shown.IsZero() || at.Before(shown)):
			shown = at
		case atOff != o && at.After(skipped):
			skipped = at
		}
	}
	if shown.IsZero() {
		shown = skipped
	}
	return shown.In(loc)
}

// clockChangeReach is how far from a wall time wallIn looks for a change of the clocks:
// a day and more, for the zones that skipped a whole day (Samoa, 2011).
const clockChangeReach = 26 * time.Hour

// decimalString renders a DECIMAL(p,s) as Databricks does: with s digits after the point
// (1.500, 0.000), which duckdb.Decimal.String drops.
func decimalString(d duckdb.Decimal) string {
	return decimal128.FromBigInt(d.Value).ToString(int32(d.Scale))
}

// appendFormatted appends v, nested, as the quoted string it is at the top level
// (formatValue): an interval, a UUID, a time of day.
func appendFormatted(b []byte, v any, z zones) ([]byte, error) {
	s, err := formatValue(v, nil, z)
	if err != nil {
		return nil, err
	}
	return strconv.AppendQuote(b, s), nil
}

// formatValue renders a DuckDB value the way Databricks renders it as a string; shape is
// its type's (see parseNested), z the time zones it is read and shown in.
func formatValue(v any, shape *nestedType, z zones) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case duckdb.Decimal:
		return decimalString(x), nil
	case *big.Int:
		return x.String(), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case time.Time: // TIME, or TIMETZ (DuckDB's: no Databricks type) with its offset
		if shape != nil && (shape.scalar == "TIME WITH TIME ZONE" || shape.scalar == "TIMETZ") {
			if _, off := x.Zone(); off%3600 == 0 {
				return x.Format("15:04:05.999999-07"), nil // as DuckDB prints it: 12:00:00+02
			}
			return x.Format("15:04:05.999999-07:00"), nil
		}
		return x.Format("15:04:05.999999"), nil
	case duckdb.Interval:
		return formatInterval(x), nil
	case []byte: // UUID
		if len(x) == 16 {
			return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16]), nil
		}
		return string(x), nil
	case duckdb.UUID:
		return x.String(), nil
	case duckdb.Union: // DuckDB's (no Databricks type): its member's value, as DuckDB prints it
		if x.Value == nil {
			return "NULL", nil
		}
		return formatValue(x.Value, nil, z)
	case []any, map[string]any, duckdb.OrderedMap:
		b, err := appendJSON(nil, x, shape, z)
		if err != nil {
			return "", err
		}
		return string(b), nil
	case fmt.Stringer:
		return x.String(), nil
	default:
		return fmt.Sprint(x), nil
	}
}

// nestedType is what rendering a nested value needs of its type that the Go value lost:
// a struct's field order, and whether a timestamp has a time zone. It is read off the
// type's DuckDB name (parseNested); nil or partial where the name says nothing.
type nestedType struct {
	fields []string      // STRUCT: its fields, in declared order
	types  []*nestedType // STRUCT: their types
	elem   *nestedType   // a list's elements, a MAP's values
	key    *nestedType   // a MAP's keys
	wall   bool          // a TIMESTAMP without a time zone: a wall time in the session's
	scalar string        // any other type: its name in upper case (UUID, TIME, BLOB, …)
}

// parseNested reads a DuckDB type name such as STRUCT("a b" DECIMAL(5,2), c DATE[])[].
func parseNested(name string) *nestedType {
	s := strings.TrimSpace(name)
	upper := strings.ToUpper(s)
	t := &nestedType{}
	switch {
	case strings.HasSuffix(s, "]"):
		if i := strings.LastIndexByte(s, '['); i > 0 {
			t.elem = parseNested(s[:i])
		}
	case strings.HasPrefix(upper, "STRUCT(") && strings.HasSuffix(s, ")"):
		for _, part := range splitTopLevel(s[len("STRUCT(") : len(s)-1]) {
			field, typ := splitField(part)
			t.fields, t.types = append(t.fields, field), append(t.types, parseNested(typ))
		}
	case strings.HasPrefix(upper, "MAP(") && strings.HasSuffix(s, ")"):
		if kv := splitTopLevel(s[len("MAP(") : len(s)-1]); len(kv) == 2 {
			t.key, t.elem = parseNested(kv[0]), parseNested(kv[1])
		}
	case strings.HasPrefix(upper, "TIMESTAMP"):
		t.wall = !hasZone(upper)
	default:
		t.scalar = upper
	}
	return t
}

// splitTopLevel splits s at the commas outside parentheses, brackets and double quotes.
func splitTopLevel(s string) []string {
	var parts []string
	depth, quoted, from := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			quoted = !quoted // "" inside a quoted name toggles twice
		case quoted:
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
		case c == ',' && depth == 0:
			parts, from = append(parts, s[from:i]), i+1
		}
	}
	return append(parts, s[from:])
}

// splitField splits a STRUCT member "name TYPE" (the name double-quoted when it must be).
func splitField(part string) (name, typ string) {
	part = strings.TrimSpace(part)
	if strings.HasPrefix(part, `"`) {
		for i := 1; i < len(part); i++ {
			if part[i] != '"' {
				continue
			}
			if i+1 < len(part) && part[i+1] == '"' {
				i++ // an escaped quote
				continue
			}
			return strings.ReplaceAll(part[1:i], `""`, `"`), part[i+1:]
		}
		return part, ""
	}
	if i := strings.IndexByte(part, ' '); i > 0 {
		return part[:i], part[i+1:]
	}
	return part, ""
}

// appendJSON renders a nested value the way the driver renders the complex types
// Databricks sends it as Arrow: JSON in which a struct's fields keep their declared order
// (shape), a decimal is its exact number literal, and a date or timestamp is Go's
// time.String in the driver's time zone (z.show), quoted. encoding/json alone would write a
// duckdb.Decimal as the struct it is. shape may be nil: then a struct's fields come in
// name order.
func appendJSON(b []byte, v any, shape *nestedType, z zones) ([]byte, error) {
	var err error
	var elem *nestedType
	if shape != nil {
		elem = shape.elem
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case duckdb.Decimal:
		return append(b, decimalString(x)...), nil
	case duckdb.Interval, duckdb.UUID:
		return appendFormatted(b, x, z)
	case duckdb.Union: // its member's value (see formatValue)
		return appendJSON(b, x.Value, nil, z)
	case []byte:
		if shape != nil && shape.scalar == "UUID" && len(x) == 16 {
			return appendFormatted(b, x, z)
		}
	case time.Time:
		if shape != nil && strings.HasPrefix(shape.scalar, "TIME") { // TIME, TIMETZ
			f, err := formatValue(x, shape, z)
			if err != nil {
				return nil, err
			}
			return strconv.AppendQuote(b, f), nil
		}
		if shape != nil && shape.wall {
			x = wallIn(x, z.wall)
		}
		return strconv.AppendQuote(b, x.In(z.show).String()), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendJSON(b, e, elem, z); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any: // a STRUCT
		b = append(b, '{')
		if shape != nil && len(shape.fields) == len(x) && allIn(shape.fields, x) {
			for i, k := range shape.fields {
				if b, err = appendMember(b, i, k, x[k], shape.types[i], z); err != nil {
					return nil, err
				}
			}
			return append(b, '}'), nil
		}
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if b, err = appendMember(b, i, k, x[k], nil, z); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case duckdb.OrderedMap: // a MAP: its entries in order, keys as strings
		b = append(b, '{')
		keys, values := x.Keys(), x.Values()
		var keyShape *nestedType
		if shape != nil {
			keyShape = shape.key
		}
		for i := range keys {
			k, err := mapKey(keys[i], keyShape, z)
			if err != nil {
				return nil, err
			}
			if b, err = appendMember(b, i, k, values[i], elem, z); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return appendNonFinite(b, x), nil
		}
	case float32:
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			return appendNonFinite(b, f), nil
		}
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// appendNonFinite renders a NaN or an infinity, which JSON has no number for, as Spark's
// JSON does: the quoted "NaN", "Infinity" or "-Infinity".
func appendNonFinite(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case f > 0:
		return append(b, `"Infinity"`...)
	}
	return append(b, `"-Infinity"`...)
}

// mapKey is a MAP key's text: the key shown as a nested value is (a decimal keeps its
// scale, a timestamp is shown in the driver's zone), without its quotes.
func mapKey(k any, shape *nestedType, z zones) (string, error) {
	j, err := appendJSON(nil, k, shape, z)
	if err != nil {
		return "", err
	}
	if len(j) > 1 && j[0] == '"' {
		if s, err := strconv.Unquote(string(j)); err == nil {
			return s, nil
		}
	}
	return string(j), nil
}

// allIn reports whether every name is a key of m.
func allIn(names []string, m map[string]any) bool {
	for _, n := range names {
		if _, ok := m[n]; !ok {
			return false
		}
	}
	return true
}

// appendMember renders the i-th member "key":value of a JSON object.
func appendMember(b []byte, i int, key string, v any, shape *nestedType, z zones) ([]byte, error) {
	if i > 0 {
		b = append(b, ',')
	}
	k, err := json.Marshal(key)
	if err != nil {
		return nil, err
	}
	b = append(append(b, k...), ':')
	return appendJSON(b, v, shape, z)
}

func formatInterval(iv duckdb.Interval) string {
	var parts []string
	if m := iv.Months; m != 0 {
		sign := ""
		if m < 0 {
			sign, m = "-", -m
		}
		parts = append(parts, fmt.Sprintf("%s%d-%d", sign, m/12, m%12))
	}
	// Days and microseconds may differ in sign: one sign for their sum, a day 24 hours,
	// in int64 microseconds (a time.Duration overflows at 292 years).
	const dayMicros = int64(24 * time.Hour / time.Microsecond)
	days, us := int64(iv.Days)+iv.Micros/dayMicros, iv.Micros%dayMicros
	switch {
	case days > 0 && us < 0:
		days, us = days-1, us+dayMicros
	case days < 0 && us > 0:
		days, us = days+1, us-dayMicros
	}
	sign := ""
	if days < 0 || us < 0 {
		sign, days, us = "-", -days, -us
	}
	const (
		second = int64(time.Second / time.Microsecond)
		minute = 60 * second
		hour   = 60 * minute
	)
	parts = append(parts, fmt.Sprintf("%s%d %02d:%02d:%02d.%06d", sign, days, us/hour, us%hour/minute, us%minute/second, us%second))
	return strings.Join(parts, " ")
}

// decimalSize parses DECIMAL(p,s); DuckDB's default is (18,3).
func decimalSize(t string) (int, int) {
	p, s := 18, 3
	if i := strings.IndexByte(t, '('); i >= 0 {
		inner := strings.TrimSuffix(t[i+1:], ")")
		if a, b, ok := strings.Cut(inner, ","); ok {
			if v, err := strconv.Atoi(strings.TrimSpace(a)); err == nil {
				p = v
			}
			if v, err := strconv.Atoi(strings.TrimSpace(b)); err == nil {
				s = v
			}
		}
	}
	return p, s
}
