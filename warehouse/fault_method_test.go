package warehouse_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A fault with a Method waits for a call of that Thrift method: the calls before it pass,
// as do the faults queued after it, and the driver sees the fault on that call alone.
func TestFaultWaitsForMethod(t *testing.T) {
	// Past the async threshold at once: the Exec polls, then closes its operation.
	srv := start(t, warehouse.WithAsyncThreshold(0))
	db := open(t, srv, "")
	conn, err := db.Conn(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })

	// A 400 is not retried, so the close fails once; the Exec's result stands. The
	// fault queued after it (a 503 for any call) waits until the close has had its own.
	srv.InjectFaults(warehouse.GroupThrift,
		warehouse.Fault{Method: "CloseOperation", Status: 400},
		warehouse.Fault{Status: 503})
	before := srv.RPCs()
	_, err = conn.ExecContext(ctxTimeout(t, 30*time.Second), "CREATE TABLE m AS SELECT 1 AS x")
	require.NoError(t, err, "the calls before the close passed the fault by")
	after := srv.RPCs()
	assert.Equal(t, before["CloseOperation"], after["CloseOperation"], "the close got the fault, not the endpoint")
	assert.Positive(t, after["GetOperationStatus"]-before["GetOperationStatus"], "the Exec polled first")
	assert.Equal(t, 1, srv.FaultsServed(warehouse.GroupThrift), "the second fault still waits")

	// The next call gets the second fault (the driver retries a 503) and then its answer.
	var x int
	require.NoError(t, conn.QueryRowContext(ctxTimeout(t, 30*time.Second), "SELECT x FROM m").Scan(&x))
	assert.Equal(t, 1, x)
	assert.Equal(t, 2, srv.FaultsServed(warehouse.GroupThrift))
}

func TestFaultMethodOnlyForThrift(t *testing.T) {
	srv := start(t)
	for _, g := range []warehouse.Group{warehouse.GroupCloudFetch, warehouse.GroupTelemetry, warehouse.GroupFeatureFlag} {
		assert.PanicsWithValue(t, `warehouse: Fault.Method "CloseOperation" is for GroupThrift, not `+g.String(),
			func() { srv.InjectFaults(g, warehouse.Fault{Method: "CloseOperation", Status: 503}) }, g.String())
		assert.Zero(t, srv.FaultsServed(g))
	}
}
