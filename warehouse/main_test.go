package warehouse_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	dbsqllog "github.com/databricks/databricks-sql-go/logger"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

func TestMain(m *testing.M) {
	// The driver logs its own failed feature-flag fetch (it drops the DSN's port) at error level.
	_ = dbsqllog.SetLogLevel("disabled")
	goleak.VerifyTestMain(m, clientSide...)
	_ = os.Stdout.Sync()
}

// clientSide are goroutines of HTTP clients (the driver's and the tests'), not of the
// server: idle keep-alive connections, and the timeout watchers the driver's client (900 s
// timeout, legacy request cancel) leaves for responses whose bodies it does not close.
// They end by themselves.
var clientSide = []goleak.Option{
	goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreTopFunction("net/http.setRequestCancel.func4"),
	goleak.IgnoreTopFunction("net/http.awaitLegacyCancel"),
}

// settled makes ExecuteStatement wait for the statement (up to 30 s) before it answers:
// for the tests that read a result from the direct results of a raw Thrift client, which
// the default 200 ms gives up on when a loaded machine runs the statement slower (the
// answer is then RUNNING, with no result in it).
var settled = warehouse.WithAsyncThreshold(30 * time.Second)

// countRows reads rows to their end, closes them and returns how many there were.
func countRows(t testing.TB, rows *sql.Rows) int {
	t.Helper()
	n := 0
	for rows.Next() {
		n++
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	return n
}

// start runs a warehouse for the test and closes it at the end.
func start(t testing.TB, opts ...warehouse.Option) *warehouse.Server {
	t.Helper()
	srv, err := warehouse.NewServer(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	return srv
}

// open opens the real driver on the warehouse's DSN plus extra query parameters.
func open(t testing.TB, srv *warehouse.Server, params string) *sql.DB {
	t.Helper()
	dsn := srv.DSN()
	if params != "" {
		dsn += "?" + params
	}
	db, err := sql.Open("databricks", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var _ = dbsql.NewConnector
