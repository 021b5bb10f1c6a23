package warehouse

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// integralType is one of Spark's integral types, the target of a cast that
// rewriteIntegralCasts hands to integralCast.
type integralType struct {
	name     string // Spark's name, in errors
	fn       string // the function of the cast: spark_cast_<fn>, spark_try_cast_<fn>
	duck     duckdb.Type
	min, max int64
}

// integralTypes are Spark's integral types, from the narrowest.
func integralTypes() [4]integralType {
	return [...]integralType{
		{"TINYINT", "tinyint", duckdb.TYPE_TINYINT, math.MinInt8, math.MaxInt8},
		{"SMALLINT", "smallint", duckdb.TYPE_SMALLINT, math.MinInt16, math.MaxInt16},
		{"INT", "int", duckdb.TYPE_INTEGER, math.MinInt32, math.MaxInt32},
		{"BIGINT", "bigint", duckdb.TYPE_BIGINT, math.MinInt64, math.MaxInt64},
	}
}

// integralTypeNamed is the integral type a cast's target names (Spark's names and their
// synonyms), if it is one.
func integralTypeNamed(word string) (integralType, bool) {
	var i int
	switch strings.ToUpper(word) {
	case "TINYINT", "BYTE":
		i = 0
	case "SMALLINT", "SHORT":
		i = 1
	case "INT", "INTEGER":
		i = 2
	case "BIGINT", "LONG":
		i = 3
	default:
		return integralType{}, false
	}
	return integralTypes()[i], true
}

// Markers that start the messages of integralCast's errors; mapError turns them into
// Databricks' error classes.
const (
	castInvalidMarker  = "CAST_INVALID_INPUT: "
	castOverflowMarker = "CAST_OVERFLOW: "
	castMismatchMarker = "DATATYPE_MISMATCH: "
)

// integralCast is spark_cast_<type>(x) → <type> (and spark_try_cast_<type>, which answers
// NULL where the other fails): a cast to an integral type as Spark's does it in ANSI mode,
// where DuckDB's differs without an error. A fractional number is truncated toward zero
// (DuckDB rounds); a string is trimmed and must then be an integer, sign and digits
// only ('1.5' and '1e3' are malformed; DuckDB reads them as numbers and rounds). A value
// out of the type's range overflows; a boolean is 1 or 0; other types cannot be cast.
type integralCast struct {
	to       integralType
	try      bool
	any, res duckdb.TypeInfo
}

func (c integralCast) Config() duckdb.ScalarFuncConfig {
	return duckdb.ScalarFuncConfig{InputTypeInfos: []duckdb.TypeInfo{c.any}, ResultTypeInfo: c.res}
}

func (c integralCast) Executor() duckdb.ScalarFuncExecutor {
	return duckdb.ScalarFuncExecutor{RowExecutor: func(v []driver.Value) (any, error) {
		n, err := sparkIntegral(v[0], c.to)
		if err != nil {
			if c.try {
				return nil, nil
			}
			return nil, err
		}
		switch c.to.duck {
		case duckdb.TYPE_TINYINT:
			return int8(n), nil
		case duckdb.TYPE_SMALLINT:
			return int16(n), nil
		case duckdb.TYPE_INTEGER:
			return int32(n), nil
		}
		return n, nil
	}}
}

// registerIntegralCasts adds the casts of integralCast to the catalog.
func registerIntegralCasts(conn *sql.Conn) error {
	anyInfo, err := duckdb.NewTypeInfo(duckdb.TYPE_ANY)
	if err != nil {
		return err
	}
	for _, t := range integralTypes() {
		res, err := duckdb.NewTypeInfo(t.duck)
		if err != nil {
			return err
		}
		for _, try := range []bool{false, true} {
			if err := duckdb.RegisterScalarUDF(conn, castFunction(t, try), integralCast{to: t, try: try, any: anyInfo, res: res}); err != nil {
				return err
			}
		}
	}
	return nil
}

// castFunction is the name of the function that casts to t.
func castFunction(t integralType, try bool) string {
	if try {
		return "spark_try_cast_" + t.fn
	}
	return "spark_cast_" + t.fn
}

