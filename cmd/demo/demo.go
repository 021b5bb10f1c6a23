package main

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// closeBudget bounds the shutdown of the hosts' telemetry after the pool closed (the
// pool's own close already flushed within the driver's 2 s).
const closeBudget = 3 * time.Second

// stopGrace bounds what the demo waits for after Ctrl-C: the statements in flight, the
// table's DROP and the pool's close. The driver cancels, polls and closes with contexts
// of its own, bounded only by its HTTP client's 15 minutes (and retries): against a
// warehouse that stopped answering, they would hold Ctrl-C's report that long.
const stopGrace = 10 * time.Second

// drainGrace bounds what the demo waits for the statements still running once the
// budget is spent: then it cancels them. A warehouse that stopped answering them
// (a gateway holding the calls, a network gone quiet) would otherwise hold the demo
// until the driver's HTTP client gives up, 15 minutes per call. The pool's close, which
// the warehouse answers too, is bounded by stopGrace.
const drainGrace = 30 * time.Second

// outcome is what one run produced: the report and, against the local warehouse, the
// server (closed, its records kept) and the raw samples, for tests.
type outcome struct {
	report *Report
	srv    *warehouse.Server
	mix    []sample
	ddl    []sample
}

// Phase names.
const (
	phaseBaseline = "baseline"
	phaseOutage   = "outage"
	phaseRecovery = "recovery"
	phaseWorkload = "workload"
)

