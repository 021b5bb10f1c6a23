package reliability_test

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	"go.uber.org/goleak"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// Settings of the matrix. The exporter's timeouts and breaker delay are short so that a
// case sees the breaker open and recover within seconds; the breaker's thresholds are
// SPEC §4's (5 failed batches to open, 2 successful probes to close).
const (
	workers         = 4
	defaultHold     = time.Second // how long a fault lasts in the CI version (at least)
	flagHold        = 600 * time.Millisecond
	killAfter       = 600 * time.Millisecond
	breakerDelay    = 300 * time.Millisecond
	attemptTimeout  = 250 * time.Millisecond
	retryAfterCap   = 250 * time.Millisecond
	breakerWait     = 20 * time.Second // how long a loaded machine may take to open or close the breaker
	untilWait       = time.Minute      // how long a case may wait for its until
	minRecovery     = 300 * time.Millisecond
	telemetryParams = "telemetry_flush_interval=100ms&telemetry_retry_count=1&telemetry_retry_delay=10ms"
	flagPathPrefix  = "/api/2.0/connector-service/feature-flags/"
	tenMiB          = 10 << 20
)

// breakerWant is what a case expects of the host's circuit breaker.
type breakerWant int

const (
	breakerAny      breakerWant = iota
	breakerStays                // never leaves closed
	breakerRecovers             // opens during the fault and is closed again after it
)

// telemetryWant is what a case expects of the telemetry that reached the ingest.
type telemetryWant int

const (
	delivered telemetryWant = iota // logs were exported and received
	off                            // the feature flag could not be read: nothing was sent
	anything                       // the warehouse died: whatever made it
)

// faultCase is one row of the matrix.
type faultCase struct {
	name string
	// flag leaves enableTelemetry out of the DSN: the server's feature flag decides.
	flag bool
	// setup prepares the case before the warehouse starts (options, other servers).
	setup func(t *testing.T, e *caseEnv)
	// inject starts the fault; clear ends it (both optional).
	inject, clear func(e *caseEnv)
	// hold is how long the fault lasts at least in the CI version (default 1 s; -soak
	// overrides); a fault that must open the breaker lasts until it has.
	hold time.Duration
	// until, when set, makes the fault last until it holds too (at most untilWait), so
	// that check has what it looks at however slow the machine is.
	until func(w *workload) bool
	// kill closes the warehouse while statements run.
	kill      bool
	breaker   breakerWant
	telemetry telemetryWant
	// check adds the case's own assertions, after db.Close.
	check func(t *testing.T, e *caseEnv, st aggregator.Stats)
}

// caseEnv is what a running case has at hand.
type caseEnv struct {
	srv      *warehouse.Server
	srvOpts  []warehouse.Option
	hostOpts []exporter.Option
	// dsnHost is host:port of the DSN: the warehouse, or a front that answers the
	// feature-flag endpoint itself.
	dsnHost   string
	flagFront http.Handler
	// elsewhere is a second host that telemetry must never reach.
	elsewhere *countingServer
	// redirecting makes the telemetry handler answer with a redirect to elsewhere.
	redirecting atomic.Bool
	// stopAux stops the case's other servers before the goroutine check.
	stopAux []func()
	// tap takes what the ingest answered as the case runs.
	tap *ingestTap
	// logs is its own object: the driver's client keeps requests, and through their
	// contexts the connector and its logger, for 15 minutes; the case must not stay
	// reachable with them.
	logs *logBuffer
}

// result is one row of the summary table.
type result struct {
	name          string
	runs, failed  int
	p50           time.Duration
	pairs         int     // SELECT 1 pairs of the latency probe
	paired        float64 // their median latency, the case's over the control's
	maxHeap       uint64  // peak during the case
	liveHeap      uint64  // live after a GC at the start (what earlier cases left)
	goroutines    [3]int  // before the case, peak, after db.Close
	driverTimers  int     // goroutines after db.Close that are the driver's client timeouts
	breaker       string
	closeTime     time.Duration
	exported      int64
	ingestLogs    int
	killedErrKind string
}

