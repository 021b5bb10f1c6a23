package exporter

import (
	"net/http"
	"testing"
	"time"
)

// retryAfter reads the server's Retry-After on a 429 or 503, in seconds or as an HTTP
// date, bounded by a day (which the export's own cap then bounds further) so that no
// value, however large, overflows a time.Duration.
func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		status int
		header string
		want   time.Duration
	}{
		{"seconds", 429, "7", 7 * time.Second},
		{"on 503", 503, "2", 2 * time.Second},
		{"an HTTP date", 429, now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"a date past", 503, now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"a day at most", 429, "172800", 24 * time.Hour},
		{"seconds that would overflow a Duration", 429, "99999999999", 24 * time.Hour},
		{"seconds that overflow an int64", 503, "99999999999999999999999", 24 * time.Hour},
		{"a date years ahead", 429, now.AddDate(5, 0, 0).Format(http.TimeFormat), 24 * time.Hour},
		{"zero", 429, "0", 0},
		{"negative", 429, "-5", 0},
		{"garbage", 429, "soon", 0},
		{"absent", 429, "", 0},
		{"not on a 500", 500, "30", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
			if tc.header != "" {
				resp.Header.Set("Retry-After", tc.header)
			}
			if got := retryAfter(resp, now); got != tc.want {
				t.Fatalf("Retry-After %q on %d: %v, want %v", tc.header, tc.status, got, tc.want)
			}
		})
	}
}
