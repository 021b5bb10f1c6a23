package driver_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tdriver "github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// describeConnectorRun runs a few statements through a connector and describes what the caller and the
// warehouse saw.
func describeConnectorRun(srv *warehouse.Server, c driver.Connector, newErr error) string {
	if newErr != nil {
		return "NewConnector: " + scrubIDs(newErr.Error())
	}
	db := sql.OpenDB(c)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before := len(srv.Sessions())
	var out []string
	var tz, s string
	var ts time.Time
	err := db.QueryRowContext(ctx, "SELECT current_setting('TimeZone'), TIMESTAMP '2024-01-01 00:00:00', CAST(1.25 AS DECIMAL(5,2))").Scan(&tz, &ts, &s)
	out = append(out, fmt.Sprint("q1: ", tz, " ", ts, " ", s, " ", parityErrText(err)))
	n, err := queryRows(ctx, db, "SELECT range FROM range(2500)")
	out = append(out, fmt.Sprint("q2: ", n, " ", parityErrText(err)))
	sess := srv.Sessions()
	if len(sess) > before {
		r := sess[len(sess)-1]
		keys := make([]string, 0, len(r.Configuration))
		for k, v := range r.Configuration {
			keys = append(keys, k+"="+v)
		}
		sort.Strings(keys)
		out = append(out, fmt.Sprint("session: ", keys, " ns=", r.InitialNamespace, " proto=", r.ClientProtocol,
			" ua=", r.Header.Get("User-Agent")))
	}
	st := srv.Statements()
	if len(st) > 0 {
		last := st[len(st)-1]
		out = append(out, fmt.Sprint("stmt: delivery=", last.Delivery, " fetches=", last.Fetches))
	}
	return strings.Join(out, "\n")
}

// parityErrText is an error's text without the ids that differ from run to run.
func parityErrText(err error) string {
	if err == nil {
		return "ok"
	}
	return scrubIDs(err.Error())
}

// Every dbsql option given to NewConnector (WithConnOptions) does as it does for the
// driver's own dbsql.NewConnector: the same results, the same session on the warehouse
// (configuration, namespace, protocol, User-Agent), the same delivery and the same errors.
func TestConnectorOptionsAsTheDriversOwn(t *testing.T) {
	srv, err := warehouse.NewServer(warehouse.WithCloudFetchThreshold(1000), warehouse.WithChunkRows(1000))
	require.NoError(t, err)
	defer srv.Close()
	base := connOptions(srv)
	cases := map[string][]dbsql.ConnOption{
		"base":             nil,
		"user agent":       {dbsql.WithUserAgentEntry("my-app/1.0")},
		"session params":   {dbsql.WithSessionParams(map[string]string{"timezone": "Asia/Tokyo", "ansi_mode": "false"})},
		"query tags":       {dbsql.WithQueryTags(map[string]string{"team": "x"})},
		"namespace":        {dbsql.WithInitialNamespace("main", "default")},
		"max rows":         {dbsql.WithMaxRows(100)},
		"no cloudfetch":    {dbsql.WithCloudFetch(false)},
		"timeout":          {dbsql.WithTimeout(30 * time.Second)},
		"native decimal":   {dbsql.WithArrowNativeDecimal(true)},
		"metric view":      {dbsql.WithEnableMetricViewMetadata(true)},
		"retries":          {dbsql.WithRetries(-1, 0, 0)},
		"download thr":     {dbsql.WithMaxDownloadThreads(1)},
		"kernel decimal":   {dbsql.WithKernelDecimalAsFloat(true)},
		"use kernel":       {dbsql.WithUseKernel(true)},
		"skip tls":         {dbsql.WithSkipTLSHostVerify()},
		"tags then params": {dbsql.WithQueryTags(map[string]string{"team": "x"}), dbsql.WithSessionParams(map[string]string{"a": "b"})},
		"params then tags": {dbsql.WithSessionParams(map[string]string{"a": "b"}), dbsql.WithQueryTags(map[string]string{"team": "x"})},
		"no host":          {dbsql.WithServerHostname("")},
		"no path":          {dbsql.WithHTTPPath("")},
		"wrong token":      {dbsql.WithAccessToken("nope")},
		"static token":     {dbsql.WithStaticToken("nope")},
	}
	names := make([]string, 0, len(cases))
	for k := range cases {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			opts := append(append([]dbsql.ConnOption{}, base...), cases[name]...)
			rc, rerr := dbsql.NewConnector(opts...)
			want := describeConnectorRun(srv, rc, rerr)
			t.Logf("raw:\n%s", want)
			for _, on := range []bool{true, false} {
				wc, werr := tdriver.NewConnector(tdriver.WithConnOptions(opts...), tdriver.WithTelemetry(on), tdriver.WithHosts(tdriver.NewHosts()))
				var c driver.Connector
				if werr == nil {
					c = wc
				}
				got := describeConnectorRun(srv, c, werr)
				assert.Equal(t, want, got, "telemetry %v", on)
			}
		})
	}
}
