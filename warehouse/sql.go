package warehouse

import (
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/dbtelemetry/dbtelemetry/warehouse/internal/tcli"
)

// statementKind says what shape of result a statement has on Databricks.
type statementKind int

const (
	kindQuery statementKind = iota // returns its own result set
	kindDML                        // returns num_affected_rows (and num_inserted_rows)
	kindDDL                        // returns no result set
)

// classify reads the statement's first keyword, or, after WITH, the keyword of the
// statement its common table expressions lead to (Databricks SQL allows WITH … INSERT).
func classify(stmt string) (statementKind, string) {
	verb := strings.ToUpper(firstKeyword(stmt))
	if verb == "WITH" {
		verb = afterCTEs(stmt)
	}
	switch verb {
	case "INSERT", "UPDATE", "DELETE", "MERGE":
		return kindDML, verb
	case "CREATE", "DROP", "ALTER", "USE", "SET", "RESET", "BEGIN", "START", "COMMIT", "ROLLBACK",
		"ABORT", "END", "TRUNCATE", "GRANT", "REVOKE", "COMMENT", "ANALYZE", "VACUUM", "CHECKPOINT",
		"ATTACH", "DETACH", "INSTALL", "LOAD":
		return kindDDL, verb
	}
	return kindQuery, verb
}

// afterCTEs returns the keyword after WITH's common table expressions that starts a
// statement: INSERT, UPDATE, DELETE, MERGE or SELECT ("WITH" when none is found, a
// query). It is the first word at the top level right after a closing parenthesis (a
// CTE's body) other than AS (after a CTE's column list), so that a CTE named as a verb
// (WITH delete AS …) is no statement.
func afterCTEs(stmt string) string {
	depth := 0
	closed := false // the last token was a ')' back at the top level
	for i := 0; i < len(stmt); i++ {
		if j := skipNoise(stmt, i); j > i {
			closed = false
			i = j - 1
			continue
		}
		switch c := stmt[i]; {
		case isBlank(c):
			continue
		case c == '(':
			depth++
		case c == ')':
			depth--
			closed = depth == 0
			continue
		case isIdentStart(c):
			j := identEnd(stmt, i)
			if w := strings.ToUpper(stmt[i:j]); closed && w != "AS" {
				switch w {
				case "INSERT", "UPDATE", "DELETE", "MERGE", "SELECT":
					return w
				}
			}
			i = j - 1
		}
		closed = false
	}
	return "WITH"
}

// firstKeyword skips white space, comments and opening parentheses.
func firstKeyword(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n(;")
		switch {
		case strings.HasPrefix(s, "--"), strings.HasPrefix(s, "/*"):
			// The lexis leaves no comment; skipNoise reads one as it does elsewhere.
			s = s[skipNoise(s, 0):]
		default:
			end := strings.IndexFunc(s, func(r rune) bool {
				return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
			})
			if end < 0 {
				return s
			}
			return s[:end]
		}
	}
}

