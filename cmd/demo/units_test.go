package main

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// valueBytes sizes a scanned value as the bytes column says: strings and byte slices by
// their length, fixed-width values by their width, NULL as nothing.
func TestValueBytes(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want int64
	}{
		{nil, 0}, {"", 0}, {"region-7", 8}, {[]byte("abc"), 3}, {true, 1}, {int16(1), 2},
		{int32(1), 4}, {float32(1), 4}, {int64(1), 8}, {1.5, 8}, {time.Unix(0, 0), 8},
	} {
		require.Equal(t, tc.want, valueBytes(tc.v), "%T %v", tc.v, tc.v)
	}
}

// The live error count of a phase counts the statements that failed, and nothing else:
// not a statement that read no rows, nor one Ctrl-C interrupted.
func TestLiveStatsCountsFailures(t *testing.T) {
	l := newLiveStats()
	t0 := time.Now()
	l.begin[0], l.end[0] = t0, t0.Add(100*time.Millisecond) // too short for a rate
	l.add(sample{phase: 0, rows: 1})
	l.add(sample{phase: 0})                                                  // no rows: not a failure
	l.add(sample{phase: 0, err: errors.New("boom")})                         // a failure
	l.add(sample{phase: 0, err: errors.New("cancelled"), interrupted: true}) // Ctrl-C: an outcome
	require.Equal(t, "4 statements, 1 errors", l.status(0))
}

// The tee keeps the logs of a batch the endpoint acknowledged with any 2xx, as the
// exporter counts it delivered, and none of a batch it refused.
func TestTeeKeepsEvery2xx(t *testing.T) {
	body, err := json.Marshal(telemetry.Request{ProtoLogs: []string{`{"a":1}`}})
	require.NoError(t, err)
	tr := newTee(nil)
	for _, status := range []int{200, 202, 204, 299, 300, 503, 0} {
		tr.record(status, body)
	}
	require.Len(t, tr.delivered(), 4, "200, 202, 204 and 299")
	require.Equal(t, map[int]int{200: 1, 202: 1, 204: 1, 299: 1, 300: 1, 503: 1, 0: 1}, tr.answers())
	require.NoError(t, tr.close())
}
