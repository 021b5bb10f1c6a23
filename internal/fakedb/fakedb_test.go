package fakedb_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"math"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/databricks/databricks-sql-go/driverctx"
	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	"github.com/ngrok/sqlmw"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/internal/fakedb"
)

// guid is the driver's GUID format (client.SprintGuid).
var guid = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func openDB(t testing.TB, opts ...fakedb.Option) *sql.DB {
	t.Helper()
	db := sql.OpenDB(fakedb.NewConnector(opts...))
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// openSqlmw wraps the fake with sqlmw's NullInterceptor through the connector
// path (sqlmw.Driver + OpenConnector), as the project's own driver does.
func openSqlmw(t testing.TB, opts ...fakedb.Option) *sql.DB {
	t.Helper()
	c, err := sqlmw.Driver(fakedb.NewDriver(opts...), sqlmw.NullInterceptor{}).(driver.DriverContext).OpenConnector("")
	require.NoError(t, err)
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// ids records the driverctx callbacks in order.
type ids struct {
	mu     sync.Mutex
	events []string // "conn:<id>" or "query:<id>"
}

func (r *ids) ctx(ctx context.Context) context.Context {
	ctx = driverctx.NewContextWithConnIdCallback(ctx, func(id string) { r.add("conn:" + id) })
	return driverctx.NewContextWithQueryIdCallback(ctx, func(id string) { r.add("query:" + id) })
}

func (r *ids) add(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *ids) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

func queryInt64s(t *testing.T, db *sql.DB, q string) []int64 {
	t.Helper()
	rows, err := db.Query(q)
	require.NoError(t, err)
	defer rows.Close()
	var got []int64
	for rows.Next() {
		var v int64
		require.NoError(t, rows.Scan(&v))
		got = append(got, v)
	}
	require.NoError(t, rows.Err())
	return got
}

func TestQueryRows(t *testing.T) {
	cases := []struct {
		name  string
		opts  []fakedb.Option
		query string
		want  []int64
	}{
		{"default is one row", nil, "SELECT 1", []int64{0}},
		{"WithRows", []fakedb.Option{fakedb.WithRows(3)}, "SELECT 1", []int64{0, 1, 2}},
		{"zero rows", []fakedb.Option{fakedb.WithRows(0)}, "SELECT 1", nil},
		{"negative counts as zero", []fakedb.Option{fakedb.WithRows(-5)}, "SELECT 1", nil},
		{"WithQueryRows matches exact text", []fakedb.Option{fakedb.WithRows(1), fakedb.WithQueryRows("SELECT x", 4)}, "SELECT x", []int64{0, 1, 2, 3}},
		{"WithQueryRows leaves other text alone", []fakedb.Option{fakedb.WithRows(2), fakedb.WithQueryRows("SELECT x", 4)}, "select x", []int64{0, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for name, db := range map[string]*sql.DB{"raw": openDB(t, tc.opts...), "sqlmw": openSqlmw(t, tc.opts...)} {
				assert.Equal(t, tc.want, queryInt64s(t, db, tc.query), name)
			}
		})
	}
	t.Run("values repeat with period 1024", func(t *testing.T) {
		got := queryInt64s(t, openDB(t, fakedb.WithRows(1030)), "q")
		require.Len(t, got, 1030)
		assert.Equal(t, int64(1023), got[1023])
		assert.Equal(t, []int64{0, 1, 2, 3, 4, 5}, got[1024:])
	})
}

func TestColumns(t *testing.T) {
	cols := []fakedb.Column{
		{Name: "l", Type: fakedb.BigInt},
		{Name: "i", Type: fakedb.Int},
		{Name: "d", Type: fakedb.Double},
		{Name: "b", Type: fakedb.Boolean},
		{Name: "s", Type: fakedb.String},
	}
	type colType struct {
		name, dbType string
		scan         reflect.Type
		length       int64
		hasLength    bool
		nullableOK   bool
	}
	want := []colType{
		{"l", "BIGINT", reflect.TypeFor[int64](), 0, false, false},
		{"i", "INT", reflect.TypeFor[int32](), 0, false, false},
		{"d", "DOUBLE", reflect.TypeFor[float64](), 0, false, false},
		{"b", "BOOLEAN", reflect.TypeFor[bool](), 0, false, false},
		{"s", "STRING", reflect.TypeFor[string](), math.MaxInt64, true, false},
	}
	for name, db := range map[string]*sql.DB{
		"raw":   openDB(t, fakedb.WithRows(2), fakedb.WithColumns(cols...)),
		"sqlmw": openSqlmw(t, fakedb.WithRows(2), fakedb.WithColumns(cols...)),
	} {
		t.Run(name, func(t *testing.T) {
			rows, err := db.Query("SELECT *")
			require.NoError(t, err)
			defer rows.Close()
			names, err := rows.Columns()
			require.NoError(t, err)
			assert.Equal(t, []string{"l", "i", "d", "b", "s"}, names)
			cts, err := rows.ColumnTypes()
			require.NoError(t, err)
			var got []colType
			for _, ct := range cts {
				length, hasLength := ct.Length()
				_, nullableOK := ct.Nullable()
				got = append(got, colType{ct.Name(), ct.DatabaseTypeName(), ct.ScanType(), length, hasLength, nullableOK})
			}
			assert.Equal(t, want, got)

			var vals [][]any
			for rows.Next() {
				row := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range row {
					ptrs[i] = &row[i]
				}
				require.NoError(t, rows.Scan(ptrs...))
				vals = append(vals, row)
			}
			require.NoError(t, rows.Err())
			assert.Equal(t, [][]any{
				{int64(0), int32(0), float64(0), false, "0"},
				{int64(1), int32(1), float64(1), true, "1"},
			}, vals)
		})
	}
	t.Run("bad options panic", func(t *testing.T) {
		assert.Panics(t, func() { fakedb.WithColumns() })
		assert.Panics(t, func() { fakedb.WithColumns(fakedb.Column{Name: "x", Type: fakedb.ColumnType(42)}) })
	})
}

func TestExecAndPrepare(t *testing.T) {
	for name, db := range map[string]*sql.DB{
		"raw":   openDB(t, fakedb.WithRows(7), fakedb.WithQueryRows("DELETE", 2)),
		"sqlmw": openSqlmw(t, fakedb.WithRows(7), fakedb.WithQueryRows("DELETE", 2)),
	} {
		t.Run(name, func(t *testing.T) {
			cases := []struct {
				query string
				want  int64
			}{{"INSERT", 7}, {"DELETE", 2}}
			for _, tc := range cases {
				res, err := db.Exec(tc.query, 1, "a")
				require.NoError(t, err)
				n, err := res.RowsAffected()
				require.NoError(t, err)
				assert.Equal(t, tc.want, n, tc.query)
				// databricks-sql-go v1.15.1: (0, nil).
				id, err := res.LastInsertId()
				assert.NoError(t, err)
				assert.Zero(t, id)

				st, err := db.Prepare(tc.query)
				require.NoError(t, err)
				res, err = st.Exec(int64(1))
				require.NoError(t, err)
				n, _ = res.RowsAffected()
				assert.Equal(t, tc.want, n, "prepared "+tc.query)
				var v int64
				require.NoError(t, st.QueryRow().Scan(&v))
				require.NoError(t, st.Close())
			}
		})
	}
}

func TestTransactions(t *testing.T) {
	for name, db := range map[string]*sql.DB{"raw": openDB(t), "sqlmw": openSqlmw(t)} {
		t.Run(name, func(t *testing.T) {
			tx, err := db.Begin()
			require.NoError(t, err)
			_, err = tx.Exec("INSERT")
			require.NoError(t, err)
			require.NoError(t, tx.Commit())
			tx, err = db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
			require.NoError(t, err)
			require.NoError(t, tx.Rollback())
		})
	}
	t.Run("WithoutTransactions is the real driver's error", func(t *testing.T) {
		_, err := openDB(t, fakedb.WithoutTransactions()).Begin()
		require.Error(t, err)
		assert.ErrorIs(t, err, dbsqlerr.DriverError)
		assert.ErrorIs(t, err, dbsqlerr.DatabricksError)
		var de dbsqlerr.DBDriverError
		assert.ErrorAs(t, err, &de)
		assert.Contains(t, err.Error(), dbsqlerr.ErrNotImplemented)
	})
}

// pattern abbreviates recorded callbacks: C for the connection id, E for an
// empty query id, Q for a statement id; it checks that all C (and all Q) carry
// the same id and returns them.
func pattern(t *testing.T, ev []string) (p, connID, queryID string) {
	t.Helper()
	var out []string
	for _, e := range ev {
		kind, id, _ := strings.Cut(e, ":")
		switch {
		case kind == "conn":
			if connID != "" {
				assert.Equal(t, connID, id, "one connection id")
			}
			connID = id
			out = append(out, "C")
		case id == "":
			out = append(out, "E")
		default:
			if queryID != "" {
				assert.Equal(t, queryID, id, "one statement id")
			}
			queryID = id
			out = append(out, "Q")
		}
	}
	return strings.Join(out, " "), connID, queryID
}

func TestCallbacks(t *testing.T) {
	ctx := context.Background()
	const (
		querySeq = "C E C E E Q Q Q Q Q"
		execSeq  = "C E C E E Q Q Q Q"
	)
	for name, db := range map[string]*sql.DB{"raw": openDB(t), "sqlmw": openSqlmw(t), "single": openDB(t, fakedb.WithSingleIDCallbacks())} {
		t.Run(name, func(t *testing.T) {
			wantQuery, wantExec := querySeq, execSeq
			if name == "single" {
				wantQuery, wantExec = "C Q", "C Q"
			}
			var rec ids
			c1, err := db.Conn(ctx)
			require.NoError(t, err)
			defer c1.Close()
			c2, err := db.Conn(ctx)
			require.NoError(t, err)
			defer c2.Close()

			run := []struct {
				name string
				want string
				f    func(c *sql.Conn) error
			}{
				{"query", wantQuery, func(c *sql.Conn) error {
					rows, err := c.QueryContext(rec.ctx(ctx), "SELECT 1")
					if err != nil {
						return err
					}
					for rows.Next() {
					}
					return rows.Close()
				}},
				{"exec", wantExec, func(c *sql.Conn) error {
					_, err := c.ExecContext(rec.ctx(ctx), "INSERT")
					return err
				}},
				{"prepared query", wantQuery, func(c *sql.Conn) error {
					st, err := c.PrepareContext(ctx, "SELECT 1")
					if err != nil {
						return err
					}
					defer st.Close()
					return st.QueryRowContext(rec.ctx(ctx)).Scan(new(int64))
				}},
				{"prepared exec", wantExec, func(c *sql.Conn) error {
					st, err := c.PrepareContext(ctx, "INSERT")
					if err != nil {
						return err
					}
					defer st.Close()
					_, err = st.ExecContext(rec.ctx(ctx))
					return err
				}},
			}
			connIDs := map[*sql.Conn]string{}
			seen := map[string]bool{}
			for _, c := range []*sql.Conn{c1, c2, c1} {
				for _, r := range run {
					require.NoError(t, r.f(c), r.name)
					p, connID, queryID := pattern(t, rec.take())
					require.Equal(t, r.want, p, r.name)
					assert.Regexp(t, guid, connID)
					assert.Regexp(t, guid, queryID)
					if prev, ok := connIDs[c]; ok {
						assert.Equal(t, prev, connID, "a connection keeps its id")
					}
					connIDs[c] = connID
					// salt and connection number are shared, kind differs.
					assert.Equal(t, connID[:18], queryID[:18])
					assert.NotEqual(t, connID, queryID)
					assert.False(t, seen[queryID], "statement ids are unique")
					seen[queryID] = true
				}
			}
			assert.NotEqual(t, connIDs[c1], connIDs[c2], "connections have distinct ids")
		})
	}

	t.Run("caller-set query id", func(t *testing.T) {
		cases := []struct {
			name string
			opts []fakedb.Option
			exec bool
			want string
		}{
			{"query", nil, false, "C C Q"}, // rows.NewRows fires regardless
			{"exec", nil, true, "C C"},
			{"single query", []fakedb.Option{fakedb.WithSingleIDCallbacks()}, false, "C"},
			{"single exec", []fakedb.Option{fakedb.WithSingleIDCallbacks()}, true, "C"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var rec ids
				qctx := rec.ctx(driverctx.NewContextWithQueryId(ctx, "mine"))
				db := openDB(t, tc.opts...)
				if tc.exec {
					_, err := db.ExecContext(qctx, "INSERT")
					require.NoError(t, err)
				} else {
					require.NoError(t, db.QueryRowContext(qctx, "SELECT 1").Scan(new(int64)))
				}
				p, _, _ := pattern(t, rec.take())
				assert.Equal(t, tc.want, p)
			})
		}
	})

	t.Run("Ping runs select 1", func(t *testing.T) {
		var rec ids
		require.NoError(t, openDB(t).PingContext(rec.ctx(ctx)))
		p, _, _ := pattern(t, rec.take())
		assert.Equal(t, "C E "+querySeq, p) // Connect fires nothing
	})

	t.Run("Rows.Next and Close fire nothing", func(t *testing.T) {
		var rec ids
		rows, err := openDB(t, fakedb.WithRows(3)).QueryContext(rec.ctx(ctx), "SELECT 1")
		require.NoError(t, err)
		rec.take()
		for rows.Next() {
		}
		require.NoError(t, rows.Close())
		assert.Empty(t, rec.take())
	})
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	execErr := &fakedb.ExecutionError{Msg: "[TABLE_OR_VIEW_NOT_FOUND] nope", State: "42P01"}
	reqErr := errors.New("connection reset by peer")
	opts := []fakedb.Option{
		fakedb.WithQueryError("SELECT * FROM missing", execErr),
		fakedb.WithQueryError("DROP TABLE t", reqErr),
		fakedb.WithQueryError("INSERT INTO missing", execErr),
	}
	cases := []struct {
		name      string
		query     string
		exec      bool
		want      error
		queryIDCB bool
	}{
		{"execution error on query", "SELECT * FROM missing", false, execErr, true},
		{"execution error on exec", "INSERT INTO missing", true, execErr, true},
		{"request error on exec", "DROP TABLE t", true, reqErr, false},
		{"request error on query", "DROP TABLE t", false, reqErr, false},
	}
	for name, db := range map[string]*sql.DB{"raw": openDB(t, opts...), "sqlmw": openSqlmw(t, opts...)} {
		for _, tc := range cases {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				var rec ids
				var err error
				qctx := driverctx.NewContextWithCorrelationId(rec.ctx(ctx), "corr-1")
				if tc.exec {
					_, err = db.ExecContext(qctx, tc.query)
				} else {
					_, err = db.QueryContext(qctx, tc.query)
				}
				require.Error(t, err)
				p, connID, queryID := pattern(t, rec.take())
				if !tc.queryIDCB {
					assert.Same(t, tc.want, err)
					assert.Equal(t, "C E C E E", p, "no statement id before the server accepts")
					return
				}
				assert.Equal(t, "C E C E E Q Q Q Q", p)
				var ee dbsqlerr.DBExecutionError
				require.ErrorAs(t, err, &ee)
				assert.Equal(t, queryID, ee.QueryId())
				assert.Equal(t, connID, ee.ConnectionId())
				assert.Equal(t, "corr-1", ee.CorrelationId())
				assert.Equal(t, "42P01", ee.SqlState())
				assert.ErrorIs(t, err, dbsqlerr.ExecutionError)
				assert.ErrorIs(t, err, dbsqlerr.DatabricksError)
				assert.Equal(t, "databricks: execution error: failed to execute query: [TABLE_OR_VIEW_NOT_FOUND] nope", err.Error())
				assert.Empty(t, execErr.StatementID, "the configured error is not modified")
			})
		}
	}

	t.Run("Ping failure is driver.ErrBadConn", func(t *testing.T) {
		var counter fakedb.ConnCounter
		db := openDB(t, fakedb.WithQueryError("select 1", reqErr), fakedb.WithConnCounter(&counter))
		err := db.Ping()
		require.Error(t, err)
		assert.ErrorIs(t, err, driver.ErrBadConn)
		assert.ErrorIs(t, err, reqErr)
		require.NoError(t, db.Close())
		assert.Zero(t, counter.Open(), "database/sql discarded the bad connections")
	})

	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		db := openDB(t)
		c, err := db.Conn(ctx)
		require.NoError(t, err)
		defer c.Close()
		cancel()
		var rec ids
		_, err = c.QueryContext(rec.ctx(cctx), "SELECT 1")
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, err, dbsqlerr.ExecutionError)
		assert.Equal(t, "databricks: execution error: failed to execute query: context canceled", err.Error())
		p, _, _ := pattern(t, rec.take())
		assert.Equal(t, "C E C E E E E E E", p)
	})
}

