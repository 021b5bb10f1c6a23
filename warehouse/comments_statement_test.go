package warehouse_test

import (
	"testing"
)

// Bracketed comments nest, in Databricks SQL (Spark's lexer, since 3.1) as in DuckDB: a
// ';' inside "/* a /* b */ ; */" is in a comment, and these are one statement each (the
// scan for a second statement used to end the comment at the first "*/").
func TestNestedCommentIsOneStatement(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	for _, q := range []string{
		"SELECT /* outer /* inner */ ; still the comment */ 1",
		"SELECT 1; /* outer /* inner */ ; SELECT 2 */",
		"/* header /* nested */ ; */ SELECT 1",
	} {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Errorf("%q: one statement with a nested comment: %v", q, err)
			continue
		}
		if n != 1 {
			t.Errorf("%q: got %d, want 1", q, n)
		}
	}
}

// DuckDB's dollar-quoted strings (and Databricks' $$ bodies) hold a ';' that ends
// nothing: "SELECT $$a;b$$" ran before multipleStatements and returned "a;b".
func TestDollarQuotedSemicolon(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	for _, q := range []string{"SELECT $$a;b$$", "SELECT $tag$a;b$tag$"} {
		var s string
		if err := db.QueryRow(q).Scan(&s); err != nil {
			t.Errorf("%q: one statement: %v", q, err)
			continue
		}
		if s != "a;b" {
			t.Errorf("%q: got %q, want %q", q, s, "a;b")
		}
	}
}
