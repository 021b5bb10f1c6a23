package warehouse

import "strings"

// defaultDecimal is what a DECIMAL (NUMERIC, DEC) without a precision is on Databricks:
// DECIMAL(10,0). DuckDB's is DECIMAL(18,3).
const defaultDecimal = "DECIMAL(10,0)"

// sqlToken is one token of a statement, as the statement scanners (rewriteBareDecimal,
// rewriteTimestampLiterals, bindParameters) read them: a word (an identifier or a
// keyword, upper-cased), a quoted name, or a punctuation mark ("'" for a string, "?" for
// a parameter's marker). Comments are no tokens.
type sqlToken struct {
	word      string // upper-cased, when a word
	start     int    // where the word starts (set by rewriteTimestampLiterals)
	qualified bool   // the word follows a '.' (t.timestamp)
	quoted    bool   // a quoted name ("a b", `a b`)
	punct     string // "(", ")", ",", "::" or another single mark
}

// rewriteBareDecimal writes a DECIMAL, NUMERIC or DEC type given without a precision as
// Databricks reads it, DECIMAL(10,0), where the word names a type: after "::", after the
// AS of a CAST or TRY_CAST, and in a CREATE or ALTER statement after a column's name (or
// after TYPE). Elsewhere (a name, an alias, a string, a comment) it stays.
func rewriteBareDecimal(stmt string) string {
	if !containsFoldASCII(stmt, "dec") && !containsFoldASCII(stmt, "numeric") {
		return stmt
	}
	verb := strings.ToUpper(firstKeyword(stmt))
	ddl := verb == "CREATE" || verb == "ALTER"
	var (
		b            strings.Builder
		last         int // stmt[:last] is written
		prev1, prev2 sqlToken
		openers      []string // the word before each open '(' ("" when none)
	)
	push := func(t sqlToken) {
		prev2, prev1 = prev1, t
		if ddl && t.word == "AS" && len(openers) == 0 {
			ddl = false // CREATE … AS: a query follows, whose words name no column's type
		}
	}
	for i := 0; i < len(stmt); i++ {
		c := stmt[i]
		if j := skipNoise(stmt, i); j > i {
			if c == '"' || c == '`' {
				push(sqlToken{quoted: true})
			} else if c == '\'' || c == '$' {
				push(sqlToken{punct: "'"})
			}
			i = j - 1
			continue
		}
		switch {
		case isBlank(c):
		case isIdentStart(c):
			j := identEnd(stmt, i)
			w := strings.ToUpper(stmt[i:j])
			if (w == "DECIMAL" || w == "NUMERIC" || w == "DEC") && !nextIs(stmt, j, '(') &&
				decimalTypePosition(prev1, prev2, openers, ddl && endsColumnType(stmt, j)) {
				b.WriteString(stmt[last:i])
				b.WriteString(defaultDecimal)
				last = j
			}
			push(sqlToken{word: w})
			i = j - 1
		case c == '(':
			openers = append(openers, prev1.word)
			push(sqlToken{punct: "("})
		case c == ')':
			if len(openers) > 0 {
				openers = openers[:len(openers)-1]
			}
			push(sqlToken{punct: ")"})
		case c == ':' && i+1 < len(stmt) && stmt[i+1] == ':':
			push(sqlToken{punct: "::"})
			i++
		default:
			push(sqlToken{punct: string(c)})
		}
	}
	if last == 0 {
		return stmt
	}
	b.WriteString(stmt[last:])
	return b.String()
}

// decimalTypePosition reports whether a word after the tokens prev2, prev1 stands where
// a type is named (see rewriteBareDecimal); openers are the open parentheses' words.
func decimalTypePosition(prev1, prev2 sqlToken, openers []string, ddl bool) bool {
	switch {
	case prev1.punct == "::":
		return true
	case prev1.word == "AS":
		if len(openers) == 0 {
			return false
		}
		fn := openers[len(openers)-1]
		return fn == "CAST" || fn == "TRY_CAST"
	case !ddl:
		return false
	case prev1.word == "TYPE":
		return true
	case prev1.word != "" && !notColumnName(prev1.word) || prev1.quoted:
		// A column's name: in the column list of CREATE TABLE or ADD COLUMNS (after its
		// "(" or a ","), or after ADD [COLUMN].
		inList := len(openers) == 1 && (prev2.punct == "(" || prev2.punct == ",")
		return inList || len(openers) == 0 && (prev2.word == "COLUMN" || prev2.word == "ADD")
	}
	return false
}

// notColumnName reports whether w, where a column's name would stand, is a keyword.
func notColumnName(w string) bool {
	switch w {
	case "AS", "SELECT", "FROM", "BY", "ON", "COLUMN", "COLUMNS", "ADD", "IF", "NOT", "EXISTS",
		"DISTINCT", "ALL", "WHERE", "CASE", "WHEN", "THEN", "ELSE", "AND", "OR", "IS", "NULL", "IN",
		"TABLE", "CONSTRAINT", "PRIMARY", "FOREIGN":
		return true
	}
	return false
}

// endsColumnType reports whether what follows a type's name at s[j:] can follow a
// column's type: the end, ',', ')', ';', or a column option (NOT NULL, DEFAULT, …).
func endsColumnType(s string, j int) bool {
	j = skipBlanksAndComments(s, j)
	if j == len(s) || strings.IndexByte(",);", s[j]) >= 0 {
		return true
	}
	switch strings.ToUpper(s[j:identEnd(s, j)]) {
	case "NOT", "NULL", "DEFAULT", "COMMENT", "GENERATED", "PRIMARY", "CONSTRAINT", "REFERENCES", "UNIQUE", "CHECK", "COLLATE", "FIRST", "AFTER", "MASK":
		return true
	}
	return false
}

// nextIs reports whether the first character after the blanks and comments at s[j:] is c.
func nextIs(s string, j int, c byte) bool {
	j = skipBlanksAndComments(s, j)
	return j < len(s) && s[j] == c
}

// skipBlanksAndComments returns where the blanks and comments at s[j:] end.
func skipBlanksAndComments(s string, j int) int {
	for j < len(s) {
		switch {
		case isBlank(s[j]):
			j++
		case s[j] == '-' || s[j] == '/':
			k := skipNoise(s, j)
			if k == j {
				return j
			}
			j = k
		default:
			return j
		}
	}
	return j
}
