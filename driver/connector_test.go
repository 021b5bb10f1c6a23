package driver

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/internal/fakedb"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// sameEndpoint compares what URLs compare by: the scheme and the host name in any case,
// and the port, a missing one being its scheme's default. A Thrift call to the DSN's host
// spelt otherwise keeps the connector's telemetry on; one to another port or scheme turns
// it off (foreign).
func TestSameEndpoint(t *testing.T) {
	dsn := &url.URL{Scheme: "https", Host: "adb-1.azuredatabricks.net:443"}
	http80 := &url.URL{Scheme: "http", Host: "localhost:80"}
	for _, tc := range []struct {
		want *url.URL
		u    string
		same bool
	}{
		{dsn, "https://adb-1.azuredatabricks.net:443/sql/1.0/warehouses/w", true},
		{dsn, "https://ADB-1.AzureDatabricks.net:443/sql", true},
		{dsn, "HTTPS://adb-1.azuredatabricks.net/sql", true},
		{dsn, "https://adb-1.azuredatabricks.net:8443/sql", false},
		{dsn, "http://adb-1.azuredatabricks.net:443/sql", false},
		{dsn, "https://adb-2.azuredatabricks.net:443/sql", false},
		{http80, "http://LOCALHOST/sql", true},
		{http80, "http://localhost:443/sql", false},
	} {
		u, err := url.Parse(tc.u)
		require.NoError(t, err)
		assert.Equal(t, tc.same, sameEndpoint(u, tc.want), "%s against %s", tc.u, tc.want)
	}
}

// Without the driver's configuration to read (a release that renamed its fields), a
// connector made with NewConnector describes its connection from its first Thrift call:
// the host, port and path it calls, and a personal access token's auth type when the
// call's Authorization header carries one.
func TestConnectionLearntFromTheFirstThriftCall(t *testing.T) {
	for _, tc := range []struct {
		authorization, want string
	}{
		{"Bearer dapi0123456789abcdef", "pat"},
		{"Bearer eyJhbGciOi", "unknown"},
		{"", "unknown"},
	} {
		c := &Connector{}
		req, err := http.NewRequest(http.MethodPost, "https://adb-1.azuredatabricks.net:8443/sql/1.0/warehouses/w", nil)
		require.NoError(t, err)
		if tc.authorization != "" {
			req.Header.Set("Authorization", tc.authorization)
		}
		c.learnInfo(req)
		info := c.info.Load()
		require.NotNil(t, info)
		assert.Equal(t, tc.want, info.AuthType, tc.authorization)
		assert.Equal(t, "adb-1.azuredatabricks.net", info.Host)
		assert.Equal(t, 8443, info.Port)
		assert.Equal(t, "/sql/1.0/warehouses/w", info.HTTPPath)
	}
}

// A connector whose host refuses telemetry (here a private address, which is never sent
// to) shuts its gate at once: what it emits is counted in Stats as dropped (Closed) as it
// comes, not held back in the gate until the connector closes.
func TestRefusedHostCountsWhatComesAsItComes(t *testing.T) {
	for _, setting := range []string{"?enableTelemetry=true", ""} {
		c, err := OpenConnector("token:dapi0123@10.255.255.1:443/sql/1.0/warehouses/x"+setting, WithHosts(NewHosts()))
		require.NoError(t, err)
		c.attachToDSN() // what its first connection does
		require.Nil(t, c.host.Load(), "the host was refused")
		c.emit(&telemetry.Event{Kind: telemetry.KindConnectionOpen, Time: time.Now(), SessionID: "s"})
		st := c.Stats()
		assert.Equal(t, int64(1), st.Dropped.Closed, setting)
		assert.Zero(t, st.Dropped.Undecided, setting)
		assert.Empty(t, c.gate.pending, "nothing is kept for a host that will never receive it")
		require.NoError(t, c.Close())
	}
}

// A closed connector is not kept by its host's aggregator, which another connector of the
// same settings keeps open: its Close takes its hand-over back (see setAggregator), so
// that the aggregator's sweeps neither call it nor keep it, its connections and their
// statements, for as long as the other connector lives.
func TestClosedConnectorIsNotKeptBySharedAggregator(t *testing.T) {
	hosts := NewHosts()
	t.Cleanup(func() { _ = hosts.Close(context.Background()) })
	on := true
	attached := func() *Connector {
		cfg := defaultConfig()
		cfg.enabled, cfg.hosts = &on, hosts
		cfg.lookupEnv = func(string) (string, bool) { return "", false }
		c, err := (&Connector{cfg: cfg, gate: newGate()}).wrap(fakedb.NewConnector())
		require.NoError(t, err)
		c.info.Store(&telemetry.ConnectionInfo{AuthType: "pat"})
		c.attach(&url.URL{Scheme: "https", Host: "adb-1.azuredatabricks.net", Path: "/sql/1.0/warehouses/x"})
		return c
	}
	first := attached()
	kept := attached() // the newest: its credentials are the ones the host keeps
	t.Cleanup(func() { _ = kept.Close() })
	require.Same(t, first.agg.Load(), kept.agg.Load(), "one aggregator for their settings")

	closed := weak.Make(first)
	require.NoError(t, first.Close())
	first = nil // the last strong reference goes
	require.Eventually(t, func() bool {
		runtime.GC()
		return closed.Value() == nil
	}, 5*time.Second, 10*time.Millisecond, "the closed connector is collected")
}

// A connection that fails to open is not tracked: the connector keeps no state of it for
// its sweeps to walk, however many connections a pool fails to open.
func TestFailedConnectionsAreNotTracked(t *testing.T) {
	on := true
	cfg := defaultConfig()
	cfg.enabled, cfg.hosts = &on, NewHosts()
	cfg.lookupEnv = func(string) (string, bool) { return "", false }
	c, err := (&Connector{cfg: cfg, gate: newGate()}).wrap(fakedb.NewConnector(fakedb.WithConnectError(errors.New("no session"))))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	for range 5 {
		conn, err := c.Connect(context.Background())
		require.Error(t, err)
		require.Nil(t, conn)
	}
	c.connsMu.Lock()
	defer c.connsMu.Unlock()
	assert.Empty(t, c.conns)
}

// The DSN's host counts as loopback exactly when the exporter judges it so: a host the
// exporter calls loopback while the driver does not has its telemetry refused (a loopback
// host the DSN did not name), and telemetry goes off for a DSN on LOCALHOST or
// app.localhost.
func TestLoopbackHostAgreesWithTheExporter(t *testing.T) {
	for _, tc := range []struct {
		dsn  string
		want bool
	}{
		{"http://localhost:8080", true},
		{"http://LocalHost:8080", true},
		{"http://localhost.:8080", true},
		{"http://app.localhost:8080", true},
		{"https://App.LOCALHOST", true},
		{"http://127.0.0.1:8080", true},
		{"http://127.1.2.3", true},
		{"http://[::1]:8080", true},
		{"https://adb-1.azuredatabricks.net", false},
		{"https://localhost.example.com", false},
		{"https://notlocalhost", false},
		{"http://10.0.0.1:8080", false},
	} {
		u, err := url.Parse(tc.dsn)
		require.NoError(t, err)
		assert.Equal(t, tc.want, loopbackHost(u), tc.dsn)
	}
}