// TestFaultMatrix runs the workload through the real driver under each fault of
// faultCases and checks what docs/RELIABILITY.md promises: no statement fails or changes
// because of telemetry, memory and goroutines stay bounded, the breaker follows SPEC §4,
// db.Close returns within its deadline, nothing private leaves. It prints the numbers as
// a table (-v); -soak=D holds every fault for D.
func TestFaultMatrix(t *testing.T) {
	var results []result
	var base *result
	for _, fc := range faultCases() {
		ok := t.Run(fc.name, func(t *testing.T) {
			r := runCase(t, fc, base)
			results = append(results, r)
			if base == nil {
				base = &results[0]
			}
		})
		if !ok && base == nil {
			t.Fatal("the fault-free run failed: the other cases have nothing to compare with")
		}
	}
	t.Log("\n" + summary(results, base))
}

func telemetryFaults(fs ...warehouse.Fault) (func(*caseEnv), func(*caseEnv)) {
	return groupFaults(warehouse.GroupTelemetry, fs...)
}

func groupFaults(g warehouse.Group, fs ...warehouse.Fault) (func(*caseEnv), func(*caseEnv)) {
	return func(e *caseEnv) { e.srv.InjectFaults(g, fs...) }, func(e *caseEnv) { e.srv.ClearFaults(g) }
}

