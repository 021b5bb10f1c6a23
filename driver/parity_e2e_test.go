package driver_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v12/arrow"
	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/databricks/databricks-sql-go/driverctx"
	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	dbsqlrows "github.com/databricks/databricks-sql-go/rows"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tdriver "github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A caller's transport (dbsql.WithTransport) that allows one connection per host, as a
// gateway or a rate-limited proxy may: the raw driver (its built-in telemetry off, as the
// wrapper keeps it) runs its queries through it one after another. Wrapped, the host's
// telemetry goes through the same transport: while the ingest or the feature-flag
// endpoint hangs, an export or a flag fetch must not take the one connection from the
// queries: telemetry goes out with the settings of a clone of the caller's transport, on
// connections of its own.
func TestCallerTransportConnectionsAreNotHeldByTelemetry(t *testing.T) {
	cases := []struct {
		name  string
		group warehouse.Group
		dsn   string // the wrapped pool's telemetry parameters
	}{
		{"ingest hangs", warehouse.GroupTelemetry, "?enableTelemetry=true&telemetry_batch_size=1&telemetry_flush_interval=10ms"},
		{"feature flag hangs", warehouse.GroupFeatureFlag, "?telemetry_batch_size=1&telemetry_flush_interval=10ms"},
	}
	run := func(t *testing.T, db *sql.DB) {
		t.Helper()
		db.SetMaxOpenConns(1)
		for i := range 8 {
			// A query that waited for a hanging telemetry request (10 s, the exporter's
			// attempt and flag timeouts) ends with this deadline's error.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			var n int
			err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n)
			cancel()
			require.NoError(t, err, "query %d", i)
		}
	}
	oneConn := func() *http.Transport { return &http.Transport{MaxConnsPerHost: 1} }
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := warehouse.NewServer(warehouse.WithTelemetryFlag(true))
			require.NoError(t, err)
			defer srv.Close()
			srv.InjectFaults(tc.group, warehouse.Fault{Hang: true, Times: -1})

			t.Run("raw", func(t *testing.T) {
				rt := oneConn()
				defer rt.CloseIdleConnections()
				c, err := dbsql.NewConnector(append(connOptions(srv), dbsql.WithTransport(rt))...)
				require.NoError(t, err)
				db := sql.OpenDB(c)
				defer db.Close()
				run(t, db)
			})
			t.Run("wrapped", func(t *testing.T) {
				rt := oneConn()
				defer rt.CloseIdleConnections()
				c, err := tdriver.OpenConnector(srv.DSN()+tc.dsn,
					tdriver.WithConnOptions(dbsql.WithTransport(rt)), tdriver.WithHosts(tdriver.NewHosts()))
				require.NoError(t, err)
				db := sql.OpenDB(c)
				defer db.Close()
				run(t, db)
			})
		})
	}
}

// The driver values a caller reaches through sql.Conn.Raw implement what the raw driver's
// do on both paths that return rows: a connection's QueryContext and a prepared
// statement's QueryContext (the driver's legacy Stmt.Query is not implemented, wrapped
// or not). Arrow access (dbsqlrows.Rows) is the one users assert on.
func TestRawRowsOfEveryPathKeepTheirInterfaces(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	raw, wrapped := rawAndWrapped(t, srv)

	const q = "SELECT range FROM range(3)"
	paths := []struct {
		name string
		rows func(ctx context.Context, dc any) (driver.Rows, error)
	}{
		{"conn QueryContext", func(ctx context.Context, dc any) (driver.Rows, error) {
			return dc.(driver.QueryerContext).QueryContext(ctx, q, nil)
		}},
		{"stmt QueryContext", func(ctx context.Context, dc any) (driver.Rows, error) {
			s, err := dc.(driver.ConnPrepareContext).PrepareContext(ctx, q)
			if err != nil {
				return nil, err
			}
			return s.(driver.StmtQueryContext).QueryContext(ctx, nil)
		}},
	}
	rowsShape := func(t *testing.T, db *sql.DB, rows func(context.Context, any) (driver.Rows, error)) (ifaces []string, arrow bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := db.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		require.NoError(t, conn.Raw(func(dc any) error {
			r, err := rows(ctx, dc)
			require.NoError(t, err)
			defer r.Close()
			ifaces = interfaces(r)
			if ar, ok := r.(dbsqlrows.Rows); ok {
				it, err := ar.GetArrowBatches(ctx)
				require.NoError(t, err)
				it.Close()
				arrow = true
			}
			return nil
		}))
		return ifaces, arrow
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			ri, ra := rowsShape(t, raw, p.rows)
			require.True(t, ra, "the raw driver's rows have Arrow access")
			wi, wa := rowsShape(t, wrapped, p.rows)
			assert.Equal(t, ri, wi)
			assert.True(t, wa, "the wrapped rows have Arrow access")
		})
	}
}

