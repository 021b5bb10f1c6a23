package aggregator

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeExporter records the batches it is given. It can block on demand (until release
// or until its ctx ends), fail, panic, and report stats.
type fakeExporter struct {
	mu        sync.Mutex
	batches   [][]*telemetry.FrontendLog
	gate      chan struct{} // when set, Export waits for it to close (or for ctx)
	ignoreCtx bool          // with gate: wait for the gate only, like a badly written exporter
	err       error
	panicMsg  string
	stats     *telemetry.ExportStats

	started  chan struct{} // receives (non-blocking) when an Export begins
	calls    atomic.Int64
	inflight atomic.Int64
	maxSeen  atomic.Int64
}

func newFake() *fakeExporter {
	return &fakeExporter{started: make(chan struct{}, 1024)}
}

// block makes the next Exports wait; the returned func releases them.
func (f *fakeExporter) block(ignoreCtx bool) (release func()) {
	gate := make(chan struct{})
	f.mu.Lock()
	f.gate, f.ignoreCtx = gate, ignoreCtx
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			f.gate = nil
			f.mu.Unlock()
			close(gate)
		})
	}
}

func (f *fakeExporter) Export(ctx context.Context, logs []*telemetry.FrontendLog) error {
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	f.calls.Add(1)
	select {
	case f.started <- struct{}{}:
	default:
	}
	f.mu.Lock()
	gate, ignoreCtx, err, panicMsg := f.gate, f.ignoreCtx, f.err, f.panicMsg
	f.mu.Unlock()
	if panicMsg != "" {
		panic(panicMsg)
	}
	if gate != nil {
		if ignoreCtx {
			<-gate
		} else {
			select {
			case <-gate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if err != nil {
		return err
	}
	f.mu.Lock()
	kept := make([]*telemetry.FrontendLog, len(logs))
	for i, l := range logs {
		kept[i] = l.Clone() // the aggregator reuses logs once Export returns
	}
	f.batches = append(f.batches, kept)
	f.mu.Unlock()
	return nil
}

func (f *fakeExporter) Close(context.Context) error { return nil }

func (f *fakeExporter) ExportStats() telemetry.ExportStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stats == nil {
		return telemetry.ExportStats{}
	}
	return *f.stats
}

func (f *fakeExporter) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *fakeExporter) logs() []*telemetry.FrontendLog {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*telemetry.FrontendLog
	for _, b := range f.batches {
		out = append(out, b...)
	}
	return out
}

// onceEach returns the statements among the exported logs, by id (logs of no statement
// left out), and fails t for each exported more than once.
func (f *fakeExporter) onceEach(t testing.TB) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for _, l := range f.logs() {
		if id := driverLog(l).SQLStatementID; id != "" {
			seen[id]++
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s logged %d times", id, n)
		}
	}
	return seen
}

func (f *fakeExporter) batchSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]int, len(f.batches))
	for i, b := range f.batches {
		out[i] = len(b)
	}
	return out
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// meanwhile runs step(0), step(1), … on a goroutine of its own, one after the other,
// until the function it returns is called; that function waits for the goroutine to stop.
func meanwhile(step func(i int)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			step(i)
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// newTest builds an aggregator that only exports when asked (no batch-size or timer
// flush unless the options say so) and closes it at the end of the test.
func newTest(t testing.TB, exp telemetry.Exporter, opts ...Option) *Aggregator {
	t.Helper()
	base := []Option{
		WithFlushInterval(time.Hour),
		WithSystemConfiguration(&telemetry.SystemConfiguration{DriverName: telemetry.DriverName, DriverVersion: "1.15.1", RuntimeName: "go"}),
	}
	a := New(exp, append(base, opts...)...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Close(ctx)
		<-a.done
	})
	return a
}

func flush(t testing.TB, a *Aggregator) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Event helpers.

func start(stmt string) telemetry.Event {
	return telemetry.Event{Kind: telemetry.KindStatementStart, SessionID: "sess-1", StatementID: stmt,
		OperationType: telemetry.OpExecuteStatement, StatementType: telemetry.StatementQuery}
}

func chunk(stmt string, idx int32, latency time.Duration, compressed bool) telemetry.Event {
	return telemetry.Event{Kind: telemetry.KindChunk, SessionID: "sess-1", StatementID: stmt,
		ChunkIndex: idx, Latency: latency, Bytes: 1000, Compressed: compressed}
}

func complete(stmt string) telemetry.Event {
	return telemetry.Event{Kind: telemetry.KindStatementComplete, SessionID: "sess-1", StatementID: stmt,
		ResultFormat: telemetry.ResultInlineArrow, Latency: 250 * time.Millisecond,
		ResultReadyLatency: 200 * time.Millisecond, ConsumptionLatency: 50 * time.Millisecond}
}

func withRetries(ev telemetry.Event, n int32) telemetry.Event {
	ev.RetryCount = n
	return ev
}

func stmtErr(stmt string, terminal bool) telemetry.Event {
	name := telemetry.ErrNameServer
	if terminal {
		name = telemetry.ErrNameSyntax
	}
	return telemetry.Event{Kind: telemetry.KindError, SessionID: "sess-1", StatementID: stmt,
		ErrorName: name, Terminal: terminal, Message: "boom '?'"}
}

func connOpen(session string) telemetry.Event {
	return telemetry.Event{Kind: telemetry.KindConnectionOpen, SessionID: session, Latency: 80 * time.Millisecond,
		Connection: &telemetry.ConnectionInfo{Host: "adb-1.example.net", Port: 443, HTTPPath: "/sql/1.0/warehouses/abc",
			AuthType: "pat", AuthMech: "PAT", EnableArrow: true, SocketTimeout: 15 * time.Minute}}
}

func connClose(session string) telemetry.Event {
	return telemetry.Event{Kind: telemetry.KindConnectionClose, SessionID: session, Latency: 5 * time.Millisecond}
}