// sparkIntegral is v cast to the integral type t as Spark's ANSI cast does it.
func sparkIntegral(v any, t integralType) (int64, error) {
	inRange := func(n int64) (int64, error) {
		if n < t.min || n > t.max {
			return 0, castOverflow(v, t)
		}
		return n, nil
	}
	switch x := v.(type) {
	case int8:
		return inRange(int64(x))
	case int16:
		return inRange(int64(x))
	case int32:
		return inRange(int64(x))
	case int64:
		return inRange(x)
	case uint8:
		return inRange(int64(x))
	case uint16:
		return inRange(int64(x))
	case uint32:
		return inRange(int64(x))
	case uint64:
		if x > math.MaxInt64 {
			return 0, castOverflow(v, t)
		}
		return inRange(int64(x))
	case *big.Int:
		if !x.IsInt64() {
			return 0, castOverflow(v, t)
		}
		return inRange(x.Int64())
	case float32:
		return floatIntegral(float64(x), v, t)
	case float64:
		return floatIntegral(x, v, t)
	case duckdb.Decimal:
		q := new(big.Int).Quo(x.Value, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(x.Scale)), nil))
		if !q.IsInt64() {
			return 0, castOverflow(v, t)
		}
		return inRange(q.Int64())
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		s := strings.TrimFunc(x, func(r rune) bool { return r <= ' ' })
		digits := strings.TrimLeft(s, "+-")
		if len(s)-len(digits) > 1 || digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
			return 0, castInvalid(x, t)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < t.min || n > t.max {
			return 0, castInvalid(x, t) // Spark reads a string out of range as malformed
		}
		return n, nil
	}
	from := "this type"
	switch v.(type) {
	case time.Time:
		from = "a DATE, TIME or TIMESTAMP"
	case []byte:
		from = "a BINARY or UUID"
	case duckdb.Interval:
		from = "an INTERVAL"
	}
	return 0, fmt.Errorf("%sCannot cast %s to %q", castMismatchMarker, from, t.name)
}

// floatIntegral is f, a DOUBLE or FLOAT v, truncated toward zero into t.
func floatIntegral(f float64, v any, t integralType) (int64, error) {
	f = math.Trunc(f)
	if math.IsNaN(f) || f < float64(t.min) || f >= -float64(t.min) {
		return 0, castOverflow(v, t)
	}
	return int64(f), nil
}

func castOverflow(v any, t integralType) error {
	return fmt.Errorf("%sThe value %v cannot be cast to %q due to an overflow", castOverflowMarker, v, t.name)
}

func castInvalid(s string, t integralType) error {
	return fmt.Errorf("%sThe value '%s' of the type \"STRING\" cannot be cast to %q because it is malformed", castInvalidMarker, s, t.name)
}

// castToken is a token of rewriteIntegralCasts's scan.
type castToken struct {
	start, end int
	kind       byte   // 'w' word, 'q' quoted name, 's' string, 'n' number, 'm' marker, 'p' punctuation
	text       string // a word upper-cased, a mark ("::" is one)
}

// castEdit replaces stmt[start:end] with text; an insertion (start == end) closes at
// closes, so that of two at one place the outer comes first.
type castEdit struct {
	start, end, closes int
	text               string
}