// bindParameters rewrites the driver's parameter markers (positional `?`, named `:name`)
// into DuckDB's ($1…, $name) and converts the string-typed values the driver sends into
// typed Go values. Types with no exact Go form (DECIMAL, INTERVAL, …) are bound as
// strings inside an explicit CAST. A TIMESTAMP without a zone is a wall time in loc, the
// session's time zone (nil: UTC).
func bindParameters(stmt string, params []*tcli.TSparkParameter, loc *time.Location) (string, []any, error) {
	if len(params) == 0 {
		return stmt, nil, nil
	}
	named := params[0].Name != nil
	byName := map[string]*tcli.TSparkParameter{}
	for _, p := range params {
		if (p.Name != nil) != named {
			return "", nil, errors.New("positional and named parameters cannot be mixed")
		}
		if named {
			byName[*p.Name] = p
		}
	}
	var out strings.Builder
	args := make([]any, 0, len(params))
	// A named parameter is bound under a name of ours, p1, p2, … in order of first use:
	// DuckDB matches names in any case (Databricks tells :a from :A), and database/sql
	// binds only names that start with a letter (Databricks takes :_a).
	bound := map[string]string{} // the caller's name (and a variant of its value) → ours
	bind := func(key string, v any) string {
		n, ok := bound[key]
		if !ok {
			n = "p" + strconv.Itoa(len(bound)+1)
			bound[key] = n
			args = append(args, sql.Named(n, v))
		}
		return "$" + n
	}
	next := 0
	var trail tokenTrail // the tokens before a marker (see rewriteTimestampLiterals)
	push := trail.push
	// marker writes the reference to p; after is the statement after its marker.
	marker := func(p *tcli.TSparkParameter, ref, after string) error {
		if v, ok := stringAsTimestamp(p, &trail, after); ok {
			// A string the statement casts to TIMESTAMP: read by Spark's rules, as a
			// TIMESTAMP literal is (DuckDB's cast drops an offset). A named one is bound
			// under a name of its own: the string may be used elsewhere as is.
			_, instant := v.(time.Time)
			if named {
				variant := "\x00wall"
				if instant {
					variant = "\x00instant"
				}
				ref = bind(*p.Name+variant, v)
			} else {
				args = append(args, v)
			}
			if instant {
				ref = "CAST(" + ref + " AS TIMESTAMPTZ)"
			}
			out.WriteString(ref)
			return nil
		}
		v, cast, err := paramValue(p, loc)
		if err != nil {
			return err
		}
		if named {
			ref = bind(*p.Name, v)
		} else {
			args = append(args, v)
		}
		for c := range strings.SplitSeq(cast, ">") {
			if c != "" {
				ref = "CAST(" + ref + " AS " + c + ")"
			}
		}
		out.WriteString(ref)
		return nil
	}
	for i := 0; i < len(stmt); i++ {
		c := stmt[i]
		if j := skipNoise(stmt, i); j > i {
			out.WriteString(stmt[i:j]) // a string or a comment: no marker in it
			if c != '-' && c != '/' {
				push(sqlToken{punct: "'"})
			}
			i = j - 1
			continue
		}
		switch {
		case c == ':' && i+1 < len(stmt) && stmt[i+1] == ':':
			out.WriteString("::")
			push(sqlToken{punct: "::"})
			i++
		case c == ':' && named && i+1 < len(stmt) && isIdentStart(stmt[i+1]):
			j := identEnd(stmt, i+1)
			name := stmt[i+1 : j]
			p, ok := byName[name]
			if !ok {
				return "", nil, fmt.Errorf("no value given for parameter :%s", name)
			}
			if err := marker(p, "", stmt[j:]); err != nil {
				return "", nil, err
			}
			push(sqlToken{punct: "?"})
			i = j - 1
		case c == '?' && !named:
			if next >= len(params) {
				return "", nil, fmt.Errorf("statement has more ? markers than the %d parameters given", len(params))
			}
			if err := marker(params[next], "$"+strconv.Itoa(next+1), stmt[i+1:]); err != nil {
				return "", nil, err
			}
			push(sqlToken{punct: "?"})
			next++
		case isIdentStart(c) || c == '$' || isDigit(c):
			j := identEnd(stmt, i+1) // a word, or a DuckDB $1 or a number, whole
			out.WriteString(stmt[i:j])
			push(sqlToken{word: strings.ToUpper(stmt[i:j])})
			i = j - 1
		default:
			out.WriteByte(c)
			switch {
			case c == '(':
				push(sqlToken{punct: "("})
			case !isBlank(c):
				push(sqlToken{punct: string(c)})
			}
		}
	}
	if !named && next != len(params) {
		return "", nil, fmt.Errorf("statement has %d ? markers but %d parameters were given", next, len(params))
	}
	return out.String(), args, nil
}

// stringAsTimestamp is the value to bind for p, a STRING parameter, when the statement
// casts it to TIMESTAMP (CAST(? AS TIMESTAMP), ?::TIMESTAMP; trail holds the tokens
// before its marker, after the statement after it) and Spark's rules read it: the
// instant (a time.Time) when it names its zone, else the wall time written out in full.
func stringAsTimestamp(p *tcli.TSparkParameter, trail *tokenTrail, after string) (any, bool) {
	typ := strings.ToUpper(strings.TrimSpace(p.GetType()))
	if typ != "" && typ != "STRING" || p.Value == nil || p.Value.StringValue == nil {
		return nil, false
	}
	if !trail.castOperand(after) {
		return nil, false
	}
	ts, ok := parseSparkTimestamp(*p.Value.StringValue)
	switch {
	case !ok:
		return nil, false
	case ts.zone != nil:
		return ts.instantIn(nil), true
	}
	return ts.wall.Format(sqlTimestampLayout), true
}