// execute runs the demo. progress receives the live view (bars when tty), teeOut the
// delivered telemetry logs as JSON lines (nil: none).
func execute(ctx context.Context, o options, progress io.Writer, tty bool, teeOut io.Writer) (*outcome, error) {
	out := &outcome{}
	// stopping ends stopGrace after ctx (Ctrl-C): the demo then stops waiting for the
	// warehouse and prints what it has.
	stopping, stopNow := context.WithCancel(context.WithoutCancel(ctx))
	defer stopNow()
	defer context.AfterFunc(ctx, func() { time.AfterFunc(stopGrace, stopNow) })()
	local := o.dsn == ""
	dsn, target, d := o.dsn, dsnHost(o.dsn), databricksSQL
	settings := map[string]string{}
	attemptTimeout := cmp.Or(o.attemptTimeout, localAttemptTimeout)
	tee := newTee(teeOut)
	hostOpts := []exporter.Option{exporter.WithTransportWrapper(tee.wrap)}
	var notes []string
	if local {
		srv, err := warehouse.NewServer(o.warehouseOpts...)
		if err != nil {
			return nil, fmt.Errorf("start the local warehouse: %w", err)
		}
		defer srv.Close()
		out.srv = srv
		target, d = srv.URL(), duckDB
		q := url.Values{}
		q.Set("telemetry_flush_interval", localFlushInterval.String())
		q.Set("telemetry_retry_count", strconv.Itoa(localRetryCount))
		q.Set("telemetry_retry_delay", localRetryDelay.String())
		q.Set("timeout", strconv.Itoa(int(localQueryTimeout/time.Second)))
		dsn = srv.DSN() + "?" + q.Encode()
		hostOpts = append(hostOpts,
			exporter.WithBreaker(localBreakerFails, localBreakerDelay, localBreakerOK),
			exporter.WithAttemptTimeout(attemptTimeout))
		settings["flush interval"] = localFlushInterval.String()
		settings["retries"] = fmt.Sprintf("%d (backoff from %s)", localRetryCount, localRetryDelay)
		settings["attempt timeout"] = attemptTimeout.String()
		settings["breaker"] = fmt.Sprintf("opens after %d failed batches, stays open %s, closes after %d good probes",
			localBreakerFails, localBreakerDelay, localBreakerOK)
		settings["batch size"] = strconv.Itoa(telemetry.DefaultBatchSize)
		notes = append(notes,
			fmt.Sprintf("telemetry settings are shortened for the demo (flush %s, breaker delay %s, attempt timeout %s) so that the breaker opens and closes within seconds; the defaults are 5s, 60s and 10s.",
				localFlushInterval, localBreakerDelay, attemptTimeout))
	} else {
		settings["exporter"] = "the driver's defaults and the DSN's telemetry_* parameters"
		bounded, added := withQueryTimeout(dsn, remoteQueryTimeout)
		dsn = bounded // without its empty timeouts, if it had some
		if added {
			settings["query timeout"] = remoteQueryTimeout.String() + " (the DSN sets none)"
		}
		notes = append(notes, "against a real warehouse there is no outage and no ingest to ask: the cross-check of exported logs against the ingest is skipped; exported logs are checked against the batches the telemetry endpoint acknowledged on the wire.")
	}
	hosts := driver.NewHosts(hostOpts...)
	conn, err := driver.OpenConnector(dsn, driver.WithHosts(hosts))
	if err != nil {
		return nil, fmt.Errorf("open the connector: %w", err)
	}
	// The connector decided from the kill switch and the DSN; the note says which.
	enabled := conn.Enabled()
	switch {
	case telemetry.DisabledByEnv(os.LookupEnv):
		notes = append(notes, telemetry.DisableEnv+" is set: telemetry is off, so there is nothing to export.")
	case !enabled:
		notes = append(notes, "enableTelemetry=false in the DSN: telemetry is off, so there is nothing to export.")
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(o.concurrency)
	db.SetMaxIdleConns(o.concurrency)

	runStart := time.Now()
	since := func() time.Duration { return time.Since(runStart) }
	var ui progressUI
	if tty {
		ui = newBarUI(progress, since)
	} else {
		ui = newPlainUI(progress, since)
	}
	where := "a real warehouse at " + target
	if local {
		where = "the local warehouse at " + target
	}
	ui.event(fmt.Sprintf("dbtelemetry demo: %d connections to %s", o.concurrency, where))

	// Breaker transitions, reported as they happen.
	bw := &breakerWatch{transitions: conn.Transitions, ui: ui}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	var watch sync.WaitGroup
	watch.Go(func() { bw.run(watchCtx) })

	b := &budget{duration: o.duration, queries: o.queries}
	wl := newWorkload(db, d, o.concurrency, cmp.Or(o.scanRows, defaultScanRows), runStart, b)
	var spans []phaseSpan
	var outageRes *outageResult
	setupGoal := "create and seed table " + wl.table
	if !local {
		// The first connection is the first call to the host: the driver retries one that
		// is refused for about 15 s before it gives up; one that is never answered, longer.
		setupGoal += " (a host that refuses connections takes the driver about 15 s of retries to give up; one that never answers, longer: Ctrl-C stops it)"
	}
	setupView := &phaseView{name: "setup", goal: setupGoal}
	ui.start(setupView)
	seeded, setupErr := wl.setup(ctx)
	switch {
	case setupErr != nil && ctx.Err() != nil:
		ui.fail(setupView, "interrupted")
	case setupErr != nil:
		ui.fail(setupView, "failed (the error is printed last)")
	default:
		ui.end(setupView, fmt.Sprintf("table %s with %d rows", wl.table, seeded))
		b.start = time.Now()
		live := newLiveStats()
		wl.onBegin = live.statementBegun
		runDone := make(chan struct{})
		// The workers' context: Ctrl-C's, and cancelled drainGrace after the budget.
		runCtx, cancelRun := context.WithCancel(ctx)
		defer cancelRun()
		// runEnded ends when the workers are done, or the grace after their cancel
		// (drainGrace after the budget) has passed: a cancel does not reach a call the
		// driver makes with a context of its own (its status polls), and a warehouse that
		// never answers one would hold the demo for the driver's 15 minutes.
		runEnded, endRun := context.WithCancel(context.Background())
		defer endRun()
		go func() {
			defer close(runDone)
			defer endRun()
			wl.run(runCtx, live.add)
		}()
		var drained atomic.Int64 // statements cancelled after the budget
		go func() {
			waitUntil(ctx, runDone, b.spent)
			t := time.NewTimer(cmp.Or(o.drainGrace, drainGrace))
			defer t.Stop()
			select {
			case <-ctx.Done(): // Ctrl-C: stopGrace bounds the wait
			case <-runDone:
			case <-t.C:
				n := wl.running.Load()
				drained.Store(n)
				ui.event(fmt.Sprintf("%d statement(s) still running %s after the budget was spent: cancelled (the warehouse did not answer them)", n, cmp.Or(o.drainGrace, drainGrace)))
				cancelRun()
				time.AfterFunc(cmp.Or(o.drainGrace, stopGrace), endRun)
			}
		}()
		phases := 1 // the workload against a real warehouse; baseline, outage, recovery locally
		if local {
			phases = 3
		}
		phase := func(name, goal string, frac func() float64, status func() string, wait func()) {
			if ctx.Err() != nil {
				return // Ctrl-C: no further phase
			}
			idx := len(spans)
			wl.phase.Store(int32(idx)) //nolint:gosec // a handful of phases
			v := &phaseView{name: name, goal: goal, frac: frac, status: status}
			start := since()
			live.started(idx)
			ui.start(v)
			wait()
			if idx+1 < phases {
				// A statement that begins from now on is the next phase's: the summary
				// below counts the phase's own, done and still running.
				wl.phase.Store(int32(idx + 1)) //nolint:gosec // a handful of phases
			}
			bw.report() // the phase's last transitions before its summary
			live.ended(idx)
			end := since()
			spans = append(spans, phaseSpan{name: name, start: start, end: end})
			ui.end(v, live.status(idx))
		}
		budgetText := budgetGoal(o)
		if local {
			phase(phaseBaseline, "mixed workload, telemetry healthy, until a quarter of "+budgetText,
				func() float64 { return min(1, b.fraction()*4) }, func() string { return live.status(0) },
				func() { waitUntil(ctx, runEnded.Done(), func() bool { return b.fraction() >= 0.25 }) })
			ot := &outage{srv: out.srv, transitions: conn.Transitions, attempts: localRetryCount + 1,
				attemptTimeout: attemptTimeout, ui: ui, since: since}
			phase(phaseOutage, "telemetry endpoint down until the breaker has opened and closed again; the workload goes on",
				ot.fraction, func() string { return ot.currentStage() + " · " + live.status(1) },
				func() { r := ot.run(ctx, runEnded.Done()); outageRes = &r })
			phase(phaseRecovery, "telemetry healthy again, until "+budgetText+" is spent",
				b.fraction, func() string { return live.status(2) },
				func() { waitUntil(ctx, runEnded.Done(), func() bool { return false }) })
		} else {
			phase(phaseWorkload, "mixed workload until "+budgetText+" is spent",
				b.fraction, func() string { return live.status(0) },
				func() { waitUntil(ctx, runEnded.Done(), func() bool { return false }) })
		}
		switch {
		case !waitOrStop(runEnded.Done(), stopping):
			stuck := wl.running.Load()
			notes = append(notes, fmt.Sprintf("%d statement(s) still waited for the warehouse %s after Ctrl-C, when the demo stopped waiting: they are not in the report.", stuck, stopGrace))
		case !isDone(runDone):
			stuck := wl.running.Load()
			notes = append(notes, fmt.Sprintf("%d statement(s) still waited for the warehouse %s after they were cancelled, when the demo stopped waiting (the driver's status polls do not take a cancel): they are not in the report.", stuck, cmp.Or(o.drainGrace, stopGrace)))
		}
		if n := drained.Load(); n > 0 {
			notes = append(notes, fmt.Sprintf("%d statement(s) were still running %s after the budget was spent: the demo cancelled them (counted as interrupted, not as errors). The warehouse did not answer them in time: a gateway holding the calls, a network gone quiet, or a warehouse queueing them.", n, cmp.Or(o.drainGrace, drainGrace)))
		}
	}
	elapsed := time.Since(b.start)
	if b.start.IsZero() {
		elapsed = 0
	}
	var leftErr error // the demo table may be left on the warehouse
	if !local || ctx.Err() == nil {
		// After Ctrl-C the local warehouse's table goes with the warehouse; a real
		// warehouse's is dropped even then.
		if err := wl.teardown(stopping); err != nil {
			leftErr = fmt.Errorf("the demo table %s may be left on the warehouse: its DROP failed (drop it yourself: DROP TABLE IF EXISTS %s): %w", wl.table, wl.table, err)
			notes = append(notes, oneLine(redactDSN(leftErr.Error(), o.dsn)))
		}
	}

	// Closing the pool closes the sessions (DELETE_SESSION logs) and then the
	// connector, which flushes the host's telemetry within the driver's 2 s (the
	// sessions' close is the warehouse's to answer).
	closeView := &phaseView{name: "close", goal: "close the pool: sessions end, telemetry flushes (its flush bounded by 2 s)"}
	ui.start(closeView)
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	var closeErr error
	closeWait := time.NewTimer(cmp.Or(o.drainGrace, stopGrace))
	defer closeWait.Stop()
	select {
	case closeErr = <-closed:
	case <-stopping.Done():
		notes = append(notes, fmt.Sprintf("closing the pool had not finished %s after Ctrl-C: the warehouse did not answer, and ends its sessions itself when they expire.", stopGrace))
	case <-closeWait.C:
		notes = append(notes, fmt.Sprintf("closing the pool had not finished after %s: the warehouse did not answer, and ends its sessions itself when they expire.", cmp.Or(o.drainGrace, stopGrace)))
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeBudget)
	hostsErr := hosts.Close(cctx)
	cancel()
	teeErr := tee.close()
	switch {
	case o.telemetryOut == "":
	case teeErr != nil:
		notes = append(notes, fmt.Sprintf("-telemetry-out %s was not written whole (the error is printed last).", o.telemetryOut))
	default:
		notes = append(notes, fmt.Sprintf("-telemetry-out %s: every log of every batch the telemetry endpoint acknowledged, as JSON lines, teed from the exporter's HTTP client.", o.telemetryOut))
	}
	stopWatch()
	watch.Wait()
	bw.report()
	st := conn.Stats()
	ui.end(closeView, fmt.Sprintf("telemetry: %d logs exported, %d pending", st.Exported, st.Pending))
	ui.stop()

	mix, ddl := wl.results()
	out.mix, out.ddl = mix, ddl // what ran, whatever failed
	interrupted := ctx.Err() != nil
	if setupErr != nil && !interrupted {
		return out, errors.Join(setupErr, leftErr)
	}
	if interrupted {
		flushed := "telemetry was flushed within its deadline"
		if st.Pending > 0 {
			flushed = fmt.Sprintf("telemetry's flush did not finish: %d log(s) still pending", st.Pending)
		}
		notes = append(notes, "interrupted by "+interruptedBy(ctx)+": statements in flight were cancelled (counted as interrupted, not as errors) and "+flushed+".")
	}
	if enabled && st.Received == 0 && st.Queued == 0 {
		if held := st.Dropped.Closed + st.Dropped.Undecided; held > 0 {
			// Events waited for an answer of the flag that said off, or never came.
			notes = append(notes, fmt.Sprintf("telemetry never started: the server's feature flag did not enable it, or was never answered, and the %d event(s) held for its answer were dropped and counted (enableTelemetry=true in the DSN overrides the flag).", held))
		} else {
			notes = append(notes, "telemetry stayed off: the server's feature flag did not enable it (enableTelemetry=true in the DSN overrides the flag).")
		}
	}
	if hostsErr != nil {
		notes = append(notes, "closing the hosts' telemetry: "+oneLine(hostsErr.Error()))
	}
	out.report = buildReport(inputs{
		opts: o, target: target, d: d, scanRows: wl.scanRows, mix: mix, ddl: ddl, phases: spans, elapsed: elapsed,
		interrupted: interrupted, interruptedBy: interruptedBy(ctx), runStart: runStart, stats: st, transitions: conn.Transitions(),
		delivered: tee.delivered(), answers: tee.answers(), enabled: enabled, settings: settings,
		outage: outageRes, srv: out.srv, notes: notes,
	})
	if closeErr != nil {
		return out, errors.Join(fmt.Errorf("close the pool: %w", closeErr), leftErr)
	}
	if interrupted {
		leftErr = nil // Ctrl-C: the report's notes say it, and the run exits 130
	}
	return out, errors.Join(leftErr, teeErr)
}

// interruptedBy names what stopped the run, for its report: SIGTERM when ctx's cause is
// that signal (signal.NotifyContext cancels with the signal as cause), else Ctrl-C, the
// run's one other way to stop early.
func interruptedBy(ctx context.Context) string {
	if cause := context.Cause(ctx); cause != nil && cause != context.Canceled &&
		strings.HasPrefix(cause.Error(), syscall.SIGTERM.String()) {
		return "SIGTERM"
	}
	return "Ctrl-C"
}

func budgetGoal(o options) string {
	if o.queries > 0 {
		return fmt.Sprintf("the budget (%s or %d statements)", o.duration, o.queries)
	}
	return fmt.Sprintf("the budget (%s)", o.duration)
}

// waitUntil returns when done is closed, ctx is cancelled or cond holds (polled). After
// Ctrl-C, the caller waits for the workers (waitOrStop).
func waitUntil(ctx context.Context, done <-chan struct{}, cond func() bool) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-t.C:
		}
	}
}

