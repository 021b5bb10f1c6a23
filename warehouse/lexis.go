package warehouse

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// fromDatabricksLexis reads stmt as Spark's lexer does and writes it in DuckDB's forms,
// before anything else reads it, so that the warehouse's own scanners and DuckDB see the
// tokens Databricks would:
//   - a comment (`--` to the end of its line, a line's end escaped by a backslash going
//     on; a bracketed one, nested) becomes a blank, and so do Spark's other blanks
//     (form feed, vertical tab, no-break and the other Unicode spaces it knows);
//   - a name in backticks (`a b`, a backtick in it doubled) becomes a double-quoted name;
//   - a string in single or double quotes becomes a single-quoted DuckDB string, its
//     backslash escapes applied as Spark applies them (\n, \t, \', \uXXXX, \UXXXXXXXX, \ooo
//     for octal 000 to 177, \% and \_ kept with their backslash, \c for any other c);
//   - a raw string (r'…', R"…") keeps every character between its quotes;
//   - a BINARY literal (X'4142', an odd number of digits read with a 0 before them)
//     becomes DuckDB's from_hex('4142');
//   - strings written one after the other, with blanks or comments between them, are
//     one string ('a' 'b' is 'ab'); a quote doubled inside a string therefore ends it
//     and starts another, and the SQL-standard spelling of it's reads as "its", as on
//     Databricks;
//   - a number with one of Spark's type suffixes (1L, 1S, 1Y, 1.5D, 1.5F, 1.5BD) is a
//     cast to that type, with a minus that starts the operand inside it (-128Y); digits
//     that run on into a name longer than the number are that name, double-quoted
//     (1col, 0x1F), as Spark's lexer takes the longest token; a DATE literal in one of
//     Spark's shorter forms (DATE'2020', DATE'2020-6') is written out in full; <=> is
//     IS NOT DISTINCT FROM;
//   - a LIKE or ILIKE pattern written as a string with a backslash in it, and no ESCAPE,
//     gets ESCAPE '\', Spark's default, where the string ends the pattern (not one
//     given as a parameter, nor one an operator joins to more).
//
// A NUL (\0), which no DuckDB statement text can hold, becomes chr(0) in a concatenation.
// A string follows a word or an & after a blank, so that DuckDB reads no prefix of its
// own (E'…', U&'…') where Spark has none. What Spark's lexer refuses fails here with
// PARSE_SYNTAX_ERROR: a string, a name or a comment left open, a NUL outside a string,
// and a $ that starts no dollar-quoted body where a token starts (a$b$, DuckDB's $1).
func fromDatabricksLexis(stmt string) (string, error) {
	out := make([]byte, 0, len(stmt)+8)
	for i := 0; i < len(stmt); {
		c := stmt[i]
		if j, err := sparkComment(stmt, i); err != nil {
			return "", err
		} else if j > i {
			out = append(out, ' ')
			i = j
			continue
		}
		if n := sparkSpace(stmt, i); n > 0 {
			if c == '\t' || c == '\r' || c == '\n' {
				out = append(out, c)
			} else {
				out = append(out, ' ')
			}
			i += n
			continue
		}
		switch {
		case c == 0:
			return "", &lexError{message: `Syntax error at or near '\0'.`}
		case c == '$':
			// A dollar-quoted body ($$…$$, $tag$…$tag$, as Databricks' CREATE FUNCTION
			// takes) where a token starts; no $ goes anywhere else.
			if nameBefore(stmt, i) {
				return "", dollarError()
			}
			j := skipDollarQuoted(stmt, i)
			if j == i {
				return "", dollarError()
			}
			tag := stmt[i : strings.IndexByte(stmt[i+1:], '$')+i+2]
			if j-i < 2*len(tag) || !strings.HasSuffix(stmt[:j], tag) || strings.IndexByte(stmt[i:j], 0) >= 0 {
				return "", openStringError() // left open (or holding a NUL)
			}
			out = append(out, stmt[i:j]...)
			i = j
			continue
		case c == '`':
			name, j, ok := backquotedName(stmt, i)
			if !ok || strings.IndexByte(name, 0) >= 0 {
				return "", &lexError{message: "Syntax error at or near '`': the name is not closed."}
			}
			out = append(out, '"')
			out = append(out, strings.ReplaceAll(name, `"`, `""`)...)
			out = append(out, '"')
			i = j
			continue
		case (c == 'x' || c == 'X') && (i == 0 || !isIdentPart(stmt[i-1]) && stmt[i-1] != '.') && identEnd(stmt, i) == i+1:
			k, err := skipSpark(stmt, i+1)
			if err != nil {
				return "", err
			}
			if k == len(stmt) || stmt[k] != '\'' && stmt[k] != '"' {
				break
			}
			var value strings.Builder
			end, ok := sparkString(stmt, k, &value)
			if !ok {
				return "", openStringError()
			}
			hex := value.String()
			if len(hex)%2 != 0 {
				hex = "0" + hex // as Spark reads an odd number of digits
			}
			out = append(out, "from_hex("...)
			out = appendDuckString(out, hex)
			out = append(out, ')')
			i = end
			continue
		case isDigit(c) || c == '.' && i+1 < len(stmt) && isDigit(stmt[i+1]):
			if nameBefore(stmt, i) {
				break // inside a name
			}
			end, lit := sparkNumber(stmt, i)
			w := i // where a name that starts here would end
			for nameGoesOn(stmt, w) {
				_, n := utf8.DecodeRuneInString(stmt[w:])
				w += n
			}
			if w > end {
				// Digits that run on into a name longer than the number are that name
				// (1col, 0x1F, 1e3x): Spark's lexer reads the longest token.
				out = append(out, '"')
				out = append(out, stmt[i:w]...)
				out = append(out, '"')
				i = w
				continue
			}
			if i > 0 && stmt[i-1] == '.' {
				break // after a name's dot: no number of Spark's
			}
			out = negateInto(out, &lit, lit == stmt[i:end] && castFollows(stmt, end))
			out = append(out, lit...)
			i = end
			continue
		case c == '<' && strings.HasPrefix(stmt[i:], "<=>"):
			out = append(out, " IS NOT DISTINCT FROM "...) // Spark's null-safe equality
			i += 3
			continue
		case stringStart(stmt, i):
			var value strings.Builder
			j := i
			for {
				end, ok := sparkString(stmt, j, &value)
				if !ok {
					return "", openStringError()
				}
				k, err := skipSpark(stmt, end)
				if err != nil {
					return "", err
				}
				if k == len(stmt) || !stringStart(stmt, k) {
					j = end
					break
				}
				j = k
			}
			v := value.String()
			if wordBefore(out, "DATE") {
				v = sparkDate(v)
			}
			like := strings.IndexByte(v, '\\') >= 0 && wordBefore(out, "LIKE", "ILIKE")
			if n := len(out); n > 0 && (isIdentPart(out[n-1]) || out[n-1] == '&' || out[n-1] >= 0x80) {
				out = append(out, ' ')
			}
			out = appendDuckString(out, v)
			if like {
				if k, err := skipSpark(stmt, j); err != nil {
					return "", err
				} else if endsPattern(stmt, k) {
					// Spark's LIKE escapes with a backslash by default; DuckDB's with
					// nothing unless told.
					out = append(out, ` ESCAPE '\'`...)
				}
			}
			i = j
			continue
		}
		out = append(out, c)
		i++
	}
	return string(out), nil
}

