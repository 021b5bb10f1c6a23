package driver

import (
	"context"
	"database/sql/driver"
	"io"
	"reflect"
	"time"

	"github.com/apache/arrow/go/v12/arrow"
	dbsqlrows "github.com/databricks/databricks-sql-go/rows"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// outerConn is the connection database/sql holds when telemetry is on: sqlmw's
// connection, presenting exactly the optional interfaces of the Databricks driver's
// connection (sqlmw adds Execer and Queryer, which the driver has not), and rows that
// keep the driver's Arrow access (dbsqlrows.Rows), which sqlmw's rows hide.
//
// It puts the connection's telemetry state into the context of every call it passes
// on: each statement's state is made here, as the one context layer of its call (see
// stmtState), with its rows. It also reports Close, which sqlmw does not see, as a
// connection.close event. sqlmw wraps the driver's connection itself: there is no layer
// of ours below sqlmw's.
type outerConn struct {
	mw  driver.Conn
	cs  *connState
	own *Connector // the connector made for this connection alone (Driver.Open), else nil
}

var (
	_ driver.Conn               = (*outerConn)(nil)
	_ driver.Pinger             = (*outerConn)(nil)
	_ driver.SessionResetter    = (*outerConn)(nil)
	_ driver.Validator          = (*outerConn)(nil)
	_ driver.ExecerContext      = (*outerConn)(nil)
	_ driver.QueryerContext     = (*outerConn)(nil)
	_ driver.ConnPrepareContext = (*outerConn)(nil)
	_ driver.ConnBeginTx        = (*outerConn)(nil)
	_ driver.NamedValueChecker  = (*outerConn)(nil)
)

func (c *outerConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *outerConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.mw.(driver.ConnPrepareContext).PrepareContext(withConn(ctx, c.cs), query)
	if err != nil {
		return nil, err
	}
	return &outerStmt{mw: s, cs: c.cs}, nil
}

// Close closes the connection and emits its connection.close event.
func (c *outerConn) Close() error {
	began := time.Now()
	err := c.mw.Close()
	safely(func() {
		cs := c.cs
		cs.c.untrack(cs)
		ev := telemetry.Event{
			Kind:      telemetry.KindConnectionClose,
			Time:      began,
			SessionID: cs.session(),
			Latency:   time.Since(began),
		}
		cs.c.emit(&ev)
		if err != nil {
			cs.c.em.EmitError(cs.session(), "", err)
		}
	})
	if own := c.own; own != nil {
		// The host's last release flushes (within the CloseTimeout): not on the caller's time.
		go func() { _ = own.Close() }()
	}
	return err
}

func (c *outerConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *outerConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.mw.(driver.ConnBeginTx).BeginTx(withConn(ctx, c.cs), opts)
}

func (c *outerConn) Ping(ctx context.Context) error {
	return c.mw.(driver.Pinger).Ping(withConn(ctx, c.cs))
}

func (c *outerConn) ResetSession(ctx context.Context) error {
	return c.mw.(driver.SessionResetter).ResetSession(ctx)
}

func (c *outerConn) IsValid() bool { return c.mw.(driver.Validator).IsValid() }

func (c *outerConn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.mw.(driver.NamedValueChecker).CheckNamedValue(nv)
}

func (c *outerConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.mw.(driver.ExecerContext).ExecContext(newStmtState(ctx, c.cs), query, args)
}

func (c *outerConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	st := newStmtState(ctx, c.cs)
	rows, err := c.mw.(driver.QueryerContext).QueryContext(st, query, args)
	return outerRowsOf(rows, st, err)
}

// outerStmt keeps the Arrow access on a prepared statement's rows.
type outerStmt struct {
	mw driver.Stmt
	cs *connState
}

var (
	_ driver.StmtExecContext  = (*outerStmt)(nil)
	_ driver.StmtQueryContext = (*outerStmt)(nil)
)

func (s *outerStmt) Close() error  { return s.mw.Close() }
func (s *outerStmt) NumInput() int { return s.mw.NumInput() }

func (s *outerStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.mw.Exec(args) //nolint:staticcheck // forwarded as is
}

func (s *outerStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.mw.Query(args) //nolint:staticcheck // forwarded as is
}

func (s *outerStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.mw.(driver.StmtExecContext).ExecContext(newStmtState(ctx, s.cs), args)
}

func (s *outerStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	st := newStmtState(ctx, s.cs)
	rows, err := s.mw.(driver.StmtQueryContext).QueryContext(st, args)
	return outerRowsOf(rows, st, err)
}

// outerRowsOf returns the statement's outer rows, which live in its state.
func outerRowsOf(rows driver.Rows, st *stmtState, err error) (driver.Rows, error) {
	if err != nil {
		return nil, err
	}
	st.outer = outerRows{Rows: rows, st: st}
	return &st.outer, nil
}

// outerRows are sqlmw's rows (whose Close the interceptor sees) with the column-type
// methods and the Arrow access of the driver's own rows.
type outerRows struct {
	driver.Rows
	st *stmtState
}

// Next reads the next row: from the driver's own rows when known (st.inner), without
// sqlmw's layer in between, else from sqlmw's. On a big result the row loop is the hot
// path: a row costs one call more than the driver's own, and nothing else (the rows are
// not counted: no field of the wire format carries them). The end of the rows and
// errors, which sqlmw's RowsNext sees on its own path, take the out-of-line path (ended).
func (r *outerRows) Next(dest []driver.Value) error {
	in := r.st.inner
	if in == nil {
		return r.Rows.Next(dest)
	}
	err := in.Next(dest)
	if err != nil {
		r.ended(err)
	}
	return err
}

// ended records what ended a Next without a row (see rowRead): the end of the rows, or
// an error.
//
//go:noinline
func (r *outerRows) ended(err error) {
	if st := r.st; st != nil && st.conn != nil {
		st.conn.c.rowRead(st, err)
	}
}

var (
	_ driver.RowsColumnTypeScanType         = (*outerRows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*outerRows)(nil)
	_ driver.RowsColumnTypeNullable         = (*outerRows)(nil)
	_ driver.RowsColumnTypeLength           = (*outerRows)(nil)
	_ dbsqlrows.Rows                        = (*outerRows)(nil)
)

func (r *outerRows) ColumnTypeScanType(i int) reflect.Type {
	return r.Rows.(driver.RowsColumnTypeScanType).ColumnTypeScanType(i)
}

func (r *outerRows) ColumnTypeDatabaseTypeName(i int) string {
	return r.Rows.(driver.RowsColumnTypeDatabaseTypeName).ColumnTypeDatabaseTypeName(i)
}

func (r *outerRows) ColumnTypeNullable(i int) (bool, bool) {
	return r.Rows.(driver.RowsColumnTypeNullable).ColumnTypeNullable(i)
}

func (r *outerRows) ColumnTypeLength(i int) (int64, bool) {
	return r.Rows.(driver.RowsColumnTypeLength).ColumnTypeLength(i)
}

// GetArrowBatches reads the rest of the result as Arrow records, as the driver does.
// The errors of the iterator (a CloudFetch file that cannot be downloaded) are the
// statement's, as those of Next are.
func (r *outerRows) GetArrowBatches(ctx context.Context) (dbsqlrows.ArrowBatchIterator, error) {
	it, err := r.st.inner.(dbsqlrows.Rows).GetArrowBatches(ctx)
	if err != nil {
		r.ended(err)
		return it, err
	}
	if it == nil {
		return it, nil
	}
	return &arrowBatches{ArrowBatchIterator: it, r: r}, nil
}

// GetArrowIPCStreams reads the rest of the result as Arrow IPC streams, as the driver
// does; the iterator's errors are the statement's (see GetArrowBatches).
func (r *outerRows) GetArrowIPCStreams(ctx context.Context) (dbsqlrows.ArrowIPCStreamIterator, error) {
	it, err := r.st.inner.(dbsqlrows.Rows).GetArrowIPCStreams(ctx)
	if err != nil {
		r.ended(err)
		return it, err
	}
	if it == nil {
		return it, nil
	}
	return &arrowStreams{ArrowIPCStreamIterator: it, r: r}, nil
}

// arrowBatches is the driver's Arrow record iterator, whose errors it records (the
// bare io.EOF that ends it is no error: see rowRead).
type arrowBatches struct {
	dbsqlrows.ArrowBatchIterator
	r *outerRows
}

func (it *arrowBatches) Next() (arrow.Record, error) {
	rec, err := it.ArrowBatchIterator.Next()
	if err != nil {
		it.r.ended(err)
	}
	return rec, err
}

// arrowStreams is the driver's Arrow IPC stream iterator, whose errors it records.
type arrowStreams struct {
	dbsqlrows.ArrowIPCStreamIterator
	r *outerRows
}

func (it *arrowStreams) Next() (io.Reader, error) {
	rd, err := it.ArrowIPCStreamIterator.Next()
	if err != nil {
		it.r.ended(err)
	}
	return rd, err
}
