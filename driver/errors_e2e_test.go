package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// errShape is what a caller can tell of an error: its text (statement ids aside), the
// type of the error and of everything errors.Unwrap reaches from it, and the SQLSTATE of
// a DBExecutionError in it.
type errShape struct {
	Text     string
	Types    []string
	SQLState string
	ExecErr  bool
}

func shapeOf(err error) errShape {
	var s errShape
	if err == nil {
		return s
	}
	s.Text = scrubIDs(err.Error())
	for e := err; e != nil; e = errors.Unwrap(e) {
		s.Types = append(s.Types, fmt.Sprintf("%T", e))
	}
	var ee dbsqlerr.DBExecutionError
	if errors.As(err, &ee) {
		s.ExecErr = true
		s.SQLState = ee.SqlState()
	}
	return s
}

// readFaulted runs query, calls fault once the rows are open and reads them to the end;
// it returns the rows read and the error of the row loop.
func readFaulted(ctx context.Context, db *sql.DB, query string, fault func()) (int64, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return 0, fmt.Errorf("the query itself failed: %w", err)
	}
	defer rows.Close()
	fault()
	var n int64
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

// The errors a caller gets through the telemetry driver are the raw driver's own, the
// same value as far as the caller can tell, on every path an error comes back: Exec,
// prepared Exec and Query, and an error in the middle of the rows.
func TestErrorsIdenticalToRawDriver(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	// maxRows: inline results of several pages, the later ones fetched while reading;
	// maxDownloadThreads: CloudFetch files downloaded one after another, in order.
	raw, err := sql.Open("databricks", srv.DSN()+"?maxRows=1000&maxDownloadThreads=1")
	require.NoError(t, err)
	defer raw.Close()
	wrapped, err := sql.Open("databricks-telemetry", srv.DSN()+"?maxRows=1000&maxDownloadThreads=1")
	require.NoError(t, err)
	defer wrapped.Close()
	ctx := context.Background()

	cases := []struct {
		name string
		run  func(t *testing.T, db *sql.DB) error
	}{
		{"exec, missing table", func(t *testing.T, db *sql.DB) error {
			_, err := db.ExecContext(ctx, "SELECT * FROM missing_table")
			return err
		}},
		{"exec, division by zero", func(t *testing.T, db *sql.DB) error {
			_, err := db.ExecContext(ctx, "SELECT 1 / 0")
			return err
		}},
		{"exec, syntax", func(t *testing.T, db *sql.DB) error {
			_, err := db.ExecContext(ctx, "SELEC 1")
			return err
		}},
		{"prepared exec", func(t *testing.T, db *sql.DB) error {
			stmt, err := db.PrepareContext(ctx, "INSERT INTO missing_table VALUES (?)")
			if err != nil {
				return err
			}
			defer stmt.Close()
			_, err = stmt.ExecContext(ctx, 1)
			return err
		}},
		{"prepared query", func(t *testing.T, db *sql.DB) error {
			stmt, err := db.PrepareContext(ctx, "SELECT CAST(? AS INTEGER)")
			if err != nil {
				return err
			}
			defer stmt.Close()
			rows, err := stmt.QueryContext(ctx, "x")
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
			}
			return rows.Err()
		}},
		{"exec, Thrift 400", func(t *testing.T, db *sql.DB) error {
			srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Status: 400})
			_, err := db.ExecContext(ctx, "SELECT 1")
			return err
		}},
		// The ping's statement (the driver's "select 1") gets a 404 on a session that is open.
		{"ping, Thrift 404", func(t *testing.T, db *sql.DB) error {
			conn, err := db.Conn(ctx)
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, conn.PingContext(ctx))
			srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Status: 404})
			return conn.PingContext(ctx)
		}},
		{"begin tx", func(t *testing.T, db *sql.DB) error {
			_, err := db.BeginTx(ctx, nil)
			return err
		}},
		// The first CloudFetch file arrives, the others answer 404: the rows fail after
		// the first file's rows.
		{"mid-read, CloudFetch file 404", func(t *testing.T, db *sql.DB) error {
			defer srv.ClearFaults(warehouse.GroupCloudFetch)
			srv.InjectFaults(warehouse.GroupCloudFetch, warehouse.Fault{}, warehouse.Fault{Status: 404, Times: -1})
			n, err := readFaulted(ctx, db, "SELECT range FROM range(1000000)", func() {})
			require.Equal(t, int64(250000), n, "the first file's rows before the error")
			return err
		}},
		// An inline result of 5 pages: the first comes with the statement, the FetchResults
		// for the second answers 400.
		{"mid-read, FetchResults 400", func(t *testing.T, db *sql.DB) error {
			defer srv.ClearFaults(warehouse.GroupThrift)
			n, err := readFaulted(ctx, db, "SELECT range FROM range(5000)", func() {
				srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Status: 400, Times: -1})
			})
			require.Equal(t, int64(1000), n, "the first page's rows before the error")
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rawErr := tc.run(t, raw)
			require.Error(t, rawErr)
			want := shapeOf(rawErr)
			require.NotEmpty(t, want.Types)
			assert.Equal(t, want, shapeOf(tc.run(t, wrapped)))
		})
	}
}