// lexError is what Spark's lexer refuses: a parse error.
type lexError struct {
	class   string // PARSE_SYNTAX_ERROR when empty
	message string
}

func (e *lexError) Error() string { return e.message }

func dollarError() error { return &lexError{message: "Syntax error at or near '$'."} }

func openStringError() error {
	return &lexError{message: "Syntax error at or near end of input: a string is not closed."}
}

// sparkComment returns where the comment that starts at s[i] ends, or i when none does.
// A line comment runs to its line's end (\r or \n, not included), a backslash before a
// \n taking it on to the next line; a bracketed one nests, and one left open is an error.
func sparkComment(s string, i int) (int, error) {
	switch {
	case strings.HasPrefix(s[i:], "--"):
		for j := i + 2; j < len(s); j++ {
			switch s[j] {
			case '\\':
				if j+1 < len(s) && s[j+1] == '\n' {
					j++
				}
			case '\r', '\n':
				return j, nil
			}
		}
		return len(s), nil
	case strings.HasPrefix(s[i:], "/*"):
		if end, ok := bracketedEnd(s, i); ok {
			return end, nil
		}
		return 0, &lexError{class: "UNCLOSED_BRACKETED_COMMENT",
			message: "Found an unclosed bracketed comment. Please, append */ at the end of the comment."}
	}
	return i, nil
}