// faultCases is the matrix. The first case is the fault-free run the others are
// compared with.
func faultCases() []faultCase {
	var cases []faultCase
	add := func(fc faultCase) { cases = append(cases, fc) }

	add(faultCase{name: "fault-free", breaker: breakerStays})

	// The telemetry endpoint.
	forever := -1
	inj, clr := telemetryFaults(warehouse.Fault{Drop: true, Times: forever})
	add(faultCase{name: "telemetry refuses connections", inject: inj, clear: clr, breaker: breakerRecovers})
	inj, clr = telemetryFaults(warehouse.Fault{Status: 500, Times: forever})
	add(faultCase{name: "telemetry 500 storm", inject: inj, clear: clr, breaker: breakerRecovers})
	inj, clr = telemetryFaults(warehouse.Fault{Status: 503, Times: forever})
	add(faultCase{name: "telemetry 503 storm", inject: inj, clear: clr, breaker: breakerRecovers})
	inj, clr = telemetryFaults(warehouse.Fault{Status: 429, RetryAfter: time.Second, Times: forever})
	add(faultCase{name: "telemetry 429 Retry-After 1s", inject: inj, clear: clr,
		check: func(t *testing.T, _ *caseEnv, st aggregator.Stats) {
			if st.Exporter.Retries == 0 {
				t.Error("429 answers were not retried")
			}
		}})
	inj, clr = telemetryFaults(warehouse.Fault{Hang: true, Times: forever})
	add(faultCase{name: "telemetry hangs past every timeout", inject: inj, clear: clr, breaker: breakerRecovers})
	inj, clr = telemetryFaults(warehouse.Fault{SlowDrip: 50 * time.Millisecond, Times: forever})
	add(faultCase{name: "telemetry slow-drip body", inject: inj, clear: clr, breaker: breakerStays})
	// Slow but within every timeout: every export succeeds and the breaker never opens;
	// the queries run at the control's speed all the same.
	inj, clr = telemetryFaults(warehouse.Fault{Latency: 150 * time.Millisecond, Times: forever})
	add(faultCase{name: "telemetry answers after 150 ms", inject: inj, clear: clr, breaker: breakerStays})
	inj, clr = telemetryFaults(warehouse.Fault{Garbage: true, BodyBytes: tenMiB, Times: forever})
	add(faultCase{name: "telemetry garbage 10 MiB body", inject: inj, clear: clr, breaker: breakerStays})
	add(faultCase{
		name: "telemetry redirects to another host",
		setup: func(t *testing.T, e *caseEnv) {
			e.elsewhere = startCounting(t, e)
			e.srvOpts = append(e.srvOpts, warehouse.WithTelemetryHandler(redirectOr(e, okIngest())))
		},
		inject:  func(e *caseEnv) { e.redirecting.Store(true) },
		clear:   func(e *caseEnv) { e.redirecting.Store(false) },
		breaker: breakerRecovers,
		check: func(t *testing.T, e *caseEnv, _ aggregator.Stats) {
			if n := e.elsewhere.hits.Load(); n != 0 {
				t.Errorf("the redirect target received %d requests", n)
			}
			if _, redirected, _ := e.tap.counts(); redirected == 0 {
				t.Error("no telemetry request was answered with the redirect")
			}
		},
	})

	// The feature-flag endpoint, with enableTelemetry unset: the flag decides, and a
	// flag that cannot be read means off.
	add(faultCase{name: "flag on (fault-free)", flag: true, breaker: breakerStays})
	for _, f := range []struct {
		name  string
		fault warehouse.Fault
	}{
		{"refuses connections", warehouse.Fault{Drop: true, Times: forever}},
		{"500 storm", warehouse.Fault{Status: 500, Times: forever}},
		{"503 storm", warehouse.Fault{Status: 503, Times: forever}},
		{"429 Retry-After 1s", warehouse.Fault{Status: 429, RetryAfter: time.Second, Times: forever}},
		// The flag request's own timeout (10 s) is left at its default: db.Close must not
		// wait for it beyond its 2 s.
		{"hangs past every timeout", warehouse.Fault{Hang: true, Times: forever}},
		{"slow-drip body", warehouse.Fault{SlowDrip: 20 * time.Millisecond, Times: forever}},
		{"garbage 10 MiB body", warehouse.Fault{Garbage: true, BodyBytes: tenMiB, Times: forever}},
	} {
		inj, _ := groupFaults(warehouse.GroupFeatureFlag, f.fault)
		// One failed flag fetch (the answer is kept for a minute) is one failure: the
		// breaker stays closed.
		add(faultCase{name: "flag " + f.name, flag: true, inject: inj, hold: flagHold, telemetry: off, breaker: breakerStays})
	}
	add(faultCase{
		name: "flag redirects to another host",
		flag: true,
		setup: func(t *testing.T, e *caseEnv) {
			e.elsewhere = startCounting(t, e)
			e.redirecting.Store(true)
			e.flagFront = redirectOr(e, http.NotFoundHandler())
		},
		hold:      flagHold,
		telemetry: off,
		breaker:   breakerStays,
		check: func(t *testing.T, e *caseEnv, _ aggregator.Stats) {
			if n := e.elsewhere.hits.Load(); n != 0 {
				t.Errorf("the redirect target received %d requests", n)
			}
		},
	})

	// CloudFetch downloads: the driver retries a failed one; telemetry counts it. The retry
	// comes after the driver's backoff (1 s by default), so the case lasts until a read
	// (the first: reads follow one another) was seen through: a read abandoned when the
	// workload stops makes no retry, and its log rightly counts none.
	inj, _ = groupFaults(warehouse.GroupCloudFetch, warehouse.Fault{Status: 503})
	add(faultCase{name: "cloudfetch 503 once", inject: inj, breaker: breakerStays,
		until: func(w *workload) bool { return w.completed(opCloudFetch) > 0 },
		check: func(t *testing.T, e *caseEnv, _ aggregator.Stats) {
			retried := 0
			for _, op := range e.tap.cloudFetchLogs(t) {
				if op.RetryCount > 0 {
					retried++
					// One download failed once, and the driver sent it again once.
					if op.RetryCount != 1 {
						t.Errorf("the CloudFetch statement whose download failed once counts %d retries; want 1", op.RetryCount)
					}
				}
			}
			if retried != 1 {
				t.Errorf("%d CloudFetch statement logs count a retry; want the one whose download failed", retried)
			}
		}})
	inj, _ = groupFaults(warehouse.GroupCloudFetch, warehouse.Fault{Latency: 100 * time.Millisecond, Times: forever})
	add(faultCase{name: "cloudfetch slow (100 ms per file)", inject: inj, breaker: breakerStays,
		// A read abandoned when the workload stops has downloaded fewer files: under load
		// (CI runs every package at once, with -race) 1 s may not see one read through.
		until: func(w *workload) bool { return w.completed(opCloudFetch) > 0 },
		check: func(t *testing.T, e *caseEnv, _ aggregator.Stats) {
			complete := 0
			for _, op := range e.tap.cloudFetchLogs(t) {
				// The read the workload abandoned when it stopped has downloaded fewer.
				if cd := op.ChunkDetails; cd == nil || cd.SlowestChunkLatencyMillis < 100 {
					t.Errorf("a CloudFetch statement's log does not show its slow downloads: %+v", cd)
				} else if cd.TotalChunksIterated == 4 {
					complete++
				}
			}
			if complete == 0 {
				t.Error("no CloudFetch statement's log shows its 4 downloads")
			}
		}})

	// The warehouse dies while statements run.
	add(faultCase{name: "warehouse killed mid-statement", kill: true, telemetry: anything, breaker: breakerAny})

	// The fault-free run once more: how far two runs without faults differ is the noise
	// against which the p50s above are read.
	add(faultCase{name: "fault-free (again)", breaker: breakerStays})
	return cases
}

