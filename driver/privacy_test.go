package driver_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// No token, SQL text, parameter value or CloudFetch URL appears in any exported byte.
func TestNothingPrivateIsExported(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	db, err := sql.Open("databricks-telemetry", srv.DSN()+"?telemetry_flush_interval=50ms")
	require.NoError(t, err)
	const secretParam = "s3cr3t-param-value"
	var s string
	require.NoError(t, db.QueryRow("SELECT 'literal-in-sql' || ?", secretParam).Scan(&s))
	rows, err := db.Query("SELECT range AS private_column FROM range(300000)")
	require.NoError(t, err)
	for rows.Next() {
	}
	require.NoError(t, rows.Close())
	_, err = db.Exec("SELECT * FROM secret_table_name WHERE password = 'hunter2'")
	require.ErrorContains(t, err, "secret_table_name", "the user's error names the table")
	_, err = db.Exec("SELECT secret_column_name FROM range(1)")
	require.ErrorContains(t, err, "secret_column_name")
	// Values a failed cast quotes without quotes: a parameter's and a stored one.
	_, err = db.Exec("SELECT CAST(? AS TINYINT)", int64(987654321))
	require.ErrorContains(t, err, "987654321")
	_, err = db.Exec("SELECT CAST(x AS SMALLINT) FROM (SELECT 4242424.0 AS x)")
	require.ErrorContains(t, err, "4242424")
	// Secrets a server echoes in words of its own: a cookie list (only its first cookie's
	// key names a secret), a link's signature encoded twice, and one JSON-escaped as Gson
	// escapes every '='.
	echoed := map[string]string{
		"Cookie: lang=en; DBAUTH=QxCookieListVal":                            "QxCookieListVal",
		"headers map[Cookie:[lang=en; DBAUTH=QxGoHeaderVal] User-Agent:[x]]": "QxGoHeaderVal",
		"next=%252Ff%253Fsv%253D2020%2526sig%253DQxTwiceEncodedVal":          "QxTwiceEncodedVal",
		`f.arrow?sv\u003d1\u0026sig\u003dQxGsonEscapedVal`:                   "QxGsonEscapedVal",
		// Typed by hand: a password in typographic quotes or after a full-width '=', a
		// token as a link's path element, a web session's id, a token named in prose.
		"password=\u201cQxCurlyOne QxCurlyTwo\u201d rejected":   "QxCurlyTwo",
		"password\uff1dQxFullWidthVal rejected":                 "QxFullWidthVal",
		"see https://h.example/reset/token/QxPathTok0123456789": "QxPathTok0123456789",
		"GET https://h.example/app;jsessionid=QxJSessionVal":    "QxJSessionVal",
		"the access token QxProseTok0123 has expired":           "QxProseTok0123",
	}
	for msg, secret := range echoed {
		_, err = db.Exec("SELECT error(?)", msg)
		require.ErrorContains(t, err, secret, "the user's error is the server's")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1100*time.Millisecond)
	_, _ = db.ExecContext(ctx, "SELECT wait_ms(5000)")
	cancel()
	require.NoError(t, db.Close())

	reqs := srv.TelemetryRequests()
	require.NotEmpty(t, reqs)
	forbidden := []string{
		srv.Token(), "literal-in-sql", secretParam, "private_column", "hunter2",
		"secret_table_name", "secret_column_name", "987654321", "4242424",
		"/cloudfetch/", "X-Signature", "X-Expires", "SELECT", "wait_ms",
	}
	for _, secret := range echoed {
		forbidden = append(forbidden, secret)
	}
	var all strings.Builder
	for _, r := range reqs {
		body := string(r.Body)
		all.WriteString(body)
		for _, f := range forbidden {
			assert.NotContains(t, body, f)
		}
		assert.Equal(t, "Bearer "+srv.Token(), r.Header.Get("Authorization"), "credentials go to the DSN's own host only")
	}
	// The failed statements were exported, with what may leave of their errors.
	assert.Contains(t, all.String(), "TABLE_OR_VIEW_NOT_FOUND")
	assert.Contains(t, all.String(), "UNRESOLVED_COLUMN")
	st := srv.Statements()
	assert.True(t, strings.HasPrefix(st[1].SQL, "SELECT range"))
	assert.Equal(t, warehouse.DeliveryCloudFetch, st[1].Delivery)
}

