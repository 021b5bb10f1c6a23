package driver_test

import (
	"testing"

	dbsqllog "github.com/databricks/databricks-sql-go/logger"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The driver logs failed statements at error level on its own; keep test output readable.
	_ = dbsqllog.SetLogLevel("disabled")
	goleak.VerifyTestMain(m,
		// Idle keep-alive connections and timeout watchers of HTTP clients (the driver's
		// and ours), which end by themselves.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.setRequestCancel.func4"),
		goleak.IgnoreTopFunction("net/http.awaitLegacyCancel"),
	)
}
