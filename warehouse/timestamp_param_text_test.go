package warehouse_test

import (
	"testing"
	"time"
)

// A TIMESTAMP parameter reads as text as the same TIMESTAMP literal does, and as
// Databricks casts a timestamp to STRING ("yyyy-MM-dd HH:mm:ss", in the session's zone,
// no offset). Bound as TIMESTAMPTZ, DuckDB appended the zone's offset ("+00", "-05").
func TestTimestampParameterAsStringMatchesLiteral(t *testing.T) {
	srv := start(t)
	at := time.Date(2024, 3, 10, 2, 30, 0, 0, time.UTC)
	for _, tc := range []struct{ params, want string }{
		{"", "2024-03-10 02:30:00"},
		{"timezone=America/New_York", "2024-03-09 21:30:00"},
	} {
		db := open(t, srv, tc.params)
		var lit, param, concat string
		if err := db.QueryRow("SELECT CAST(TIMESTAMP '"+tc.want+"' AS STRING), CAST(? AS STRING), concat(?, '')", at, at).
			Scan(&lit, &param, &concat); err != nil {
			t.Fatalf("[%s] %v", tc.params, err)
		}
		t.Logf("[%s] literal %q, parameter %q, concat %q", tc.params, lit, param, concat)
		if param != tc.want || concat != tc.want {
			t.Errorf("[%s] the parameter %v as text: CAST %q, concat %q; want %q (the literal gives %q)",
				tc.params, at, param, concat, tc.want, lit)
		}
	}
}