// runCase runs one case: the workload under the fault, then the fault cleared, then
// db.Close; it checks everything the matrix promises and returns the case's numbers.
func runCase(t *testing.T, fc faultCase, base *result) result {
	e := &caseEnv{logs: &logBuffer{}}
	if fc.setup != nil {
		fc.setup(t, e)
	}
	// The statements' records are kept for the last ones only, and the tap takes the
	// ingest's as they come: a soak's records would otherwise grow in the very heap the
	// case measures.
	e.srv = startWarehouse(t, append([]warehouse.Option{warehouse.WithStatementRecords(1000)}, e.srvOpts...)...)
	e.dsnHost = e.srv.Addr()
	forbidden := append(workloadMarkers(), e.srv.Token(), "/cloudfetch/", "X-Signature", "X-Expires")
	e.tap = startTap(t, e.srv, forbidden)
	defer e.tap.finish() // when the case stops early
	if e.flagFront != nil {
		e.dsnHost = startFront(t, e)
	}
	ignoreBefore := goleak.IgnoreCurrent()
	r := result{name: fc.name}
	r.goroutines[0] = runtime.NumGoroutine()
	timersBefore := driverTimers()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.liveHeap = ms.HeapAlloc

	params := telemetryParams
	if !fc.flag {
		params = "enableTelemetry=true&" + params
	}
	dsn := fmt.Sprintf("http://token:%s@%s%s?%s", e.srv.Token(), e.dsnHost, warehouse.HTTPPath, params)
	hosts := driver.NewHosts(append([]exporter.Option{
		exporter.WithBreaker(exporter.DefaultBreakerFailures, breakerDelay, exporter.DefaultBreakerSuccesses),
		exporter.WithAttemptTimeout(attemptTimeout),
		exporter.WithRetryAfterCap(retryAfterCap),
		exporter.WithTransitionLog(10000), // a soak's whole history
	}, e.hostOpts...)...)
	if fc.inject != nil {
		fc.inject(e)
	}
	opts := []driver.Option{
		driver.WithHosts(hosts),
		driver.WithLogger(e.logs.logger()),
		// The driver's own retries (4, backing off 1 s to 30 s) would make the killed
		// warehouse case last a minute; they are the driver's, so shorten them everywhere.
		driver.WithConnOptions(dbsql.WithRetries(2, 10*time.Millisecond, 100*time.Millisecond)),
	}
	c, err := driver.OpenConnector(dsn, opts...)
	if err != nil {
		t.Fatalf("open connector: %v", err)
	}
	db := sql.OpenDB(c)
	w := newWorkload(db, workers)
	w.stopOnError = fc.kill
	prepCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.prepare(prepCtx); err != nil {
		_ = db.Close()
		t.Fatalf("prepare: %v", err)
	}

	pr := startProbe(c.Stats)
	stop := make(chan struct{})
	done := w.start(stop)
	var paired <-chan *pairs
	var pairsSoFar atomic.Int64
	closeProbe := func() {}
	if !fc.kill {
		control, closeControl := openControl(t, e)
		defer closeControl()
		e.stopAux = append(e.stopAux, closeControl) // before the goroutine check
		var probe *sql.DB
		probe, closeProbe = openProbe(t, dsn, opts)
		defer closeProbe()
		paired = startPairs(probe, control, stop, &pairsSoFar)
	}
	hold := fc.hold
	if hold == 0 {
		hold = defaultHold
	}
	if *soak > 0 {
		hold = *soak
	}
	if fc.kill {
		time.Sleep(killAfter)
		_ = e.srv.Close()
		// Each worker stops at its first error: let every one meet the dead warehouse.
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			t.Fatal("the workload did not notice the warehouse died within 2 minutes")
		}
	} else {
		time.Sleep(hold)
		if paired != nil && *soak == 0 {
			waitFor(pairsWait, func() bool { return pairsSoFar.Load() >= ciPairs })
		}
		if fc.until != nil && !waitFor(untilWait, func() bool { return fc.until(w) }) {
			t.Errorf("the case's workload did not get what its check needs within %v", hold+untilWait)
		}
		if fc.breaker == breakerRecovers && !waitFor(breakerWait, func() bool { return c.Stats().Exporter.BreakerOpened > 0 }) {
			t.Errorf("the breaker did not open within %v of the fault", hold+breakerWait)
		}
		if fc.clear != nil {
			fc.clear(e)
			if fc.breaker == breakerRecovers && !waitFor(breakerWait, func() bool { return lastState(c.Transitions()) == telemetry.BreakerClosed }) {
				t.Errorf("the breaker did not close within %v of the fault's end: %s\n%s", breakerWait, transitions(c.Transitions()), telemetryStacks())
			}
			time.Sleep(minRecovery)
		}
	}
	close(stop)
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the workload did not finish within 2 minutes of being stopped")
	}
	if paired != nil {
		select {
		case p := <-paired:
			r.pairs, r.paired = len(p.faulty), p.ratio()
			if p.errs > 0 {
				t.Errorf("%d SELECT 1 of the latency probe failed", p.errs)
			}
		case <-time.After(2 * time.Minute):
			t.Fatal("the latency probe did not finish within 2 minutes of being stopped")
		}
	}
	// The probe's database is closed first, so that db.Close's host reference is the last;
	// its Close keeps the same deadline. (It closed untimed: with the flag endpoint hanging,
	// it waited for the fetch the two connectors share, which db.Close then found ended, so
	// a Close that waited for the flag request's own 10 s timeout passed.)
	probeBegan := time.Now()
	closeProbe()
	if d := time.Since(probeBegan); d > closeDeadline {
		t.Errorf("closing the probe's database took %v; the deadline is 2 s", d)
	}
	if !fc.kill {
		verifyCtx, cancelVerify := context.WithTimeout(context.Background(), time.Minute)
		defer cancelVerify()
		if err := w.verifyTables(verifyCtx); err != nil {
			t.Errorf("DML results: %v", err)
		}
	}

	began := time.Now()
	if err := db.Close(); err != nil && !(fc.kill && errors.Is(err, dbsqlerr.DatabricksError)) {
		// With the warehouse gone, the driver's own CloseSession fails, and database/sql
		// returns that error: it is the driver's, and the unwrapped driver returns it too.
		t.Errorf("db.Close: %v", err)
	}
	r.closeTime = time.Since(began)
	pr.finish()
	e.tap.finish() // after the final flush
	requests, _, ingestLogs := e.tap.counts()
	st := c.Stats()
	trs := c.Transitions()
	if n := hosts.Len(); n != 0 {
		t.Errorf("%d hosts still referenced after db.Close", n)
	}
	for _, stopAux := range e.stopAux {
		stopAux()
	}
	if err := goleak.Find(append([]goleak.Option{ignoreBefore}, driverOwned...)...); err != nil {
		t.Errorf("goroutines left after db.Close: %v", err)
	}
	r.goroutines[1], r.goroutines[2] = pr.maxGoroutines, runtime.NumGoroutine()
	r.driverTimers = driverTimers()
	r.runs, r.failed = w.ran()
	r.p50 = w.p50(opSmall)
	r.maxHeap = pr.maxHeap
	r.breaker = briefTransitions(trs)
	r.exported = st.Exported
	r.ingestLogs = ingestLogs

	// Queries: none fails or changes its result because of telemetry.
	if fc.kill {
		r.killedErrKind = checkKilled(t, w)
	} else if r.failed > 0 {
		t.Errorf("%d of %d statements failed or returned a wrong result, e.g.:\n%s", r.failed, r.runs, strings.Join(w.failures(), "\n"))
	}
	if r.runs < workers {
		t.Errorf("only %d statements ran", r.runs)
	}
	// Latency: against the control at the same moments (see paired_test.go); the
	// sequential p50 against the fault-free case only for gross effects.
	if paired != nil && (r.pairs < minPairs() || r.paired > maxPairedRatio()) {
		t.Errorf("latency of SELECT 1 under the fault is %.3f× the control's over %d pairs (bound %.2f×)", r.paired, r.pairs, maxPairedRatio())
	}
	if base != nil && r.p50 > 4*base.p50+250*time.Millisecond {
		t.Errorf("p50 of small queries %v, against %v without faults", r.p50, base.p50)
	}
	// Memory and goroutines stay bounded.
	if base != nil && r.maxHeap-r.liveHeap > base.maxHeap-base.liveHeap+128<<20 {
		t.Errorf("peak heap %s over %s live, against %s over %s without faults",
			mib(r.maxHeap), mib(r.liveHeap), mib(base.maxHeap), mib(base.liveHeap))
	}
	// The driver's own timeout watchers live 15 minutes (see driverOwned): a soak's pile up.
	if timers := r.driverTimers - timersBefore; r.goroutines[1] > r.goroutines[0]+250+max(timers, 0) {
		t.Errorf("peak goroutines %d (from %d; %d of the driver's timeout watchers added)", r.goroutines[1], r.goroutines[0], timers)
	}
	if pr.maxPending > telemetry.DefaultMaxPendingLogs || pr.maxOpen > telemetry.DefaultMaxOpenStatements {
		t.Errorf("aggregator held %d pending logs and %d open statements at its peak", pr.maxPending, pr.maxOpen)
	}
	// Every log is accounted for once the host is closed.
	if lost := st.Queued - st.Exported - st.Dropped.QueueFull - st.Dropped.ExportFailed - st.Dropped.Unfinished; lost != 0 || st.Pending != 0 {
		t.Errorf("logs unaccounted for after Close: %d (pending %d): %+v", lost, st.Pending, st)
	}
	if st.Panics != 0 {
		t.Errorf("%d panics inside telemetry", st.Panics)
	}
	// db.Close returns within its deadline.
	if r.closeTime > closeDeadline {
		t.Errorf("db.Close took %v; the deadline is 2 s", r.closeTime)
	}
	checkBreaker(t, fc.breaker, trs, st)
	checkTelemetry(t, fc.telemetry, requests, ingestLogs, st)
	// Nothing private in what was exported (the tap scanned every request) or logged.
	for i, line := range e.logs.lines() {
		scanPrivate(t, fmt.Sprintf("debug log line %d", i), line, forbidden)
		if !strings.Contains(line, `"level":"debug"`) {
			t.Errorf("telemetry logged above debug level: %s", line)
		}
	}
	if fc.check != nil {
		fc.check(t, e, st)
	}
	e.logs.Reset()
	t.Logf("%d statements (%d failed), p50 small %v, peak heap %s (%s live before), goroutines %d→%d→%d, breaker %s, Close %v, exported %d, ingest received %d",
		r.runs, r.failed, r.p50.Round(10*time.Microsecond), mib(r.maxHeap), mib(r.liveHeap), r.goroutines[0], r.goroutines[1], r.goroutines[2],
		r.breaker, r.closeTime.Round(time.Millisecond), r.exported, r.ingestLogs)
	return r
}

