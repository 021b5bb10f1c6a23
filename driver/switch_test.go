package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// runSome runs a few statements and closes the pool (which flushes telemetry).
func runSome(t *testing.T, srv *warehouse.Server, params string) {
	t.Helper()
	db, err := sql.Open("databricks-telemetry", srv.DSN()+"?"+params)
	require.NoError(t, err)
	var v int
	require.NoError(t, db.QueryRow("SELECT 40 + ?", 2).Scan(&v))
	require.Equal(t, 42, v)
	_, _ = db.Exec("SELECT * FROM nope")
	require.NoError(t, db.Close())
}

func TestEnableTelemetrySwitch(t *testing.T) {
	cases := []struct {
		name     string
		flag     bool
		params   string
		wantLogs bool
	}{
		{"DSN false: nothing at all", true, "enableTelemetry=false", false},
		{"flag off, no DSN param: nothing", false, "", false},
		{"flag on, no DSN param: logs", true, "", true},
		{"DSN true overrides a server false", false, "enableTelemetry=true", true},
		{"DSN true with flag on", true, "enableTelemetry=1", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := warehouse.NewServer(warehouse.WithTelemetryFlag(tc.flag))
			require.NoError(t, err)
			defer srv.Close()
			runSome(t, srv, tc.params)
			if tc.wantLogs {
				assert.NotEmpty(t, srv.TelemetryLogs())
				return
			}
			assert.Empty(t, srv.TelemetryRequests(), "the ingest receives nothing")
			if strings.Contains(tc.params, "false") {
				assert.Zero(t, srv.FeatureFlagRequests(), "not even the flag is asked")
			}
		})
	}
}

// A long-lived pool follows the server's flag: every new connection asks again, and the
// host's cache answers from memory until its TTL has passed; off stops the export, on
// starts it again.
func TestServerFlagIsFollowed(t *testing.T) {
	srv, err := warehouse.NewServer() // flag on, TTL 15 min
	require.NoError(t, err)
	defer srv.Close()
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	later := func() { now.Add(int64(16 * time.Minute)) }
	hosts := driver.NewHosts(exporter.WithClock(func() time.Time { return time.Unix(0, now.Load()) }))
	defer func() { _ = hosts.Close(context.Background()) }()
	c, err := driver.NewConnector(driver.WithConnOptions(connOptions(srv)...), driver.WithHosts(hosts))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	defer db.Close()
	db.SetMaxIdleConns(0) // a new connection for every query
	// counted runs a query and reports whether its events reached the aggregator.
	counted := func() bool {
		before := c.Stats().Received
		var v int
		require.NoError(t, db.QueryRow("SELECT 1").Scan(&v))
		return c.Stats().Received > before
	}
	wait := func(on bool) {
		t.Helper()
		require.Eventually(t, func() bool { return counted() == on }, 5*time.Second, 10*time.Millisecond)
		for range 3 {
			assert.Equal(t, on, counted(), "and stays so")
		}
	}

	wait(true)
	srv.SetTelemetryFlag(false)
	assert.True(t, counted(), "the cached answer holds until its TTL has passed")
	later()
	wait(false)
	asked := srv.FeatureFlagRequests()
	srv.SetTelemetryFlag(true)
	later()
	wait(true)
	assert.Greater(t, srv.FeatureFlagRequests(), asked)
}

func TestKillSwitch(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	c, err := driver.NewConnector(
		driver.WithConnOptions(connOptions(srv)...),
		driver.WithTelemetry(true),
		driver.WithLookupEnv(func(k string) (string, bool) { return "yes", k == "DATABRICKS_TELEMETRY_DISABLED" }),
	)
	require.NoError(t, err)
	db := sql.OpenDB(c)
	var v int
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&v))
	require.NoError(t, db.Close())
	assert.Empty(t, srv.TelemetryRequests())
}

func TestBadTelemetryParamsFailOpen(t *testing.T) {
	for _, p := range []string{
		"enableTelemetry=maybe",
		"telemetry_batch_size=abc",
		"telemetry_batch_size=0",
		"telemetry_flush_interval=-1s",
		"telemetry_retry_count=99",
		"telemetry_retry_delay=forever",
		"enableTelemetry=false;",    // url.Values would drop the pair: telemetry left to the flag
		"telemetry_batch_size=1%zz", // the same, for an invalid escape
		"EnableTelemetry=false",     // another case: it would become a session parameter
		"TELEMETRY_RETRY_COUNT=5",
	} {
		name := p[:strings.IndexByte(p, '=')]
		_, err := sql.Open("databricks-telemetry", "token:x@example.cloud.databricks.com:443/sql/1.0/warehouses/w?"+p)
		require.Error(t, err, p)
		assert.True(t, errors.Is(err, driver.ErrInvalidParam), p)
		assert.Contains(t, err.Error(), name, "the error names the parameter")
		// A pipeline setting's bad value is an invalid config, as through WithBatchSize.
		pipeline := strings.HasPrefix(name, "telemetry_")
		assert.Equal(t, pipeline, errors.Is(err, telemetry.ErrInvalidConfig), p)
	}
}

