package reliability_test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// switchingServer answers every request with 101 Switching Protocols (with the Upgrade
// headers net/http needs to hand the connection over as the response body) and then
// holds the connection open, silent, until the test ends: a hostile or broken
// telemetry endpoint. net/http gives a 101's connection to the caller as its body and
// stops watching the request's context, so nothing but the caller can end a read of it.
type switchingServer struct {
	hits  atomic.Int64
	mu    sync.Mutex
	conns []net.Conn
}

func (s *switchingServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_, _ = buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: hostile\r\n\r\n")
	_ = buf.Flush()
	s.mu.Lock()
	s.conns = append(s.conns, conn)
	s.mu.Unlock()
	s.hits.Add(1)
}

// release closes the connections it holds.
func (s *switchingServer) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
}

func newSwitchingServer(t *testing.T) *switchingServer {
	s := &switchingServer{}
	t.Cleanup(s.release)
	return s
}

// requireAccountedFor fails unless every log queued was exported or counted as dropped,
// with nothing pending.
func requireAccountedFor(t *testing.T, st aggregator.Stats) {
	t.Helper()
	require.Zero(t, st.Pending, "logs still pending after db.Close: %+v", st)
	require.Equal(t, st.Queued, st.Exported+st.Dropped.QueueFull+st.Dropped.ExportFailed+st.Dropped.Unfinished,
		"queued logs neither exported nor counted as dropped: %+v", st)
}

// An ingest that answers 101 Switching Protocols and then says nothing more cannot hold
// telemetry past its bounds: the export attempt ends at its attempt timeout like any
// other hang, the queries keep working, db.Close keeps its deadline, every log is
// exported or counted as dropped when it returns, and no goroutine (nor connection)
// is left behind. The attempt timeout is a context on the request, which net/http
// stops watching once it hands a 101's connection over as the body: an exporter that
// reads that body without a bound of its own blocks its export goroutine for as long
// as the server keeps the connection open.
func TestIngestSwitchingProtocolsIsBounded(t *testing.T) {
	ingest := newSwitchingServer(t)
	srv := startWarehouse(t, warehouse.WithTelemetryHandler(ingest))
	ignore := goleak.IgnoreCurrent()
	hosts := driver.NewHosts(exporter.WithAttemptTimeout(250 * time.Millisecond))
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&telemetry_batch_size=5&telemetry_flush_interval=1h&telemetry_retry_count=0",
		driver.WithHosts(hosts))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	var closeOnce sync.Once
	closeDB := func() (err error) {
		closeOnce.Do(func() { err = db.Close() })
		return err
	}
	t.Cleanup(func() { _ = closeDB() }) // a failed check below leaves no aggregator running
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addOnes(t, ctx, db, 0, 10)
	require.True(t, waitFor(10*time.Second, func() bool { return ingest.hits.Load() > 0 }),
		"no batch reached the ingest: %+v", c.Stats())
	// The attempt timeout (250 ms) ends the attempt: the batch is counted as failed.
	require.True(t, waitFor(10*time.Second, func() bool { return c.Stats().BatchesFailed > 0 }),
		"the export of a batch answered 101 never ended: %+v\n%s", c.Stats(), telemetryStacks())
	addOnes(t, ctx, db, 0, 10) // the queries are unaffected

	closed := make(chan error, 1)
	go func() { closed <- closeDB() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(closeDeadline + 10*time.Second):
		t.Fatalf("db.Close has not returned with the ingest holding a 101 connection")
	}
	requireAccountedFor(t, c.Stats())
	require.Zero(t, hosts.Len(), "hosts still referenced after db.Close")
	require.NoError(t, goleak.Find(append([]goleak.Option{ignore}, driverOwned...)...),
		"goroutines left after db.Close while the ingest holds its 101 connections")
}

// frontOwned are driverOwned and the front's (startFront): its proxy keeps idle
// connections to the warehouse between pools, and the front and the warehouse serve
// them.
var frontOwned = append([]goleak.Option{
	goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
}, driverOwned...)