// sparkSpace returns the length of the blank Spark's lexer knows that starts at s[i]
// (0 when none does): ASCII's, and the Unicode spaces of its WS rule.
func sparkSpace(s string, i int) int {
	switch c := s[i]; {
	case c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == '\v':
		return 1
	case c < 0x80:
		return 0
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	if isUnicodeSpace(r) {
		return n
	}
	return 0
}

func isUnicodeSpace(r rune) bool {
	switch {
	case r == 0x00a0, r == 0x1680, r >= 0x2000 && r <= 0x200a, r == 0x2028, r == 0x202f, r == 0x205f, r == 0x3000:
		return true
	}
	return false
}

// skipSpark returns where the next token after s[i] starts: past blanks and comments.
func skipSpark(s string, i int) (int, error) {
	for i < len(s) {
		j, err := sparkComment(s, i)
		if err != nil {
			return 0, err
		}
		if j > i {
			i = j
			continue
		}
		n := sparkSpace(s, i)
		if n == 0 {
			break
		}
		i += n
	}
	return i, nil
}

// endsPattern reports whether a LIKE pattern ends before the token at s[k]: the end of
// the statement, a closing or separating punctuation mark, or a word (AND, ESCAPE, …)
// rather than an operator that joins more to it.
func endsPattern(s string, k int) bool {
	if k == len(s) {
		return true
	}
	switch c := s[k]; {
	case c == ')' || c == ',' || c == ';':
		return true
	case isIdentStart(c):
		return !strings.EqualFold(s[k:identEnd(s, k)], "ESCAPE")
	}
	return false
}

// stringStart reports whether a string literal starts at s[i]: a quote, or r or R
// before one where no name goes on (ar'x' is the name ar and the string 'x').
func stringStart(s string, i int) bool {
	switch s[i] {
	case '\'', '"':
		return true
	case 'r', 'R':
		return i+1 < len(s) && (s[i+1] == '\'' || s[i+1] == '"') && (i == 0 || !isIdentPart(s[i-1]))
	}
	return false
}

// backquotedName reads the name in backticks at s[i] and returns it with where it ends;
// ok is false when no backtick closes it.
func backquotedName(s string, i int) (name string, end int, ok bool) {
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		if s[j] != '`' {
			b.WriteByte(s[j])
			continue
		}
		if j+1 < len(s) && s[j+1] == '`' {
			b.WriteByte('`')
			j++
			continue
		}
		return b.String(), j + 1, true
	}
	return "", len(s), false
}

// sparkString appends to value the value of the string literal at s[i] (see
// fromDatabricksLexis) and returns where the literal ends; ok is false when no quote
// closes it.
func sparkString(s string, i int, value *strings.Builder) (end int, ok bool) {
	if c := s[i]; c == 'r' || c == 'R' {
		q := s[i+1]
		k := strings.IndexByte(s[i+2:], q)
		if k < 0 {
			return len(s), false
		}
		value.WriteString(s[i+2 : i+2+k])
		return i + 2 + k + 1, true
	}
	q := s[i]
	for j := i + 1; j < len(s); {
		c := s[j]
		switch {
		case c == q:
			return j + 1, true
		case c != '\\':
			value.WriteByte(c)
			j++
			continue
		case j+1 >= len(s):
			return len(s), false
		}
		j = unescape(s, j, value)
	}
	return len(s), false
}

// unescape appends the character the backslash escape at s[j] stands for, as Spark's
// unescapeSQLString reads it, and returns where the escape ends. s[j+1] exists.
func unescape(s string, j int, value *strings.Builder) int {
	switch e := s[j+1]; {
	case e == 'u' && hexDigits(s, j+2, 4):
		r, _ := strconv.ParseUint(s[j+2:j+6], 16, 32)
		next := j + 6
		if utf16.IsSurrogate(rune(r)) {
			// A pair written as two escapes is one character, as in Java's string.
			if next+6 <= len(s) && s[next] == '\\' && s[next+1] == 'u' && hexDigits(s, next+2, 4) {
				lo, _ := strconv.ParseUint(s[next+2:next+6], 16, 32)
				if p := utf16.DecodeRune(rune(r), rune(lo)); p != utf8.RuneError {
					value.WriteRune(p)
					return next + 6
				}
			}
			value.WriteRune(utf8.RuneError)
			return next
		}
		value.WriteRune(rune(r))
		return next
	case e == 'U' && hexDigits(s, j+2, 8):
		r, _ := strconv.ParseUint(s[j+2:j+10], 16, 32)
		if r > utf8.MaxRune || utf16.IsSurrogate(rune(r)) {
			r = utf8.RuneError
		}
		value.WriteRune(rune(r))
		return j + 10
	case (e == '0' || e == '1') && j+3 < len(s) && isOctal(s[j+2]) && isOctal(s[j+3]):
		value.WriteByte((e-'0')<<6 | (s[j+2]-'0')<<3 | (s[j+3] - '0'))
		return j + 4
	}
	switch e := s[j+1]; e {
	case '0':
		value.WriteByte(0)
	case 'b':
		value.WriteByte('\b')
	case 'n':
		value.WriteByte('\n')
	case 'r':
		value.WriteByte('\r')
	case 't':
		value.WriteByte('\t')
	case 'Z':
		value.WriteByte(0x1a)
	case '%', '_':
		value.WriteByte('\\')
		value.WriteByte(e)
	default:
		// Any other character stands for itself: the whole of it, when it takes more
		// than one byte.
		_, n := utf8.DecodeRuneInString(s[j+1:])
		value.WriteString(s[j+1 : j+1+n])
		return j + 1 + n
	}
	return j + 2
}