// errKinds is what errors.Is and errors.As tell a caller of an error: the driver's three
// error types, driver.ErrBadConn and the context's errors.
func errKinds(err error) string {
	var ee dbsqlerr.DBExecutionError
	var re dbsqlerr.DBRequestError
	var de dbsqlerr.DBDriverError
	return fmt.Sprintf("exec=%v request=%v driver=%v badconn=%v deadline=%v canceled=%v",
		errors.As(err, &ee), errors.As(err, &re), errors.As(err, &de),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled))
}

// Under every fault the warehouse can inject into its Thrift endpoint and its CloudFetch
// files, the caller gets the raw driver's error: the same text, the same type chain, and
// the same answers from errors.Is and errors.As (the driver's DBExecutionError,
// DBRequestError and DBDriverError, driver.ErrBadConn, the context's errors), whether
// the fault hits a statement, its polls, its rows or the connection's OpenSession. The
// driver's retries are shortened (dbsql.WithRetries) so that each fault is over quickly.
func TestErrorsUnderFaultsAsUnwrapped(t *testing.T) {
	srv := cloudFetchServer(t)
	retries := dbsql.WithRetries(1, 10*time.Millisecond, 20*time.Millisecond)
	rc, err := dbsql.NewConnector(append(connOptions(srv), retries, dbsql.WithMaxDownloadThreads(1))...)
	require.NoError(t, err)
	raw := sql.OpenDB(rc)
	defer raw.Close()
	wc, err := tdriver.OpenConnector(srv.DSN()+"?enableTelemetry=true",
		tdriver.WithConnOptions(retries, dbsql.WithMaxDownloadThreads(1)), tdriver.WithHosts(tdriver.NewHosts()))
	require.NoError(t, err)
	wrapped := sql.OpenDB(wc)
	defer wrapped.Close()
	// Every case opens a session of its own: a fault can hit its OpenSession.
	raw.SetMaxIdleConns(0)
	wrapped.SetMaxIdleConns(0)

	const small, big, slow = "SELECT 1", "SELECT range FROM range(25000)", "SELECT wait_ms(2000)"
	none := warehouse.Fault{}
	cases := []struct {
		name   string
		group  warehouse.Group
		fault  warehouse.Fault // none: no fault
		query  string
		limit  time.Duration // the query's context
		cancel time.Duration // cancel the query's context this long after it starts (0: never)
		random bool          // the fault's bytes are random: their decoding error differs run to run
		open   bool          // the fault hits the connection's OpenSession, not the statement
	}{
		{"open session, thrift 401", warehouse.GroupThrift, warehouse.Fault{Status: 401, Times: -1}, small, 10 * time.Second, 0, false, true},
		{"open session, thrift 503", warehouse.GroupThrift, warehouse.Fault{Status: 503, Times: -1}, small, 10 * time.Second, 0, false, true},
		{"open session, thrift drop", warehouse.GroupThrift, warehouse.Fault{Drop: true, Times: -1}, small, 10 * time.Second, 0, false, true},
		{"open session, thrift garbage", warehouse.GroupThrift, warehouse.Fault{Garbage: true, Times: -1}, small, 10 * time.Second, 0, true, true},
		{"open session, thrift slow-drip", warehouse.GroupThrift, warehouse.Fault{SlowDrip: time.Millisecond, Times: -1}, small, 10 * time.Second, 0, false, true},
		{"open session, thrift hang, deadline", warehouse.GroupThrift, warehouse.Fault{Hang: true, Times: -1}, small, 300 * time.Millisecond, 0, false, true},
		{"thrift 500", warehouse.GroupThrift, warehouse.Fault{Status: 500, Times: -1}, small, 10 * time.Second, 0, false, false},
		{"thrift 503", warehouse.GroupThrift, warehouse.Fault{Status: 503, Times: -1}, small, 10 * time.Second, 0, false, false},
		{"thrift 429 Retry-After", warehouse.GroupThrift, warehouse.Fault{Status: 429, RetryAfter: time.Second, Times: -1}, small, 10 * time.Second, 0, false, false},
		{"thrift 401", warehouse.GroupThrift, warehouse.Fault{Status: 401, Times: -1}, small, 10 * time.Second, 0, false, false},
		{"thrift drop", warehouse.GroupThrift, warehouse.Fault{Drop: true, Times: -1}, small, 10 * time.Second, 0, false, false},
		{"thrift garbage", warehouse.GroupThrift, warehouse.Fault{Garbage: true, Times: -1}, small, 10 * time.Second, 0, true, false},
		{"thrift garbage 1 MiB", warehouse.GroupThrift, warehouse.Fault{Garbage: true, BodyBytes: 1 << 20, Times: -1}, small, 10 * time.Second, 0, true, false},
		{"thrift slow-drip", warehouse.GroupThrift, warehouse.Fault{SlowDrip: time.Millisecond, Times: -1}, small, 10 * time.Second, 0, false, false},
		{"thrift slow-drip past the deadline", warehouse.GroupThrift, warehouse.Fault{SlowDrip: 50 * time.Millisecond, Times: -1}, small, 300 * time.Millisecond, 0, false, false},
		{"thrift hang, deadline", warehouse.GroupThrift, warehouse.Fault{Hang: true, Times: -1}, small, 300 * time.Millisecond, 0, false, false},
		{"thrift hang, cancelled", warehouse.GroupThrift, warehouse.Fault{Hang: true, Times: -1}, small, 10 * time.Second, 300 * time.Millisecond, false, false},
		{"thrift late, deadline", warehouse.GroupThrift, warehouse.Fault{Latency: time.Second, Times: -1}, small, 300 * time.Millisecond, 0, false, false},
		{"deadline while polling", warehouse.GroupThrift, none, slow, 500 * time.Millisecond, 0, false, false},
		{"cancelled while polling", warehouse.GroupThrift, none, slow, 10 * time.Second, 500 * time.Millisecond, false, false},
		{"cloudfetch 500", warehouse.GroupCloudFetch, warehouse.Fault{Status: 500, Times: -1}, big, 10 * time.Second, 0, false, false},
		{"cloudfetch 403", warehouse.GroupCloudFetch, warehouse.Fault{Status: 403, Times: -1}, big, 10 * time.Second, 0, false, false},
		{"cloudfetch drop", warehouse.GroupCloudFetch, warehouse.Fault{Drop: true, Times: -1}, big, 10 * time.Second, 0, false, false},
		{"cloudfetch garbage", warehouse.GroupCloudFetch, warehouse.Fault{Garbage: true, Times: -1}, big, 10 * time.Second, 0, true, false},
		{"cloudfetch slow-drip", warehouse.GroupCloudFetch, warehouse.Fault{SlowDrip: time.Millisecond, Times: -1}, big, 10 * time.Second, 0, false, false},
		{"cloudfetch late, deadline while reading", warehouse.GroupCloudFetch, warehouse.Fault{Latency: 5 * time.Second, Times: -1}, big, 2 * time.Second, 0, false, false},
	}
	get := func(db *sql.DB, tc int) error {
		c := cases[tc]
		inject := func() {
			if c.fault != none {
				srv.InjectFaults(c.group, c.fault)
			}
		}
		ctx := context.Background()
		qctx, cancel := context.WithTimeout(ctx, c.limit)
		defer cancel()
		if c.open {
			inject()
			defer srv.ClearFaults(c.group)
			conn, err := db.Conn(qctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			return fmt.Errorf("the session opened: %w", conn.PingContext(qctx))
		}
		// A connection opened before the fault: the fault hits the statement, not the session.
		conn, err := db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		defer conn.Close()
		defer srv.ClearFaults(c.group) // before the connection's CloseSession
		inject()
		if c.cancel > 0 {
			stop := time.AfterFunc(c.cancel, cancel)
			defer stop.Stop()
		}
		rows, err := conn.QueryContext(qctx, c.query)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
		}
		return rows.Err()
	}
	links := regexp.MustCompile(`/cloudfetch/[^"]*`)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rawErr := get(raw, i)
			require.Error(t, rawErr)
			wErr := get(wrapped, i)
			require.Error(t, wErr)
			assert.Equal(t, errKinds(rawErr), errKinds(wErr))
			if tc.random {
				return
			}
			want, got := shapeOf(rawErr), shapeOf(wErr)
			want.Text, got.Text = links.ReplaceAllString(want.Text, "<link>"), links.ReplaceAllString(got.Text, "<link>")
			assert.Equal(t, want, got)
		})
	}
}

