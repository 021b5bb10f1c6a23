package driver_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tdriver "github.com/dbtelemetry/dbtelemetry/driver"
)

// rebuiltReplies is a caller's transport (dbsql.WithTransport) that reads every Thrift
// reply and hands the driver a Response of its own making, as recording, replaying or
// body-rewriting middleware does: its Content-Length is what length says of the body
// (the zero value of a Response built without it, a stale one), or the body is nil.
type rebuiltReplies struct {
	length  func(n int) int64
	nilBody bool
}

func (r rebuiltReplies) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	out := &http.Response{Status: resp.Status, StatusCode: resp.StatusCode, Proto: resp.Proto,
		ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor, Header: resp.Header, Request: req,
		ContentLength: r.length(len(b))}
	if !r.nilBody {
		out.Body = io.NopCloser(bytes.NewReader(b))
	}
	return out, nil
}

// The raw driver reads each Thrift reply to its end whatever the Response's
// Content-Length says (Thrift's THttpClient reads the body), and makes an empty body of a
// nil one (http.Client): a caller's transport whose Responses carry no Content-Length, a
// stale one, or no body, gets the raw driver's results and errors through the wrapper too,
// not a session that cannot open, a reply cut short, or a panic.
func TestCallerRepliesOfAnyContentLengthAsUnwrapped(t *testing.T) {
	srv := cloudFetchServer(t)
	cases := []struct {
		name string
		rt   rebuiltReplies
	}{
		{"no Content-Length (zero value)", rebuiltReplies{length: func(int) int64 { return 0 }}},
		{"Content-Length overstated", rebuiltReplies{length: func(n int) int64 { return int64(n) + 100 }}},
		{"Content-Length understated", rebuiltReplies{length: func(n int) int64 { return int64(n / 2) }}},
		{"nil body", rebuiltReplies{length: func(int) int64 { return 0 }, nilBody: true}},
	}
	outcome := func(db *sql.DB) (out string) {
		defer func() {
			if r := recover(); r != nil {
				out = fmt.Sprint("panic: ", r)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var small int
		err := db.QueryRowContext(ctx, "SELECT 7").Scan(&small)
		if err != nil {
			return "small: " + scrubIDs(err.Error())
		}
		_, eerr := db.ExecContext(ctx, "SELECT * FROM nosuch")
		rows, err := db.QueryContext(ctx, "SELECT range FROM range(25000)") // CloudFetch
		if err != nil {
			return "big: " + scrubIDs(err.Error())
		}
		defer rows.Close()
		var n, sum int64
		for rows.Next() {
			var v int64
			if err := rows.Scan(&v); err != nil {
				return "scan: " + err.Error()
			}
			n, sum = n+1, sum+v
		}
		return fmt.Sprint(small, " ", n, " ", sum, " ", rows.Err(), " | ", shapeOf(eerr))
	}
	retries := dbsql.WithRetries(1, 10*time.Millisecond, 20*time.Millisecond)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := dbsql.NewConnector(append(connOptions(srv), retries, dbsql.WithTransport(tc.rt))...)
			require.NoError(t, err)
			raw := sql.OpenDB(rc)
			defer raw.Close()
			wc, err := tdriver.OpenConnector(srv.DSN()+"?enableTelemetry=true",
				tdriver.WithConnOptions(retries, dbsql.WithTransport(tc.rt)), tdriver.WithHosts(tdriver.NewHosts()))
			require.NoError(t, err)
			wrapped := sql.OpenDB(wc)
			defer wrapped.Close()
			want := outcome(raw)
			assert.Equal(t, want, outcome(wrapped))
		})
	}
}
