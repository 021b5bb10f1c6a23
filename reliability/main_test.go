package reliability_test

import (
	"flag"
	"testing"

	"github.com/apache/arrow/go/v12/arrow"
	dbsqllog "github.com/databricks/databricks-sql-go/logger"
	"go.uber.org/goleak"
)

var soak = flag.Duration("soak", 0, "run each case of the fault matrix for this long (0: the short CI version)")

func TestMain(m *testing.M) {
	// The driver logs failed statements at error level on its own; keep test output readable.
	_ = dbsqllog.SetLogLevel("disabled")
	// The Databricks driver (v1.15.1) asks a package-level Arrow type for its time zone
	// on every query, and the type caches it on first use: the first queries a process
	// runs concurrently race there (both write time.UTC; the unwrapped driver does the
	// same). Fill the cache once, so that -race reports our races only.
	_, _ = arrow.FixedWidthTypes.Timestamp_us.(*arrow.TimestampType).GetZone()
	goleak.VerifyTestMain(m, driverSide...)
}

// driverSide are goroutines of HTTP clients that end by themselves: idle keep-alive
// connections, and the timeout watchers that the driver's client (900 s timeout, legacy
// request cancel) leaves for responses whose bodies it does not close.
var driverSide = []goleak.Option{
	goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreTopFunction("net/http.setRequestCancel.func4"),
	goleak.IgnoreTopFunction("net/http.awaitLegacyCancel"),
}
