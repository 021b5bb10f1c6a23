package warehouse

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSparkTimestamp(t *testing.T) {
	utc := func(y, mo, d, h, mi, s, ns int) time.Time {
		return time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	for _, tc := range []struct {
		in     string
		wall   time.Time
		offset int    // seconds east of UTC, of a fixed zone
		region string // or a region's name
		zoned  bool
	}{
		{in: "2024-01-01 10:00:00", wall: utc(2024, 1, 1, 10, 0, 0, 0)},
		{in: "2024-01-01T10:00:00.123456", wall: utc(2024, 1, 1, 10, 0, 0, 123456000)},
		{in: "2024-01-01 10:00:00.123456789", wall: utc(2024, 1, 1, 10, 0, 0, 123456789)},
		{in: "2024-01-01 10:00:00.5", wall: utc(2024, 1, 1, 10, 0, 0, 500000000)},
		{in: "  2024-1-5 8:3:7  ", wall: utc(2024, 1, 5, 8, 3, 7, 0)},
		{in: "2024-01-01 10:00", wall: utc(2024, 1, 1, 10, 0, 0, 0)},
		{in: "2024-01-01T10", wall: utc(2024, 1, 1, 10, 0, 0, 0)},
		{in: "2024-01-01", wall: utc(2024, 1, 1, 0, 0, 0, 0)},
		{in: "2024-07", wall: utc(2024, 7, 1, 0, 0, 0, 0)},
		{in: "2024", wall: utc(2024, 1, 1, 0, 0, 0, 0)},
		{in: "+2024-01-01", wall: utc(2024, 1, 1, 0, 0, 0, 0)},
		{in: "2024-01-01 10:00:00+02:00", wall: utc(2024, 1, 1, 10, 0, 0, 0), offset: 7200, zoned: true},
		{in: "2024-01-01T10:00:00.123456+05:30", wall: utc(2024, 1, 1, 10, 0, 0, 123456000), offset: 19800, zoned: true},
		{in: "2024-01-01 10:00:00-8:00", wall: utc(2024, 1, 1, 10, 0, 0, 0), offset: -28800, zoned: true},
		{in: "2024-01-01 10:00:00-0830", wall: utc(2024, 1, 1, 10, 0, 0, 0), offset: -30600, zoned: true},
		{in: "2024-01-01 10:00:00+3", wall: utc(2024, 1, 1, 10, 0, 0, 0), offset: 10800, zoned: true},
		{in: "2024-01-01 10:00:00Z", wall: utc(2024, 1, 1, 10, 0, 0, 0), zoned: true},
		{in: "2024-01-01 10:00:00 UTC", wall: utc(2024, 1, 1, 10, 0, 0, 0), zoned: true},
		{in: "2021-7-1T8:43:28UTC+3", wall: utc(2021, 7, 1, 8, 43, 28, 0), offset: 10800, zoned: true},
		{in: "2024-01-01 10:00:00 GMT-01:30", wall: utc(2024, 1, 1, 10, 0, 0, 0), offset: -5400, zoned: true},
		{in: "2021-07-01T08:43:28.123456 Europe/Paris", wall: utc(2021, 7, 1, 8, 43, 28, 123456000), region: "Europe/Paris", zoned: true},
		{in: "2024-01-01 Europe/Paris", wall: utc(2024, 1, 1, 0, 0, 0, 0), region: "Europe/Paris", zoned: true},
		// Spark drops the digits beyond its precision, and reads java.time's short zone ids.
		{in: "2024-01-01 10:00:00.1234567890123+00:00", wall: utc(2024, 1, 1, 10, 0, 0, 123456789), zoned: true},
		{in: "2024-01-01 10:00:00 ECT", wall: utc(2024, 1, 1, 10, 0, 0, 0), region: "Europe/Paris", zoned: true},
		{in: "2024-01-01 10:00:00 EST", wall: utc(2024, 1, 1, 10, 0, 0, 0), offset: -18000, zoned: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseSparkTimestamp(tc.in)
			require.True(t, ok)
			assert.Equal(t, tc.wall, got.wall)
			if !tc.zoned {
				assert.Nil(t, got.zone)
				return
			}
			require.NotNil(t, got.zone)
			if tc.region != "" {
				assert.Equal(t, paris.String(), got.zone.String())
				return
			}
			_, off := got.wall.In(got.zone).Zone()
			assert.Equal(t, tc.offset, off)
		})
	}
	for _, in := range []string{
		"", "abc", "24-01-01", "2024-13-01", "2024-02-30", "2024-01-01 24:00:00", "2024-01-01 10:60",
		"2024-01-01 10:00:61", "2024-01-01 10:00:00.",
		"2024-01-01 10:00:00+25:00", "2024-01-01 10:00:00+02:0", "2024-01-01 10:00:00 Mars/Olympus",
		"2024-01-01 10:00:00 Local", "2024-01-01 10:00:00Zx", "0000-01-01", "2024-01-01T",
		"2024-01-01 10:00:00 +02:00 x", "2024-01-01 10:",
	} {
		_, ok := parseSparkTimestamp(in)
		assert.False(t, ok, "%q", in)
	}
}

