package reliability_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// workspaceID is the workspace an HTTP path names (?o=), which logs carry on the
// authenticated path only.
const workspaceID = "6051921418418893"

// panicWriter is a logger output that panics on every line.
type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) { panic("logger boom") }

// modalTransport is a caller's http.RoundTripper for telemetry that works, fails or
// panics, as told.
type modalTransport struct {
	mode atomic.Int32
	base *http.Transport
}

const (
	rtForward int32 = iota
	rtFail
	rtPanic
)

func newModalTransport() *modalTransport {
	return &modalTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
}

func (m *modalTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	switch m.mode.Load() {
	case rtFail:
		return nil, errors.New("connection refused")
	case rtPanic:
		panic("round tripper boom")
	}
	return m.base.RoundTrip(r)
}

// collaboratorCase is a caller-supplied piece of telemetry that panics.
type collaboratorCase struct {
	name string
	// opts configure the connector (with hosts of its own) on the warehouse's DSN; release
	// frees what they hold (run before the goroutine check).
	opts func(t *testing.T, srv *warehouse.Server) (opts []driver.Option, release func())
	// during runs while the workload runs (e.g. switching the transport's mode).
	during func(t *testing.T, srv *warehouse.Server, c *driver.Connector)
	check  func(t *testing.T, srv *warehouse.Server, c *driver.Connector)
}

