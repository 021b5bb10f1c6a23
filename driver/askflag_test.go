package driver

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/internal/fakedb"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// While the host's feature-flag fetch hangs, every new connection (Connect → askFlag)
// must not leave a goroutine of its own waiting on the same fetch for up to 10 s.
func TestReaskWhileTheFlagFetchHangsIsOneGoroutine(t *testing.T) {
	rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Body != nil {
			_, _ = io.Copy(io.Discard, req.Body)
			_ = req.Body.Close()
		}
		<-req.Context().Done() // the flag endpoint never answers
		return nil, req.Context().Err()
	})
	c := attachedConnector(t, nil, exporter.WithHTTPClient(&http.Client{Transport: rt}))
	hosts := c.cfg.hosts

	c.flagOnce.Do(c.askFlag) // the first accepted Thrift call
	for range 1000 {         // as many new connections meanwhile
		c.askFlag()
	}
	time.Sleep(50 * time.Millisecond)
	buf := make([]byte, 8<<20)
	waiting := strings.Count(string(buf[:runtime.Stack(buf, true)]), "driver.(*Connector).askFlag.func1(")
	require.NoError(t, c.Close())
	require.NoError(t, hosts.Close(t.Context()))
	require.LessOrEqual(t, waiting, 1, "goroutines waiting on the host's one flag fetch")
}

// attachedConnector is a connector over the fake driver, attached to a Databricks host
// as after its first accepted Thrift call (the server's flag not asked yet), its hosts
// made with hostOpts; tweak, if set, adjusts its config first.
func attachedConnector(t *testing.T, tweak func(*config), hostOpts ...exporter.Option) *Connector {
	t.Helper()
	cfg := defaultConfig()
	cfg.hosts = NewHosts(hostOpts...)
	cfg.lookupEnv = func(string) (string, bool) { return "", false }
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := (&Connector{cfg: cfg, gate: newGate()}).wrap(fakedb.NewConnector())
	require.NoError(t, err)
	c.info.Store(&telemetry.ConnectionInfo{AuthType: "pat"})
	c.attach(&url.URL{Scheme: "https", Host: "adb-1.azuredatabricks.net", Path: "/sql/1.0/warehouses/x"})
	tok := "Bearer dapi0123456789abcdef"
	c.auth.Store(&tok)
	return c
}

// flagServer answers the exporter's requests of attachedConnector's host: the
// feature-flag GETs with status (0: never, until the request is cut), every other
// request 200. It counts the flag requests.
type flagServer struct {
	status int
	asked  atomic.Int32
}

func (f *flagServer) client() *http.Client {
	return &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		status := http.StatusOK
		if req.Method == http.MethodGet {
			f.asked.Add(1)
			if f.status == 0 {
				<-req.Context().Done()
				return nil, req.Context().Err()
			}
			status = f.status
		}
		return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")), Request: req}, nil
	})}
}

// flagConnector is attachedConnector over flags, with a database of its own that has run
// one query (its connection's and its statement's events are in the gate); tweak as
// attachedConnector's.
func flagConnector(t *testing.T, flags *flagServer, tweak func(*config)) (*Connector, *sql.DB) {
	t.Helper()
	c := attachedConnector(t, tweak, exporter.WithHTTPClient(flags.client()))
	hosts := c.cfg.hosts
	t.Cleanup(func() { _ = hosts.Close(context.Background()) })
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, fakedb.Query(context.Background(), db, hotSmallQuery))
	return c, db
}

// What waited for the server's flag when it answered off is in the connector's Stats, as
// Dropped.Undecided: a program that reads Stats sees that its events were dropped, and why.
func TestStatsCountWhatWaitedForAnOffFlag(t *testing.T) {
	flags := &flagServer{status: http.StatusNotFound} // a non-2xx answer is off
	c, _ := flagConnector(t, flags, nil)
	c.flagOnce.Do(c.askFlag) // the first accepted Thrift call
	c.work.Wait()
	require.Equal(t, int32(1), flags.asked.Load())
	require.Equal(t, int32(gateOff), c.gate.state.Load())
	st := c.Stats()
	assert.GreaterOrEqual(t, st.Dropped.Undecided, int64(2), "the connection's log and the statement's")
	assert.Zero(t, st.Received, "nothing reached the aggregator")
}

// A setting of the caller's (the DSN's enableTelemetry, WithTelemetry) is never asked
// about: the server's flag cannot turn off what the caller switched on, whether at the
// first accepted Thrift call or at a new connection's re-ask.
func TestExplicitSettingIsNotAskedAbout(t *testing.T) {
	on := true
	flags := &flagServer{status: http.StatusNotFound} // the server would say off
	c, db := flagConnector(t, flags, func(cfg *config) { cfg.enabled = &on })
	c.flagOnce.Do(c.askFlag)
	c.askFlag()
	c.work.Wait()
	assert.Zero(t, flags.asked.Load(), "the flag is not fetched")
	require.Equal(t, int32(gateOn), c.gate.state.Load())
	require.NoError(t, fakedb.Query(context.Background(), db, hotSmallQuery))
	assert.GreaterOrEqual(t, c.Stats().Received, int64(3), "both statements and the connection reached the aggregator")
}

// A Close that cuts a hanging flag fetch short (its CloseTimeout passed) counts what
// waited for the answer as dropped at Close (Dropped.Closed): no answer came, so nothing
// was dropped as undecided.
func TestCloseCuttingTheFlagShortCountsClosed(t *testing.T) {
	flags := &flagServer{} // the flag endpoint never answers
	c, db := flagConnector(t, flags, func(cfg *config) { cfg.tel.CloseTimeout = 100 * time.Millisecond })
	c.flagOnce.Do(c.askFlag)
	require.Eventually(t, func() bool { return flags.asked.Load() == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, db.Close()) // closes c
	st := c.Stats()
	assert.Zero(t, st.Dropped.Undecided)
	assert.GreaterOrEqual(t, st.Dropped.Closed, int64(2), "the connection's log and the statement's")
}

// A closed connector starts no flag ask (a Connect that was in flight at Close re-asks):
// no goroutine of it outlives its Close waiting on the host's fetch.
func TestClosedConnectorAsksNoFlag(t *testing.T) {
	flags := &flagServer{}
	c := attachedConnector(t, nil, exporter.WithHTTPClient(flags.client()))
	hosts := c.cfg.hosts
	require.NoError(t, c.Close())
	c.askFlag()
	c.work.Wait()
	assert.Zero(t, c.flagAsks.Load(), "no ask was made")
	assert.False(t, c.asking.Load())
	require.NoError(t, hosts.Close(context.Background()))
}