// A launcher (or exec -a) may put a whole command line in os.Args[0]: the exported
// process name is the program's base name, never one of its arguments (SPEC §4a).
func TestCommandLineInArgsZeroIsNotExported(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	saved := os.Args[0]
	t.Cleanup(func() { os.Args[0] = saved })
	for _, args0 := range []string{
		exe + " https://example.com/load?access_token=QxArgTokenVal /home/alice/QxArgFile.csv",
		"/opt/bin/etl data/QxArgFile.csv", // no prefix is the executable
	} {
		os.Args[0] = args0
		srv, err := warehouse.NewServer()
		require.NoError(t, err)
		db, err := sql.Open("databricks-telemetry", srv.DSN())
		require.NoError(t, err)
		var n int
		require.NoError(t, db.QueryRow("SELECT 1").Scan(&n))
		require.NoError(t, db.Close())
		seen := 0
		for _, l := range decodeLogs(t, srv) {
			if sc := l.Entry.SQLDriverLog.SystemConfiguration; sc != nil {
				assert.Equal(t, filepath.Base(exe), sc.ProcessName, args0)
				seen++
			}
		}
		assert.Equal(t, 3, seen, "the session's open, its statement and its close")
		for _, l := range srv.TelemetryLogs() {
			assert.NotContains(t, l, "QxArg")
		}
		require.NoError(t, srv.Close())
	}
}

// The driver's own options can send it to another server than the DSN names: that
// server's credentials must never reach the DSN's host, so telemetry stays off.
func TestCredentialsOfAnotherServerStayOff(t *testing.T) {
	dsnHost, err := warehouse.NewServer()
	require.NoError(t, err)
	defer dsnHost.Close()
	other, err := warehouse.NewServer()
	require.NoError(t, err)
	defer other.Close()
	require.NotEqual(t, dsnHost.Token(), other.Token())

	c, err := driver.OpenConnector(dsnHost.DSN()+"?enableTelemetry=true&telemetry_flush_interval=50ms",
		driver.WithHosts(driver.NewHosts()), driver.WithConnOptions(connOptions(other)...))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	var n int
	require.NoError(t, db.QueryRow("SELECT 41 + 1").Scan(&n))
	assert.Equal(t, 42, n, "the query runs as the driver's options say")
	require.NoError(t, db.Close())

	require.NotEmpty(t, other.Statements(), "the driver talked to the other server")
	assert.Empty(t, dsnHost.Statements())
	for _, r := range append(dsnHost.TelemetryRequests(), other.TelemetryRequests()...) {
		assert.NotContains(t, r.Header.Get("Authorization"), other.Token(), "%s got the other server's credentials", r.Path)
	}
	assert.Empty(t, dsnHost.TelemetryRequests(), "nothing is exported about another server's statements")
	assert.Zero(t, dsnHost.FeatureFlagRequests())
	assert.Positive(t, c.Stats().Dropped.Closed, "what was not exported is counted")
}

// A value holding the quote that the server quotes it with (unescaped, as DuckDB and
// Databricks print it) is not exported, not even the part after its own quote.
func TestValueHoldingItsQuoteIsNotExported(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	db, err := sql.Open("databricks-telemetry", srv.DSN()+"?enableTelemetry=true&telemetry_flush_interval=50ms")
	require.NoError(t, err)
	const tail = "tail-Wq8"
	for _, q := range []struct{ sql, param string }{
		{"SELECT CAST(? AS INTEGER)", "It's 'quoted' " + tail},
		{"SELECT json(?)", `{"ssn": ` + tail + `}`},
	} {
		_, err = db.Exec(q.sql, q.param)
		require.ErrorContains(t, err, tail, "the user's error quotes the value")
	}
	require.NoError(t, db.Close())
	reqs := srv.TelemetryRequests()
	require.NotEmpty(t, reqs)
	for _, r := range reqs {
		assert.NotContains(t, string(r.Body), tail)
	}
}