// Everything telemetry lets a program plug in may panic — its logger, the exporter's
// HTTP transport or clock, an exporter's credentials — and no panic reaches a query, the
// process survives (a panic inside the breaker's listener used to be a fatal error), and
// telemetry recovers once the collaborator behaves. A half-open probe whose transport
// panics is a failed probe (the breaker opens again), and the logs that panicking
// credentials send to /telemetry-unauth, statements' included, carry no ids.
// TestPanicsStayInside in driver/ covers a panicking exporter.
func TestPanickingCollaborators(t *testing.T) {
	mt := newModalTransport()
	cases := []collaboratorCase{
		{
			name: "logger, while the breaker opens and closes",
			opts: func(t *testing.T, srv *warehouse.Server) ([]driver.Option, func()) {
				srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: 503, Times: -1})
				return []driver.Option{
					driver.WithHosts(driver.NewHosts(exporter.WithBreaker(5, breakerDelay, 2))),
					driver.WithLogger(zerolog.New(panicWriter{}).Level(zerolog.DebugLevel)),
				}, nil
			},
			during: func(t *testing.T, srv *warehouse.Server, c *driver.Connector) {
				if !waitFor(10*time.Second, func() bool { return lastState(c.Transitions()) == telemetry.BreakerOpen }) {
					t.Errorf("the breaker did not open: %s", transitions(c.Transitions()))
				}
				srv.ClearFaults(warehouse.GroupTelemetry)
				if !waitFor(10*time.Second, func() bool { return lastState(c.Transitions()) == telemetry.BreakerClosed }) {
					t.Errorf("the breaker did not close again: %s", transitions(c.Transitions()))
				}
			},
			check: func(t *testing.T, srv *warehouse.Server, c *driver.Connector) {
				if c.Stats().Exporter.BreakerOpened == 0 {
					t.Error("the breaker never opened")
				}
			},
		},
		{
			name: "HTTP transport of the exporter, in every breaker state",
			opts: func(t *testing.T, srv *warehouse.Server) ([]driver.Option, func()) {
				mt.mode.Store(rtFail)
				return []driver.Option{
					driver.WithHosts(driver.NewHosts(
						exporter.WithHTTPClient(&http.Client{Transport: mt}),
						exporter.WithBreaker(5, breakerDelay, 2),
						exporter.WithTransitionLog(1000), // the whole history: the check below slices it
					)),
				}, mt.base.CloseIdleConnections
			},
			during: func(t *testing.T, _ *warehouse.Server, c *driver.Connector) {
				if !waitFor(10*time.Second, func() bool { return lastState(c.Transitions()) == telemetry.BreakerOpen }) {
					t.Errorf("the breaker did not open: %s", transitions(c.Transitions()))
				}
				// Half-open probes that panic used to leak the breaker's permits for good.
				before := len(c.Transitions())
				mt.mode.Store(rtPanic)
				time.Sleep(4 * breakerDelay)
				mt.mode.Store(rtForward)
				// A probe that panics is a failed one: the breaker goes back to open.
				reopened := 0
				for _, tr := range c.Transitions()[before:] {
					if tr.From == telemetry.BreakerHalfOpen && tr.To == telemetry.BreakerOpen {
						reopened++
					}
				}
				if reopened == 0 {
					t.Errorf("no half-open probe that panicked reopened the breaker: %s", transitions(c.Transitions()))
				}
				if !waitFor(10*time.Second, func() bool { return lastState(c.Transitions()) == telemetry.BreakerClosed }) {
					t.Errorf("telemetry did not recover after the transport did: %s", transitions(c.Transitions()))
				}
				time.Sleep(300 * time.Millisecond)
			},
			check: func(t *testing.T, srv *warehouse.Server, c *driver.Connector) {
				if len(srv.TelemetryLogs()) == 0 {
					t.Error("nothing was delivered once the transport recovered")
				}
			},
		},
		{
			name: "clock of the exporter",
			opts: func(t *testing.T, srv *warehouse.Server) ([]driver.Option, func()) {
				return []driver.Option{driver.WithHosts(driver.NewHosts(
					exporter.WithClock(func() time.Time { panic("clock boom") }),
				))}, nil
			},
			check: func(t *testing.T, srv *warehouse.Server, c *driver.Connector) {
				// The clock is read under the flag cache's lock: time.Now answers for it.
				if st := c.Stats(); st.Exported == 0 || st.BatchesFailed != 0 || len(srv.TelemetryRequests()) == 0 {
					t.Errorf("with a clock that panics, the logs were not delivered: %+v", st)
				}
			},
		},
		{
			name: "credentials of a caller's exporter (WithExporter)",
			opts: func(t *testing.T, srv *warehouse.Server) ([]driver.Option, func()) {
				tgt, err := exporter.ParseTarget(srv.URL(), true)
				if err != nil {
					t.Fatal(err)
				}
				exp := exporter.NewHTTPExporter(tgt, exporter.WithCredentials(
					exporter.CredentialsFunc(func(*http.Request) error { panic("credentials boom " + srv.Token()) })))
				// The HTTP path names a workspace, which the logs then carry: the
				// unauthenticated path must strip it.
				return []driver.Option{driver.WithExporter(exp), driver.WithConnOptions(dbsql.WithHTTPPath(warehouse.HTTPPath + "?o=" + workspaceID))},
					func() { _ = exp.Close(context.Background()) }
			},
			check: func(t *testing.T, srv *warehouse.Server, c *driver.Connector) {
				reqs := srv.TelemetryRequests()
				if len(reqs) == 0 {
					t.Fatal("nothing was exported")
				}
				statements := 0
				for _, r := range reqs {
					if r.Path != "/telemetry-unauth" || r.Header.Get("Authorization") != "" {
						t.Errorf("with credentials that panic, a batch went to %s with Authorization %q", r.Path, r.Header.Get("Authorization"))
					}
					// These are logs of sessions and statements the server named, unlike those
					// of TestNothingPrivateLeaves' connections that never authenticated: the
					// unauthenticated path must strip their ids too.
					checkUnauthStripped(t, r)
					for _, l := range r.ProtoLogs() {
						if strings.Contains(l, `"sql_operation"`) {
							statements++
						}
					}
				}
				if statements == 0 {
					t.Error("no statement's log went to /telemetry-unauth: the stripping of its ids was not seen")
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startWarehouse(t)
			ignore := goleak.IgnoreCurrent()
			extra, release := tc.opts(t, srv)
			opts := append([]driver.Option{driver.WithTelemetry(true), driver.WithFlushInterval(20 * time.Millisecond)}, extra...)
			c, err := driver.OpenConnector(srv.DSN()+"?telemetry_retry_count=0", opts...)
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(c)
			w := newWorkload(db, 3)
			w.noCloudFetch = true
			ctx := context.Background()
			if err := w.prepare(ctx); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			done := w.start(stop)
			if tc.during != nil {
				tc.during(t, srv, c)
			} else {
				time.Sleep(500 * time.Millisecond)
			}
			close(stop)
			<-done
			if err := w.verifyTables(ctx); err != nil {
				t.Error(err)
			}
			runs, failed := w.ran()
			if failed > 0 {
				t.Errorf("%d of %d statements failed: %s", failed, runs, strings.Join(w.failures(), "\n"))
			}
			began := time.Now()
			if err := db.Close(); err != nil {
				t.Errorf("db.Close: %v", err)
			}
			if d := time.Since(began); d > closeDeadline {
				t.Errorf("db.Close took %v", d)
			}
			if tc.check != nil {
				tc.check(t, srv, c)
			}
			if release != nil {
				release()
			}
			if err := goleak.Find(append([]goleak.Option{ignore}, driverOwned...)...); err != nil {
				t.Errorf("goroutines left: %v", err)
			}
			t.Logf("%d statements, 0 failed; stats %+v; breaker %s", runs, c.Stats(), transitions(c.Transitions()))
		})
	}
}
