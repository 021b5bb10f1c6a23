package driver

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

type countingRT struct{ n int }

func (c *countingRT) RoundTrip(*http.Request) (*http.Response, error) {
	c.n++
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(""))}, nil
}

// The driver's own telemetry (its feature-flag fetch and its ingest posts) is answered by
// the transport and never leaves the process: the built-in telemetry stays off on
// wrapped connections, so no statement is counted twice. With our telemetry off too the
// transport does that and nothing else: every other call goes on as is.
func TestTransportKeepsBuiltinTelemetryOff(t *testing.T) {
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("off=%v", off), func(t *testing.T) {
			base := &countingRT{}
			tr := &transport{base: base, c: &Connector{}, off: off}
			for _, tc := range []struct {
				method, path, want string
			}{
				{http.MethodGet, "/api/2.0/connector-service/feature-flags/GOLANG/1.15.1", `"flags":[]`},
				{http.MethodPost, "/telemetry-ext", `"numSuccess":0`},
				{http.MethodPost, "/telemetry-unauth", `"numSuccess":0`},
			} {
				req := httptest.NewRequest(tc.method, "https://example.cloud.databricks.com"+tc.path, strings.NewReader("{}"))
				resp, err := tr.RoundTrip(req)
				require.NoError(t, err)
				body, _ := io.ReadAll(resp.Body)
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Contains(t, string(body), tc.want)
			}
			assert.Zero(t, base.n, "nothing reached the network")
			if off {
				req := httptest.NewRequest(http.MethodGet, "https://example.cloud.databricks.com/files/1", nil)
				_, err := tr.RoundTrip(req)
				require.NoError(t, err)
				assert.Equal(t, 1, base.n, "any other call goes on")
			}
		})
	}
}

// A statement leaves no CloudFetch link behind, whether its Rows close before its files
// are read or a failed download ended it (a terminal error finishes the statement
// before its Rows close).
func TestLinksAreForgotten(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  *warehouse.Fault
		wantOK bool
	}{
		{name: "rows closed early", wantOK: true},
		{name: "download fails", fault: &warehouse.Fault{Status: http.StatusNotFound, Times: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := warehouse.NewServer(warehouse.WithCloudFetchThreshold(10), warehouse.WithChunkRows(100), warehouse.WithBatchRows(100))
			require.NoError(t, err)
			defer srv.Close()
			if tc.fault != nil {
				srv.InjectFaults(warehouse.GroupCloudFetch, *tc.fault)
			}
			c, err := OpenConnector(srv.DSN()+"?enableTelemetry=true&maxDownloadThreads=1", WithHosts(NewHosts()))
			require.NoError(t, err)
			db := sql.OpenDB(c)
			for range 5 {
				rows, err := db.Query("SELECT range FROM range(5000)")
				require.NoError(t, err)
				assert.Equal(t, tc.wantOK, rows.Next())
				if !tc.wantOK {
					assert.Error(t, rows.Err())
				}
				require.NoError(t, rows.Close())
			}
			left := 0
			c.links.Range(func(any, any) bool { left++; return true })
			assert.Zero(t, left, "links of files never downloaded")
			require.NoError(t, db.Close())
		})
	}
}

// Driver.Open makes a connector per connection (database/sql never calls it, but wrappers
// of drivers may): closing the connection releases that connector's host.
func TestDriverOpenReleasesItsConnector(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	d := &Driver{hosts: NewHosts()}
	for range 3 {
		conn, err := d.Open(srv.DSN() + "?enableTelemetry=true")
		require.NoError(t, err)
		assert.Equal(t, 1, d.hosts.Refs(srv.URL()))
		require.NoError(t, conn.Close())
		require.Eventually(t, func() bool { return d.hosts.Len() == 0 }, 5*time.Second, 5*time.Millisecond,
			"the connection's connector released its host")
	}
	require.NoError(t, d.hosts.Close(context.Background())) // waits for the last release's flush
	assert.NotEmpty(t, srv.TelemetryLogs(), "its telemetry was flushed")
}

