// Package fakedb is an in-memory database/sql/driver implementation shaped
// like the connection of github.com/databricks/databricks-sql-go (v1.15.1).
//
// It exists so that middleware wrapping the Databricks driver (an
// github.com/ngrok/sqlmw interceptor) can be tested and benchmarked without a
// network: the connection, statement, rows and result types implement exactly
// the optional database/sql/driver interfaces the real driver's types
// implement, and queries fire the driverctx connection-id and query-id
// callbacks at the same points, with ids formatted like the driver's GUIDs.
//
// Nothing is parsed: every query succeeds and returns the configured number of
// rows of the configured columns, unless an error was configured for its exact
// SQL text. Row i (0-based) holds i mod 1024 in every column, converted to the
// column's type (see [ColumnType]); Rows.Next does not allocate, and
// Rows.Columns returns a slice shared by all rows of a connector (do not
// modify it).
//
// Known differences from the real driver: its rows also implement
// github.com/databricks/databricks-sql-go/rows.Rows (Arrow batches), the
// fake's do not; CheckNamedValue does not know dbsql.Parameter; there is no
// polling, CloudFetch or staging; BeginTx succeeds unless
// [WithoutTransactions] is given.
//
// Use it through database/sql:
//
//	db := sql.OpenDB(fakedb.NewConnector(fakedb.WithRows(3)))
//
// or wrap its [Driver] with sqlmw:
//
//	c, _ := sqlmw.Driver(fakedb.NewDriver(), sqlmw.NullInterceptor{}).(driver.DriverContext).OpenConnector("")
//	db := sql.OpenDB(c)
package fakedb

import (
	"context"
	"database/sql/driver"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
)

// Option configures a connector built by [NewConnector] or [NewDriver].
type Option func(*config)

// config is the immutable configuration shared by a connector and its conns.
// It is written only by options, before the connector is returned.
type config struct {
	rows           int
	columns        []Column
	queries        map[string]plan
	connectErr     error
	connectLatency time.Duration
	counter        *ConnCounter
	noTx           bool
	txErr          error
	singleIDs      bool
}

// plan is what a query with a given SQL text does.
type plan struct {
	rows int
	err  error
	// accepted reports whether err is raised after the "server" named the
	// statement (an execution error), so the query-id callback fires first.
	accepted bool
}

// WithRows sets the number of rows every query returns, and the RowsAffected of
// every Exec, unless [WithQueryRows] says otherwise for its SQL text. The
// default is 1; a negative n counts as 0.
func WithRows(n int) Option {
	return func(c *config) { c.rows = max(n, 0) }
}

// WithQueryRows sets the number of rows (and the RowsAffected) for statements
// whose SQL text is exactly query. A negative n counts as 0.
func WithQueryRows(query string, n int) Option {
	return func(c *config) {
		p := c.queries[query]
		p.rows = max(n, 0)
		c.setPlan(query, p)
	}
}

// WithColumns sets the result columns of every query. The default is one
// BIGINT column named "id". It panics on an unknown [ColumnType] or when no
// column is given.
func WithColumns(cols ...Column) Option {
	if len(cols) == 0 {
		panic("fakedb: WithColumns needs at least one column")
	}
	for _, col := range cols {
		if !col.Type.valid() {
			panic("fakedb: unknown column type " + col.Type.String())
		}
	}
	cols = append([]Column(nil), cols...)
	return func(c *config) { c.columns = cols }
}

// WithQueryError makes every Query, Exec and Ping whose SQL text is exactly
// query fail with err (Ping runs "select 1", as the real driver does).
//
// If err is (or wraps) a [dbsqlerr.DBExecutionError], the statement counts as
// accepted by the server: the query-id callback fires before the error is
// returned, as in the real driver. A *[ExecutionError] with empty StatementID
// or SessionID is returned as a copy with those filled in, so QueryId()
// equals the id passed to the callback. Any other error is returned right
// after the connection-id callback, before a statement id exists (like a
// request error in the real driver).
func WithQueryError(query string, err error) Option {
	return func(c *config) {
		p := c.queries[query]
		p.err = err
		var ee dbsqlerr.DBExecutionError
		p.accepted = errors.As(err, &ee)
		c.setPlan(query, p)
	}
}

// WithConnectError makes every Connect fail with err (after the connect
// latency). Failed connects are not counted as opened.
func WithConnectError(err error) Option {
	return func(c *config) { c.connectErr = err }
}

// WithConnectLatency makes Connect wait d (or until its context is done)
// before returning, standing in for the OpenSession round trip. Default 0.
func WithConnectLatency(d time.Duration) Option {
	return func(c *config) { c.connectLatency = d }
}

// WithConnCounter makes the connector count the connections it opens and
// closes in counter. One counter may be shared by several connectors.
func WithConnCounter(counter *ConnCounter) Option {
	return func(c *config) { c.counter = counter }
}

// WithoutTransactions makes Begin and BeginTx fail with a "not implemented"
// driver error, which is what databricks-sql-go v1.15.1 itself does. By
// default they succeed and return a transaction whose Commit and Rollback
// succeed, so that transaction hooks can be exercised.
func WithoutTransactions() Option {
	return func(c *config) { c.noTx = true }
}

// WithTxError makes every transaction's Commit and Rollback fail with err (a driver
// whose transactions can fail: databricks-sql-go v1.15.1 has none to begin with).
func WithTxError(err error) Option {
	return func(c *config) { c.txErr = err }
}