// A feature-flag endpoint that answers 101 Switching Protocols and then says nothing
// more neither delays the queries nor outlives the connectors: while it holds its
// connection, each short-lived pool (sql.Open, a query, db.Close, as an application
// that opens a database per request does) runs its query, closes within its deadline
// and leaves no goroutine behind, so that a hundred such pools do not pile up a
// hundred stuck flag fetches and their connections. Each db.Close releases the host's
// last reference, so the next pool's exporter asks for the flag again.
func TestFlagSwitchingProtocolsLeavesNothingBehind(t *testing.T) {
	flag := newSwitchingServer(t)
	srv := startWarehouse(t)
	e := &caseEnv{srv: srv, flagFront: flag}
	front := startFront(t, e)
	dsn := "http://token:" + srv.Token() + "@" + front + warehouse.HTTPPath // the flag decides
	ignore := goleak.IgnoreCurrent()
	hosts := driver.NewHosts(exporter.WithFlagTimeout(250 * time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const pools = 3
	for i := range pools {
		c, err := driver.OpenConnector(dsn, driver.WithHosts(hosts))
		require.NoError(t, err)
		db := sql.OpenDB(c)
		addOnes(t, ctx, db, i, 1)
		require.True(t, waitFor(10*time.Second, func() bool { return flag.hits.Load() > int64(i) }),
			"pool %d asked for no flag", i)
		began := time.Now()
		require.NoError(t, db.Close())
		require.Less(t, time.Since(began), closeDeadline, "db.Close of pool %d", i)
		require.Zero(t, hosts.Len(), "hosts still referenced after db.Close of pool %d", i)
		st := c.Stats()
		require.Zero(t, st.Exported, "a flag that cannot be read means off: %+v", st)
		require.NoError(t, goleak.Find(append([]goleak.Option{ignore}, frontOwned...)...),
			"goroutines left after db.Close of pool %d while the flag endpoint holds its 101 connections", i)
	}
}

// stallingWriter is a zerolog writer that blocks every write until released: a logger
// whose output (a pipe, a terminal, a log shipper) has stopped draining.
type stallingWriter struct {
	writes atomic.Int64
	*stall
}

func newStallingWriter(t *testing.T) *stallingWriter { return &stallingWriter{stall: newStall(t)} }

func (w *stallingWriter) Write(p []byte) (int, error) {
	w.writes.Add(1)
	<-w.release
	return len(p), nil
}

// stall blocks what waits on release until open, at the latest when the test ends.
type stall struct {
	release chan struct{}
	once    sync.Once
}

func newStall(t *testing.T) *stall {
	s := &stall{release: make(chan struct{})}
	t.Cleanup(s.open)
	return s
}

func (s *stall) open() { s.once.Do(func() { close(s.release) }) }

// A logger whose writer has stopped draining (WithLogger at debug level) stalls only
// telemetry's own goroutines: with the flag endpoint refusing connections, the failed
// fetch's debug line blocks, the queries run, and db.Close still returns within its
// deadline. The flag cache logs that line with its lock held, and Connector.Close,
// once its deadline has cut the flag ask short, waits without a bound for the asking
// goroutine, which waits for that lock.
func TestStalledLoggerCannotHoldClose(t *testing.T) {
	srv := startWarehouse(t)
	srv.InjectFaults(warehouse.GroupFeatureFlag, warehouse.Fault{Drop: true, Times: -1})
	w := newStallingWriter(t)
	hosts := driver.NewHosts()
	c, err := driver.OpenConnector(srv.DSN(), // the flag decides
		driver.WithHosts(hosts), driver.WithLogger(zerolog.New(w).Level(zerolog.DebugLevel)))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addOnes(t, ctx, db, 0, 5)
	require.True(t, waitFor(10*time.Second, func() bool { return w.writes.Load() > 0 }),
		"telemetry logged nothing about the failed flag fetch")

	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(closeDeadline + 5*time.Second):
		t.Fatalf("db.Close has not returned %v after it began, with the logger stalled; the deadline is 2 s\n%s",
			closeDeadline+5*time.Second, stacksOf("dbtelemetry/"))
	}
	w.open()
	require.True(t, waitFor(10*time.Second, func() bool { return hosts.Len() == 0 }), "hosts still referenced")
}

// stacksOf returns the stacks of the goroutines whose stack mentions s.
func stacksOf(s string) string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, s) && !strings.Contains(g, "stacksOf") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// A logger whose writer has stopped draining never blocks a query: telemetry logs
// nothing on the driver's path. Here the driver's own options send it to another
// server than its DSN names, so the connector turns its telemetry off on the first
// Thrift call, and says so in a debug line: written on that call, it would hold the
// query (and, through the connector's once, every other first call) for as long as
// the logger's output stalls.
func TestStalledLoggerNeverBlocksAQuery(t *testing.T) {
	dsnHost := startWarehouse(t)
	other := startWarehouse(t)
	host, port, err := net.SplitHostPort(other.Addr())
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	w := newStallingWriter(t)
	c, err := driver.OpenConnector(dsnHost.DSN()+"?enableTelemetry=true",
		driver.WithHosts(driver.NewHosts()), driver.WithLogger(zerolog.New(w).Level(zerolog.DebugLevel)),
		driver.WithConnOptions(dbsql.WithServerHostname("http://"+host), dbsql.WithPort(p),
			dbsql.WithHTTPPath(warehouse.HTTPPath), dbsql.WithAccessToken(other.Token())))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })
	t.Cleanup(w.open) // before db.Close: a query stuck in the logger finishes first

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		var got int
		err := db.QueryRowContext(ctx, "SELECT 41 + 1").Scan(&got)
		if err == nil && got != 42 {
			err = fmt.Errorf("got %d, want 42", got)
		}
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatalf("the query has not returned with the logger stalled (its context ended after 10 s)\n%s", stacksOf("dbtelemetry/driver"))
	}
	require.NotEmpty(t, other.Statements(), "the query ran on the server the driver's options name")
}

