package aggregator

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Emitters on several shards finish statements with held errors while the export
// goroutine pops batches (kicks and flushes): every held error leaves in its statement's
// batch, no batch is larger than allowed, Stats add up. Run with -race.
func TestConcurrentHeldGroups(t *testing.T) {
	exp := newFake()
	const batch, maxErrs = 7, 4
	a := newTest(t, exp, WithBatchSize(batch), WithMaxPendingLogs(100000), WithMaxOpenStatements(512),
		WithMaxErrorsPerStatement(maxErrs))
	require.Greater(t, len(a.shards), 1)
	const emitters, per = 4, 300
	want := map[string]int{}
	var wmu sync.Mutex
	var wg sync.WaitGroup
	for g := range emitters {
		wg.Go(func() {
			for i := range per {
				id := fmt.Sprintf("g%d-q%d", g, i)
				a.Handle(start(id))
				k := (i * 7 / 3) % (maxErrs + 2) // 0..5: beyond maxErrs counted as ErrorLimit
				for range k {
					a.Handle(stmtErr(id, false))
				}
				wmu.Lock()
				want[id] = min(k, maxErrs)
				wmu.Unlock()
				if i%50 == 49 {
					a.Handle(stmtErr(id, true)) // terminal: finishes it with the group
				} else {
					a.Handle(complete(id))
				}
			}
		})
	}
	stop := meanwhile(func(int) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = a.Flush(ctx)
		cancel()
	})
	wg.Wait()
	stop()
	flush(t, a)

	exp.mu.Lock()
	stmtBatch := map[string]int{}
	for bi, b := range exp.batches {
		assert.LessOrEqual(t, len(b), max(batch, 1+maxErrs), "batch %d", bi)
		for _, l := range b {
			if d := driverLog(l); d.SQLOperation != nil {
				_, dup := stmtBatch[d.SQLStatementID]
				assert.False(t, dup, "%s logged twice", d.SQLStatementID)
				stmtBatch[d.SQLStatementID] = bi
			}
		}
	}
	got := map[string]int{}
	for bi, b := range exp.batches {
		for _, l := range b {
			if d := driverLog(l); d.SQLOperation == nil && d.ErrorInfo != nil {
				got[d.SQLStatementID]++
				assert.Equal(t, stmtBatch[d.SQLStatementID], bi, "held error of %s in its statement's batch", d.SQLStatementID)
			}
		}
	}
	exp.mu.Unlock()
	for id, n := range want {
		assert.Equal(t, n, got[id], "held errors of %s", id)
	}
	s := a.Stats()
	assert.Equal(t, s.Queued, s.Exported+s.Dropped.QueueFull+s.Dropped.ExportFailed+s.Dropped.Unfinished+int64(s.Pending), "%+v", s)
	assert.Zero(t, s.Dropped.QueueFull)
}

// A statement holding retryable errors that is evicted (capacity, TTL, Close) goes with
// its errors in one batch; its later completion is late, a later error alone.
func TestEvictedStatementTakesItsHeldErrors(t *testing.T) {
	for _, how := range []string{"capacity", "ttl", "close"} {
		t.Run(how, func(t *testing.T) {
			exp, clock := newFake(), newClock()
			a := New(exp, WithFlushInterval(time.Hour), WithBatchSize(2), WithMaxOpenStatements(1),
				WithStatementTTL(time.Minute), WithClock(clock.Now))
			defer func() { _ = a.Close(context.Background()) }()
			a.Handle(start("pre"))
			a.Handle(complete("pre"))
			a.Handle(start("q1"))
			a.Handle(stmtErr("q1", false))
			a.Handle(stmtErr("q1", false))
			switch how {
			case "capacity":
				a.Handle(start("q2"))
				a.Handle(complete("q2"))
			case "ttl":
				clock.Advance(2 * time.Minute)
				flush(t, a)
			case "close":
				require.NoError(t, a.Close(context.Background()))
			}
			if how != "close" {
				a.Handle(complete("q1"))
				flush(t, a)
			}
			var q1Batch = -1
			exp.mu.Lock()
			for bi, b := range exp.batches {
				for _, l := range b {
					d := driverLog(l)
					if d.SQLStatementID != "q1" {
						continue
					}
					if d.SQLOperation != nil {
						assert.Equal(t, -1, q1Batch, "q1 logged once")
						q1Batch = bi
					}
				}
			}
			var errs int
			for bi, b := range exp.batches {
				for _, l := range b {
					if d := driverLog(l); d.SQLStatementID == "q1" && d.SQLOperation == nil {
						errs++
						assert.Equal(t, q1Batch, bi, "held error with q1's log (batches %v)", exp.batches)
					}
				}
			}
			exp.mu.Unlock()
			assert.Equal(t, 2, errs)
			s := a.Stats()
			assert.Equal(t, s.Queued, s.Exported+s.Dropped.QueueFull+s.Dropped.ExportFailed+s.Dropped.Unfinished+int64(s.Pending), "%+v", s)
		})
	}
}