// isDone reports whether done is closed.
func isDone(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// waitOrStop waits for done until stopping ends; it reports whether done closed.
func waitOrStop(done <-chan struct{}, stopping context.Context) bool {
	select {
	case <-done:
		return true
	case <-stopping.Done():
		return false
	}
}

// breakerWatch reports each breaker transition as it happens.
type breakerWatch struct {
	transitions transitionsFunc
	ui          progressUI

	mu   sync.Mutex
	seen int
}

// run reports transitions every 25 ms until ctx ends.
func (b *breakerWatch) run(ctx context.Context) {
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.report()
		}
	}
}

// report prints the transitions not reported yet.
func (b *breakerWatch) report() {
	b.mu.Lock()
	defer b.mu.Unlock()
	trs := b.transitions()
	for _, tr := range trs[min(b.seen, len(trs)):] {
		b.ui.event(fmt.Sprintf("circuit breaker %s → %s", tr.From, tr.To))
	}
	b.seen = len(trs)
}

// dsnURL parses a DSN as an URL (the driver's form has no scheme: https is assumed).
func dsnURL(dsn string) (*url.URL, error) {
	if !strings.Contains(dsn, "://") {
		dsn = "https://" + dsn
	}
	return url.Parse(dsn)
}

// dsnHostname is the host name of a DSN (without its port), "" when it names none.
func dsnHostname(dsn string) string {
	u, err := dsnURL(dsn)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// dsnHost is the host of a DSN, without credentials, for display.
func dsnHost(dsn string) string {
	if dsn == "" {
		return ""
	}
	u, err := dsnURL(dsn)
	if err != nil || u.Host == "" {
		return "(the -dsn host)"
	}
	return u.Host
}

// liveStats counts statements per phase for the live display: begun, and done (count).
type liveStats struct {
	mu         sync.Mutex
	begun      map[int]int
	count      map[int]int
	fail       map[int]int
	begin, end map[int]time.Time
}

func newLiveStats() *liveStats {
	return &liveStats{begun: map[int]int{}, count: map[int]int{}, fail: map[int]int{}, begin: map[int]time.Time{}, end: map[int]time.Time{}}
}

// statementBegun counts a statement of phase as begun; add counts it done.
func (l *liveStats) statementBegun(phase int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.begun[phase]++
}

func (l *liveStats) add(s sample) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count[s.phase]++
	if s.failed() {
		l.fail[s.phase]++
	}
}

