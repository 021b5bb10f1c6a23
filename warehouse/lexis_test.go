package warehouse

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFromDatabricksLexis(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"nothing quoted", "SELECT 1", "SELECT 1"},
		{"single quotes", "SELECT 'abc'", "SELECT 'abc'"},
		{"double quotes are a string", `SELECT "abc"`, "SELECT 'abc'"},
		{"a quote in double quotes", `SELECT "it's"`, "SELECT 'it''s'"},
		{"escaped quote", `SELECT 'it\'s'`, "SELECT 'it''s'"},
		{"two quotes are two strings", "SELECT 'it''s'", "SELECT 'its'"},
		{"adjacent strings", "SELECT 'a' \"b\"\n 'c'", "SELECT 'abc'"},
		{"strings across a comment", "SELECT 'a' /* c */ 'b' -- d\n'c'", "SELECT 'abc'"},
		{"escapes", `SELECT 'a\nb\tc\rd\be\Zf\\g\qh'`, "SELECT 'a\nb\tc\rd\be\x1af\\gqh'"},
		{"LIKE's escapes keep their backslash", `SELECT x LIKE 'a\%b\_c' ESCAPE '!'`, `SELECT x LIKE 'a\%b\_c' ESCAPE '!'`},
		{"LIKE gets Spark's escape", `SELECT x NOT like 'a\%'`, `SELECT x NOT like 'a\%' ESCAPE '\'`},
		{"ILIKE too", `SELECT x ILIKE 'a\\b' AND y`, `SELECT x ILIKE 'a\b' ESCAPE '\' AND y`},
		{"a pattern after a comment", `SELECT x LIKE /* p */ 'a\%')`, `SELECT x LIKE   'a\%' ESCAPE '\')`},
		{"a pattern an operator goes on", `SELECT x LIKE 'a\%' || 'b'`, `SELECT x LIKE 'a\%' || 'b'`},
		{"no backslash, no ESCAPE", `SELECT x LIKE 'a%'`, `SELECT x LIKE 'a%'`},
		{"unicode escapes", `SELECT '\u0041\U0001F600\uD83D\uDE00'`, "SELECT 'A😀😀'"},
		{"a lone surrogate", `SELECT '\uD83Dx'`, "SELECT '\uFFFDx'"},
		{"a short unicode escape is a u", `SELECT '\u12'`, "SELECT 'u12'"},
		{"octal escapes up to 177", `SELECT '\101\060\200'`, "SELECT 'A0200'"},
		{"NUL", `SELECT 'a\0b'`, "SELECT ('a' || chr(0) || 'b')"},
		{"a multi-byte character escaped", `SELECT '\é'`, "SELECT 'é'"},
		{"raw strings", `SELECT r'a\nb', R"c\'d"`, `SELECT 'a\nb', 'c\''d'`},
		{"r ending a name is no prefix", `SELECT bar'x'`, `SELECT bar 'x'`},
		{"no prefix of DuckDB's", `SELECT e'\\n', u&'1'`, `SELECT e '\n', u& '1'`},
		{"a binary literal", `SELECT X'4142', x "0aB", X  '123'`, "SELECT from_hex('4142'), from_hex('00aB'), from_hex('0123')"},
		{"x as a name", `SELECT x, t.x 'a', ax'b'`, `SELECT x, t.x 'a', ax 'b'`},
		{"backticks", "SELECT `my col`, `a``b`, `q\"`", `SELECT "my col", "a` + "`" + `b", "q"""`},
		{"comments are blanks", "SELECT 1 -- it's \"x\"\n/* `a' /* b */ */2", "SELECT 1  \n 2"},
		{"a line comment ends at a carriage return", "SELECT 1 -- c\r+ 1", "SELECT 1  \r+ 1"},
		{"a backslash takes a line comment on", "SELECT 1 -- C:\\temp\\\n+ 1\n+ 2", "SELECT 1  \n+ 2"},
		{"Spark's other blanks", "SELECT\f1\v+\u00a01\u3000", "SELECT 1 + 1 "},
		{"a NUL in a comment", "SELECT 1 -- a\x00b\n", "SELECT 1  \n"},
		{"dollar-quoted bodies stay", "SELECT $$it's -- \\n$$, $t$a$$b$t$", "SELECT $$it's -- \\n$$, $t$a$$b$t$"},
		{"Spark's number suffixes", "SELECT 1L, 512s, -64Y, 2.D, -.1d, 1.5F, 1e3D", "SELECT CAST(1 AS BIGINT), CAST(512 AS SMALLINT), CAST(-64 AS TINYINT), CAST(2. AS DOUBLE), CAST(-.1 AS DOUBLE), CAST(1.5 AS FLOAT), CAST(1e3 AS DOUBLE)"},
		{"BD numbers", "SELECT 1BD, 5E3BD, 5.321E2bd, 0.01BD, 012.50BD", "SELECT CAST('1' AS DECIMAL(1,0)), CAST('5000' AS DECIMAL(4,0)), CAST('532.1' AS DECIMAL(4,1)), CAST('0.01' AS DECIMAL(2,2)), CAST('12.50' AS DECIMAL(4,2))"},
		{"no suffix where a name goes on", "SELECT a1L, 1.5L, t.1D, 1e-3x", "SELECT a1L, 1.5L, t.1D, 1e-3x"},
		{"DATE's short forms", "SELECT DATE'2020', DATE '2020-6', DATE\"2021-7-1T8:00\", DATE'-10000-01-01', DATE'20'", "SELECT DATE '2020-01-01', DATE '2020-06-01', DATE '2021-07-01', DATE '-10000-01-01', DATE '20'"},
		{"null-safe equality", "SELECT a<=>b", "SELECT a IS NOT DISTINCT FROM b"},
		{"a minus that starts an operand goes in", "SELECT -128Y, (-1L), 2 -1S, x - 5Y, WHERE a = -3S", "SELECT CAST(-128 AS TINYINT), (CAST(-1 AS BIGINT)), 2 -CAST(1 AS SMALLINT), x - CAST(5 AS TINYINT), WHERE a = CAST(-3 AS SMALLINT)"},
		{"a BD number's into its digits", "SELECT -1BD, 2 - 1.5BD", "SELECT CAST('-1' AS DECIMAL(1,0)), 2 - CAST('1.5' AS DECIMAL(2,1))"},
		{"not after a name spelled like a keyword", "SELECT :limit - 1L, t.by -1Y", "SELECT :limit - CAST(1 AS BIGINT), t.by -CAST(1 AS TINYINT)"},
		{"after FROM, DEFAULT and a bracket", "SELECT 1 <=> -128Y, a[-1L] FROM t", "SELECT 1  IS NOT DISTINCT FROM  CAST(-128 AS TINYINT), a[CAST(-1 AS BIGINT)] FROM t"},
		{"a plain number cast by ::", "SELECT -1.5::STRING, - 2 ::INT, 3 -1::INT, -4", "SELECT (-1.5)::STRING, (-2) ::INT, 3 -1::INT, -4"},
		{"suffixes beside Unicode blanks", "SELECT\u00a01L\u3000+ 1", "SELECT CAST(1 AS BIGINT) + 1"},
		{"names that start with digits", "SELECT 1col, t.1col, 0x1F, 1e3x, 1Lé, 1La, 1E", `SELECT "1col", t."1col", "0x1F", "1e3x", "1Lé", "1La", "1E"`},
		{"a DATE's time only after a whole date", "SELECT DATE'2020 10:00', DATE'2020-6T0', DATE'2020-6-1 10:00'", "SELECT DATE '2020 10:00', DATE '2020-6T0', DATE '2020-06-01'"},
		{"markers in strings", `SELECT "?", ?, ':a'`, `SELECT '?', ?, ':a'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fromDatabricksLexis(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestFromDatabricksLexisRefuses(t *testing.T) {
	for _, tc := range []struct{ name, in, class string }{
		{"an open string", `SELECT 'abc`, "PARSE_SYNTAX_ERROR"},
		{"an open escape", `SELECT 'a\' AS x`, "PARSE_SYNTAX_ERROR"},
		{"an open name", "SELECT `abc", "PARSE_SYNTAX_ERROR"},
		{"an open raw string", "SELECT r'abc", "PARSE_SYNTAX_ERROR"},
		{"an open binary literal", "SELECT X'41", "PARSE_SYNTAX_ERROR"},
		{"an open comment", "SELECT 1 /* a /* b */", "UNCLOSED_BRACKETED_COMMENT"},
		{"an open comment before a string", "SELECT 'a' /* b", "UNCLOSED_BRACKETED_COMMENT"},
		{"a NUL", "SELECT 1 AS a \x00, 2", "PARSE_SYNTAX_ERROR"},
		{"a NUL in a name", "SELECT `a\x00`", "PARSE_SYNTAX_ERROR"},
		{"a dollar", "SELECT 1 AS a$b$; DROP TABLE t; SELECT 2 AS c$b$", "PARSE_SYNTAX_ERROR"},
		{"an open dollar quote", "SELECT $$a$", "PARSE_SYNTAX_ERROR"},
		{"an open tagged dollar quote", "SELECT $t$a$$", "PARSE_SYNTAX_ERROR"},
		{"a dollar quote's tag alone", "SELECT $t$", "PARSE_SYNTAX_ERROR"},
		{"a NUL in a dollar quote", "SELECT $$a\x00$$", "PARSE_SYNTAX_ERROR"},
		{"DuckDB's parameters", "SELECT $1", "PARSE_SYNTAX_ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fromDatabricksLexis(tc.in)
			require.Error(t, err)
			e := mapError(err)
			assert.Equal(t, tc.class, e.class)
			assert.Equal(t, "42601", e.state)
		})
	}
}

