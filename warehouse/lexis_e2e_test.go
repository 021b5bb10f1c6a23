package warehouse_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDatabricksLiteralsThroughTheDriver sends Databricks SQL's string literals and
// quoted names through the real driver: each reads as it does on Databricks.
func TestDatabricksLiteralsThroughTheDriver(t *testing.T) {
	db := open(t, start(t), "")
	for _, tc := range []struct {
		name, sql string
		args      []any
		want      any
	}{
		{"backticks", "SELECT `my col` FROM (SELECT 'v' AS `my col`)", nil, "v"},
		{"a backtick in a name", "SELECT `a``b` FROM (SELECT 'w' AS `a``b`)", nil, "w"},
		{"double quotes", `SELECT "it's"`, nil, "it's"},
		{"a backslash escape", `SELECT 'O\'Connell'`, nil, "O'Connell"},
		{"a line feed", `SELECT 'Some\nText'`, nil, "Some\nText"},
		{"two quotes", `SELECT 'it''s'`, nil, "its"},
		{"a raw string", `SELECT r'C:\temp'`, nil, `C:\temp`},
		{"a unicode escape", `SELECT '\u00e9t\u00e9'`, nil, "été"},
		{"a NUL", `SELECT 'a\0b'`, nil, "a\x00b"},
		{"LIKE's default escape", `SELECT '50%' LIKE '50\%'`, nil, true},
		{"LIKE's escape, unmatched", `SELECT '50x' LIKE '50\%'`, nil, false},
		{"a binary literal", `SELECT X'00FF41'`, nil, []byte{0, 0xff, 'A'}},
		{"a marker in double quotes", `SELECT "?" || ?`, []any{"!"}, "?!"},
		{"a timestamp in double quotes", `SELECT hour(TIMESTAMP "2024-01-01 10:00:00+02:00")`, nil, int64(8)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got any
			require.NoError(t, db.QueryRow(tc.sql, tc.args...).Scan(&got))
			assert.Equal(t, tc.want, got)
		})
	}
	// A semicolon inside an escaped string is no second statement.
	var got string
	require.NoError(t, db.QueryRow(`SELECT 'a\'; b'`).Scan(&got))
	assert.Equal(t, "a'; b", got)
}
