package warehouse

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// fromDatabricksLexis rewrites the string literals and quoted names of stmt from
// Databricks SQL's forms (Spark's lexer) to DuckDB's, before anything else reads it:
//   - a name in backticks (`a b`, a backtick in it doubled) becomes a double-quoted name;
//   - a string in single or double quotes becomes a single-quoted DuckDB string, its
//     backslash escapes applied as Spark applies them (\n, \t, \', \uXXXX, \UXXXXXXXX, \ooo
//     for octal 000 to 177, \% and \_ kept with their backslash, \c for any other c);
//   - a raw string (r'…', R"…") keeps every character between its quotes;
//   - a BINARY literal (X'4142', an odd number of digits read with a 0 before them)
//     becomes DuckDB's from_hex('4142');
//   - strings written one after the other, with or without blanks between them, are one
//     string ('a' 'b' is 'ab'); a quote doubled inside a string therefore ends it and
//     starts another, and the SQL-standard spelling of it's reads as "its", as on
//     Databricks;
//   - a LIKE or ILIKE pattern written as a string with a backslash in it, and no ESCAPE,
//     gets ESCAPE '\', Spark's default (a pattern given as a parameter does not).
//
// A NUL (\0), which no DuckDB statement text can hold, becomes chr(0) in a concatenation.
// Comments and DuckDB's dollar-quoted strings are copied as they are. A string or a name
// left open runs to the end of stmt, copied as it is for DuckDB to refuse.
func fromDatabricksLexis(stmt string) string {
	if !strings.ContainsAny(stmt, "'\"`") {
		return stmt
	}
	var b strings.Builder
	b.Grow(len(stmt) + 8)
	for i := 0; i < len(stmt); {
		c := stmt[i]
		switch {
		case c == '-' || c == '/' || c == '$':
			if j := skipNoise(stmt, i); j > i {
				b.WriteString(stmt[i:j])
				i = j
				continue
			}
		case c == '`':
			name, j, ok := backquotedName(stmt, i)
			if !ok {
				b.WriteString(stmt[i:])
				return b.String()
			}
			b.WriteByte('"')
			b.WriteString(strings.ReplaceAll(name, `"`, `""`))
			b.WriteByte('"')
			i = j
			continue
		case (c == 'x' || c == 'X') && identEnd(stmt, i) == i+1 && (i == 0 || !isIdentPart(stmt[i-1]) && stmt[i-1] != '.'):
			k := i + 1
			for k < len(stmt) && isBlank(stmt[k]) {
				k++
			}
			if k == len(stmt) || stmt[k] != '\'' && stmt[k] != '"' {
				break
			}
			var value strings.Builder
			end, ok := sparkString(stmt, k, &value)
			if !ok {
				b.WriteString(stmt[i:])
				return b.String()
			}
			hex := value.String()
			if len(hex)%2 != 0 {
				hex = "0" + hex // as Spark reads an odd number of digits
			}
			b.WriteString("from_hex(")
			writeDuckString(&b, hex)
			b.WriteByte(')')
			i = end
			continue
		case stringStart(stmt, i):
			var value strings.Builder
			j := i
			for {
				end, ok := sparkString(stmt, j, &value)
				if !ok {
					b.WriteString(stmt[i:])
					return b.String()
				}
				k := end
				for k < len(stmt) && isBlank(stmt[k]) {
					k++
				}
				if k == len(stmt) || !stringStart(stmt, k) {
					j = end
					break
				}
				j = k
			}
			v := value.String()
			writeDuckString(&b, v)
			if strings.IndexByte(v, '\\') >= 0 && wordBefore(stmt, i, "LIKE", "ILIKE") && !wordAfter(stmt, j, "ESCAPE") {
				// Spark's LIKE escapes with a backslash by default; DuckDB's with
				// nothing unless told.
				b.WriteString(` ESCAPE '\'`)
			}
			i = j
			continue
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
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

// writeDuckString writes v as a DuckDB string literal: in single quotes, a quote
// doubled, and a NUL as chr(0) joined to the parts around it.
func writeDuckString(b *strings.Builder, v string) {
	if !strings.Contains(v, "\x00") {
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(v, "'", "''"))
		b.WriteByte('\'')
		return
	}
	b.WriteByte('(')
	for k, part := range strings.Split(v, "\x00") {
		if k > 0 {
			b.WriteString(" || chr(0) || ")
		}
		writeDuckString(b, part)
	}
	b.WriteByte(')')
}

// wordBefore reports whether the word that ends before s[i], blanks apart, is one of
// words (upper case; s's may be in any case).
func wordBefore(s string, i int, words ...string) bool {
	for i > 0 && isBlank(s[i-1]) {
		i--
	}
	start := i
	for start > 0 && isIdentPart(s[start-1]) {
		start--
	}
	for _, w := range words {
		if strings.EqualFold(s[start:i], w) {
			return true
		}
	}
	return false
}

// wordAfter reports whether the word that starts after s[j], blanks apart, is word
// (upper case; s's may be in any case).
func wordAfter(s string, j int, word string) bool {
	for j < len(s) && isBlank(s[j]) {
		j++
	}
	return strings.EqualFold(s[j:identEnd(s, j)], word)
}