// started and ended mark the phase's span, for its rate.
func (l *liveStats) started(phase int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.begin[phase] = time.Now()
}

func (l *liveStats) ended(phase int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.end[phase] = time.Now()
}

func (l *liveStats) status(phase int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.count[phase]
	until := time.Now()
	if e, ok := l.end[phase]; ok {
		until = e
	}
	// A rate over less than a fifth of a second says little: it is left out, not shown as 0/s.
	rate := ""
	if span := until.Sub(l.begin[phase]).Seconds(); span > 0.2 {
		rate = fmt.Sprintf(", %.0f/s", float64(n)/span)
	}
	out := fmt.Sprintf("%s statements%s, %d errors", commas(int64(n)), rate, l.fail[phase])
	if _, ended := l.end[phase]; ended {
		// The phase's statements still running finish later, in its row of the report.
		if r := l.begun[phase] - n; r > 0 {
			out += fmt.Sprintf(", %d still running", r)
		}
	}
	return out
}

// remoteQueryTimeout bounds every statement on a real warehouse whose DSN sets no
// timeout: the cancelled kind's context may end while ExecuteStatement is in flight,
// before the driver holds a handle to cancel, and its aggregate would then run on,
// on the user's compute.
const remoteQueryTimeout = 2 * time.Minute

