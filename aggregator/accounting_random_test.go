package aggregator_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// countingExporter counts what it accepted and refused.
type countingExporter struct {
	mu       sync.Mutex
	rng      *rand.Rand
	failPct  int
	accepted int64
	calls    int64
	failed   int64
	ids      map[string]int // statement id -> statement logs seen
	errIDs   map[string]int
}

func (e *countingExporter) Export(_ context.Context, logs []*telemetry.FrontendLog) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	if e.failPct > 0 && e.rng.IntN(100) < e.failPct {
		e.failed++
		return errors.New("refused")
	}
	e.accepted += int64(len(logs))
	for _, l := range logs {
		d := l.Entry.SQLDriverLog
		if d.SQLOperation != nil && d.SQLStatementID != "" && d.ErrorInfo == nil {
			e.ids[d.SQLStatementID]++
		}
	}
	return nil
}

func (e *countingExporter) Close(context.Context) error { return nil }

// TestAccountingAddsUpAfterClose drives random event streams through aggregators of
// small random configurations and checks the documented accounting after Close:
// Queued = Exported + Dropped.QueueFull + Dropped.ExportFailed + Dropped.Unfinished + Pending
// (no export in flight after Close), Exported = what the exporter accepted, and
// Batches/BatchesFailed = the exporter's calls and refusals.
func TestAccountingAddsUpAfterClose(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		exp := &countingExporter{rng: rand.New(rand.NewPCG(seed, 9)), ids: map[string]int{}, errIDs: map[string]int{}}
		if rng.IntN(3) == 0 {
			exp.failPct = 30
		}
		cfg := telemetry.Config{
			BatchSize:             1 + rng.IntN(12),
			FlushInterval:         time.Duration(10+rng.IntN(30)) * time.Millisecond,
			MaxPendingLogs:        1 + rng.IntN(30),
			MaxOpenStatements:     1 + rng.IntN(20),
			StatementTTL:          time.Hour,
			CloseTimeout:          5 * time.Second,
			MaxErrorsPerStatement: 1 + rng.IntN(8),
			ExportTimeout:         time.Second,
		}
		a := aggregator.New(exp, aggregator.WithConfig(cfg),
			aggregator.WithSystemConfiguration(&telemetry.SystemConfiguration{}))
		var boxes []*aggregator.Outbox
		for range 1 + rng.IntN(3) {
			boxes = append(boxes, a.NewOutbox())
		}
		var open []string
		handled := int64(0)
		n := 50 + rng.IntN(300)
		next := 0
		for range n {
			switch r := rng.IntN(100); {
			case r < 8:
				handled++
				a.Handle(telemetry.Event{Kind: telemetry.KindConnectionOpen, SessionID: "s", Connection: &telemetry.ConnectionInfo{Host: "h"}})
			case r < 12:
				handled++
				a.Handle(telemetry.Event{Kind: telemetry.KindConnectionClose, SessionID: "s"})
			case r < 35:
				next++
				id := fmt.Sprintf("q%d", next)
				open = append(open, id)
				handled++
				a.Handle(telemetry.Event{Kind: telemetry.KindStatementStart, SessionID: "s", StatementID: id,
					OperationType: telemetry.OpExecuteStatement, StatementType: telemetry.StatementQuery})
			case r < 45 && len(open) > 0:
				id := open[rng.IntN(len(open))]
				handled++
				a.Handle(telemetry.Event{Kind: telemetry.KindChunk, SessionID: "s", StatementID: id, ChunkIndex: int32(rng.IntN(4))})
			case r < 60 && len(open) > 0:
				id := open[rng.IntN(len(open))]
				handled++
				a.Handle(telemetry.Event{Kind: telemetry.KindError, SessionID: "s", StatementID: id,
					ErrorName: telemetry.ErrNameTimeout, Message: "t"})
			case r < 65 && len(open) > 0:
				i := rng.IntN(len(open))
				id := open[i]
				open = append(open[:i], open[i+1:]...)
				handled++
				a.Handle(telemetry.Event{Kind: telemetry.KindError, SessionID: "s", StatementID: id,
					ErrorName: telemetry.ErrNameNotFound, Terminal: true, Message: "x"})
			case r < 80 && len(open) > 0:
				i := rng.IntN(len(open))
				id := open[i]
				open = append(open[:i], open[i+1:]...)
				handled++
				a.Handle(telemetry.Event{Kind: telemetry.KindStatementComplete, SessionID: "s", StatementID: id,
					Latency: time.Millisecond})
			case r < 95:
				next++
				id := fmt.Sprintf("q%d", next)
				ev := telemetry.Event{Kind: telemetry.KindStatementComplete, SessionID: "s", StatementID: id,
					OperationType: telemetry.OpExecuteStatement, StatementType: telemetry.StatementQuery, Latency: time.Millisecond}
				boxes[rng.IntN(len(boxes))].Complete(&ev)
			default:
				if rng.IntN(2) == 0 {
					_ = a.Flush(context.Background())
				} else {
					time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
				}
			}
		}
		for _, b := range boxes {
			if rng.IntN(2) == 0 {
				b.Close()
			}
		}
		if err := a.Close(context.Background()); err != nil {
			t.Fatalf("seed %d: Close: %v", seed, err)
		}
		st := a.Stats()
		exp.mu.Lock()
		accepted, calls, failed := exp.accepted, exp.calls, exp.failed
		var dup []string
		for id, c := range exp.ids {
			if c > 1 {
				dup = append(dup, id)
			}
		}
		exp.mu.Unlock()
		sum := st.Exported + st.Dropped.QueueFull + st.Dropped.ExportFailed + st.Dropped.Unfinished + int64(st.Pending)
		if st.Queued != sum || st.Pending != 0 || st.OpenStatements != 0 {
			t.Errorf("seed %d cfg %+v: Queued %d != Exported %d + QueueFull %d + ExportFailed %d + Unfinished %d + Pending %d (= %d); open %d",
				seed, cfg, st.Queued, st.Exported, st.Dropped.QueueFull, st.Dropped.ExportFailed, st.Dropped.Unfinished, st.Pending, sum, st.OpenStatements)
		}
		if st.Exported != accepted {
			t.Errorf("seed %d: Stats.Exported %d, exporter accepted %d", seed, st.Exported, accepted)
		}
		if st.Batches != calls || st.BatchesFailed != failed {
			t.Errorf("seed %d: Batches %d/%d failed, exporter saw %d/%d", seed, st.Batches, st.BatchesFailed, calls, failed)
		}
		if len(dup) > 0 {
			t.Errorf("seed %d: statements logged twice: %v", seed, dup)
		}
		if st.Received < handled {
			t.Errorf("seed %d: Received %d < events handed to Handle %d", seed, st.Received, handled)
		}
		if st.Dropped.Closed != 0 {
			t.Errorf("seed %d: Dropped.Closed %d with nothing after Close", seed, st.Dropped.Closed)
		}
	}
}

