package aggregator

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// flakyExporter takes a random short time on some batches and fails every fifth.
type flakyExporter struct {
	calls atomic.Int64
}

func (f *flakyExporter) Export(context.Context, []*telemetry.FrontendLog) error {
	n := f.calls.Add(1)
	if n%7 == 0 {
		time.Sleep(time.Duration(rand.N(300)) * time.Microsecond)
	}
	if n%5 == 0 {
		return errors.New("flaky")
	}
	return nil
}

func (f *flakyExporter) Close(context.Context) error { return nil }

// statsCounters lists the cumulative counters of a Stats snapshot, by name.
func statsCounters(s Stats) map[string]int64 {
	return map[string]int64{
		"Received": s.Received, "Queued": s.Queued, "Exported": s.Exported,
		"Dropped.QueueFull": s.Dropped.QueueFull, "Dropped.ErrorLimit": s.Dropped.ErrorLimit,
		"Dropped.ExportFailed": s.Dropped.ExportFailed, "Dropped.Closed": s.Dropped.Closed,
		"Dropped.Unfinished": s.Dropped.Unfinished, "Dropped.Invalid": s.Dropped.Invalid,
		"Dropped.Late": s.Dropped.Late, "Dropped.Undecided": s.Dropped.Undecided,
		"Evicted.Capacity": s.Evicted.Capacity, "Evicted.TTL": s.Evicted.TTL, "Evicted.Close": s.Evicted.Close,
		"Batches": s.Batches, "BatchesFailed": s.BatchesFailed, "Retried": s.Retried, "Panics": s.Panics,
	}
}

// inFlight is what the documented identity leaves for "the logs of the export in flight".
func inFlight(s Stats) int64 {
	return s.Queued - s.Exported - s.Dropped.QueueFull - s.Dropped.ExportFailed - s.Dropped.Unfinished - int64(s.Pending)
}

// checkSample compares two successive samples; it returns the problems found.
func checkSample(prev, cur Stats, batch, maxErrs, maxPending int) []string {
	var out []string
	pc, cc := statsCounters(prev), statsCounters(cur)
	for k, v := range cc {
		if v < pc[k] {
			out = append(out, fmt.Sprintf("%s went back %d -> %d", k, pc[k], v))
		}
	}
	if cur.Pending < 0 || cur.Pending > 2*maxPending {
		out = append(out, fmt.Sprintf("Pending absurd: %d", cur.Pending))
	}
	if f := inFlight(cur); f < 0 || f > int64(batch+maxErrs+1) {
		out = append(out, fmt.Sprintf("in flight per the documented identity = %d (Queued %d Exported %d QF %d EF %d Unf %d Pending %d)",
			f, cur.Queued, cur.Exported, cur.Dropped.QueueFull, cur.Dropped.ExportFailed, cur.Dropped.Unfinished, cur.Pending))
	}
	return out
}

// Stats sampled in a tight loop while emitters, Outboxes, exports (some failing) and a
// full queue run: every counter only grows, Pending stays sane, and the documented
// identity (Queued = Exported + QueueFull + ExportFailed + Unfinished + Pending + in flight)
// leaves a non-negative in-flight count no larger than a batch. Exported and ExportFailed
// were read after the queue's lock, so a log queued after the snapshot could be counted
// exported: Exported ran ahead of Queued.
func TestStatsSampledMidFlight(t *testing.T) {
	const batch, maxPending, maxErrs = 10, 60, 3
	exp := &flakyExporter{}
	a := New(exp, WithBatchSize(batch), WithMaxPendingLogs(maxPending), WithFlushInterval(10*time.Millisecond),
		WithMaxErrorsPerStatement(maxErrs), WithMaxOpenStatements(200),
		WithSystemConfiguration(&telemetry.SystemConfiguration{DriverName: telemetry.DriverName, DriverVersion: "1.15.1", RuntimeName: "go"}))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			box := a.NewOutbox()
			defer box.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				switch i % 5 {
				case 0:
					ev := complete(id)
					box.Complete(&ev)
				case 1:
					a.Handle(start(id))
					a.Handle(stmtErr(id, false))
					a.Handle(stmtErr(id, false))
					a.Handle(complete(id))
				case 2:
					a.Handle(start(id))
					a.Handle(stmtErr(id, true))
				case 3:
					a.Handle(connOpen("s" + id))
					a.Handle(connClose("s" + id))
				case 4:
					a.Handle(start(id))
					a.Handle(chunk(id, 0, time.Millisecond, false))
					a.Handle(complete(id))
				}
			}
		})
	}

	var problems []string
	var samples int
	var slowest time.Duration
	prev := a.Stats()
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) && len(problems) < 10 {
		t0 := time.Now()
		cur := a.Stats()
		if d := time.Since(t0); d > slowest {
			slowest = d
		}
		samples++
		problems = append(problems, checkSample(prev, cur, batch, maxErrs, maxPending)...)
		prev = cur
	}
	close(stop)
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.Close(ctx)
	end := a.Stats()
	problems = append(problems, checkSample(prev, end, batch, maxErrs, maxPending)...)
	if f := inFlight(end); f != 0 {
		problems = append(problems, fmt.Sprintf("after Close in flight = %d", f))
	}
	time.Sleep(50 * time.Millisecond)
	if again := a.Stats(); fmt.Sprint(again) != fmt.Sprint(end) {
		problems = append(problems, fmt.Sprintf("Stats moved after Close:\n%+v\n%+v", end, again))
	}
	t.Logf("%d samples, slowest Stats %v; final %+v", samples, slowest, end)
	for _, p := range problems {
		t.Error(p)
	}
}