func TestConnect(t *testing.T) {
	t.Run("counter", func(t *testing.T) {
		var counter fakedb.ConnCounter
		db := sql.OpenDB(fakedb.NewConnector(fakedb.WithConnCounter(&counter)))
		db.SetMaxIdleConns(3)
		var conns []*sql.Conn
		for range 3 {
			c, err := db.Conn(context.Background())
			require.NoError(t, err)
			conns = append(conns, c)
		}
		assert.Equal(t, int64(3), counter.Opened())
		assert.Equal(t, int64(3), counter.Open())
		for _, c := range conns {
			require.NoError(t, c.Close()) // back to the pool
		}
		assert.Zero(t, counter.Closed())
		require.NoError(t, db.Close())
		assert.Equal(t, int64(3), counter.Closed())
		assert.Zero(t, counter.Open())
	})
	t.Run("latency honours the context", func(t *testing.T) {
		db := openDB(t, fakedb.WithConnectLatency(time.Hour))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		assert.ErrorIs(t, db.PingContext(ctx), context.DeadlineExceeded)
	})
	t.Run("latency", func(t *testing.T) {
		db := openDB(t, fakedb.WithConnectLatency(30*time.Millisecond))
		start := time.Now()
		require.NoError(t, db.Ping())
		assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
	})
	t.Run("error", func(t *testing.T) {
		boom := errors.New("boom")
		var counter fakedb.ConnCounter
		db := openDB(t, fakedb.WithConnectError(boom), fakedb.WithConnCounter(&counter))
		assert.ErrorIs(t, db.Ping(), boom)
		assert.Zero(t, counter.Opened())
	})
	t.Run("Driver.Open", func(t *testing.T) {
		d := fakedb.NewDriver()
		c, err := d.Open("ignored")
		require.NoError(t, err)
		require.NoError(t, c.Close())
		cn, err := d.OpenConnector("ignored")
		require.NoError(t, err)
		assert.Same(t, d, cn.Driver())
		assert.Same(t, d.Connector(), cn)
	})
}