// WithSingleIDCallbacks makes each statement fire the driverctx callbacks the
// minimum number of times: the connection-id callback once when the statement
// starts and the query-id callback once with the statement id (not at all if
// the caller put a query id in the context). By default the fake replays the
// sequence of databricks-sql-go v1.15.1 instead (see [NewConnector]).
func WithSingleIDCallbacks() Option {
	return func(c *config) { c.singleIDs = true }
}

func (c *config) setPlan(query string, p plan) {
	if c.queries == nil {
		c.queries = make(map[string]plan)
	}
	c.queries[query] = p
}

// plan returns what query does.
func (c *config) plan(query string) plan {
	if len(c.queries) != 0 {
		if p, ok := c.queries[query]; ok {
			return p
		}
	}
	return plan{rows: c.rows}
}

// ConnCounter counts connections opened and closed by the connectors it is
// given to with [WithConnCounter]. It is safe for concurrent use; the zero
// value is ready.
type ConnCounter struct {
	opened atomic.Int64
	closed atomic.Int64
}

// Opened returns the number of successful Connect calls.
func (c *ConnCounter) Opened() int64 { return c.opened.Load() }

// Closed returns the number of connections closed (each counted once).
func (c *ConnCounter) Closed() int64 { return c.closed.Load() }

// Open returns the number of connections opened and not yet closed.
func (c *ConnCounter) Open() int64 {
	// Load closed first so a concurrent Connect+Close never yields a negative.
	closed := c.closed.Load()
	return c.opened.Load() - closed
}

// connector is the driver.Connector. All its fields but connSeq are immutable
// after NewDriver returns.
type connector struct {
	cfg  config
	drv  *Driver
	salt uint32 // distinguishes the ids of different connectors
	// values[j][k] is the pre-boxed value of column j in rows i ≡ k mod len.
	values  [][]driver.Value
	names   []string
	connSeq atomic.Uint32
}

var _ driver.Connector = (*connector)(nil)

// NewConnector returns a connector for [database/sql.OpenDB]. Its Driver
// method returns a [*Driver] sharing its configuration.
//
// Like databricks-sql-go v1.15.1 (Thrift backend, statement answered with
// direct results; pinned by TestShapeMatchesRealDriver against the real
// driver on the local warehouse), QueryContext and ExecContext fire the
// callbacks installed with driverctx.NewContextWithConnIdCallback (C, with
// the session id) and driverctx.NewContextWithQueryIdCallback (E with "",
// Q with the statement id) in this order:
//
//	query:                     C E C E E Q Q Q Q Q
//	exec, or failed statement: C E C E E Q Q Q Q
//	cancelled context:         C E C E E E E E E (the real driver: 4 or more trailing E)
//	caller-set query id:       C C Q (query), C C (exec or failure)
//	Ping:                      C E, then the query sequence for "select 1"
//
// Note the empty query ids: a consumer must ignore them. Rows.Next and
// Rows.Close fire nothing. [WithSingleIDCallbacks] reduces this to C Q.
func NewConnector(opts ...Option) driver.Connector {
	return NewDriver(opts...).c
}

// Connect opens a new fake session, after the configured connect latency.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	if d := c.cfg.connectLatency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.cfg.connectErr != nil {
		return nil, c.cfg.connectErr
	}
	seq := c.connSeq.Add(1)
	cn := &conn{connector: c, cfg: &c.cfg}
	cn.id = formatGUID(c.salt, seq, kindSession, 0)
	cn.stmtPrefix = guidPrefix(c.salt, seq, kindStatement)
	if c.cfg.counter != nil {
		c.cfg.counter.opened.Add(1)
	}
	return cn, nil
}

// Driver returns the [*Driver] this connector belongs to.
func (c *connector) Driver() driver.Driver { return c.drv }

// Driver is a driver.Driver and driver.DriverContext whose connections all
// come from one fake connector. It needs no sql.Register: pass it to
// sqlmw.Driver and call OpenConnector, or use [NewConnector] directly. The
// data source name is ignored.
type Driver struct {
	c *connector
}

var (
	_ driver.Driver        = (*Driver)(nil)
	_ driver.DriverContext = (*Driver)(nil)
)

// NewDriver returns a Driver whose connector is configured by opts.
func NewDriver(opts ...Option) *Driver {
	c := &connector{
		cfg: config{
			rows:    1,
			columns: []Column{{Name: "id", Type: BigInt}},
		},
		salt: rand.Uint32(),
	}
	for _, o := range opts {
		o(&c.cfg)
	}
	c.names = make([]string, len(c.cfg.columns))
	c.values = make([][]driver.Value, len(c.cfg.columns))
	for j, col := range c.cfg.columns {
		c.names[j] = col.Name
		c.values[j] = col.Type.table()
	}
	c.drv = &Driver{c: c}
	return c.drv
}

// Open connects with a background context; name is ignored.
func (d *Driver) Open(name string) (driver.Conn, error) {
	return d.c.Connect(context.Background())
}

// OpenConnector returns the driver's connector; name is ignored.
func (d *Driver) OpenConnector(name string) (driver.Connector, error) {
	return d.c, nil
}

// Connector returns the driver's connector.
func (d *Driver) Connector() driver.Connector { return d.c }
