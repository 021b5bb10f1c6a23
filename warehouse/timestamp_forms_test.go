package warehouse_test

import (
	"database/sql"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A timestamp string that names its zone is that instant, whatever the session's zone;
// one without is a wall time in the session's zone; Spark's short forms (one-digit
// fields, no seconds) are read as Databricks reads them: in a literal, a cast and a
// parameter alike, through the driver, in a session on New York's time.
func TestTimestampStringForms(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "timezone=America/New_York")
	at := func(h, m int) time.Time { return time.Date(2024, 1, 1, h, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		text string
		want time.Time
	}{
		{"2024-01-01 10:00:00+02:00", at(8, 0)},
		{"2024-01-01T10:00:00-08:00", at(18, 0)},
		{"2024-01-01 10:00:00Z", at(10, 0)},
		{"2024-01-01 10:00:00 UTC+3", at(7, 0)},
		{"2024-01-01 10:00:00 Europe/Paris", at(9, 0)},
		{"2024-01-01 10:00:00 PST", at(18, 0)},
		{"2024-01-01 10:00:00.1234567890+00:00", at(10, 0).Add(123456 * time.Microsecond)},
		{"2024-01-01 10:00:00", at(15, 0)}, // New York's wall time
		{"2024-1-1 10:00", at(15, 0)},
		{"2024-01-01T10", at(15, 0)},
	} {
		for _, expr := range []string{"TIMESTAMP '" + tc.text + "'", "CAST('" + tc.text + "' AS TIMESTAMP)", "'" + tc.text + "'::timestamp",
			"('" + tc.text + "')::timestamp", "CAST(('" + tc.text + "') AS TIMESTAMP)", "?"} {
			var args []any
			if expr == "?" {
				args = append(args, dbsql.Parameter{Type: dbsql.SqlTimestamp, Value: tc.text})
			}
			var got time.Time
			require.NoError(t, db.QueryRow("SELECT "+expr, args...).Scan(&got), "%s [%s]", expr, tc.text)
			assert.True(t, tc.want.Equal(got), "%s [%s] = %v, want %v", expr, tc.text, got.UTC(), tc.want)
		}
	}
	// A string Databricks cannot read as a timestamp is its CAST_INVALID_INPUT.
	var got time.Time
	err := db.QueryRow("SELECT ?", dbsql.Parameter{Type: dbsql.SqlTimestamp, Value: "2024-01-01 10:00:00 Mars/Olympus"}).Scan(&got)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CAST_INVALID_INPUT")
}

// A string in parentheses cast to TIMESTAMP after FROM (EXTRACT(field FROM …), IS
// DISTINCT FROM …) is read by Spark's rules too, a literal or a STRING parameter: FROM's
// "(" groups, it opens no call.
func TestParenthesisedCastOperandAfterFrom(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	const lit = "'2024-01-01 10:00:00+02:00'"
	var h int
	require.NoError(t, db.QueryRow("SELECT EXTRACT(HOUR FROM ("+lit+")::TIMESTAMP)").Scan(&h))
	assert.Equal(t, 8, h)
	require.NoError(t, db.QueryRow("SELECT EXTRACT(HOUR FROM (?)::TIMESTAMP)",
		dbsql.Parameter{Type: dbsql.SqlString, Value: "2024-01-01 10:00:00+02:00"}).Scan(&h))
	assert.Equal(t, 8, h, "a STRING parameter")
	var distinct bool
	require.NoError(t, db.QueryRow("SELECT TIMESTAMP '2024-01-01 08:00:00+00:00' IS DISTINCT FROM ("+lit+")::TIMESTAMP").Scan(&distinct))
	assert.False(t, distinct)
}

// A comment that ends in the word timestamp before a string leaves the statement as
// written: the string is no TIMESTAMP literal.
func TestCommentEndingInTimestampBeforeAString(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	var raw string
	require.NoError(t, db.QueryRow("SELECT\n -- the event's original timestamp\n '2024-01-01T10:00:00+02:00' AS raw").Scan(&raw))
	assert.Equal(t, "2024-01-01T10:00:00+02:00", raw)
	_, err := db.Exec("CREATE TABLE ev (id INT, happened STRING)")
	require.NoError(t, err)
	_, err = db.Exec("INSERT INTO ev VALUES (\n 1,\n -- event timestamp\n '2024-01-05T10:00:00Z'\n)")
	require.NoError(t, err)
}

// A comment is a blank between a literal's tokens; a string parameter the statement casts
// to TIMESTAMP is read by Spark's rules too (a named one stays itself elsewhere).
func TestTimestampCommentsAndStringParameters(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	want := time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC)
	const v = "2024-01-01 10:00:00+02:00"
	for _, q := range []string{
		"SELECT TIMESTAMP /* start */ '" + v + "'",
		"SELECT TIMESTAMP -- c\n '" + v + "'",
		"SELECT CAST /* x */ ('" + v + "' AS TIMESTAMP)",
		"SELECT CAST(-- v\n'" + v + "' AS TIMESTAMP)",
		"SELECT CAST('" + v + "' /* c */ AS TIMESTAMP)",
		"SELECT '" + v + "' /* c */ ::TIMESTAMP",
	} {
		var got time.Time
		require.NoError(t, db.QueryRow(q).Scan(&got), q)
		assert.True(t, want.Equal(got), "%q = %v, want %v", q, got.UTC(), want)
	}
	for _, q := range []string{"SELECT CAST(? AS TIMESTAMP)", "SELECT ?::TIMESTAMP", "SELECT try_cast( ? AS timestamp )"} {
		var got time.Time
		require.NoError(t, db.QueryRow(q, v).Scan(&got), q)
		assert.True(t, want.Equal(got), "%q = %v, want %v", q, got.UTC(), want)
	}
	var got time.Time
	require.NoError(t, db.QueryRow("SELECT CAST(? AS TIMESTAMP)", "2024-1-5 8:03").Scan(&got))
	assert.Equal(t, time.Date(2024, 1, 5, 8, 3, 0, 0, time.UTC), got.UTC())
	var same string
	require.NoError(t, db.QueryRow("SELECT CAST(:s AS TIMESTAMP), :s", sql.Named("s", v)).Scan(&got, &same))
	assert.True(t, want.Equal(got), "named: %v", got.UTC())
	assert.Equal(t, v, same, "the string itself, where it is not cast")
	// Spark's short forms, named as positional.
	for _, short := range []string{"2024", "2024-01", " 2024-01-05 08:03 "} {
		var pos, named time.Time
		require.NoError(t, db.QueryRow("SELECT CAST(? AS TIMESTAMP)", short).Scan(&pos), short)
		require.NoError(t, db.QueryRow("SELECT CAST(:s AS TIMESTAMP), :s", sql.Named("s", short)).Scan(&named, &same), short)
		assert.Equal(t, pos, named, short)
		assert.Equal(t, short, same)
	}
}
