package driver_test

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dbtelemetry/dbtelemetry/internal/paired"
)

// BenchmarkE2ERowLoop measures the row loop alone, through the real driver: per op, each
// variant runs the 100k-row inline query, reads its first row (by then the driver holds
// the whole result, the query's one page), and then the time of reading the rest, Next
// and Scan, is taken per row. The variants take turns as in e2ePaired; each reports the
// median of its ops (<variant>-ns/row), which one GC cycle in an op does not move.
//
// Besides the four ways of e2eVariants and the two controls of e2ePaired, it runs the
// raw driver under a wrapper of a few lines (forwardConn) whose rows do nothing but pass
// Next on: the floor of any wrapper that sees Rows.Close, which a statement's completion
// needs. The built-in telemetry sees the close from inside the driver, so it has no
// such layer. The differences to the raw driver are reported too (on-raw-ns/row, …).
func BenchmarkE2ERowLoop(b *testing.B) {
	vs := append(e2eVariants(),
		e2eVariant{"sqlmw-null", openNull},
		e2eVariant{"forward", openForward},
		e2eVariants()[0])
	srv := e2eServer(b)
	dbs := make([]*sql.DB, len(vs))
	for i, v := range vs {
		dbs[i] = v.open(b, srv)
		warm(b, dbs[i])
	}
	perRow := make([][]float64, len(vs))
	b.ResetTimer()
	paired.Turns(b, len(vs), paired.Seed(3), func(j int) {
		d, err := rowLoop(dbs[j], e2eInlineQuery, 100_000)
		if err != nil {
			b.Fatal(err)
		}
		perRow[j] = append(perRow[j], float64(d.Nanoseconds())/(100_000-1))
	})
	b.StopTimer()
	last := len(vs) - 1
	vs[last].name = "raw2"
	med := make([]float64, len(vs))
	for j, v := range vs {
		slices.Sort(perRow[j])
		med[j] = perRow[j][len(perRow[j])/2]
		b.ReportMetric(med[j], v.name+"-ns/row")
	}
	// Against the mean of the two raw instances, except the second's own difference.
	raw := (med[0] + med[last]) / 2
	for j, v := range vs[1:last] {
		b.ReportMetric(med[j+1]-raw, v.name+"-raw-ns/row")
	}
	b.ReportMetric(med[last]-med[0], "raw2-raw-ns/row")
}

// rowLoop runs query, reads its first row, then times reading the rest (Next and Scan);
// it fails unless there are want rows.
func rowLoop(db *sql.DB, query string, want int64) (time.Duration, error) {
	rows, err := db.QueryContext(context.Background(), query)
	if err != nil {
		return 0, err
	}
	defer func() { _ = rows.Close() }()
	if !rows.Next() {
		return 0, fmt.Errorf("no rows: %w", rows.Err())
	}
	var v int64
	n := int64(1)
	began := time.Now()
	for rows.Next() {
		if err := rows.Scan(&v); err != nil {
			return 0, err
		}
		n++
	}
	d := time.Since(began)
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if n != want {
		return 0, fmt.Errorf("read %d rows, want %d", n, want)
	}
	return d, nil
}

// openForward is the raw driver under forwardConn.
func openForward(tb testing.TB, srv e2eTarget) *sql.DB {
	d := sqlOpen(tb, "databricks", srv.DSN()).Driver()
	return openDB(tb, forwardConnector{connectorOf(tb, d, srv.DSN())})
}

// forwardConnector, forwardConn and forwardRows pass every call on to the driver; the
// rows are a layer of their own, whose Next is the method promoted from the driver's.
type forwardConnector struct{ sqldriver.Connector }

func (c forwardConnector) Connect(ctx context.Context) (sqldriver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &forwardConn{conn}, nil
}

type forwardConn struct{ sqldriver.Conn }

func (c *forwardConn) QueryContext(ctx context.Context, query string, args []sqldriver.NamedValue) (sqldriver.Rows, error) {
	rows, err := c.Conn.(sqldriver.QueryerContext).QueryContext(ctx, query, args)
	if err != nil {
		return nil, err
	}
	return &forwardRows{rows}, nil
}

func (c *forwardConn) ResetSession(ctx context.Context) error {
	return c.Conn.(sqldriver.SessionResetter).ResetSession(ctx)
}

func (c *forwardConn) IsValid() bool { return c.Conn.(sqldriver.Validator).IsValid() }

type forwardRows struct{ sqldriver.Rows }