// TestDriverLevel exercises the driver types directly, as database/sql does.
func TestDriverLevel(t *testing.T) {
	ctx := context.Background()
	cn, err := fakedb.NewConnector(fakedb.WithRows(3)).Connect(ctx)
	require.NoError(t, err)
	c := cn.(interface {
		driver.QueryerContext
		driver.Validator
		driver.SessionResetter
		driver.NamedValueChecker
	})
	assert.True(t, c.IsValid())
	assert.NoError(t, c.ResetSession(ctx))
	nv := driver.NamedValue{Ordinal: 1, Value: int32(5)}
	require.NoError(t, c.CheckNamedValue(&nv))
	assert.Equal(t, int64(5), nv.Value, "DefaultParameterConverter")
	nv.Value = struct{}{}
	assert.Error(t, c.CheckNamedValue(&nv))

	rows, err := c.QueryContext(ctx, "SELECT 1", nil)
	require.NoError(t, err)
	dest := make([]driver.Value, 1)
	for want := range int64(3) {
		require.NoError(t, rows.Next(dest))
		assert.Equal(t, want, dest[0])
	}
	assert.Equal(t, io.EOF, rows.Next(dest))
	assert.Equal(t, io.EOF, rows.Next(dest))
	require.NoError(t, rows.Close())
	require.NoError(t, rows.Close(), "Close is idempotent")
	assert.Equal(t, io.EOF, rows.Next(dest))
	rt := rows.(driver.RowsColumnTypeScanType)
	assert.Nil(t, rt.ColumnTypeScanType(5))
	assert.Empty(t, rows.(driver.RowsColumnTypeDatabaseTypeName).ColumnTypeDatabaseTypeName(-1))

	st, err := cn.Prepare("SELECT 1")
	require.NoError(t, err)
	assert.Equal(t, -1, st.NumInput())
	_, err = st.Query(nil) //nolint:staticcheck // the deprecated path is not implemented, like the real driver
	assert.ErrorIs(t, err, dbsqlerr.DriverError)
	_, err = st.Exec(nil) //nolint:staticcheck
	assert.ErrorIs(t, err, dbsqlerr.DriverError)

	require.NoError(t, cn.Close())
	require.NoError(t, cn.Close())
	assert.False(t, c.IsValid())
}

