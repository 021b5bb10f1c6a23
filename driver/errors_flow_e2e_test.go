package driver_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	dbsqlrows "github.com/databricks/databricks-sql-go/rows"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tdriver "github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// flowConnector is a wrapped connector whose logs go to a LogCapture, with a flush
// interval that never passes during a test: what the capture holds before Close was
// flushed by a terminal error.
func flowConnector(t *testing.T, dsn string, opts ...dbsql.ConnOption) (*sql.DB, *tdriver.LogCapture) {
	t.Helper()
	exp := &tdriver.LogCapture{}
	c, err := tdriver.OpenConnector(dsn, tdriver.WithExporter(exp), tdriver.WithTelemetry(true),
		tdriver.WithHosts(tdriver.NewHosts()), tdriver.WithFlushInterval(time.Hour), tdriver.WithConnOptions(opts...))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })
	return db, exp
}

// capturedErrors are the logs of exp that carry an error.
func capturedErrors(exp *tdriver.LogCapture) []*telemetry.SQLDriverLog {
	var out []*telemetry.SQLDriverLog
	for _, l := range exp.Logs() {
		if d := l.Entry.SQLDriverLog; d != nil && d.ErrorInfo != nil {
			out = append(out, d)
		}
	}
	return out
}

// readArrow reads query's result through the driver's Arrow access (dbsqlrows.Rows) on
// one connection, by batches or IPC streams, and returns the iterator's error.
func readArrow(ctx context.Context, db *sql.DB, query string, ipc bool) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		r, err := dc.(driver.QueryerContext).QueryContext(ctx, query, nil)
		if err != nil {
			return err
		}
		defer r.Close()
		ar := r.(dbsqlrows.Rows)
		if ipc {
			it, err := ar.GetArrowIPCStreams(ctx)
			if err != nil {
				return err
			}
			defer it.Close()
			for it.HasNext() {
				if _, err := it.Next(); err != nil {
					if err == io.EOF {
						return nil
					}
					return err
				}
			}
			return nil
		}
		it, err := ar.GetArrowBatches(ctx)
		if err != nil {
			return err
		}
		defer it.Close()
		for it.HasNext() {
			rec, err := it.Next()
			if err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
			rec.Release()
		}
		return nil
	})
}

// An error that ends a result read through the driver's Arrow access (GetArrowBatches,
// GetArrowIPCStreams) is the statement's error, as when the rows are read with Next: a
// CloudFetch file answering 404 is a terminal not_found that joins the statement's log
// and is flushed at once; one answering 500 (after the driver's retries) is a retryable
// server_error exported, with the statement's id, when the statement's log is.
func TestArrowIteratorErrorsAreRecorded(t *testing.T) {
	srv := cloudFetchServer(t)
	retries := dbsql.WithRetries(1, 10*time.Millisecond, 20*time.Millisecond)
	const big = "SELECT range FROM range(25000)"

	cases := []struct {
		name     string
		ipc      bool
		status   int
		wantName string
		terminal bool
	}{
		{"batches, file 404", false, 404, telemetry.ErrNameNotFound, true},
		{"batches, file 500", false, 500, telemetry.ErrNameServer, false},
		{"ipc streams, file 404", true, 404, telemetry.ErrNameNotFound, true},
		{"ipc streams, file 500", true, 500, telemetry.ErrNameServer, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, exp := flowConnector(t, srv.DSN(), retries)
			ctx := context.Background()
			srv.InjectFaults(warehouse.GroupCloudFetch, warehouse.Fault{Status: tc.status, Times: -1})
			defer srv.ClearFaults(warehouse.GroupCloudFetch)
			iterErr := readArrow(ctx, db, big, tc.ipc)
			require.Error(t, iterErr, "the download fails")
			srv.ClearFaults(warehouse.GroupCloudFetch)

			if tc.terminal {
				require.Eventually(t, func() bool { return len(capturedErrors(exp)) > 0 }, 2*time.Second, 20*time.Millisecond,
					"a terminal error is flushed at once")
			}
			require.NoError(t, db.Close())
			errs := capturedErrors(exp)
			require.Len(t, errs, 1, "one error log for the failed download")
			assert.Equal(t, tc.wantName, errs[0].ErrorInfo.ErrorName)
			assert.NotEmpty(t, errs[0].SQLStatementID, "the error is the statement's")
			if tc.terminal {
				assert.NotNil(t, errs[0].SQLOperation, "a terminal error joins its statement's log")
			}
		})
	}
}

// A TLS failure while opening the session is a terminal tls_error on the CREATE_SESSION
// log, flushed at once, whichever way the handshake fails: a certificate the client
// does not trust, or a server that answers the TLS hello in plain HTTP (Go reports it as
// "server gave HTTP response to HTTPS client", without a TLS error in the chain).
func TestTLSFailureOnOpenIsATerminalTLSError(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(nil)
	defer tlsSrv.Close()
	retries := dbsql.WithRetries(1, 10*time.Millisecond, 20*time.Millisecond)
	https := func(addr string) string {
		return strings.Replace(strings.Replace(srv.DSN(), srv.Addr(), addr, 1), "http://", "https://", 1)
	}
	cases := []struct {
		name string
		dsn  string
	}{
		{"untrusted certificate", https(strings.TrimPrefix(tlsSrv.URL, "https://"))},
		{"plain HTTP server", https(srv.Addr())},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, exp := flowConnector(t, tc.dsn, retries)
			require.Error(t, db.PingContext(context.Background()))
			require.Eventually(t, func() bool { return len(capturedErrors(exp)) > 0 }, 2*time.Second, 20*time.Millisecond,
				"a terminal error is flushed at once")
			errs := capturedErrors(exp)
			require.Len(t, errs, 1)
			require.NotNil(t, errs[0].SQLOperation)
			require.NotNil(t, errs[0].SQLOperation.OperationDetail)
			assert.Equal(t, telemetry.OpCreateSession, errs[0].SQLOperation.OperationDetail.OperationType)
			assert.Equal(t, telemetry.ErrNameTLS, errs[0].ErrorInfo.ErrorName)
		})
	}
}