// Enabled says whether the connector's telemetry is switched on, as the kill switch, the
// DSN and WithTelemetry decide (a malformed pair elsewhere in the DSN is dropped, the rest
// counts).
func TestConnectorEnabled(t *testing.T) {
	const dsn = "token:dapi-x@adb-1.azuredatabricks.net:443/sql/1.0/warehouses/w"
	noEnv := driver.WithLookupEnv(func(string) (string, bool) { return "", false })
	killed := driver.WithLookupEnv(func(string) (string, bool) { return "1", true })
	for _, tc := range []struct {
		dsn  string
		opts []driver.Option
		on   bool
	}{
		{dsn, []driver.Option{noEnv}, true},
		{dsn + "?enableTelemetry=false", []driver.Option{noEnv}, false},
		{dsn + "?catalog=main&enableTelemetry=0", []driver.Option{noEnv}, false},
		{dsn + "?enableTelemetry=true", []driver.Option{noEnv}, true},
		{dsn + "?a=%zz&enableTelemetry=false", []driver.Option{noEnv}, false},
		{dsn + "?enableTelemetry=true", []driver.Option{killed}, false},
		{dsn, []driver.Option{noEnv, driver.WithTelemetry(false)}, false},
	} {
		c, err := driver.OpenConnector(tc.dsn, tc.opts...)
		require.NoError(t, err, tc.dsn)
		assert.Equal(t, tc.on, c.Enabled(), tc.dsn)
		require.NoError(t, c.Close())
	}
}

// Our options are held to the bounds of the DSN parameters they share: out of them,
// making the connector fails with an error that names the setting and what it accepts.
func TestBadTelemetryOptionsFailOpen(t *testing.T) {
	dsn := "token:x@example.cloud.databricks.com:443/sql/1.0/warehouses/w"
	for _, tc := range []struct {
		opt  driver.Option
		name string
	}{
		{driver.WithBatchSize(-1), "BatchSize"},
		{driver.WithBatchSize(20000), "BatchSize"},
		{driver.WithFlushInterval(time.Nanosecond), "FlushInterval"},
		{driver.WithFlushInterval(2 * time.Hour), "FlushInterval"},
		{driver.WithTelemetryConfig(telemetry.Config{RetryCount: 11}), "RetryCount"},
		{driver.WithTelemetryConfig(telemetry.Config{RetryDelay: time.Minute}), "RetryDelay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := driver.OpenConnector(dsn, tc.opt)
			require.ErrorIs(t, err, telemetry.ErrInvalidConfig)
			assert.Contains(t, err.Error(), tc.name)
			assert.Contains(t, err.Error(), "want ")
			_, err = driver.NewConnector(tc.opt)
			require.ErrorIs(t, err, telemetry.ErrInvalidConfig)
		})
	}
	// In bounds (zero: the default) they are taken.
	c, err := driver.OpenConnector(dsn, driver.WithBatchSize(0), driver.WithFlushInterval(10*time.Millisecond))
	require.NoError(t, err)
	require.NoError(t, c.Close())
}

// A nil Option is no option, as in the aggregator, exporter and telemetry packages: a
// conditional option left unset (var logOpt driver.Option) does not panic the program.
// Nor does a nil option of the driver's passed through WithConnOptions (var tokenOpt
// dbsql.ConnOption), which the raw driver would call.
func TestNilOptionIsIgnored(t *testing.T) {
	dsn := "token:x@example.cloud.databricks.com:443/sql/1.0/warehouses/w"
	var unset driver.Option
	var unsetConn dbsql.ConnOption
	for name, open := range map[string]func() (*driver.Connector, error){
		"OpenConnector, a nil ConnOption": func() (*driver.Connector, error) {
			return driver.OpenConnector(dsn, driver.WithConnOptions(unsetConn, dbsql.WithMaxRows(7)), driver.WithHosts(driver.NewHosts()))
		},
		"NewConnector, a nil ConnOption": func() (*driver.Connector, error) {
			return driver.NewConnector(driver.WithConnOptions(dbsql.WithServerHostname("example.cloud.databricks.com"), unsetConn),
				driver.WithHosts(driver.NewHosts()))
		},
		"OpenConnector": func() (*driver.Connector, error) {
			return driver.OpenConnector(dsn, unset, driver.WithBatchSize(7))
		},
		"NewConnector": func() (*driver.Connector, error) {
			return driver.NewConnector(driver.WithConnOptions(dbsql.WithServerHostname("example.cloud.databricks.com")), unset)
		},
	} {
		t.Run(name, func(t *testing.T) {
			var c *driver.Connector
			var err error
			require.NotPanics(t, func() { c, err = open() })
			require.NoError(t, err)
			require.NoError(t, c.Close())
		})
	}
}