// rewriteIntegralCasts hands the casts of stmt (in DuckDB's lexis, after the parameters
// are bound) to an integral type to integralCast: CAST(x AS INT) and TRY_CAST(x AS INT)
// become spark_cast_int(x) and spark_try_cast_int(x), Spark's int(x) (bigint, smallint,
// tinyint) spark_cast_int(x), and x::INT spark_cast_int(x) where
// x is a name, a literal, a call or a parenthesized expression (behind another cast, a
// CASE, a window or a subscript, "::" keeps DuckDB's meaning). A cast of a parameter or
// of NULL keeps it too: DuckDB binds neither to a function that takes any type.
func rewriteIntegralCasts(stmt string) string {
	if !strings.Contains(stmt, "::") && !containsFoldASCII(stmt, "cast") && !intCall(stmt) {
		return stmt
	}
	toks := castTokens(stmt)
	match := brackets(toks)
	var edits []castEdit
	for i, t := range toks {
		switch {
		case t.kind == 'w' && (t.text == "CAST" || t.text == "TRY_CAST") && !afterDot(toks, i) &&
			i+1 < len(toks) && toks[i+1].text == "(" && match[i+1] > 0:
			closing := match[i+1]
			as := -1
			for j, depth := i+2, 0; j < closing; j++ {
				switch toks[j].text {
				case "(", "[":
					depth++
				case ")", "]":
					depth--
				case "AS":
					if depth == 0 && toks[j].kind == 'w' {
						as = j
					}
				}
			}
			if as < 0 || as != closing-2 || toks[as+1].kind != 'w' || !castable(toks[i+2:as]) {
				continue
			}
			to, ok := integralTypeNamed(toks[as+1].text)
			if !ok {
				continue
			}
			edits = append(edits,
				castEdit{start: t.start, end: toks[i+1].end, text: castFunction(to, t.text == "TRY_CAST") + "("},
				castEdit{start: toks[as-1].end, end: toks[closing].end, text: ")"})
		case t.kind == 'w' && !afterDot(toks, i) && (i == 0 || toks[i-1].text != "::" && toks[i-1].text != "AS") &&
			i+1 < len(toks) && toks[i+1].text == "(" && match[i+1] > 0:
			// Spark's int(x), bigint(x), smallint(x) and tinyint(x), which DuckDB cannot
			// parse: CAST(x AS INT).
			to, ok := integralTypeNamed(t.text)
			if !ok || t.text != strings.ToUpper(to.name) && t.text != "INT" {
				continue
			}
			closing := match[i+1]
			if castable(toks[i+2 : closing]) {
				edits = append(edits, castEdit{start: t.start, end: t.end, text: castFunction(to, false)})
				continue
			}
			edits = append(edits,
				castEdit{start: t.start, end: toks[i+1].end, text: "CAST("},
				castEdit{start: toks[closing].start, end: toks[closing].end, text: " AS " + to.name + ")"})
		case t.text == "::" && i+1 < len(toks) && toks[i+1].kind == 'w':
			to, ok := integralTypeNamed(toks[i+1].text)
			if !ok || i+2 < len(toks) && (toks[i+2].text == "[" || toks[i+2].text == "(") {
				continue
			}
			from := castOperandStart(toks, match, i-1)
			if from < 0 || !castable(toks[from:i]) {
				continue
			}
			edits = append(edits,
				castEdit{start: toks[from].start, end: toks[from].start, closes: toks[i+1].end, text: castFunction(to, false) + "("},
				castEdit{start: toks[i-1].end, end: toks[i+1].end, text: ")"})
		}
	}
	return applyEdits(stmt, edits)
}

// applyEdits makes the edits to stmt, or none when two overlap.
func applyEdits(stmt string, edits []castEdit) string {
	if len(edits) == 0 {
		return stmt
	}
	slices.SortStableFunc(edits, func(a, b castEdit) int {
		if a.start != b.start {
			return a.start - b.start
		}
		ai, bi := a.start == a.end, b.start == b.end
		switch {
		case ai && !bi:
			return -1
		case bi && !ai:
			return 1
		}
		return b.closes - a.closes
	})
	var b strings.Builder
	last := 0
	for _, e := range edits {
		if e.start < last {
			return stmt // overlapping edits: no rewrite rather than a wrong one
		}
		b.WriteString(stmt[last:e.start])
		b.WriteString(e.text)
		last = e.end
	}
	b.WriteString(stmt[last:])
	return b.String()
}

// intCall reports whether stmt may call int, bigint, smallint or tinyint: "int" before a
// "(", blanks aside.
func intCall(stmt string) bool {
	for i := 0; i+3 < len(stmt); i++ {
		if !strings.EqualFold(stmt[i:i+3], "int") {
			continue
		}
		j := i + 3
		for j < len(stmt) && isBlank(stmt[j]) {
			j++
		}
		if j < len(stmt) && stmt[j] == '(' {
			return true
		}
	}
	return false
}