// hexDigits reports whether s holds n hexadecimal digits from i.
func hexDigits(s string, i, n int) bool {
	if i+n > len(s) {
		return false
	}
	for _, c := range []byte(s[i : i+n]) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// appendDuckString appends v as a DuckDB string literal: in single quotes, a quote
// doubled, and a NUL as chr(0) joined to the parts around it.
func appendDuckString(out []byte, v string) []byte {
	if strings.IndexByte(v, 0) < 0 {
		out = append(out, '\'')
		out = append(out, strings.ReplaceAll(v, "'", "''")...)
		return append(out, '\'')
	}
	out = append(out, '(')
	for k, part := range strings.Split(v, "\x00") {
		if k > 0 {
			out = append(out, " || chr(0) || "...)
		}
		out = appendDuckString(out, part)
	}
	return append(out, ')')
}

// wordBefore reports whether the word that ends out, blanks apart, is one of words
// (upper case; out's may be in any case).
func wordBefore(out []byte, words ...string) bool {
	i := len(out)
	for i > 0 && isBlank(out[i-1]) {
		i--
	}
	start := i
	for start > 0 && isIdentPart(out[start-1]) {
		start--
	}
	for _, w := range words {
		if strings.EqualFold(string(out[start:i]), w) {
			return true
		}
	}
	return false
}

// sparkNumber reads the number at s[i] and returns where it ends and what DuckDB is to
// read: the number as written, or, with one of Spark's type suffixes (L, S, Y for an
// integer; D, F, BD for any number; in any case, and no name going on after it), a cast
// to that type. A BD number is a DECIMAL of its own digits' precision and scale, as
// Spark's BigDecimal literal.
func sparkNumber(s string, i int) (end int, lit string) {
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	integer := true
	if j < len(s) && s[j] == '.' {
		integer = false
		for j++; j < len(s) && isDigit(s[j]); j++ {
		}
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && isDigit(s[k]) {
			integer = false
			for j = k; j < len(s) && isDigit(s[j]); j++ {
			}
		}
	}
	num := s[i:j]
	typ, n := "", 1
	switch {
	case j+1 < len(s) && strings.EqualFold(s[j:j+2], "BD"):
		typ, n = "BD", 2
	case j < len(s):
		switch s[j] | 0x20 {
		case 'l':
			typ = "BIGINT"
		case 's':
			typ = "SMALLINT"
		case 'y':
			typ = "TINYINT"
		case 'd':
			typ = "DOUBLE"
		case 'f':
			typ = "FLOAT"
		}
		if !integer && (typ == "BIGINT" || typ == "SMALLINT" || typ == "TINYINT") {
			typ = ""
		}
	}
	if typ == "" || nameGoesOn(s, j+n) {
		return j, num
	}
	if typ == "BD" {
		return j + n, "CAST(" + bigDecimal(num) + ")"
	}
	return j + n, "CAST(" + num + " AS " + typ + ")"
}

// bigDecimal writes num (digits, maybe a point and an exponent) as a DuckDB string cast
// to the DECIMAL Spark gives it: precision the digits, scale those after the point less
// the exponent (none below 0), precision at least the scale.
func bigDecimal(num string) string {
	mant, exp := num, 0
	if k := strings.IndexAny(num, "eE"); k >= 0 {
		mant = num[:k]
		exp, _ = strconv.Atoi(strings.TrimPrefix(num[k+1:], "+"))
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits, scale := intPart+frac, len(frac)-exp
	if scale < 0 {
		digits += strings.Repeat("0", -scale)
		scale = 0
	}
	digits = strings.TrimLeft(digits, "0")
	prec := max(len(digits), 1)
	if len(digits) < scale+1 {
		digits = strings.Repeat("0", scale+1-len(digits)) + digits
	}
	text := digits
	if scale > 0 {
		text = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	return "'" + text + "' AS DECIMAL(" + strconv.Itoa(max(prec, scale)) + "," + strconv.Itoa(scale) + ")"
}

// sparkDate writes a DATE literal's text in the form DuckDB reads when it is in one of
// the shorter forms Spark's takes ([+-]yyyy, yyyy-[m]m, yyyy-[m]m-[d]d, the last maybe
// with a time after a blank or a T, ignored); any other text is returned as it is, for
// DuckDB to read.
func sparkDate(v string) string {
	s := strings.TrimSpace(v)
	sign := ""
	if s != "" && (s[0] == '+' || s[0] == '-') {
		sign, s = s[:1], s[1:]
	}
	fields := [3]string{"", "1", "1"}
	for f := 0; f < 3; f++ {
		k := 0
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if k == 0 || f == 0 && k < 4 || f > 0 && k > 2 {
			return v
		}
		fields[f], s = s[:k], s[k:]
		if s == "" {
			break
		}
		if s[0] == ' ' || s[0] == 'T' {
			if f < 2 {
				return v // a time only after a whole date, as Spark's stringToDate
			}
			break
		}
		if s[0] != '-' || f == 2 {
			return v
		}
		s = s[1:]
	}
	if sign == "+" {
		sign = ""
	}
	pad := func(d string) string { return strings.Repeat("0", 2-len(d)) + d }
	return sign + fields[0] + "-" + pad(fields[1]) + "-" + pad(fields[2])
}

// nameBefore reports whether a name's character comes right before s[i] (an ASCII one,
// or a non-ASCII one other than Spark's Unicode blanks).
func nameBefore(s string, i int) bool {
	if i == 0 {
		return false
	}
	if c := s[i-1]; c < 0x80 {
		return isIdentPart(c)
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return !isUnicodeSpace(r)
}

// nameGoesOn reports whether a name's character starts at s[i] (see nameBefore).
func nameGoesOn(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	if c := s[i]; c < 0x80 {
		return isIdentPart(c)
	}
	return sparkSpace(s, i) == 0
}

// negateInto moves a minus that out ends with into lit, a number Spark reads with its
// sign where the minus starts an operand (see operandMinus): a cast of a number with one
// of Spark's suffixes (-128Y is one literal, the least TINYINT, which 128 cast first
// would not fit; a BD one's minus goes into its quoted digits), or a plain number cast
// by "::" (castAfter), which DuckDB would cast before it negates: -1.5::STRING is
// "-1.5" in Spark, -('1.5') here.
func negateInto(out []byte, lit *string, castAfter bool) []byte {
	var neg string
	switch {
	case strings.HasPrefix(*lit, "CAST('"):
		neg = "CAST('-" + (*lit)[len("CAST('"):]
	case strings.HasPrefix(*lit, "CAST("):
		neg = "CAST(-" + (*lit)[len("CAST("):]
	case castAfter:
		neg = "(-" + *lit + ")"
	default:
		return out
	}
	if rest, ok := operandMinus(out); ok {
		*lit = neg
		return rest
	}
	return out
}

// operandMinus reports whether out ends with a minus that starts an operand (after an
// operator, an opening parenthesis or bracket, a comma or a keyword, but not after a
// name spelled like one: t.by, :limit), and returns out without it.
func operandMinus(out []byte) ([]byte, bool) {
	k := len(out)
	for k > 0 && isBlank(out[k-1]) {
		k--
	}
	if k == 0 || out[k-1] != '-' {
		return out, false
	}
	j := k - 1
	for j > 0 && isBlank(out[j-1]) {
		j--
	}
	if j == 0 {
		return out[:k-1], true
	}
	switch c := out[j-1]; {
	case strings.IndexByte("(,[=<>+-*/%|&^~!", c) >= 0:
		return out[:k-1], true
	case isIdentPart(c):
		w := j
		for w > 0 && isIdentPart(out[w-1]) {
			w--
		}
		if w > 0 && (out[w-1] == '.' || out[w-1] == ':') {
			return out, false // a qualified name's part or a named marker
		}
		if kw := strings.ToUpper(string(out[w:j])); operatorWord(kw) && !endsOperand(kw) {
			return out[:k-1], true
		}
	}
	return out, false
}

// castFollows reports whether "::" follows stmt[i:], after blanks.
func castFollows(stmt string, i int) bool {
	for i < len(stmt) && isBlank(stmt[i]) {
		i++
	}
	return strings.HasPrefix(stmt[i:], "::")
}