// valuer is a caller's driver.Valuer argument.
type valuer struct{ n int64 }

func (v valuer) Value() (driver.Value, error) { return v.n * 10, nil }

// What database/sql gives a caller is the raw driver's, feature by feature: a pinned
// sql.Conn whose session state (a temp table) lasts across statements, Exec results
// (RowsAffected, LastInsertId), QueryRow with no row, NextResultSet, positional and named
// parameters, every dbsql.Parameter type (which the driver's CheckNamedValue names), a
// driver.Valuer, a prepared statement closed while its rows are open, rows closed
// early on a CloudFetch result, and a context cancelled before the query.
func TestDatabaseSQLFeaturesAsUnwrapped(t *testing.T) {
	srv := cloudFetchServer(t)
	raw, wrapped := rawAndWrapped(t, srv)

	// row reads one row of query (of ncols columns) as text, or the error.
	row := func(ctx context.Context, q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}, ncols int, query string, args ...any) string {
		var cols []any
		r := q.QueryRowContext(ctx, query, args...)
		var a, b, c sql.NullString
		cols = append(cols, &a, &b, &c)
		err := r.Scan(cols[:ncols]...)
		if err != nil {
			return "error: " + scrubIDs(err.Error())
		}
		return fmt.Sprint(a.String, "|", b.String, "|", c.String)
	}
	cases := []struct {
		name string
		run  func(t *testing.T, ctx context.Context, db *sql.DB) string
	}{
		{"pinned conn, temp table, Exec results", func(t *testing.T, ctx context.Context, db *sql.DB) string {
			conn, err := db.Conn(ctx)
			require.NoError(t, err)
			defer conn.Close()
			_, err = conn.ExecContext(ctx, "CREATE TEMP TABLE pinned (x INTEGER)")
			require.NoError(t, err)
			res, err := conn.ExecContext(ctx, "INSERT INTO pinned VALUES (1), (2), (3)")
			require.NoError(t, err)
			n, nerr := res.RowsAffected()
			id, iderr := res.LastInsertId()
			return fmt.Sprint(n, nerr, id, iderr, " ", row(ctx, conn, 1, "SELECT count(*) AS n FROM pinned"))
		}},
		{"QueryRow with no row", func(t *testing.T, ctx context.Context, db *sql.DB) string {
			var n int
			err := db.QueryRowContext(ctx, "SELECT 1 WHERE false").Scan(&n)
			return fmt.Sprint(errors.Is(err, sql.ErrNoRows), err)
		}},
		{"NextResultSet", func(t *testing.T, ctx context.Context, db *sql.DB) string {
			rows, err := db.QueryContext(ctx, "SELECT 1")
			require.NoError(t, err)
			defer rows.Close()
			for rows.Next() {
			}
			return fmt.Sprint(rows.NextResultSet(), rows.Err())
		}},
		{"positional parameters and a Valuer", func(t *testing.T, ctx context.Context, db *sql.DB) string {
			return row(ctx, db, 2, "SELECT CAST(? AS INTEGER) AS a, CAST(? AS BIGINT) AS b", 7, valuer{4})
		}},
		{"named parameters", func(t *testing.T, ctx context.Context, db *sql.DB) string {
			return row(ctx, db, 2, "SELECT :n AS a, :m AS b", sql.Named("n", "x"), sql.Named("m", 5))
		}},
		{"named and positional parameters together (refused)", func(t *testing.T, ctx context.Context, db *sql.DB) string {
			return row(ctx, db, 2, "SELECT ? AS a, :n AS b", 1, sql.Named("n", "x"))
		}},
		{"every dbsql.Parameter type", func(t *testing.T, ctx context.Context, db *sql.DB) string {
			var out []string
			for _, p := range []dbsql.Parameter{
				{Name: "p", Type: dbsql.SqlString, Value: "s"},
				{Name: "p", Type: dbsql.SqlDate, Value: "2024-02-29"},
				{Name: "p", Type: dbsql.SqlTimestamp, Value: "2024-02-29 12:34:56"},
				{Name: "p", Type: dbsql.SqlFloat, Value: "1.5"},
				{Name: "p", Type: dbsql.SqlDecimal, Value: "12.34"},
				{Name: "p", Type: dbsql.SqlDouble, Value: 2.25},
				{Name: "p", Type: dbsql.SqlInteger, Value: 42},
				{Name: "p", Type: dbsql.SqlBigInt, Value: int64(1) << 40},
				{Name: "p", Type: dbsql.SqlSmallInt, Value: 7},
				{Name: "p", Type: dbsql.SqlTinyInt, Value: 3},
				{Name: "p", Type: dbsql.SqlBoolean, Value: true},
				{Name: "p", Type: dbsql.SqlVoid, Value: nil},
				{Name: "p", Type: dbsql.SqlUnkown, Value: "u"},
				{Name: "p", Value: time.Date(2024, 2, 29, 1, 2, 3, 0, time.UTC)},
				{Name: "p", Type: dbsql.SqlInteger, Value: "not a number"},
			} {
				out = append(out, p.Type.String()+"="+row(ctx, db, 1, "SELECT CAST(:p AS VARCHAR) AS v", p))
			}
			return strings.Join(out, "\n")
		}},
		{"prepared statement closed while its rows are open", func(t *testing.T, ctx context.Context, db *sql.DB) string {
			stmt, err := db.PrepareContext(ctx, "SELECT range FROM range(?)")
			require.NoError(t, err)
			rows, err := stmt.QueryContext(ctx, 25000)
			require.NoError(t, err)
			defer rows.Close()
			closeErr := stmt.Close()
			n := 0
			for rows.Next() {
				n++
			}
			return fmt.Sprint(closeErr, n, rows.Err(), rows.Close())
		}},
		{"CloudFetch rows closed early", func(t *testing.T, ctx context.Context, db *sql.DB) string {
			rows, err := db.QueryContext(ctx, "SELECT range FROM range(25000)")
			require.NoError(t, err)
			n := 0
			for n < 10 && rows.Next() {
				n++
			}
			return fmt.Sprint(n, rows.Close(), rows.Err(), rows.Next())
		}},
		{"context cancelled before the query", func(t *testing.T, ctx context.Context, db *sql.DB) string {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, qerr := db.QueryContext(cctx, "SELECT 1")
			_, eerr := db.ExecContext(cctx, "SELECT 1")
			return fmt.Sprint(qerr, errors.Is(qerr, context.Canceled), eerr)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			assert.Equal(t, tc.run(t, ctx, raw), tc.run(t, ctx, wrapped))
		})
	}
}