// driverOwned are goroutines the Databricks driver leaves behind by itself: its HTTP
// client's 900 s timeout watchers for responses whose bodies it does not close.
var driverOwned = []goleak.Option{
	goleak.IgnoreTopFunction("net/http.setRequestCancel.func4"),
	goleak.IgnoreTopFunction("net/http.awaitLegacyCancel"),
}

// telemetryStacks returns the stacks of the goroutines in telemetry's packages, to
// tell where a case got stuck.
func telemetryStacks() string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "dbtelemetry/aggregator") || strings.Contains(g, "dbtelemetry/exporter") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// driverTimers counts the goroutines that driverOwned ignores.
func driverTimers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "net/http.setRequestCancel.func4(") || strings.Contains(g, "net/http.awaitLegacyCancel(") {
			n++
		}
	}
	return n
}

func lastState(trs []exporter.Transition) telemetry.BreakerState {
	if len(trs) == 0 {
		return telemetry.BreakerClosed
	}
	return trs[len(trs)-1].To
}

// checkBreaker compares the breaker's history with SPEC §4: CLOSED → OPEN after 5 failed
// batches, OPEN → HALF_OPEN after the delay, HALF_OPEN → CLOSED after 2 successes or
// back to OPEN on a failure.
func checkBreaker(t *testing.T, want breakerWant, trs []exporter.Transition, st aggregator.Stats) {
	t.Helper()
	legal := map[[2]telemetry.BreakerState]bool{
		{telemetry.BreakerClosed, telemetry.BreakerOpen}:       true,
		{telemetry.BreakerOpen, telemetry.BreakerHalfOpen}:     true,
		{telemetry.BreakerHalfOpen, telemetry.BreakerClosed}:   true,
		{telemetry.BreakerHalfOpen, telemetry.BreakerOpen}:     true,
		{telemetry.BreakerClosed, telemetry.BreakerHalfOpen}:   false,
		{telemetry.BreakerOpen, telemetry.BreakerClosed}:       false,
		{telemetry.BreakerHalfOpen, telemetry.BreakerHalfOpen}: false,
	}
	for i, tr := range trs {
		if !legal[[2]telemetry.BreakerState{tr.From, tr.To}] {
			t.Errorf("breaker transition %d %s→%s is not in SPEC §4", i, tr.From, tr.To)
		}
		if i > 0 && trs[i-1].To != tr.From {
			t.Errorf("breaker transitions %d and %d do not chain: %s", i-1, i, transitions(trs))
		}
	}
	switch want {
	case breakerStays:
		if len(trs) != 0 {
			t.Errorf("the breaker moved without a failing endpoint: %s", transitions(trs))
		}
	case breakerRecovers:
		if len(trs) < 3 || trs[0].To != telemetry.BreakerOpen || lastState(trs) != telemetry.BreakerClosed {
			t.Errorf("want the breaker to open and close again, got %s", transitions(trs))
		}
		if st.Exporter.BreakerOpened == 0 {
			t.Error("the exporter did not count the breaker opening")
		}
	}
}