// The instant a timestamp string stands for: its own zone's, else the session's.
func TestSparkTimestampInstant(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	for _, tc := range []struct {
		in   string
		loc  *time.Location
		want time.Time
	}{
		{"2024-01-01 10:00:00+02:00", ny, time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC)},
		{"2024-01-01 10:00:00", ny, time.Date(2024, 1, 1, 15, 0, 0, 0, time.UTC)},
		{"2024-01-01 10:00:00", nil, time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)},
		{"2024-07-01 10:00:00 America/New_York", nil, time.Date(2024, 7, 1, 14, 0, 0, 0, time.UTC)},
	} {
		ts, ok := parseSparkTimestamp(tc.in)
		require.True(t, ok, tc.in)
		assert.Equal(t, tc.want, ts.instantIn(tc.loc), tc.in)
	}
}

func TestRewriteTimestampLiterals(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"a literal with an offset", "SELECT TIMESTAMP '2024-01-01 10:00:00+02:00'",
			"SELECT CAST(TIMESTAMPTZ '2024-01-01 08:00:00+00' AS TIMESTAMP)"},
		{"lower case, a blank between", "select timestamp\n'2024-01-01T10:00:00.5Z' x",
			"select CAST(TIMESTAMPTZ '2024-01-01 10:00:00.5+00' AS TIMESTAMP) x"},
		{"a cast", "SELECT CAST('2024-01-01 10:00:00-08:00' AS TIMESTAMP)",
			"SELECT CAST((TIMESTAMPTZ '2024-01-01 18:00:00+00') AS TIMESTAMP)"},
		{"a try_cast in lower case", "SELECT try_cast ( '2024-01-01 10:00:00+01:00'  as  timestamp )",
			"SELECT try_cast ( (TIMESTAMPTZ '2024-01-01 09:00:00+00')  as  timestamp )"},
		{"a '::' cast", "SELECT '2024-01-01 10:00:00+01:00'::TIMESTAMP",
			"SELECT (TIMESTAMPTZ '2024-01-01 09:00:00+00')::TIMESTAMP"},
		{"Spark's short forms, no zone", "SELECT TIMESTAMP '2024-1-5 8:03', CAST('2024-01-01T10' AS TIMESTAMP)",
			"SELECT TIMESTAMP '2024-01-05 08:03:00', CAST('2024-01-01 10:00:00' AS TIMESTAMP)"},
		{"a full literal stays", "SELECT TIMESTAMP '2024-01-01 10:00:00'", "SELECT TIMESTAMP '2024-01-01 10:00:00'"},
		{"what Spark does not read stays", "SELECT TIMESTAMP 'yesterday'", "SELECT TIMESTAMP 'yesterday'"},
		{"other types stay", "SELECT TIMESTAMP_NTZ '2024-01-01 10:00:00+02:00', TIMESTAMPTZ '2024-01-01 10:00:00+02:00', " +
			"CAST('2024-01-01 10:00:00+02:00' AS TIMESTAMP_NTZ), '2024-01-01 10:00:00+02:00'::TIMESTAMPTZ, CAST('2024-01-01 10:00:00+02:00' AS STRING)",
			"SELECT TIMESTAMP_NTZ '2024-01-01 10:00:00+02:00', TIMESTAMPTZ '2024-01-01 10:00:00+02:00', " +
				"CAST('2024-01-01 10:00:00+02:00' AS TIMESTAMP_NTZ), '2024-01-01 10:00:00+02:00'::TIMESTAMPTZ, CAST('2024-01-01 10:00:00+02:00' AS STRING)"},
		{"a name ending in timestamp stays", "SELECT my_timestamp '2024-01-01 10:00:00+02:00', t.timestamp '2024-01-01+02:00'",
			"SELECT my_timestamp '2024-01-01 10:00:00+02:00', t.timestamp '2024-01-01+02:00'"},
		{"a string that is no operand stays", "SELECT concat('2024-01-01 10:00:00+02:00', 'x') AS timestamp",
			"SELECT concat('2024-01-01 10:00:00+02:00', 'x') AS timestamp"},
		{"comments and quoted names stay", "SELECT 1 -- TIMESTAMP '2024-01-01 10:00:00+02:00'\n/* TIMESTAMP '2024-01-01+02:00' */ AS \"timestamp '2024-01-01+02:00'\"",
			"SELECT 1 -- TIMESTAMP '2024-01-01 10:00:00+02:00'\n/* TIMESTAMP '2024-01-01+02:00' */ AS \"timestamp '2024-01-01+02:00'\""},
		{"a comment ending in timestamp before a string", "SELECT\n -- the event's timestamp\n '2024-01-01T10:00:00+02:00' AS raw",
			"SELECT\n -- the event's timestamp\n '2024-01-01T10:00:00+02:00' AS raw"},
		// A comment is a blank between tokens.
		{"comments around a cast's string", "SELECT CAST( /* c */ '2024-01-01 10:00:00+02:00' -- d\n AS /* e */ TIMESTAMP /* f */ ), '2024-01-01 10:00:00Z' /* g */ :: timestamp",
			"SELECT CAST( /* c */ (TIMESTAMPTZ '2024-01-01 08:00:00+00') -- d\n AS /* e */ TIMESTAMP /* f */ ), (TIMESTAMPTZ '2024-01-01 10:00:00+00') /* g */ :: timestamp"},
		{"a comment after TIMESTAMP", "SELECT TIMESTAMP /* start */ '2024-01-01 10:00:00+02:00', TIMESTAMP -- c\n '2024-1-5 8:03'",
			"SELECT CAST(TIMESTAMPTZ '2024-01-01 08:00:00+00' AS TIMESTAMP), TIMESTAMP '2024-01-05 08:03:00'"},
		{"no timestamp at all", "SELECT '2024-01-01 10:00:00+02:00'", "SELECT '2024-01-01 10:00:00+02:00'"},
		// From the second-pass review: a string in parentheses of its own is the operand
		// still; a call's argument (or a list's element) is not.
		{"a parenthesised string cast", "SELECT ('2024-01-01 10:00:00+02:00')::TIMESTAMP, CAST(( '2024-01-01 10:00:00+02:00' ) AS TIMESTAMP), CASE WHEN (('2024-01-01Z'))::timestamp > now() THEN 1 END",
			"SELECT ((TIMESTAMPTZ '2024-01-01 08:00:00+00'))::TIMESTAMP, CAST(( (TIMESTAMPTZ '2024-01-01 08:00:00+00') ) AS TIMESTAMP), CASE WHEN (((TIMESTAMPTZ '2024-01-01 00:00:00+00')))::timestamp > now() THEN 1 END"},
		{"after FROM", "SELECT EXTRACT(HOUR FROM ('2024-01-01 10:00:00+02:00')::TIMESTAMP), x IS DISTINCT FROM ('2024-01-01Z')::TIMESTAMP",
			"SELECT EXTRACT(HOUR FROM ((TIMESTAMPTZ '2024-01-01 08:00:00+00'))::TIMESTAMP), x IS DISTINCT FROM ((TIMESTAMPTZ '2024-01-01 00:00:00+00'))::TIMESTAMP"},
		{"a call's argument stays", "SELECT upper('2024-01-01 10:00:00+02:00')::TIMESTAMP, f(('2024-01-01 10:00:00+02:00'))::TIMESTAMP, \"g\"('2024-01-01Z')::TIMESTAMP, x IN ('2024-01-01Z'), ('2024-01-01Z', 1)::TIMESTAMP",
			"SELECT upper('2024-01-01 10:00:00+02:00')::TIMESTAMP, f(('2024-01-01 10:00:00+02:00'))::TIMESTAMP, \"g\"('2024-01-01Z')::TIMESTAMP, x IN ('2024-01-01Z'), ('2024-01-01Z', 1)::TIMESTAMP"},
		{"two literals", "SELECT TIMESTAMP '2024-01-01 00:00:00Z' < TIMESTAMP '2024-01-01 01:00:00+02:00'",
			"SELECT CAST(TIMESTAMPTZ '2024-01-01 00:00:00+00' AS TIMESTAMP) < CAST(TIMESTAMPTZ '2023-12-31 23:00:00+00' AS TIMESTAMP)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, rewriteTimestampLiterals(tc.in))
		})
	}
}