// withQueryTimeout adds the driver's timeout parameter (seconds, enforced by the server)
// to dsn, unless it has one; it reports whether it did. The parameter goes at the end of
// the query, before any '#' (which ends the query: the driver ignores what follows). A
// pair the driver drops (a bad escape, a ';') does not hide the query's other pairs, and
// a timeout in such a pair is none. The driver reads the first timeout, and an empty one
// is none: when the first is empty, the empty ones are taken out (the DSN returned then
// differs even when nothing is added), so that the driver reads the DSN's next timeout,
// or the one added.
func withQueryTimeout(dsn string, d time.Duration) (string, bool) {
	rest, frag, hasFrag := strings.Cut(dsn, "#")
	base, query, _ := strings.Cut(rest, "?")
	var kept []string
	seen, own := false, false
	for _, pair := range strings.Split(query, "&") {
		if v, ok := timeoutOf(pair); ok {
			if !seen && v != "" {
				return dsn, false // the user's own, which the driver reads
			}
			seen = true
			if v == "" {
				continue // none to the driver, and it would hide the next one
			}
			own = true
		}
		if pair != "" {
			kept = append(kept, pair)
		}
	}
	if !own {
		kept = append(kept, "timeout="+strconv.Itoa(int(d/time.Second)))
	}
	out := base + "?" + strings.Join(kept, "&")
	if hasFrag {
		out += "#" + frag
	}
	return out, !own
}

// timeoutOf returns the value of pair when it is a timeout the driver reads: a pair
// url.ParseQuery keeps.
func timeoutOf(pair string) (string, bool) {
	key, _, _ := strings.Cut(pair, "=")
	if k, err := url.QueryUnescape(key); err != nil || k != "timeout" {
		return "", false
	}
	v, err := url.ParseQuery(pair)
	if err != nil {
		return "", false
	}
	return v.Get("timeout"), true
}