// A connection Driver.Open fails to open releases the connector made for it: nothing else
// holds that connector, and its host would stay acquired for the life of the program.
func TestDriverOpenFailureReleasesItsConnector(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	d := &Driver{hosts: NewHosts()}
	t.Cleanup(func() { _ = d.hosts.Close(context.Background()) })
	// Every OpenSession gets a 404, which the driver does not retry.
	srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Status: http.StatusNotFound, Times: -1})
	conn, err := d.Open(srv.DSN() + "?enableTelemetry=true")
	require.Error(t, err)
	require.Nil(t, conn)
	require.Positive(t, srv.FaultsServed(warehouse.GroupThrift), "the connection was tried")
	require.Eventually(t, func() bool { return d.hosts.Len() == 0 }, 5*time.Second, 5*time.Millisecond,
		"the failed connection's connector released its host")
}

// authorization answers as Header.Get("Authorization") does, whichever way the header
// was set.
func TestAuthorizationIsHeaderGet(t *testing.T) {
	tests := []struct {
		name string
		set  func(h http.Header)
	}{
		{"none", func(http.Header) {}},
		{"set", func(h http.Header) { h.Set("authorization", "Bearer a") }},
		{"added twice", func(h http.Header) { h.Add("Authorization", "Bearer a"); h.Add("Authorization", "Bearer b") }},
		{"empty value", func(h http.Header) { h.Set("Authorization", "") }},
		{"empty list", func(h http.Header) { h["Authorization"] = nil }},
		{"key not canonical", func(h http.Header) { h["authorization"] = []string{"Bearer a"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			tt.set(h)
			assert.Equal(t, h.Get("Authorization"), authorization(h))
		})
	}
}

// Rows closed while CloudFetch downloads are in flight: a download cut short is no
// chunk, and nothing reported after the statement's completion opens a second log for
// it. Files 3 and 4 drip their bodies, so that the download of file 3 (started once the
// rows reach it, with two download threads) is in flight when the rows close.
func TestNoChunkAfterTheStatementCompleted(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	srv.InjectFaults(warehouse.GroupCloudFetch, warehouse.Fault{}, warehouse.Fault{},
		warehouse.Fault{Garbage: true, BodyBytes: 200, SlowDrip: 5 * time.Millisecond, Times: 2})
	c, err := OpenConnector(srv.DSN()+"?enableTelemetry=true&telemetry_flush_interval=50ms&maxDownloadThreads=2", WithHosts(NewHosts()))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	rows, err := db.QueryContext(context.Background(), "SELECT range FROM range(1000000)")
	require.NoError(t, err)
	for i := range 250_001 {
		require.True(t, rows.Next(), "row %d: %v", i, rows.Err())
	}
	require.NoError(t, rows.Close())
	time.Sleep(500 * time.Millisecond) // the cut downloads end meanwhile
	assert.Zero(t, c.Stats().OpenStatements, "no entry reopened by a late chunk")
	require.NoError(t, db.Close())

	statements := 0
	for _, raw := range srv.TelemetryLogs() {
		var l telemetry.FrontendLog
		require.NoError(t, json.Unmarshal([]byte(raw), &l))
		d := l.Entry.SQLDriverLog
		if d.SQLStatementID == "" {
			continue
		}
		statements++
		require.NotNil(t, d.SQLOperation)
		if cd := d.SQLOperation.ChunkDetails; cd != nil {
			assert.LessOrEqual(t, cd.TotalChunksIterated, int32(2), "only files read whole are chunks")
		}
	}
	assert.Equal(t, 1, statements, "one log for the statement")
}

// With telemetry off, the driver's CloudFetch downloads still go through
// http.DefaultClient's transport, as unwrapped, not the connector's.
func TestTransportOffDownloadsUseTheDefaultClient(t *testing.T) {
	dflt := &countingRT{}
	saved := http.DefaultClient.Transport
	http.DefaultClient.Transport = dflt
	t.Cleanup(func() { http.DefaultClient.Transport = saved })
	base := &countingRT{}
	tr := &transport{base: base, c: &Connector{}, off: true}
	req := httptest.NewRequest(http.MethodGet, "https://files.example.com/cloudfetch/1", nil)
	_, err := downloadTransport{t: tr}.RoundTrip(req)
	require.NoError(t, err)
	assert.Equal(t, 1, dflt.n, "through http.DefaultClient's transport")
	assert.Zero(t, base.n, "not through the connector's")
}
