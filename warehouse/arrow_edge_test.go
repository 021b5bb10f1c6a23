package warehouse_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An INTERVAL arrives as the Hive-style string Databricks sends for a day-time interval:
// one sign for the whole of it in front, then its days and its clock, both unsigned.
// DuckDB keeps days and microseconds apart and lets them differ in sign; their sum is
// what is rendered (a day is 24 hours, as in Databricks), and a long one in microseconds
// does not overflow a time.Duration.
func TestIntervalSign(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	for _, tc := range []struct{ name, expr, want string }{
		{"days and hours", "INTERVAL '1 day 2 hours'", "1 02:00:00.000000"},
		{"negative minutes", "INTERVAL (-90) MINUTE", "-0 01:30:00.000000"},
		{"negated days and hours", "-(INTERVAL '1 day 2 hours')", "-1 02:00:00.000000"},
		{"a day less an hour", "INTERVAL '1 day' - INTERVAL '1 hour'", "0 23:00:00.000000"},
		{"less than a day back", "INTERVAL '-1 day' + INTERVAL '2 hours'", "-0 22:00:00.000000"},
		{"hours beyond a time.Duration", "INTERVAL 3000000 HOUR", "125000 00:00:00.000000"},
		{"months kept apart", "INTERVAL '1 year 2 days 3 hours'", "1-0 2 03:00:00.000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			require.NoError(t, db.QueryRow("SELECT "+tc.expr).Scan(&got))
			assert.Equal(t, tc.want, got)
		})
	}
}

// A value that arrives as a string at the top level (UUID, TIME, INTERVAL: Databricks has
// no Arrow form for them) is that same string inside an array, a struct or a map, as
// Databricks sends a nested string: not the bytes of a UUID in base64, not a TIME as a
// date-time on 0001-01-01, not DuckDB's interval struct. A nested BLOB stays base64, as
// the driver renders a nested binary.
func TestNestedStringTypes(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	const u = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	for _, tc := range []struct{ name, expr, want string }{
		{"uuid in an array", "['" + u + "'::UUID]", `["` + u + `"]`},
		{"uuid in a struct", "{'u': '" + u + "'::UUID}", `{"u":"` + u + `"}`},
		{"uuid as a map value", "MAP {'k': '" + u + "'::UUID}", `{"k":"` + u + `"}`},
		{"time in an array", "[TIME '12:34:56.5']", `["12:34:56.5"]`},
		{"interval in an array", "[INTERVAL 1 DAY]", `["1 00:00:00.000000"]`},
		{"interval in a struct", "{'i': INTERVAL (-90) MINUTE}", `{"i":"-0 01:30:00.000000"}`},
		{"blob in an array", "['x'::BLOB]", `["eA=="]`},
		// DuckDB's own types, which Databricks has not: as DuckDB prints them.
		{"timetz keeps its offset", "CAST('12:00:00+02' AS TIMETZ)", "12:00:00+02"},
		{"timetz with minutes in its offset", "CAST('12:00:00.5+05:30' AS TIMETZ)", "12:00:00.5+05:30"},
		{"timetz in a struct", "{'a': CAST('01:02:03-01' AS TIMETZ)}", `{"a":"01:02:03-01"}`},
		{"union, its member's value", "union_value(k := 1)", "1"},
		{"union in an array", "[union_value(k := 'a')]", `["a"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			require.NoError(t, db.QueryRow("SELECT "+tc.expr).Scan(&got))
			assert.Equal(t, tc.want, got)
		})
	}
}