// rewriteLongConcats nests a concat of more arguments than the concat macros take
// (maxConcatArgs) into concats that each take at most as many: concat(a1, …, a40) becomes
// concat(concat(a1, …, a32), a33, …, a40).
func rewriteLongConcats(stmt string) string {
	if !containsFoldASCII(stmt, "concat") || strings.Count(stmt, ",") < maxConcatArgs {
		return stmt
	}
	toks := castTokens(stmt)
	var edits []castEdit
	for i := 0; i+1 < len(toks); i++ {
		if toks[i].kind != 'w' || toks[i].text != "CONCAT" || afterDot(toks, i) || toks[i+1].text != "(" {
			continue
		}
		var commas []int // the call's own commas
		depth := 0
		for j := i + 2; j < len(toks) && depth >= 0; j++ {
			switch toks[j].text {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				depth--
			case ",":
				if depth == 0 {
					commas = append(commas, j)
				}
			}
		}
		// The first concat takes maxConcatArgs arguments; each around it takes the one
		// inside and maxConcatArgs-1 more.
		var closes []int
		for k := maxConcatArgs - 1; k < len(commas); k += maxConcatArgs - 1 {
			closes = append(closes, commas[k])
		}
		if len(closes) == 0 {
			continue
		}
		open := toks[i+1].end
		edits = append(edits, castEdit{start: open, end: open, text: strings.Repeat("concat(", len(closes))})
		for _, c := range closes {
			edits = append(edits, castEdit{start: toks[c].start, end: toks[c].end, text: "),"})
		}
	}
	return applyEdits(stmt, edits)
}

// castTokens splits stmt into rewriteIntegralCasts's tokens; blanks and comments are none.
func castTokens(stmt string) []castToken {
	var toks []castToken
	for i := 0; i < len(stmt); {
		c := stmt[i]
		if j := skipNoise(stmt, i); j > i {
			switch c {
			case '\'':
				toks = append(toks, castToken{start: i, end: j, kind: 's'})
			case '"', '`':
				toks = append(toks, castToken{start: i, end: j, kind: 'q'})
			case '$':
				toks = append(toks, castToken{start: i, end: j, kind: 's'}) // a dollar-quoted string
			}
			i = j
			continue
		}
		switch {
		case isBlank(c) || c == '\f' || c == '\v':
			i++
		case isIdentStart(c) || c >= 0x80:
			j := i + 1
			for j < len(stmt) && (isIdentPart(stmt[j]) || stmt[j] >= 0x80) {
				j++
			}
			toks = append(toks, castToken{start: i, end: j, kind: 'w', text: strings.ToUpper(stmt[i:j])})
			i = j
		case isDigit(c) || c == '.' && i+1 < len(stmt) && isDigit(stmt[i+1]):
			j := i + 1
			for j < len(stmt) && (isDigit(stmt[j]) || stmt[j] == '.' ||
				(stmt[j] == 'e' || stmt[j] == 'E') && j+1 < len(stmt) && (isDigit(stmt[j+1]) || stmt[j+1] == '+' || stmt[j+1] == '-')) {
				if stmt[j] == 'e' || stmt[j] == 'E' {
					j++
				}
				j++
			}
			toks = append(toks, castToken{start: i, end: j, kind: 'n', text: stmt[i:j]})
			i = j
		case c == '?' || c == '$':
			j := i + 1
			for j < len(stmt) && isIdentPart(stmt[j]) {
				j++
			}
			toks = append(toks, castToken{start: i, end: j, kind: 'm'})
			i = j
		case c == ':' && i+1 < len(stmt) && stmt[i+1] == ':':
			toks = append(toks, castToken{start: i, end: i + 2, kind: 'p', text: "::"})
			i += 2
		case c == ':' && i+1 < len(stmt) && isIdentStart(stmt[i+1]):
			j := identEnd(stmt, i+1)
			toks = append(toks, castToken{start: i, end: j, kind: 'm'}) // a named marker
			i = j
		default:
			toks = append(toks, castToken{start: i, end: i + 1, kind: 'p', text: string(c)})
			i++
		}
	}
	return toks
}

// afterDot reports whether toks[i] follows a '.' (a qualified name's part).
func afterDot(toks []castToken, i int) bool { return i > 0 && toks[i-1].text == "." }