// Flush exports every log queued when it is called, and waits for it: once it returns,
// Exported counts them all, whatever the batch size and however the logs came in.
func TestFlushExportsEverythingQueued(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 3))
		exp := &countingExporter{rng: rand.New(rand.NewPCG(seed, 4)), ids: map[string]int{}, errIDs: map[string]int{}}
		cfg := telemetry.Config{
			BatchSize:             1 + rng.IntN(10),
			FlushInterval:         time.Hour,
			MaxPendingLogs:        2000,
			MaxOpenStatements:     1000,
			MaxErrorsPerStatement: 1 + rng.IntN(8),
		}
		a := aggregator.New(exp, aggregator.WithConfig(cfg), aggregator.WithSystemConfiguration(&telemetry.SystemConfiguration{}))
		box := a.NewOutbox()
		want := 0
		for i := range 1 + rng.IntN(60) {
			id := fmt.Sprintf("q%d", i)
			switch rng.IntN(3) {
			case 0:
				ev := telemetry.Event{Kind: telemetry.KindStatementComplete, SessionID: "s", StatementID: id,
					OperationType: telemetry.OpExecuteStatement, StatementType: telemetry.StatementQuery}
				box.Complete(&ev)
				want++
			case 1:
				a.Handle(telemetry.Event{Kind: telemetry.KindStatementStart, SessionID: "s", StatementID: id})
				errs := rng.IntN(cfg.MaxErrorsPerStatement + 1)
				for range errs {
					a.Handle(telemetry.Event{Kind: telemetry.KindError, SessionID: "s", StatementID: id, ErrorName: "timeout", Message: "m"})
				}
				a.Handle(telemetry.Event{Kind: telemetry.KindStatementComplete, SessionID: "s", StatementID: id})
				want += 1 + errs
			case 2:
				a.Handle(telemetry.Event{Kind: telemetry.KindConnectionOpen, SessionID: "s", Connection: &telemetry.ConnectionInfo{}})
				want++
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := a.Flush(ctx)
		cancel()
		if err != nil {
			t.Fatalf("seed %d: Flush: %v", seed, err)
		}
		st := a.Stats()
		if st.Exported != int64(want) || st.Pending != 0 {
			t.Errorf("seed %d (batch %d): after Flush Exported %d Pending %d, want %d exported: %+v", seed, cfg.BatchSize, st.Exported, st.Pending, want, st)
		}
		_ = a.Close(context.Background())
	}
}