// multipleStatements reports whether s holds more than one statement: text other than
// blanks, comments and ';' after a top-level ';'. Databricks SQL runs one statement per
// execute (Spark's grammar: statement ';'* EOF); DuckDB would run them all and answer
// with the last one's result.
func multipleStatements(s string) bool {
	seen, ended := false, false // a statement began; a ';' ended it
	for i := 0; i < len(s); {
		c := s[i]
		if j := skipNoise(s, i); j != i {
			if c != '-' && c != '/' { // a quoted name or literal, no comment
				if ended {
					return true
				}
				seen = true
			}
			i = j
			continue
		}
		switch {
		case c == ';':
			ended = seen
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		case ended:
			return true
		default:
			seen = true
		}
		i++
	}
	return false
}

// multipleStatementsError is the answer to more than one statement in one execute, in
// Databricks' words: a parse error, as the lexis's.
func multipleStatementsError() error {
	return &lexError{message: "Syntax error at or near ';': extra input ';'."}
}

// skipNoise returns where the quoted string or comment that starts at s[i] ends (the
// end of s when it is not closed; a line comment ends before its newline), or i when
// none starts there. Bracketed comments nest, as in Databricks SQL and DuckDB; a
// dollar-quoted string ($$…$$, $tag$…$tag$) is DuckDB's.
func skipNoise(s string, i int) int {
	switch c := s[i]; {
	case c == '\'' || c == '"' || c == '`':
		return skipQuoted(s, i)
	case strings.HasPrefix(s[i:], "--"):
		if j := strings.IndexAny(s[i:], "\r\n"); j >= 0 {
			return i + j
		}
		return len(s)
	case strings.HasPrefix(s[i:], "/*"):
		end, _ := bracketedEnd(s, i)
		return end
	case c == '$':
		return skipDollarQuoted(s, i)
	}
	return i
}

// bracketedEnd returns where the bracketed comment at s[i] ends, nested ones in it; ok is
// false when it is left open (end is then the end of s).
func bracketedEnd(s string, i int) (end int, ok bool) {
	depth := 0
	for j := i; j+1 < len(s); j++ {
		switch s[j : j+2] {
		case "/*":
			depth++
			j++
		case "*/":
			depth--
			j++
			if depth == 0 {
				return j + 1, true
			}
		}
	}
	return len(s), false
}

// skipDollarQuoted returns where the dollar-quoted string at s[i] ends ($$…$$ or
// $tag$…$tag$, the tag an identifier), or i when none starts there ($1 is a parameter).
func skipDollarQuoted(s string, i int) int {
	j := i + 1
	for j < len(s) && (isIdentPart(s[j]) && (j > i+1 || isIdentStart(s[j]))) {
		j++
	}
	if j >= len(s) || s[j] != '$' {
		return i
	}
	tag := s[i : j+1]
	if k := strings.Index(s[j+1:], tag); k >= 0 {
		return j + 1 + k + len(tag)
	}
	return len(s)
}