// checkTelemetry compares what the ingest received (requests, and logs it accepted)
// with what the case expects and what the exporter counted.
func checkTelemetry(t *testing.T, want telemetryWant, requests, ingestLogs int, st aggregator.Stats) {
	t.Helper()
	switch want {
	case delivered:
		if st.Exported == 0 {
			t.Errorf("no log was exported: %+v", st)
		}
		if n := int64(ingestLogs); n < st.Exported {
			t.Errorf("the ingest accepted %d logs; the exporter counted %d delivered", n, st.Exported)
		}
	case off:
		if requests != 0 || st.Exported != 0 {
			t.Errorf("telemetry was sent without a readable flag: %d requests, %d logs", requests, st.Exported)
		}
	}
}

// checkKilled: when the warehouse dies, each worker's statement fails with the driver's
// own error (never a wrong result, never a hang), and says which kinds were seen.
func checkKilled(t *testing.T, w *workload) string {
	t.Helper()
	kinds := map[string]int{}
	for _, err := range w.errors() {
		var mm *mismatch
		switch {
		case errors.As(err, &mm):
			t.Errorf("a statement returned a wrong result: %v", err)
		case errors.Is(err, dbsqlerr.DatabricksError), errors.Is(err, sqldriver.ErrBadConn):
			kinds["driver"]++
		default:
			t.Errorf("a statement failed with an error that is not the driver's: %v", err)
		}
	}
	if len(kinds) == 0 {
		t.Error("no statement failed although the warehouse was killed")
	}
	return fmt.Sprint(kinds)
}

