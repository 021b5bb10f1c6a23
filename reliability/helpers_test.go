package reliability_test

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/internal/testlog"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// closeDeadline is the driver's bound on db.Close (the final flush gets 2 s), plus slack
// for a loaded CI machine under -race.
const closeDeadline = 2*time.Second + time.Second

// startWarehouse runs a warehouse whose 200k-row reads go through CloudFetch in four
// files, and closes it at the end of the test.
func startWarehouse(t testing.TB, opts ...warehouse.Option) *warehouse.Server {
	t.Helper()
	opts = append([]warehouse.Option{
		warehouse.WithCloudFetchThreshold(50_000),
		warehouse.WithChunkRows(50_000),
	}, opts...)
	srv, err := warehouse.NewServer(opts...)
	if err != nil {
		t.Fatalf("start warehouse: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// logBuffer collects telemetry's debug log lines; safe for concurrent writers.
type logBuffer struct{ testlog.Buffer }

// logger writes every level, trace included, so that the privacy scan sees everything
// telemetry could ever log.
func (l *logBuffer) logger() zerolog.Logger { return zerolog.New(l).Level(zerolog.TraceLevel) }

// lines returns the non-empty log lines.
func (l *logBuffer) lines() []string {
	var out []string
	for _, s := range strings.Split(l.String(), "\n") {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

// scanPrivate fails the test for every forbidden string found in text, and returns how
// many it found.
func scanPrivate(t testing.TB, where, text string, forbidden []string) int {
	t.Helper()
	found := findPrivate(text, forbidden)
	for _, f := range found {
		t.Errorf("%s leaks %q: …%s…", where, f, excerpt(text, strings.Index(strings.ToLower(text), strings.ToLower(f)), len(f)))
	}
	return len(found)
}

// findPrivate returns the forbidden strings text contains; markers longer than 3 bytes
// are matched case-insensitively, so that a lower-cased echo is caught too.
func findPrivate(text string, forbidden []string) []string {
	var found []string
	lower := strings.ToLower(text)
	for _, f := range forbidden {
		if f == "" {
			continue
		}
		if strings.Contains(text, f) || (len(f) > 3 && strings.Contains(lower, strings.ToLower(f))) {
			found = append(found, f)
		}
	}
	return found
}

func excerpt(s string, i, n int) string {
	if i < 0 {
		return ""
	}
	lo, hi := max(0, i-80), min(len(s), i+n+80)
	return s[lo:hi]
}

// scanTelemetry scans every request the warehouse's ingest received (path and body) and
// checks where its credentials went.
func scanTelemetry(t testing.TB, srv *warehouse.Server, forbidden []string) (requests int) {
	t.Helper()
	for i, r := range srv.TelemetryRequests() {
		checkTelemetryRequest(t, i, r, srv.Token(), forbidden)
		requests++
	}
	return requests
}

// checkTelemetryRequest scans the i-th telemetry request (path and body) for forbidden
// strings and checks that only /telemetry-ext carries credentials, the connection's own.
func checkTelemetryRequest(t testing.TB, i int, r warehouse.TelemetryRequest, token string, forbidden []string) {
	t.Helper()
	scanPrivate(t, fmt.Sprintf("telemetry request %d (%s)", i, r.Path), r.Path+"\n"+string(r.Body), forbidden)
	auth := r.Header.Get("Authorization")
	switch r.Path {
	case "/telemetry-ext":
		if auth != "Bearer "+token {
			t.Errorf("telemetry request %d to /telemetry-ext carries Authorization %q, not the connection's own token", i, redactedForLog(auth))
		}
	case "/telemetry-unauth":
		if auth != "" {
			t.Errorf("telemetry request %d to /telemetry-unauth carries credentials", i)
		}
	}
}

func redactedForLog(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

// probe samples a running case: peak heap, peak goroutines, and peak pending logs and
// open statements of the host's aggregator.
type probe struct {
	stop chan struct{}
	done chan struct{}

	maxHeap       uint64
	maxGoroutines int
	maxPending    int
	maxOpen       int
}

func startProbe(stats func() aggregator.Stats) *probe {
	p := &probe{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for {
			p.sample(stats)
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

func (p *probe) sample(stats func() aggregator.Stats) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.maxHeap = max(p.maxHeap, ms.HeapAlloc)
	p.maxGoroutines = max(p.maxGoroutines, runtime.NumGoroutine())
	if stats != nil {
		st := stats()
		p.maxPending = max(p.maxPending, st.Pending)
		p.maxOpen = max(p.maxOpen, st.OpenStatements)
	}
}

// finish stops sampling; the peaks may be read afterwards.
func (p *probe) finish() {
	close(p.stop)
	<-p.done
}

// transitions spells a breaker history as "closed→open→half-open→closed" ("-" for none).
func transitions(trs []exporter.Transition) string {
	if len(trs) == 0 {
		return "-"
	}
	parts := []string{string(trs[0].From)}
	for _, tr := range trs {
		parts = append(parts, string(tr.To))
	}
	return strings.Join(parts, "→")
}

// briefTransitions is transitions for a table: a long history (a soak's breaker probes
// the endpoint every few hundred milliseconds) keeps its first and last steps and counts
// the failed probes in between.
func briefTransitions(trs []exporter.Transition) string {
	const keep = 8
	if len(trs) <= keep {
		return transitions(trs)
	}
	reopened := 0
	for _, tr := range trs {
		if tr.From == telemetry.BreakerHalfOpen && tr.To == telemetry.BreakerOpen {
			reopened++
		}
	}
	return fmt.Sprintf("%s→…(%d transitions, %d failed probes)…→%s", transitions(trs[:2]), len(trs), reopened, transitions(trs[len(trs)-2:]))
}

// waitFor polls cond every 20 ms until it holds or d passed; it reports whether it held.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// addOnes runs "SELECT k + 1" for k from first to first+n-1 on db, each answered right:
// the queries of a pool whose telemetry is under test.
func addOnes(t testing.TB, ctx context.Context, db *sql.DB, first, n int) {
	t.Helper()
	for k := first; k < first+n; k++ {
		var got int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT ? + 1", k).Scan(&got))
		require.Equal(t, k+1, got)
	}
}