// The same workload through both drivers gives the same results and the same errors.
func TestResultsIdenticalToRawDriver(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	raw, err := sql.Open("databricks", srv.DSN())
	require.NoError(t, err)
	defer raw.Close()
	wrapped, err := sql.Open("databricks-telemetry", srv.DSN())
	require.NoError(t, err)
	defer wrapped.Close()
	ctx := context.Background()
	queries := []struct {
		q    string
		args []any
	}{
		{"SELECT 1 AS a, 'x' AS b, CAST(NULL AS INTEGER) AS c", nil},
		{"SELECT ? * 2, ?", []any{21, "s"}},
		{"SELECT range, range * 1.5 FROM range(150000)", nil},
		{"SELECT DATE '2024-01-02', TIMESTAMP '2024-01-02 03:04:05.678', CAST(1.25 AS DECIMAL(5,2))", nil},
		{"SELECT * FROM missing_table", nil},
		{"SELEC 1", nil},
		{"SELECT CAST('x' AS INTEGER)", nil},
	}
	dump := func(db *sql.DB, q string, args []any) ([]string, [][]any, string) {
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, nil, err.Error()
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]any
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			out = append(out, vals)
		}
		if err := rows.Err(); err != nil {
			return cols, out, err.Error()
		}
		return cols, out, ""
	}
	for _, q := range queries {
		rc, rv, re := dump(raw, q.q, q.args)
		wc, wv, we := dump(wrapped, q.q, q.args)
		assert.Equal(t, rc, wc, q.q)
		assert.Equal(t, rv, wv, q.q)
		assert.Equal(t, scrubIDs(re), scrubIDs(we), q.q)
	}
	// database/sql errors too: Begin is not implemented by the driver.
	_, rawErr := raw.BeginTx(ctx, nil)
	_, wErr := wrapped.BeginTx(ctx, nil)
	require.Error(t, rawErr)
	assert.Equal(t, rawErr.Error(), wErr.Error())
	time.Sleep(0)
}

// scrubIDs drops the statement ids error texts carry.
func scrubIDs(s string) string {
	for _, f := range strings.Fields(s) {
		if len(f) == 36 && strings.Count(f, "-") == 4 {
			s = strings.ReplaceAll(s, f, "<id>")
		}
	}
	return s
}

// telemetry_retry_count and telemetry_retry_delay configure the host's exporter: the
// first retry waits the delay, the next one twice as long (each plus up to 100 ms of
// jitter), up to the 1 s cap.
func TestRetryParamsReachTheExporter(t *testing.T) {
	for _, tc := range []struct {
		params   string
		attempts int
		gaps     []time.Duration // the least time between one attempt and the next
	}{
		{"telemetry_retry_count=0", 1, nil},
		{"telemetry_retry_count=2&telemetry_retry_delay=5ms", 3, []time.Duration{5 * time.Millisecond, 10 * time.Millisecond}},
		{"telemetry_retry_count=2&telemetry_retry_delay=400ms", 3, []time.Duration{400 * time.Millisecond, 800 * time.Millisecond}},
		{"telemetry_retry_count=2&telemetry_retry_delay=1s", 3, []time.Duration{time.Second, time.Second}},
	} {
		t.Run(tc.params, func(t *testing.T) {
			srv, err := warehouse.NewServer()
			require.NoError(t, err)
			defer srv.Close()
			srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: 503, Times: -1})
			c, err := driver.OpenConnector(srv.DSN() + "?enableTelemetry=true&" + tc.params)
			require.NoError(t, err)
			db := sql.OpenDB(c)
			_, _ = db.Exec("SELECT * FROM nope") // a terminal error: exported at once
			// Flush waits for the export in flight, retries included, which Close's 2 s
			// would cut short.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = c.Flush(ctx)
			require.NoError(t, db.Close())
			reqs := srv.TelemetryRequests()
			batches := map[string]bool{}
			for _, r := range reqs {
				batches[string(r.Body)] = true // a retry sends the same bytes again
			}
			require.NotEmpty(t, batches)
			// The first batch (the error's): the first try plus its retries, one after
			// another. The last, at Close, may be cut short by Close's deadline.
			first := reqs[0].Body
			var times []time.Time
			for _, r := range reqs {
				if string(r.Body) == string(first) {
					times = append(times, r.Received)
				}
			}
			require.Len(t, times, tc.attempts, "the first try plus its retries")
			for i, least := range tc.gaps {
				assert.GreaterOrEqual(t, times[i+1].Sub(times[i]), least, "the wait before retry %d", i+1)
			}
		})
	}
}