func FuzzFromDatabricksLexis(f *testing.F) {
	for _, s := range []string{`SELECT 'a\'b' "c" r'\d'`, "SELECT `a``b` -- 'x", `SELECT x LIKE 'a\%'`, `'\u0041\0'`, "/* 'a */ '", "-- a\\\nb\r'c'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := fromDatabricksLexis(s)
		if err != nil {
			return
		}
		if strings.Contains(out, "\x00") {
			t.Fatalf("%q: a NUL in %q", s, out)
		}
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("%q: invalid UTF-8 in %q", s, out)
		}
		// What comes out, read again, stays: no comment, prefix or name in backticks is
		// left (a doubled quote, a backslash or a double-quoted name reads otherwise).
		if again, err := fromDatabricksLexis(out); !strings.ContainsAny(out, "\\\"") && !strings.Contains(out, "''") && (err != nil || again != out) {
			t.Fatalf("%q: %q read again is %q, %v", s, out, again, err)
		}
	})
}

// BenchmarkFromDatabricksLexis reads long statements of each kind the lexis scans: its
// time per byte stays flat from 16 to 256 KiB (a name of x's once took time quadratic in
// its length).
func BenchmarkFromDatabricksLexis(b *testing.B) {
	for _, kind := range []struct{ name, unit string }{
		{"name of x", "x"}, {"name of y", "y"}, {"strings", "'a' "}, {"comments", "/* c */ -- d\n"},
		{"escapes", `'\n\u0041' `}, {"numbers", "1L+2.5BD+"}, {"backticks", "`a``b` "},
	} {
		for _, size := range []int{16 << 10, 256 << 10} {
			stmt := "SELECT " + strings.Repeat(kind.unit, size/len(kind.unit))
			b.Run(fmt.Sprintf("%s/%dKiB", kind.name, size>>10), func(b *testing.B) {
				b.SetBytes(int64(len(stmt)))
				for b.Loop() {
					_, _ = fromDatabricksLexis(stmt)
				}
			})
		}
	}
}
