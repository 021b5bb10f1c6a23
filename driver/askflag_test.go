package driver

import (
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

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
