package driver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/internal/fakedb"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// Claims of the package's documentation, each pinned by a test (see out/report.md of the
// session that wrote them).

// noKillSwitch reads no DATABRICKS_TELEMETRY_DISABLED, whatever the environment says.
var noKillSwitch = WithLookupEnv(func(string) (string, bool) { return "", false })

// Connector.Flush: "an export's error, ctx's, or aggregator.ErrClosed after Close (which
// flushed what was pending). With telemetry off it returns nil at once." After Close it
// says ErrClosed whether or not a connection ever opened: a connector closed before its
// first connection has no aggregator, and Flush used to return nil for it.
func TestDocsConnectorFlushAfterClose(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) *Connector
		// afterClose is Flush's error once the connector is closed (nil: none).
		afterClose error
	}{
		{"telemetry off", func(t *testing.T) *Connector {
			c, err := OpenConnector(testDSN+"?enableTelemetry=false", WithHosts(NewHosts()), noKillSwitch)
			require.NoError(t, err)
			return c
		}, nil},
		{"on, from a DSN, never connected", func(t *testing.T) *Connector {
			c, err := OpenConnector(testDSN+"?enableTelemetry=true", WithHosts(NewHosts()), noKillSwitch)
			require.NoError(t, err)
			return c
		}, aggregator.ErrClosed},
		{"flag decides, from a DSN, never connected", func(t *testing.T) *Connector {
			c, err := OpenConnector(testDSN, WithHosts(NewHosts()), noKillSwitch)
			require.NoError(t, err)
			return c
		}, aggregator.ErrClosed},
		{"on, NewConnector, never connected", func(t *testing.T) *Connector {
			c, err := NewConnector(WithConnOptions(dbsql.WithServerHostname(testHost), dbsql.WithAccessToken(testToken)),
				WithTelemetry(true), WithHosts(NewHosts()), noKillSwitch)
			require.NoError(t, err)
			return c
		}, aggregator.ErrClosed},
		{"on, connected", func(t *testing.T) *Connector {
			c := fakeConnector(t, true, &LogCapture{})
			conn, err := c.Connect(context.Background())
			require.NoError(t, err)
			require.NoError(t, conn.Close())
			return c
		}, aggregator.ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.open(t)
			require.NoError(t, c.Flush(context.Background()), "before Close: nothing failed")
			require.NoError(t, c.Close(), "Close never returns an error")
			err := c.Flush(context.Background())
			if tc.afterClose == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.afterClose)
			}
			require.NoError(t, c.Close(), "Close again: still no error")
		})
	}
}

// Hosts: "The zero value holds no host and takes none: a connector given one
// (WithHosts(&Hosts{})) exports nothing, every event counted in Stats().Dropped.Closed, and
// its Close, Len and Refs answer as an empty set's." Every event, as it
// comes: none held back uncounted while the connector lives, none counted as Undecided
// (it used to keep up to 1024 events waiting, uncounted until Close, and count the rest
// as Undecided: joining the zero Hosts panicked, and the gate stayed open without a sink).
func TestDocsZeroHostsCountsEveryEventAsClosed(t *testing.T) {
	const queries = maxUndecided + 100 // more than the gate would keep waiting
	for _, enabled := range []*bool{new(true), nil} {
		name := "the flag decides"
		if enabled != nil {
			name = "enableTelemetry=true"
		}
		t.Run(name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.enabled = enabled
			cfg.hosts = &Hosts{}
			cfg.lookupEnv = func(string) (string, bool) { return "", false }
			c, err := (&Connector{cfg: cfg, gate: newGate()}).wrap(fakedb.NewConnector(hotFakeOptions()...))
			require.NoError(t, err)
			c.info.Store(&telemetry.ConnectionInfo{AuthType: "pat"})
			// A connector from a DSN joins its host at its first connection.
			c.dsnURL = &url.URL{Scheme: "https", Host: "adb-1.azuredatabricks.net:443", Path: "/sql/1.0/warehouses/x"}
			db := hotDB(t, c)
			for range queries {
				require.NoError(t, fakedb.Query(context.Background(), db, hotSmallQuery))
			}
			open := c.Stats()
			assert.Zero(t, open.Dropped.Undecided, "nothing dropped as undecided")
			assert.GreaterOrEqual(t, open.Dropped.Closed, int64(queries), "every event counted as it came")
			assert.Zero(t, open.Received, "nothing reached an aggregator")

			require.NoError(t, db.Close())
			closed := c.Stats()
			assert.Zero(t, closed.Dropped.Undecided)
			assert.Equal(t, open.Dropped.Closed+1, closed.Dropped.Closed, "and the connection's close")

			// It used to panic on a nil registry.
			assert.Zero(t, cfg.hosts.Len())
			assert.Zero(t, cfg.hosts.Refs("https://adb-1.azuredatabricks.net:443"))
			assert.NoError(t, cfg.hosts.Close(context.Background()))
		})
	}
}