// countingServer is another host: it counts what reaches it.
type countingServer struct {
	*httptest.Server
	hits atomic.Int64
}

func startCounting(t *testing.T, e *caseEnv) *countingServer {
	t.Helper()
	cs := &countingServer{}
	cs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		cs.hits.Add(1)
		_, _ = w.Write([]byte(`{"errors":[],"numSuccess":1,"numProtoSuccess":1,"numRealtimeSuccess":0}`))
	}))
	t.Cleanup(cs.Close)
	e.stopAux = append(e.stopAux, cs.Close)
	return cs
}

// redirectOr answers with a 307 to the same path on e.elsewhere while e.redirecting,
// else with next.
func redirectOr(e *caseEnv, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.redirecting.Load() {
			http.Redirect(w, r, e.elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// okIngest answers like the ingest.
func okIngest() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"errors":[],"numSuccess":1,"numProtoSuccess":1,"numRealtimeSuccess":0}`))
	})
}

// startFront puts a reverse proxy in front of the warehouse that answers the
// feature-flag endpoint with e.flagFront, and returns its host:port.
func startFront(t *testing.T, e *caseEnv) string {
	t.Helper()
	target, err := url.Parse(e.srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = tr
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, flagPathPrefix) {
			e.flagFront.ServeHTTP(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	stop := func() {
		front.Close()
		tr.CloseIdleConnections()
	}
	t.Cleanup(stop)
	e.stopAux = append(e.stopAux, stop)
	return front.Listener.Addr().String()
}

// summary renders the matrix as a table.
func summary(rs []result, base *result) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "fault\tqueries run\tfailed\tp50 vs control (pairs)\tp50 small (vs fault-free)\tpeak heap (live before)\tgoroutines before/peak/after (driver timers)\tbreaker\tClose\texported/ingested")
	for _, r := range rs {
		ratio := "-"
		if base != nil && base.p50 > 0 {
			ratio = fmt.Sprintf("%+.0f%%", 100*(float64(r.p50)/float64(base.p50)-1))
		}
		failed := fmt.Sprint(r.failed)
		if r.killedErrKind != "" {
			failed += " (server died: " + r.killedErrKind + ")"
		}
		vs := "-"
		if r.pairs > 0 {
			vs = fmt.Sprintf("%.3f× (%d)", r.paired, r.pairs)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%v (%s)\t%s (%s)\t%d/%d/%d (%d)\t%s\t%v\t%d/%d\n", r.name, r.runs, failed, vs,
			r.p50.Round(10*time.Microsecond), ratio, mib(r.maxHeap), mib(r.liveHeap), r.goroutines[0], r.goroutines[1], r.goroutines[2], r.driverTimers,
			r.breaker, r.closeTime.Round(time.Millisecond), r.exported, r.ingestLogs)
	}
	_ = tw.Flush()
	return b.String()
}