// TestNextDoesNotAllocate holds the fake's own Rows.Next to zero allocations,
// directly and through database/sql, for every column type.
func TestNextDoesNotAllocate(t *testing.T) {
	cols := fakedb.WithColumns(
		fakedb.Column{Name: "l", Type: fakedb.BigInt}, fakedb.Column{Name: "i", Type: fakedb.Int},
		fakedb.Column{Name: "d", Type: fakedb.Double}, fakedb.Column{Name: "b", Type: fakedb.Boolean},
		fakedb.Column{Name: "s", Type: fakedb.String})
	for name, opts := range map[string][]fakedb.Option{"bigint": nil, "all types": {cols}} {
		t.Run(name, func(t *testing.T) {
			opts := append(opts, fakedb.WithRows(math.MaxInt))
			cn, err := fakedb.NewConnector(opts...).Connect(context.Background())
			require.NoError(t, err)
			defer cn.Close()
			rows, err := cn.(driver.QueryerContext).QueryContext(context.Background(), "q", nil)
			require.NoError(t, err)
			dest := make([]driver.Value, len(rows.Columns()))
			assert.Zero(t, testing.AllocsPerRun(5000, func() { _ = rows.Next(dest) }), "driver level")

			for dbName, db := range map[string]*sql.DB{"raw": openDB(t, opts...), "sqlmw": openSqlmw(t, opts...)} {
				sr, err := db.Query("q")
				require.NoError(t, err)
				assert.Zero(t, testing.AllocsPerRun(5000, func() { sr.Next() }), dbName)
				require.NoError(t, sr.Close())
			}
		})
	}
}