// castable reports whether a cast's operand, toks, needs integralCast: not a parameter's
// marker, nor NULL alone, nor an integer literal (DuckDB casts those as Spark does; the
// lexis writes 1L as one).
func castable(toks []castToken) bool {
	if len(toks) == 0 || len(toks) == 1 && toks[0].kind == 'w' && toks[0].text == "NULL" || integerLiteral(toks) {
		return false
	}
	for _, t := range toks {
		if t.kind == 'm' {
			return false
		}
	}
	return true
}

// castOperandStart is where the operand of a "::" that follows toks[i] starts, or -1
// when rewriteIntegralCasts leaves the cast alone.
func castOperandStart(toks []castToken, match []int, i int) int {
	if i < 0 {
		return -1
	}
	t := toks[i]
	var from int
	switch {
	case t.text == ")":
		from = match[i]
		if from < 0 {
			return -1
		}
		if from > 0 {
			switch p := toks[from-1]; {
			case p.kind == 'w' && (p.text == "OVER" || p.text == "FILTER" || p.text == "WITHIN"):
				return -1 // a window's or an aggregate's clause: the operand is more than it
			case p.kind == 'q' || p.kind == 'w' && (!operatorWord(p.text) || constructorWord(p.text)):
				from-- // a call's name
			}
		}
	case t.kind == 'w':
		if operatorWord(t.text) && !literalWord(t.text) {
			return -1 // END of a CASE, and the like
		}
		from = i
	case t.kind == 'q' || t.kind == 'n':
		from = i
	case t.kind == 's':
		if p := i - 1; p >= 0 && toks[p].kind == 'w' && (!operatorWord(toks[p].text) || toks[p].text == "INTERVAL") {
			return -1 // a typed literal (DATE '…', INTERVAL '…'), whose operand DuckDB reads otherwise
		}
		return i
	default:
		return -1 // a subscript, a marker, another mark
	}
	for from >= 2 && toks[from-1].text == "." && (toks[from-2].kind == 'w' || toks[from-2].kind == 'q') {
		from -= 2 // a qualified name: t.c, s.f(x)
	}
	if from > 0 && (toks[from-1].text == "::" || toks[from-1].text == ".") {
		return -1 // the operand of another cast, or a field of an expression (a[0].f, (s).f)
	}
	return from
}

// literalWord reports whether w, a keyword, is a literal: NULL, TRUE, FALSE.
func literalWord(w string) bool { return w == "NULL" || w == "TRUE" || w == "FALSE" }

// endsOperand reports whether w, a keyword, ends an operand (a literal, or the END of a
// CASE): a minus after it subtracts; after any other keyword it starts an operand.
func endsOperand(w string) bool { return w == "END" || literalWord(w) }

// constructorWord reports whether w, a keyword, also names a call: map(…), array(…).
func constructorWord(w string) bool {
	return w == "MAP" || w == "ARRAY" || w == "STRUCT"
}

// operatorWord reports whether the word w is a keyword that can stand before a "(", a
// string, a "::" or a minus without naming a call, a type or a column (the lexis's
// operandMinus reads the same list).
func operatorWord(w string) bool {
	switch w {
	case "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "IS", "CASE", "WHEN", "THEN", "ELSE", "END",
		"ON", "BY", "HAVING", "AS", "BETWEEN", "LIKE", "ILIKE", "EXISTS", "VALUES", "RETURN", "ALL", "ANY",
		"SOME", "DISTINCT", "USING", "JOIN", "UNION", "EXCEPT", "INTERSECT", "LIMIT", "OFFSET", "WITH",
		"NULL", "TRUE", "FALSE", "ESCAPE", "ARRAY", "MAP", "STRUCT", "DEFAULT", "FOR", "INTERVAL", "QUALIFY",
		"SET", "TO", "PARTITION", "WINDOW", "ORDER", "GROUP":
		return true
	}
	return false
}