// The first query of a pool does not wait for the server's feature flag: with the flag
// request held unanswered, the query returns (its events wait in the connector), and
// once the flag says on they are exported, none dropped. The flag timeout is long
// (30 s), so a first Thrift call that waited for the answer would return only after
// the flag endpoint had answered or given up.
func TestFirstQueryDoesNotWaitForTheFlag(t *testing.T) {
	srv := startWarehouse(t)
	var asked, answered atomic.Bool
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open)
	e := &caseEnv{srv: srv, flagFront: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer answered.Store(true)
		asked.Store(true)
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"flags":[{"name":%q,"value":"true"}],"ttl_seconds":900}`, exporter.DefaultFlagName)
	})}
	front := startFront(t, e)
	hosts := driver.NewHosts(exporter.WithFlagTimeout(30 * time.Second))
	c, err := driver.OpenConnector("http://token:"+srv.Token()+"@"+front+warehouse.HTTPPath, driver.WithHosts(hosts))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var got int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT 41 + 1").Scan(&got))
	require.Equal(t, 42, got)
	require.False(t, answered.Load(), "the first query returned only after the flag endpoint answered or gave up")
	// The ask goes out beside the first connection's calls: it may reach the endpoint
	// after the query has returned.
	require.True(t, waitFor(10*time.Second, asked.Load), "the first connection asked for the flag")
	require.Zero(t, c.Stats().Received, "events went on before the flag said on")

	open()
	require.True(t, waitFor(10*time.Second, func() bool { return c.Stats().Received > 0 }),
		"the flag's answer did not let the waiting events through: %+v", c.Stats())
	require.NoError(t, db.Close())
	st := c.Stats()
	require.Zero(t, st.Dropped.Undecided, "events dropped while they waited for the flag: %+v", st)
	require.Positive(t, st.Exported, "the first query's logs were not exported: %+v", st)
	requireAccountedFor(t, st)
}

// openFDs counts the process's open file descriptors (-1 where /proc is not there).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// Short-lived pools against an ingest that refuses every connection (an application
// that opens a database per request while the telemetry endpoint is down): each pool's
// query succeeds, its db.Close keeps its deadline and counts every log it could not
// deliver, the host is released, and after the last pool the goroutines and file
// descriptors are back where they were: nothing piles up from one pool to the next.
func TestShortLivedPoolsAgainstADeadIngest(t *testing.T) {
	const pools = 6
	srv := startWarehouse(t)
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Drop: true, Times: -1})
	hosts := driver.NewHosts(exporter.WithAttemptTimeout(250 * time.Millisecond))
	dsn := srv.DSN() + "?enableTelemetry=true&telemetry_flush_interval=50ms&telemetry_retry_count=1&telemetry_retry_delay=10ms"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := func(i int) aggregator.Stats {
		c, err := driver.OpenConnector(dsn, driver.WithHosts(hosts))
		require.NoError(t, err)
		db := sql.OpenDB(c)
		for k := range 3 {
			var got int
			require.NoError(t, db.QueryRowContext(ctx, "SELECT ? + 1", k).Scan(&got), "pool %d", i)
			require.Equal(t, k+1, got)
		}
		began := time.Now()
		require.NoError(t, db.Close())
		require.Less(t, time.Since(began), closeDeadline, "db.Close of pool %d", i)
		require.Zero(t, hosts.Len(), "host still referenced after db.Close of pool %d", i)
		st := c.Stats()
		requireAccountedFor(t, st)
		return st
	}
	pool(-1) // the first pool starts what lives on (the driver's own timers, pools)
	ignore := goleak.IgnoreCurrent()
	fds := openFDs()
	var failed int64
	for i := range pools {
		st := pool(i)
		require.Zero(t, st.Exported, "logs counted as exported to an ingest that refuses connections: %+v", st)
		failed += st.Dropped.ExportFailed
	}
	require.Positive(t, failed, "no export failed: the ingest was not reached")
	require.NoError(t, goleak.Find(append([]goleak.Option{ignore}, driverOwned...)...),
		"goroutines left after %d pools against a dead ingest", pools)
	if fds >= 0 {
		require.True(t, waitFor(10*time.Second, func() bool { return openFDs() <= fds+2 }),
			"open file descriptors grew from %d to %d over %d pools", fds, openFDs(), pools)
	}
}

// An ingest that answers 429 with an absurd Retry-After (a day) holds no export past
// its bounds: the wait is capped (exporter.WithRetryAfterCap, 5 s by default, left
// as is here), and db.Close, which meets a batch waiting to be retried, cuts the wait
// short, keeps its deadline, counts the batch as failed and leaves no goroutine.
func TestAbsurdRetryAfterDoesNotHoldClose(t *testing.T) {
	srv := startWarehouse(t)
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: http.StatusTooManyRequests, RetryAfter: 24 * time.Hour, Times: -1})
	ignore := goleak.IgnoreCurrent()
	hosts := driver.NewHosts()
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&telemetry_batch_size=5&telemetry_flush_interval=1h&telemetry_retry_count=3",
		driver.WithHosts(hosts))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addOnes(t, ctx, db, 0, 10)
	// A 429 came back and the batch waits for its retry.
	require.True(t, waitFor(10*time.Second, func() bool { return srv.FaultsServed(warehouse.GroupTelemetry) > 0 }),
		"no batch reached the ingest: %+v", c.Stats())
	began := time.Now()
	require.NoError(t, db.Close())
	require.Less(t, time.Since(began), closeDeadline, "db.Close with a batch waiting out a day-long Retry-After")
	st := c.Stats()
	requireAccountedFor(t, st)
	require.Zero(t, st.Exported, "%+v", st)
	require.Positive(t, st.Dropped.ExportFailed+st.Dropped.Unfinished, "%+v", st)
	require.NoError(t, goleak.Find(append([]goleak.Option{ignore}, driverOwned...)...), "goroutines left after db.Close")
}

// stallingClock is time.Now until armed; armed, every call blocks until it is released:
// a clock of the caller's (exporter.WithClock) that has stopped answering.
type stallingClock struct {
	armed atomic.Bool
	calls atomic.Int64 // calls made while armed
	*stall
}

func newStallingClock(t *testing.T) *stallingClock { return &stallingClock{stall: newStall(t)} }

func (c *stallingClock) now() time.Time {
	if c.armed.Load() {
		c.calls.Add(1)
		<-c.release
	}
	return time.Now()
}

// db.Close keeps its deadline even when a collaborator of the caller's holds the flag
// ask it cuts short: here the host's clock stops answering as the hanging flag fetch
// gives up, so that the fetch keeps the flag cache's lock, which the ask, once Close's
// deadline has cut it, waits for. Close gives the cut ask a moment and goes on.
func TestCloseKeepsItsDeadlineWhenTheFlagAskIsHeld(t *testing.T) {
	srv := startWarehouse(t)
	srv.InjectFaults(warehouse.GroupFeatureFlag, warehouse.Fault{Hang: true, Times: -1})
	clock := newStallingClock(t)
	hosts := driver.NewHosts(exporter.WithClock(clock.now), exporter.WithFlagTimeout(500*time.Millisecond))
	c, err := driver.OpenConnector(srv.DSN(), driver.WithHosts(hosts)) // the flag decides
	require.NoError(t, err)
	db := sql.OpenDB(c)
	var one int
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&one))
	clock.armed.Store(true) // the fetch, hanging, gives up in 500 ms and stores its outcome

	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(closeDeadline + 5*time.Second):
		t.Fatalf("db.Close has not returned %v after it began, with the clock stalled; the deadline is 2 s\n%s",
			closeDeadline+5*time.Second, stacksOf("dbtelemetry/"))
	}
	require.Positive(t, clock.calls.Load(), "the stalled clock was called: the case under test happened")
	clock.open()
	require.True(t, waitFor(10*time.Second, func() bool { return hosts.Len() == 0 }), "hosts still referenced")
}
