package warehouse

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
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
		{"escapes", `SELECT 'a\nb\tc\rd\be\Zf\\g\qh'`, "SELECT 'a\nb\tc\rd\be\x1af\\gqh'"},
		{"LIKE's escapes keep their backslash", `SELECT x LIKE 'a\%b\_c' ESCAPE '!'`, `SELECT x LIKE 'a\%b\_c' ESCAPE '!'`},
		{"LIKE gets Spark's escape", `SELECT x NOT like 'a\%'`, `SELECT x NOT like 'a\%' ESCAPE '\'`},
		{"ILIKE too", `SELECT x ILIKE 'a\\b'`, `SELECT x ILIKE 'a\b' ESCAPE '\'`},
		{"no backslash, no ESCAPE", `SELECT x LIKE 'a%'`, `SELECT x LIKE 'a%'`},
		{"unicode escapes", `SELECT '\u0041\U0001F600\uD83D\uDE00'`, "SELECT 'A😀😀'"},
		{"a lone surrogate", `SELECT '\uD83Dx'`, "SELECT '\uFFFDx'"},
		{"a short unicode escape is a u", `SELECT '\u12'`, "SELECT 'u12'"},
		{"octal escapes up to 177", `SELECT '\101\060\200'`, "SELECT 'A0200'"},
		{"NUL", `SELECT 'a\0b'`, "SELECT ('a' || chr(0) || 'b')"},
		{"a multi-byte character escaped", `SELECT '\é'`, "SELECT 'é'"},
		{"raw strings", `SELECT r'a\nb', R"c\'d"`, `SELECT 'a\nb', 'c\''d'`},
		{"r ending a name is no prefix", `SELECT bar'x'`, `SELECT bar'x'`},
		{"a binary literal", `SELECT X'4142', x "0aB", X  '123'`, "SELECT from_hex('4142'), from_hex('00aB'), from_hex('0123')"},
		{"x as a name", `SELECT x, t.x 'a', ax'b'`, `SELECT x, t.x 'a', ax'b'`},
		{"backticks", "SELECT `my col`, `a``b`, `q\"`", `SELECT "my col", "a` + "`" + `b", "q"""`},
		{"comments stay", "SELECT 1 -- it's \"x\"\n/* `a' */", "SELECT 1 -- it's \"x\"\n/* `a' */"},
		{"dollar quotes stay", "SELECT $$it's$$", "SELECT $$it's$$"},
		{"an open string stays", `SELECT 'abc`, `SELECT 'abc`},
		{"an open escape stays", `SELECT 'abc\`, `SELECT 'abc\`},
		{"an open name stays", "SELECT `abc", "SELECT `abc"},
		{"an open raw string stays", "SELECT r'abc", "SELECT r'abc"},
		{"markers in strings", `SELECT "?", ?, ':a'`, `SELECT '?', ?, ':a'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, fromDatabricksLexis(tc.in))
		})
	}
}

func FuzzFromDatabricksLexis(f *testing.F) {
	for _, s := range []string{`SELECT 'a\'b' "c" r'\d'`, "SELECT `a``b` -- 'x", `SELECT x LIKE 'a\%'`, `'\u0041\0'`, "/* 'a */ '"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := fromDatabricksLexis(s)
		if !strings.Contains(s, "\x00") && strings.Contains(out, "\x00") {
			t.Fatalf("%q: a NUL in %q", s, out)
		}
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("%q: invalid UTF-8 in %q", s, out)
		}
		if !strings.ContainsAny(s, "'\"`") && out != s {
			t.Fatalf("%q changed to %q", s, out)
		}
	})
}