// rewriteArraySubscripts reads a subscript by an integer literal as Spark does, from 0
// (DuckDB's lists count from 1): e[0] becomes spark_at(e, 0), a macro that adds 1 for an
// array and leaves a map's key alone (maps keyed by integers are subscripted the same
// way). A subscript by anything else (a column, a parameter, an expression) keeps
// DuckDB's meaning, as does one whose operand cannot be told (see castOperandStart).
func rewriteArraySubscripts(stmt string) string {
	if !strings.Contains(stmt, "[") {
		return stmt
	}
	toks := castTokens(stmt)
	match := brackets(toks)
	var edits []castEdit
	for i, t := range toks {
		if t.text != "[" || match[i] < 0 || !integerLiteral(toks[i+1:match[i]]) {
			continue
		}
		from := subscriptOperandStart(toks, match, i-1)
		if from < 0 {
			continue
		}
		closing := match[i]
		edits = append(edits,
			castEdit{start: toks[from].start, end: toks[from].start, closes: toks[closing].end, text: "spark_at("},
			castEdit{start: toks[i-1].end, end: toks[closing].end, text: ", " + stmt[toks[i+1].start:toks[closing-1].end] + ")"})
	}
	return applyEdits(stmt, edits)
}

// brackets pairs the parentheses and brackets of toks: a bracket's partner, else -1.
func brackets(toks []castToken) []int {
	match := make([]int, len(toks))
	var open []int
	for i, t := range toks {
		match[i] = -1
		switch t.text {
		case "(", "[":
			open = append(open, i)
		case ")", "]":
			if n := len(open); n > 0 {
				match[i], match[open[n-1]] = open[n-1], i
				open = open[:n-1]
			}
		}
	}
	return match
}

// integerLiteral reports whether toks are an integer written out: digits, maybe after a
// minus.
func integerLiteral(toks []castToken) bool {
	if len(toks) == 2 && toks[0].text == "-" {
		toks = toks[1:]
	}
	return len(toks) == 1 && toks[0].kind == 'n' && strings.Trim(toks[0].text, "0123456789") == ""
}

// subscriptOperandStart is where the operand of a subscript that follows toks[i] starts,
// or -1: an operand castOperandStart tells, another subscript's, or an array literal.
func subscriptOperandStart(toks []castToken, match []int, i int) int {
	if i < 0 {
		return -1
	}
	if toks[i].text == "]" {
		o := match[i]
		if o < 0 {
			return -1
		}
		if from := subscriptOperandStart(toks, match, o-1); from >= 0 {
			return from // e[0][1]
		}
		if o == 0 || toks[o-1].kind == 'p' && toks[o-1].text != ")" && toks[o-1].text != "]" ||
			toks[o-1].kind == 'w' && operatorWord(toks[o-1].text) && toks[o-1].text != "ARRAY" {
			return o // an array literal: [1, 2][0]
		}
		return -1
	}
	if toks[i].kind == 'w' && typeWord(toks[i].text) && (i == 0 || toks[i-1].text != ".") {
		return -1 // a type: INT[3]
	}
	// A field of a subscript's or a parenthesized operand: a[0].f[0], (s).f[0].
	j := i
	for j >= 2 && toks[j].kind == 'w' && toks[j-1].text == "." && (toks[j-2].kind == 'w' || toks[j-2].kind == 'q') {
		j -= 2
	}
	if j >= 2 && (toks[j].kind == 'w' || toks[j].kind == 'q') && toks[j-1].text == "." && (toks[j-2].text == "]" || toks[j-2].text == ")") {
		return subscriptOperandStart(toks, match, j-2)
	}
	from := castOperandStart(toks, match, i)
	if from > 0 && (toks[from-1].kind == 'q' || toks[from-1].kind == 'w' && (!operatorWord(toks[from-1].text) || toks[from-1].text == "AS")) {
		return -1 // a type after a column's name (a STRUCT(f INT)[3]) or an AS, not an operand
	}
	return from
}

// typeWord reports whether w names one of DuckDB's types, which a "[n]" after it makes a
// fixed-size array's.
func typeWord(w string) bool {
	switch w {
	case "INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "LONG", "SHORT", "BYTE", "HUGEINT", "UBIGINT", "UINTEGER",
		"USMALLINT", "UTINYINT", "DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC", "BOOLEAN", "BOOL", "VARCHAR", "STRING",
		"TEXT", "BLOB", "BINARY", "DATE", "TIME", "TIMESTAMP", "TIMESTAMPTZ", "TIMESTAMP_NTZ", "INTERVAL", "UUID", "JSON":
		return true
	}
	return false
}
