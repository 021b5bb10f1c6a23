package warehouse_test

import (
	"context"
	"math"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
	"github.com/dbtelemetry/dbtelemetry/warehouse/internal/tcli"
)

// WithMaxBodyBytes(math.MaxInt64), the natural "no practical limit", leaves the server
// usable: the cap plus the one byte read past it must not overflow into a reader that
// reads nothing (every Thrift call was then a "malformed Thrift message", every
// telemetry post a 400).
func TestMaxBodyBytesWithoutOverflow(t *testing.T) {
	srv := start(t, warehouse.WithMaxBodyBytes(math.MaxInt64))
	db := open(t, srv, "")
	var v int
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&v))
	assert.Equal(t, 1, v)
	resp, body, err := post(t, &http.Client{Timeout: 5 * time.Second}, srv, "/telemetry-ext", telemetryBody)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(body))
}

// Option values that would make every request fail are refused by NewServer with an
// *OptionError that names the option, rather than giving a server that answers 413 to
// every call (a body cap of 0 or less), 403 to every CloudFetch download (links that have
// expired when they go out) or 401 to every client (a token no HTTP header can carry:
// net/http trims blanks at a header value's ends and refuses control characters), or a
// DSN the driver cannot parse (an IPv6 listener). A token is never quoted in the error.
func TestNewServerRefusesOutOfRangeOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  warehouse.Option
		says string // the option the error names
	}{
		{"batch rows 0", warehouse.WithBatchRows(0), "WithBatchRows(0)"},
		{"negative chunk rows", warehouse.WithChunkRows(-1), "WithChunkRows(-1)"},
		{"body cap 0", warehouse.WithMaxBodyBytes(0), "WithMaxBodyBytes"},
		{"negative body cap", warehouse.WithMaxBodyBytes(-1), "WithMaxBodyBytes"},
		{"link TTL 0", warehouse.WithLinkTTL(0), "WithLinkTTL"},
		{"negative link TTL", warehouse.WithLinkTTL(-time.Minute), "WithLinkTTL"},
		{"a token ending in a blank", warehouse.WithToken("dapi-secret-x "), "WithToken"},
		{"a token read with its line's end", warehouse.WithToken("dapi-secret-x\r\n"), "WithToken"},
		{"a token with a tab inside", warehouse.WithToken("dapi\tsecret-x"), "WithToken"},
		{"a blank token", warehouse.WithToken(" "), "WithToken"},
		{"an IPv6 listener", warehouse.WithAddr("[::1]:0"), "WithAddr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.says == "WithAddr" {
				ln, err := net.Listen("tcp", "[::1]:0")
				if err != nil {
					t.Skip("no IPv6 loopback on this machine")
				}
				require.NoError(t, ln.Close())
			}
			srv, err := warehouse.NewServer(tc.opt)
			if err == nil {
				_ = srv.Close()
			}
			require.Error(t, err)
			var oe *warehouse.OptionError
			require.ErrorAs(t, err, &oe)
			assert.Contains(t, err.Error(), tc.says)
			assert.NotContains(t, err.Error(), "secret", "a token is never quoted")
		})
	}
}

// WithAddr("") means the default, a random loopback port, as every other option's zero
// value means its own: not every address of the machine. The DSN works.
func TestEmptyAddrIsTheLoopbackDefault(t *testing.T) {
	srv := start(t, warehouse.WithAddr(""))
	host, _, err := net.SplitHostPort(srv.Addr())
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)
	var v int
	require.NoError(t, open(t, srv, "").QueryRow("SELECT 1").Scan(&v))
}

// A Status the server cannot answer with (net/http sends final statuses 200–999 only; a
// 1xx is an interim answer after which the client still gets 200) is refused by
// InjectFaults, as an unknown group is: it would otherwise panic in the handler, cut the
// connection and leave a telemetry record that is never done.
func TestInjectFaultsRefusesAnUnanswerableStatus(t *testing.T) {
	srv := start(t)
	for _, status := range []int{-1, 42, 103, 1000} {
		assert.Panics(t, func() { srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: status}) }, "status %d", status)
	}
	resp, body, err := post(t, &http.Client{Timeout: 5 * time.Second}, srv, "/telemetry-ext", telemetryBody)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "nothing was queued: %s", body)
	assert.Zero(t, srv.FaultsServed(warehouse.GroupTelemetry))
}

// A telemetry request whose handler panicked (here http.ErrAbortHandler, net/http's way
// to cut an answer) has been answered, with nothing: its record is done, with status 0,
// and TakeTelemetryRequests takes it, instead of keeping it forever as in flight.
func TestPanickedTelemetryRequestIsDone(t *testing.T) {
	srv := start(t, warehouse.WithTelemetryHandler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	})))
	_, _, err := post(t, &http.Client{Timeout: 5 * time.Second}, srv, "/telemetry-ext", telemetryBody)
	require.Error(t, err, "the connection was cut")
	var taken []warehouse.TelemetryRequest
	require.Eventually(t, func() bool {
		taken = append(taken, srv.TakeTelemetryRequests()...)
		return len(taken) == 1
	}, 2*time.Second, 5*time.Millisecond, "the request is still recorded as in flight: %+v", srv.TelemetryRequests())
	assert.Zero(t, taken[0].Status)
	assert.Empty(t, srv.TelemetryRequests())
}

// Close called from two goroutines at once returns, in both, only once the server is
// closed: its statements interrupted, its goroutines ended and its database closed. (The
// second call used to return at once, with the statement still running.)
func TestConcurrentCloseWaitsForTheFirst(t *testing.T) {
	for range 3 {
		srv, err := warehouse.NewServer()
		require.NoError(t, err)
		transport := &http.Transport{}
		rc := rawClient(t, srv, transport)
		sess := openRawSession(t, rc)
		exec, err := rc.ExecuteStatement(context.Background(), &tcli.TExecuteStatementReq{
			SessionHandle: sess, Statement: "SELECT wait_ms(60000)", RunAsync: true, CanReadArrowResult_: ptr(true),
		})
		require.NoError(t, err)
		require.Equal(t, tcli.TOperationState_RUNNING_STATE, exec.DirectResults.OperationStatus.GetOperationState())
		var wg sync.WaitGroup
		states := make([]string, 2)
		for i := range states {
			wg.Go(func() {
				assert.NoError(t, srv.Close())
				states[i] = srv.Statements()[0].State
			})
		}
		wg.Wait()
		assert.Equal(t, []string{warehouse.StateCanceled, warehouse.StateCanceled}, states,
			"each Close returned after the statement was interrupted")
		transport.CloseIdleConnections()
	}
}
