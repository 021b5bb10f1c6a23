package warehouse_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
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

// rawBrokenBody posts a Thrift call whose chunked body is malformed, and returns the
// status answered (0: no answer).
func rawBrokenBody(t *testing.T, srv *warehouse.Server) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "POST " + warehouse.HTTPPath + " HTTP/1.1\r\n" +
		"Host: " + srv.Addr() + "\r\n" +
		"Authorization: Bearer " + srv.Token() + "\r\n" +
		"Content-Type: application/x-thrift\r\n" +
		"Transfer-Encoding: chunked\r\n\r\n" +
		"zz\r\nabc\r\n0\r\n\r\n"
	_, err = c.Write([]byte(req))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Logf("no answer: %v", err)
		return 0
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

// A call whose body breaks passes a fault waiting for another method by, "answered as if
// no fault were queued" (Fault.Method): as the endpoint answers it unfaulted.
func TestFaultMethodPassesABrokenBody(t *testing.T) {
	srv := start(t)
	unfaulted := rawBrokenBody(t, srv)
	t.Logf("unfaulted: %d", unfaulted)

	srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Method: "CloseOperation", Status: 503})
	faulted := rawBrokenBody(t, srv)
	t.Logf("with a CloseOperation fault queued: %d", faulted)
	assert.Equal(t, unfaulted, faulted, "a call that is no CloseOperation is answered as if no fault were queued")
	assert.Zero(t, srv.FaultsServed(warehouse.GroupThrift))
}
