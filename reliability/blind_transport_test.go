package reliability_test

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
)

// From the hostile-endpoint review (session 38), through the real driver: a caller's
// transport that does not watch the request's context held the export and the flag fetch
// for ever.

// blindRT is a caller's transport (dbsql.WithTransport, not an *http.Transport): it
// carries the Thrift calls through a transport of its own, and holds the requests that
// hold picks until free, without watching their context (a tunnel over a connection
// without deadlines, to an endpoint that never answers) unless watch says so: the
// control, what a transport that watches the context does.
type blindRT struct {
	base    *http.Transport
	hold    func(req *http.Request) bool
	release chan struct{}
	once    sync.Once
	held    atomic.Int64
	watch   bool
}

func newBlindRT(watch bool, hold func(req *http.Request) bool) *blindRT {
	return &blindRT{base: http.DefaultTransport.(*http.Transport).Clone(), hold: hold, release: make(chan struct{}), watch: watch}
}

func (rt *blindRT) RoundTrip(req *http.Request) (*http.Response, error) {
	if !rt.hold(req) {
		return rt.base.RoundTrip(req)
	}
	rt.held.Add(1)
	if rt.watch {
		select {
		case <-rt.release:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	<-rt.release
	return nil, context.Canceled
}

func (rt *blindRT) free() { rt.once.Do(func() { close(rt.release) }) }

// Through the real driver with a caller's transport, an ingest that never answers
// (the transport not watching the context): db.Close keeps its deadline and, when it
// returns, every log is exported or counted as dropped with nothing pending
// (docs/RELIABILITY.md: "when it returns the batch is counted as Dropped.ExportFailed
// and the rest as Dropped.Unfinished, nothing pending"), and the host is released.
func TestBlindCallerTransportIngestHang(t *testing.T) {
	for _, watch := range []bool{true, false} {
		t.Run(map[bool]string{true: "control-watching-transport", false: "blind-transport"}[watch], func(t *testing.T) {
			testIngestHang(t, watch)
		})
	}
}

func testIngestHang(t *testing.T, watch bool) {
	srv := startWarehouse(t)
	rt := newBlindRT(watch, func(req *http.Request) bool { return strings.HasPrefix(req.URL.Path, "/telemetry") })
	t.Cleanup(rt.free)
	hosts := driver.NewHosts(exporter.WithAttemptTimeout(200 * time.Millisecond))
	t.Cleanup(func() { rt.free(); _ = hosts.Close(context.Background()) })
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&telemetry_batch_size=5&telemetry_flush_interval=50ms&telemetry_retry_count=0",
		driver.WithConnOptions(dbsql.WithTransport(rt)), driver.WithHosts(hosts))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addOnes(t, ctx, db, 0, 30)
	require.True(t, waitFor(5*time.Second, func() bool { return rt.held.Load() > 0 }), "no batch reached the ingest")
	// The attempt ends at its 200 ms timeout, although the transport still holds the request.
	assert.True(t, waitFor(10*time.Second, func() bool { return c.Stats().BatchesFailed > 0 }),
		"no batch failed: the export is held by the transport: %+v", c.Stats())

	began := time.Now()
	require.NoError(t, db.Close())
	require.Less(t, time.Since(began), closeDeadline, "db.Close")
	requireAccountedFor(t, c.Stats())
}

// SPEC §5 / exporter.FeatureFlagCache.Enabled: the flag request is bounded by the flag
// timeout, and "a fetch that fails (network, timeout, ...) keeps the last known value
// ... and is retried after MinFlagTTL". Through the real driver with a caller's
// transport, one flag request that never comes back (the transport not watching the
// context) must not leave the host's single fetch in flight for ever: once the failure
// has been remembered for MinFlagTTL, a new connection asks again, the server says on,
// and the connector's telemetry flows.
func TestBlindCallerTransportFlagFetchIsAskedAgain(t *testing.T) {
	for _, watch := range []bool{true, false} {
		t.Run(map[bool]string{true: "control-watching-transport", false: "blind-transport"}[watch], func(t *testing.T) {
			testFlagAskedAgain(t, watch)
		})
	}
}

func testFlagAskedAgain(t *testing.T, watch bool) {
	srv := startWarehouse(t) // flag on
	// The first flag request is held; every other goes through.
	var flagged atomic.Int64
	rt := newBlindRT(watch, func(req *http.Request) bool {
		return strings.Contains(req.URL.Path, "/feature-flags/") && flagged.Add(1) == 1
	})
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	hosts := driver.NewHosts(exporter.WithFlagTimeout(100*time.Millisecond),
		exporter.WithClock(func() time.Time { return time.Unix(0, now.Load()) }))
	t.Cleanup(func() { rt.free(); _ = hosts.Close(context.Background()) })
	c, err := driver.OpenConnector(srv.DSN(), driver.WithConnOptions(dbsql.WithTransport(rt)), driver.WithHosts(hosts))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	t.Cleanup(func() { rt.free(); _ = db.Close() })
	db.SetMaxIdleConns(0) // a new connection, and a new ask of the flag, for every query
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addOnes(t, ctx, db, 0, 1)
	require.True(t, waitFor(5*time.Second, func() bool { return flagged.Load() > 0 }), "no flag request")
	ok := waitFor(10*time.Second, func() bool {
		now.Add(int64(exporter.MinFlagTTL + time.Minute)) // past a failure's MinFlagTTL
		addOnes(t, ctx, db, 1, 1)
		return flagged.Load() > 1 && c.Stats().Queued > 0
	})
	require.True(t, ok, "the flag was never asked again (%d flag requests) and telemetry never started: %+v",
		flagged.Load(), c.Stats())
}