// One prepared statement shared by many goroutines, on a pool that keeps closing its
// connections (a max lifetime and idle time of milliseconds, one idle connection): every
// goroutine gets the raw driver's rows, and when the pool closes, every session it
// opened has been closed, as the raw driver's are.
func TestSharedStatementUnderPoolChurnAsUnwrapped(t *testing.T) {
	// The driver's first concurrent queries race on the time zone a package-level Arrow
	// type caches on first use (see reliability/main_test.go): fill it first.
	_, _ = arrow.FixedWidthTypes.Timestamp_us.(*arrow.TimestampType).GetZone()
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	run := func(t *testing.T, driverName, dsn string) []string {
		db, err := sql.Open(driverName, dsn)
		require.NoError(t, err)
		db.SetMaxOpenConns(4)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(20 * time.Millisecond)
		db.SetConnMaxIdleTime(5 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		stmt, err := db.PrepareContext(ctx, "SELECT CAST(? AS BIGINT) * range AS v FROM range(3)")
		require.NoError(t, err)
		const workers, each = 12, 15
		out := make([]string, workers*each)
		errs := make(chan error, workers)
		for w := range workers {
			go func() {
				errs <- func() error {
					for i := range each {
						rows, err := stmt.QueryContext(ctx, w*100+i)
						if err != nil {
							return err
						}
						var got []int64
						for rows.Next() {
							var v int64
							if err := rows.Scan(&v); err != nil {
								rows.Close()
								return err
							}
							got = append(got, v)
						}
						if err := errors.Join(rows.Err(), rows.Close()); err != nil {
							return err
						}
						out[w*each+i] = fmt.Sprint(got)
					}
					return nil
				}()
			}()
		}
		for range workers {
			require.NoError(t, <-errs)
		}
		require.NoError(t, stmt.Close())
		// database/sql's connection opener may still be opening a connection for a
		// request that a returned one served meanwhile (it counts as in use until it joins
		// the pool): db.Close would cancel its OpenSession after the warehouse made the
		// session, and the driver, which drops a reply that comes with its context's end,
		// never learns the session to close it, raw or wrapped. Wait for it to land.
		require.Eventually(t, func() bool { return db.Stats().InUse == 0 }, 10*time.Second, time.Millisecond)
		require.NoError(t, db.Close())
		return out
	}
	before := len(srv.Sessions())
	want := run(t, "databricks", srv.DSN())
	rawEnd := len(srv.Sessions())
	got := run(t, "databricks-telemetry", srv.DSN()+"?enableTelemetry=true")
	assert.Equal(t, want, got)
	assert.Positive(t, rawEnd-before)
	// database/sql's connection cleaner closes the connections it took off the pool after
	// it let go of the pool's lock, and db.Close does not wait for it: their sessions
	// close soon after, raw or wrapped. (A session left open for good came from an
	// opener's OpenSession cancelled by db.Close: see the wait above.)
	open := func() []string {
		var ids []string
		for i, s := range srv.Sessions() {
			if s.ClosedAt.IsZero() {
				side := "wrapped"
				if i < rawEnd {
					side = "raw" // the raw driver's run opened it
				}
				ids = append(ids, side+" "+s.ID)
			}
		}
		return ids
	}
	if !assert.Eventually(t, func() bool { return len(open()) == 0 }, 10*time.Second, 10*time.Millisecond) {
		t.Errorf("sessions left open: %v", open())
	}
}

// A caller's context whose driverctx callback is a nil IdCallbackFunc (a callback left
// unset in the caller's code): the raw driver calls it, and the call panics; wrapped, the
// statement must end the same way, not run as if the callback were not there. The pool
// is warm, so the callbacks are the statement's, not the connection's opening.
func TestNilCallerCallbacksAsUnwrapped(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	raw, wrapped := rawAndWrapped(t, srv)
	outcome := func(db *sql.DB, ctx context.Context) (out string) {
		defer func() {
			if r := recover(); r != nil {
				out = fmt.Sprint("panic: ", r)
			}
		}()
		var n int
		err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n)
		return fmt.Sprint(n, " ", err)
	}
	bg := context.Background()
	require.Equal(t, outcome(raw, bg), outcome(wrapped, bg), "the warm-up")
	cases := []struct {
		name string
		ctx  context.Context
	}{
		{"nil conn-id callback", driverctx.NewContextWithConnIdCallback(bg, nil)},
		{"nil query-id callback", driverctx.NewContextWithQueryIdCallback(bg, nil)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(tc.ctx, 30*time.Second)
			defer cancel()
			assert.Equal(t, outcome(raw, ctx), outcome(wrapped, ctx))
		})
	}
}

// The clone that carries the telemetry of a connector given an *http.Transport keeps
// that transport's settings: its proxy function, called for every request, sees the
// telemetry posts as it sees the queries' calls.
func TestCallerHTTPTransportSettingsCarryTelemetry(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	var (
		mu    sync.Mutex
		paths = map[string]int{}
	)
	rt := &http.Transport{Proxy: func(r *http.Request) (*url.URL, error) {
		mu.Lock()
		defer mu.Unlock()
		paths[r.URL.Path]++
		return nil, nil // direct
	}}
	defer rt.CloseIdleConnections()
	c, err := tdriver.OpenConnector(srv.DSN()+"?enableTelemetry=true",
		tdriver.WithConnOptions(dbsql.WithTransport(rt)), tdriver.WithHosts(tdriver.NewHosts()))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	var n int
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&n))
	require.NoError(t, db.Close())
	require.NotEmpty(t, decodeLogs(t, srv), "telemetry was delivered")
	mu.Lock()
	defer mu.Unlock()
	require.Positive(t, paths[warehouse.HTTPPath], "the queries' calls went with the caller's settings: %v", paths)
	require.Positive(t, paths["/telemetry-ext"], "so did the telemetry: %v", paths)
}