// closeCounter is an exporter that accepts every batch and counts its Close calls.
type closeCounter struct {
	logs, closes atomic.Int64
}

func (e *closeCounter) Export(_ context.Context, logs []*telemetry.FrontendLog) error {
	e.logs.Add(int64(len(logs)))
	return nil
}

func (e *closeCounter) Close(context.Context) error {
	e.closes.Add(1)
	return nil
}

// WithExporter: "The connector owns the aggregator built on it; exp is not closed by the
// connector." Its Close flushes into exp (the aggregator's final flush), closes that
// aggregator, and leaves exp open, for other users of it.
func TestDocsWithExporterIsNotClosedByTheConnector(t *testing.T) {
	for _, tc := range []struct {
		name    string
		queries int
	}{
		{"no statement", 0},
		{"statements pending at Close", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := &closeCounter{}
			cfg := defaultConfig()
			cfg.exporter = exp
			cfg.hosts = NewHosts()
			cfg.lookupEnv = func(string) (string, bool) { return "", false }
			c, err := (&Connector{cfg: cfg, gate: newGate()}).wrap(fakedb.NewConnector(hotFakeOptions()...))
			require.NoError(t, err)
			c.info.Store(&telemetry.ConnectionInfo{AuthType: "pat"})
			c.dsnURL = &url.URL{Scheme: "https", Host: "adb-1.azuredatabricks.net:443", Path: "/sql/1.0/warehouses/x"}
			db := hotDB(t, c)
			require.NoError(t, db.PingContext(context.Background()))
			for range tc.queries {
				require.NoError(t, fakedb.Query(context.Background(), db, hotSmallQuery))
			}
			require.NotNil(t, c.agg.Load(), "the connector's own aggregator, over exp")

			require.NoError(t, db.Close()) // closes c
			assert.Zero(t, exp.closes.Load(), "exp is the caller's: the connector does not close it")
			assert.Equal(t, int64(2+tc.queries), exp.logs.Load(), "Close's final flush went to exp: the connection's open and close, and its statements")
			assert.ErrorIs(t, c.Flush(context.Background()), aggregator.ErrClosed, "the connector's aggregator is closed")
		})
	}
}

// Dropped.Undecided: "those it kept when the answer was off or the fetch failed". A
// flag fetch that fails (here the transport refuses the request) keeps the host's last
// known answer, off when there is none: what waited for it is dropped as undecided,
// not as closed.
func TestDocsFailedFlagFetchCountsWhatWaitedAsUndecided(t *testing.T) {
	var asked atomic.Int32
	client := &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Body != nil {
			_, _ = io.Copy(io.Discard, req.Body)
			_ = req.Body.Close()
		}
		if req.Method == http.MethodGet {
			asked.Add(1)
			return nil, errors.New("connection refused")
		}
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")), Request: req}, nil
	})}
	c := attachedConnector(t, nil, exporter.WithHTTPClient(client))
	hosts := c.cfg.hosts
	t.Cleanup(func() { _ = hosts.Close(context.Background()) })
	db := hotDB(t, c)
	require.NoError(t, fakedb.Query(context.Background(), db, hotSmallQuery))

	c.flagOnce.Do(c.askFlag) // the first accepted Thrift call
	c.work.Wait()
	require.Equal(t, int32(1), asked.Load(), "the flag was asked for")
	st := c.Stats()
	assert.GreaterOrEqual(t, st.Dropped.Undecided, int64(2), "the connection's log and the statement's")
	assert.Zero(t, st.Dropped.Closed)
	assert.Zero(t, st.Received, "nothing reached the aggregator")
}