// A connection that never authenticated has no usable credentials: its telemetry goes
// to /telemetry-unauth, stripped, and the rejected token is not sent again.
func TestFailedConnectExportsUnauthenticated(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	dsn := strings.Replace(srv.DSN(), srv.Token(), "dapi-wrong-token", 1)
	db, err := sql.Open("databricks-telemetry", dsn+"?enableTelemetry=true")
	require.NoError(t, err)
	require.Error(t, db.Ping())
	require.NoError(t, db.Close())
	reqs := srv.TelemetryRequests()
	require.NotEmpty(t, reqs)
	for _, r := range reqs {
		assert.Equal(t, "/telemetry-unauth", r.Path)
		assert.Empty(t, r.Header.Get("Authorization"))
		assert.NotContains(t, string(r.Body), "dapi-wrong-token")
		assert.NotContains(t, string(r.Body), "session_id")
	}
	var unauthorized bool
	for _, l := range srv.TelemetryLogs() {
		unauthorized = unauthorized || strings.Contains(l, "error_info")
	}
	assert.True(t, unauthorized, "the failed open is reported with its error")
}

// db.Close releases the connector's reference on its host; the last one removes it.
func TestCloseReleasesTheHost(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	hosts := driver.NewHosts()
	open := func() *sql.DB {
		c, err := driver.NewConnector(driver.WithConnOptions(connOptions(srv)...), driver.WithTelemetry(true), driver.WithHosts(hosts))
		require.NoError(t, err)
		db := sql.OpenDB(c)
		require.NoError(t, db.Ping())
		return db
	}
	a, b := open(), open()
	assert.Equal(t, 1, hosts.Len(), "one host shared by both connectors")
	assert.Equal(t, 2, hosts.Refs(srv.URL()))
	require.NoError(t, a.Close())
	assert.Equal(t, 1, hosts.Refs(srv.URL()))
	require.NoError(t, b.Close())
	assert.Zero(t, hosts.Len(), "the last release removes the host")
	require.NoError(t, hosts.Close(context.Background()))
	assert.NotEmpty(t, srv.TelemetryLogs(), "and flushed it")
}

// gatedAuth is a PAT authenticator that waits for release, as an OAuth token fetch may
// take its time; entered is closed when the first request reaches it.
type gatedAuth struct {
	token            string
	entered, release chan struct{}
	once             *sync.Once
}

func (a gatedAuth) Authenticate(r *http.Request) error {
	a.once.Do(func() { close(a.entered) })
	<-a.release
	r.Header.Set("Authorization", "Bearer "+a.token)
	return nil
}

// database/sql does not wait for a Connect in flight before it closes the connector: a
// connector closed while its first connection authenticates must not join its host
// afterwards (nothing would ever release it, and the host's exporter would run on).
func TestCloseDuringFirstConnectLeavesNoHost(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	hosts := driver.NewHosts()
	auth := gatedAuth{token: srv.Token(), entered: make(chan struct{}), release: make(chan struct{}), once: &sync.Once{}}
	opts := append(connOptions(srv)[:3:3], dbsql.WithAuthenticator(auth))
	c, err := driver.NewConnector(driver.WithConnOptions(opts...), driver.WithHosts(hosts), driver.WithTelemetry(true))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	pinged := make(chan error, 1)
	go func() { pinged <- db.PingContext(context.Background()) }()
	<-auth.entered
	require.NoError(t, db.Close())
	close(auth.release)
	<-pinged // whatever it returns: the pool was closed under it
	assert.Zero(t, hosts.Len(), "no host joined after Close")
	require.NoError(t, hosts.Close(context.Background()))
}

// A connection whose authenticator fails before any request (here OAuth M2M, whose token
// endpoint cannot be reached) is still reported, unauthenticated.
func TestAuthFailureBeforeAnyRequestIsReported(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	dsn := "http://" + srv.Addr() + warehouse.HTTPPath + "?clientId=app&clientSecret=not-a-real-secret&enableTelemetry=true"
	db, err := sql.Open("databricks-telemetry", dsn)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.Error(t, db.PingContext(ctx))
	require.NoError(t, db.Close())
	assert.Empty(t, srv.Sessions())
	reqs := srv.TelemetryRequests()
	require.NotEmpty(t, reqs, "the failed open is reported")
	for _, r := range reqs {
		assert.Equal(t, "/telemetry-unauth", r.Path)
		assert.NotContains(t, string(r.Body), "not-a-real-secret")
	}
}