func skipQuoted(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		if s[j] == q {
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isIdentStart(c byte) bool { return c == '_' || isLetter(c) }

func isIdentPart(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// identEnd returns where the identifier's characters that start at s[i] end.
func identEnd(s string, i int) int {
	for i < len(s) && isIdentPart(s[i]) {
		i++
	}
	return i
}

// paramValue converts one driver parameter; cast is non-empty when the value is bound
// inside casts by SQL, to the types it names in order, separated by '>'. loc is the
// session's time zone (see bindParameters).
func paramValue(p *tcli.TSparkParameter, loc *time.Location) (v any, cast string, err error) {
	typ := strings.ToUpper(strings.TrimSpace(p.GetType()))
	if typ == "" {
		typ = "STRING"
	}
	if p.Value == nil || p.Value.StringValue == nil || typ == "VOID" {
		if p.Value != nil && p.Value.DoubleValue != nil {
			return *p.Value.DoubleValue, "", nil
		}
		if p.Value != nil && p.Value.BooleanValue != nil {
			return *p.Value.BooleanValue, "", nil
		}
		return nil, "", nil
	}
	s := *p.Value.StringValue
	// A value its type cannot read: the parse error is not passed on, it quotes the value.
	bad := func() (any, string, error) { return nil, "", &castInputError{typ: typ} }
	switch {
	case intBits[typ] > 0:
		// Typed at its width, as Databricks types it (a Parameter of SqlInteger comes
		// back as an int32); database/sql hands the driver every Go int as an int64,
		// which it sends as a BIGINT.
		bits := intBits[typ]
		n, err := strconv.ParseInt(s, 10, bits)
		switch {
		case errors.Is(err, strconv.ErrRange):
			return nil, "", &overflowError{typ: typ}
		case err != nil:
			return bad()
		case bits < 64:
			return n, intCast[bits], nil
		}
		return n, "", nil
	case typ == "DOUBLE" || typ == "FLOAT" || typ == "REAL":
		bits := 64
		if typ != "DOUBLE" {
			bits = 32 // a Parameter of SqlFloat
		}
		f, err := strconv.ParseFloat(s, bits)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return bad()
		}
		if bits == 32 {
			return f, "FLOAT", nil
		}
		return f, "", nil
	case typ == "BOOLEAN":
		b, err := strconv.ParseBool(s)
		if err != nil {
			return bad()
		}
		return b, "", nil
	case typ == "STRING" || strings.HasPrefix(typ, "VARCHAR") || strings.HasPrefix(typ, "CHAR"):
		return s, "", nil
	case strings.HasPrefix(typ, "TIMESTAMP"):
		// Bound inside casts, so that DuckDB types the placeholder by them and not by
		// where it stands (as text in CAST(? AS STRING), which duckdb-go cannot bind a
		// time.Time to): an instant, then its wall time in the session's zone, as a
		// TIMESTAMP literal reads (a string, then, without an offset); a UTC wall time
		// for TIMESTAMP_NTZ.
		castTo := "TIMESTAMPTZ>TIMESTAMP"
		if typ != "TIMESTAMP" {
			castTo = "TIMESTAMP"
		}
		// Read as Databricks casts a STRING to it (the driver sends a time.Time in RFC
		// 3339): with a zone, that instant; without, a wall time in the session's zone,
		// as the session reads a TIMESTAMP literal. TIMESTAMP_NTZ is the wall time
		// written, a zone ignored, as Spark's cast to it ignores one.
		ts, ok := parseSparkTimestamp(s)
		switch {
		case !ok:
			return bad()
		case typ != "TIMESTAMP":
			return ts.wall, castTo, nil
		}
		return ts.instantIn(loc), castTo, nil
	case strings.HasPrefix(typ, "INTERVAL"):
		text, err := intervalText(typ, s)
		if err != nil {
			return bad()
		}
		return text, "INTERVAL", nil
	case typ == "DATE" || strings.HasPrefix(typ, "DECIMAL") || typ == "BINARY":
		castTo := typ
		if typ == "BINARY" {
			castTo = "BLOB"
		}
		return s, castTo, nil
	}
	return nil, "", fmt.Errorf("unsupported parameter type %q", typ)
}

// intBits is the width of each integer parameter type.
var intBits = map[string]int{"TINYINT": 8, "BYTE": 8, "SMALLINT": 16, "SHORT": 16, "INT": 32, "INTEGER": 32, "BIGINT": 64, "LONG": 64}

// intCast is the DuckDB type of each narrower width: a bound Go value alone comes back
// as a BIGINT.
var intCast = map[int]string{8: "TINYINT", 16: "SMALLINT", 32: "INTEGER"}

// overflowError is an integer parameter out of its type's range, which Databricks
// reports as CAST_OVERFLOW. The value is not repeated: it is the caller's data.
type overflowError struct{ typ string }

func (e *overflowError) Error() string {
	return fmt.Sprintf("The value of a parameter of the type \"STRING\" cannot be cast to \"%s\" due to an overflow.", e.typ)
}

// decimalRangeError is a value too wide for the DECIMAL its column is sent as, which
// Databricks reports as NUMERIC_VALUE_OUT_OF_RANGE. The value is not repeated: it is the
// caller's data.
type decimalRangeError struct{ precision, scale int }

func (e *decimalRangeError) Error() string {
	return fmt.Sprintf("A value cannot be represented as Decimal(%d, %d).", e.precision, e.scale)
}

// castInputError is a parameter whose value its type cannot read ('abc' as an INT),
// which Databricks reports as CAST_INVALID_INPUT: every marker has its value, so it is no
// UNBOUND_SQL_PARAMETER. The value is not repeated: it is the caller's data.
type castInputError struct{ typ string }

func (e *castInputError) Error() string {
	return fmt.Sprintf("The value of a parameter of the type \"STRING\" cannot be cast to \"%s\" because it is malformed. "+
		"Correct the value as per the syntax, or change its target type. Use `try_cast` to tolerate malformed input and return NULL instead.", e.typ)
}

// Databricks' interval literals: year-month ("1-2") and day-time ("1 02:03:04.5").
var (
	yearMonthRe = regexp.MustCompile(`^([+-]?)(\d+)-(\d+)$`)
	dayTimeRe   = regexp.MustCompile(`^([+-]?)(\d+) (\d+:\d+:\d+(?:\.\d+)?)$`)
	unitsRe     = regexp.MustCompile(`^[+-]?\d+$`)
)

// intervalUnits names the unit of a bare number for each interval qualifier's last field.
var intervalUnits = [][2]string{{"MONTH", "months"}, {"YEAR", "years"}, {"DAY", "days"}, {"HOUR", "hours"}, {"MINUTE", "minutes"}, {"SECOND", "seconds"}}

// intervalText turns an interval parameter into text DuckDB casts to INTERVAL. The
// driver's INTERVAL MONTH and INTERVAL DAY (and Databricks' other qualifiers) give a
// bare number its unit, which DuckDB's CAST ignores; Databricks' literal forms are
// spelled out; anything else ("3 days") is DuckDB's to read.
func intervalText(typ, s string) (string, error) {
	s = strings.TrimSpace(s)
	unit := "" // of the qualifier's last field: INTERVAL YEAR TO MONTH counts months
	for _, u := range intervalUnits {
		if strings.HasSuffix(typ, u[0]) {
			unit = u[1]
			break
		}
	}
	neg := func(sign string) string {
		if sign == "-" {
			return "-"
		}
		return ""
	}
	switch {
	case unit != "" && unitsRe.MatchString(s):
		return s + " " + unit, nil
	case yearMonthRe.MatchString(s):
		m := yearMonthRe.FindStringSubmatch(s)
		return neg(m[1]) + m[2] + " years " + neg(m[1]) + m[3] + " months", nil
	case dayTimeRe.MatchString(s):
		m := dayTimeRe.FindStringSubmatch(s)
		return neg(m[1]) + m[2] + " days " + neg(m[1]) + m[3], nil
	case s == "":
		return "", errors.New("empty interval")
	}
	return s, nil
}

// sqlError is a failed statement as the service reports it.
type sqlError struct {
	state   string // SQLSTATE
	class   string // Databricks error class
	message string
}

// missingNameRe reads the name off DuckDB's messages for a missing table, view, schema
// or function: "Table with name x does not exist!".
var missingNameRe = regexp.MustCompile(`(?:Table|View|Schema|Function) with name (.+?) does not exist`)

// missingName writes Databricks' message for a missing object, format with the name
// DuckDB's message msg gives, in backticks; msg itself when it gives none.
func missingName(msg, format string) string {
	if m := missingNameRe.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf(format, backquoted(m[1]))
	}
	return msg
}

// tableNotFoundHint ends Databricks' TABLE_OR_VIEW_NOT_FOUND message, after the name,
// which Databricks quotes in backticks.
const tableNotFoundHint = "Verify the spelling and correctness of the schema and catalog. " +
	"If you did not qualify the name with a schema, verify the current_schema() output, or qualify the name with the correct schema and catalog."

// backquoted writes a name DuckDB printed (x, "x" or "s.x") as Databricks does: `s`.`x`.
func backquoted(name string) string {
	name = strings.Trim(name, `"!`)
	return "`" + strings.ReplaceAll(name, ".", "`.`") + "`"
}

// divideByZeroMessage is Databricks' message for DIVIDE_BY_ZERO.
const divideByZeroMessage = "Division by zero. Use `try_divide` to tolerate divisor being 0 and return NULL instead. " +
	`If necessary set "ansi_mode" to "false" to bypass this error.`

// remainderByZeroMessage is Databricks' message for REMAINDER_BY_ZERO.
const remainderByZeroMessage = "Remainder by zero. Use `try_mod` to tolerate divisor being 0 and return NULL instead. " +
	`If necessary set "ansi_mode" to "false" to bypass this error.`

// mapError turns a DuckDB error into the SQLSTATE and error class Databricks would report.
func mapError(err error) sqlError {
	var oe *overflowError
	if errors.As(err, &oe) {
		return sqlError{state: "22003", class: "CAST_OVERFLOW", message: oe.Error()}
	}
	var ce *castInputError
	if errors.As(err, &ce) {
		return sqlError{state: "22018", class: "CAST_INVALID_INPUT", message: ce.Error()}
	}
	var re *decimalRangeError
	if errors.As(err, &re) {
		return sqlError{state: "22003", class: "NUMERIC_VALUE_OUT_OF_RANGE", message: re.Error()}
	}
	var cfe *confError
	if errors.As(err, &cfe) {
		return sqlError{state: "22022", class: "INVALID_CONF_VALUE", message: cfe.Error()}
	}
	var ze *zoneError
	if errors.As(err, &ze) {
		return sqlError{state: "22022", class: "INVALID_CONF_VALUE.TIME_ZONE", message: ze.Error()}
	}
	var le *lexError
	if errors.As(err, &le) {
		class := le.class
		if class == "" {
			class = "PARSE_SYNTAX_ERROR"
		}
		return sqlError{state: "42601", class: class, message: le.message}
	}
	var pe *paramError
	if errors.As(err, &pe) || strings.Contains(err.Error(), "incorrect argument count") {
		// Parameters that could not be bound: ours (bindParameters), or duckdb-go's count
		// check, which is no *duckdb.Error.
		return sqlError{state: "42P02", class: "UNBOUND_SQL_PARAMETER", message: err.Error()}
	}
	var de *duckdb.Error
	if !errors.As(err, &de) {
		return sqlError{state: "XX000", class: "INTERNAL_ERROR", message: err.Error()}
	}
	msg := strings.TrimSpace(de.Msg)
	if msg == "" { // duckdb-go's own errors (binding a parameter) leave Msg empty
		msg = strings.TrimSpace(err.Error())
	}
	if i := strings.Index(msg, "\n"); i > 0 {
		msg = msg[:i]
	}
	e := sqlError{message: msg}
	lower := strings.ToLower(msg)
	switch de.Type {
	case duckdb.ErrorTypeCatalog:
		switch {
		case strings.Contains(lower, "already exists"):
			e.state, e.class = "42P07", "TABLE_OR_VIEW_ALREADY_EXISTS"
		case strings.Contains(lower, "table with name") || strings.Contains(lower, "view with name"):
			e.state, e.class = "42P01", "TABLE_OR_VIEW_NOT_FOUND"
			e.message = missingName(msg, "The table or view %s cannot be found. "+tableNotFoundHint)
		case strings.Contains(lower, "schema with name"):
			e.state, e.class = "42704", "SCHEMA_NOT_FOUND"
			e.message = missingName(msg, "The schema %s cannot be found. Verify the spelling and correctness of the schema and catalog.")
		case strings.Contains(lower, "function"):
			e.state, e.class = "42883", "UNRESOLVED_ROUTINE"
			e.message = missingName(msg, "Cannot resolve routine %s on search path.")
		default:
			e.state, e.class = "42704", "CATALOG_ERROR"
		}
	case duckdb.ErrorTypeParser, duckdb.ErrorTypeSyntax:
		e.state, e.class = "42601", "PARSE_SYNTAX_ERROR"
	case duckdb.ErrorTypeBinder:
		if strings.Contains(lower, "column") && strings.Contains(lower, "not found") {
			e.state, e.class = "42703", "UNRESOLVED_COLUMN"
		} else {
			e.state, e.class = "42000", "ANALYSIS_ERROR"
		}
	case duckdb.ErrorTypeInvalidInput, duckdb.ErrorTypeConversion, duckdb.ErrorTypeMismatchType, duckdb.ErrorTypeInvalidType:
		if r, ok := raisedError(de.Type, msg); ok { // the warehouse's macros and casts
			e = r
			break
		}
		e.state, e.class = "22018", "CAST_INVALID_INPUT"
		switch {
		case strings.Contains(lower, "out of range"):
			e.state, e.class = "22003", "CAST_OVERFLOW"
		case strings.Contains(lower, "could not cast value") && strings.Contains(lower, " to decimal("):
			// A number too wide for the DECIMAL it is cast to (DuckDB names no string so).
			e.state, e.class = "22003", "NUMERIC_VALUE_OUT_OF_RANGE"
		}
	case duckdb.ErrorTypeOutOfRange:
		e.state, e.class = "22003", "NUMERIC_VALUE_OUT_OF_RANGE"
	case duckdb.ErrorTypeDivideByZero:
		e.state, e.class = "22012", "DIVIDE_BY_ZERO"
	case duckdb.ErrorTypeConstraint:
		e.state, e.class = "23000", "CONSTRAINT_VIOLATION"
	case duckdb.ErrorTypeTransaction:
		e.state, e.class = "40001", "TRANSACTION_CONFLICT"
	case duckdb.ErrorTypeInterrupt:
		e.state, e.class = "57014", "OPERATION_CANCELED"
	case duckdb.ErrorTypePermission:
		e.state, e.class = "42501", "INSUFFICIENT_PERMISSIONS"
	case duckdb.ErrorTypeParameterNotResolved, duckdb.ErrorTypeParameterNotAllowed:
		e.state, e.class = "42P02", "UNBOUND_SQL_PARAMETER"
	case duckdb.ErrorTypeOutOfMemory:
		e.state, e.class = "53200", "OUT_OF_MEMORY"
	default:
		e.state, e.class = "XX000", "INTERNAL_ERROR"
	}
	return e
}

// raisedError is the Databricks error an error the warehouse's own macros (ansiArithmetic)
// and casts (integralCast) raise stands for: its message starts with a marker (the first
// in it: a value quoted after it may hold another). A fixed message replaces what follows
// the marker; else that is the message.
func raisedError(typ duckdb.ErrorType, msg string) (sqlError, bool) {
	if typ != duckdb.ErrorTypeInvalidInput {
		return sqlError{}, false
	}
	var found sqlError
	first := len(msg)
	for _, r := range []struct{ marker, state, class, message string }{
		{divideByZeroMarker, "22012", "DIVIDE_BY_ZERO", divideByZeroMessage},
		{remainderByZeroMarker, "22012", "REMAINDER_BY_ZERO", remainderByZeroMessage},
		{castOverflowMarker, "22003", "CAST_OVERFLOW", ""},
		{castMismatchMarker, "42K09", "DATATYPE_MISMATCH", ""},
		{castInvalidMarker, "22018", "CAST_INVALID_INPUT", ""},
	} {
		k := strings.Index(msg, r.marker)
		if k < 0 || k >= first {
			continue
		}
		if r.message == "" {
			r.message = msg[k+len(r.marker):] + "."
		}
		found, first = sqlError{state: r.state, class: r.class, message: r.message}, k
	}
	return found, first < len(msg)
}

// display renders the message as Databricks does: "[CLASS] message SQLSTATE: xxxxx".
func (e sqlError) display() string {
	return fmt.Sprintf("[%s] %s SQLSTATE: %s", e.class, e.message, e.state)
}
