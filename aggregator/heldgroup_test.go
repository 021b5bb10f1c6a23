package aggregator

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// When the queue is full of error logs, a statement's log (no error) that finishes with
// held errors is refused by the drop policy; it uses up its sequence number all the
// same, so that its held errors do not take the numbers right after the last log queued
// and join that unrelated log's group: no batch grows past n for them.
func TestPopDoesNotGlueOrphanedHeldErrors(t *testing.T) {
	cases := []struct {
		name   string
		max    int
		queued string
		n      int
	}{
		// x and y are dropped for e1 and e2, S (no error) is dropped: "z w e1 e2" is left.
		{name: "orphans glued to the last error log", max: 4, queued: "!x !y !z !w S+e1+e2", n: 2},
		// Each statement's log is dropped: the held errors of all of them chain together.
		{name: "orphans of several statements chain", max: 8, queued: "!a !b !c !d !e !f !g !h S+e1+e2 T+f1+f2 U+g1+g2 V+h1+h2", n: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := queue{max: tc.max}
			pushSpelled(&q, tc.queued)
			got := popSpelled(&q, tc.n)
			for _, b := range got {
				// Each group here is a statement with 2 held errors: 3 together at most, and
				// its errors alone (its log dropped) 2 = n.
				assert.LessOrEqual(t, len(strings.Fields(b)), tc.n, "batch %q of %v larger than n=%d though no group left needs more", b, got, tc.n)
			}
		})
	}
}

// Through the aggregator: with the queue full of error logs (an error storm while the
// export is slow), statements that complete with held retryable errors keep every batch
// within BatchSize (the groups here fit in it); a chain of orphaned held errors made one
// batch of every queued log (40 for a BatchSize of 5).
func TestHeldErrorsInFullQueueKeepBatchSize(t *testing.T) {
	exp := newFake()
	const batch, maxPending, held = 5, 40, 2
	a := newTest(t, exp, WithBatchSize(batch), WithMaxPendingLogs(maxPending),
		WithMaxErrorsPerStatement(held), WithMaxOpenStatements(100))
	require.Len(t, a.shards, 1)
	release := exp.block(false)
	defer release()
	standalone := func(i int) telemetry.Event {
		return telemetry.Event{Kind: telemetry.KindError, SessionID: fmt.Sprint("s", i), ErrorName: telemetry.ErrNameServer, Message: "x"}
	}
	for i := range batch {
		a.Handle(standalone(i))
	}
	<-exp.started // the first batch is in flight, blocked
	for i := range maxPending {
		a.Handle(standalone(100 + i))
	}
	for i := range 20 {
		id := fmt.Sprint("q", i)
		a.Handle(start(id))
		for range held {
			a.Handle(stmtErr(id, false))
		}
		a.Handle(complete(id))
	}
	release()
	flush(t, a)
	sizes := exp.batchSizes()
	for i, n := range sizes {
		assert.LessOrEqual(t, n, max(batch, 1+held), "batch %d of %v", i, sizes)
	}
	s := a.Stats()
	assert.Equal(t, s.Queued, s.Exported+s.Dropped.QueueFull+s.Dropped.ExportFailed+s.Dropped.Unfinished+int64(s.Pending), "stats add up: %+v", s)
}

// A randomized check of the queue: records offered one by one (push), through an outbox
// (reserveOutbox then moveIn) or as a statement with its held errors (moveIn's more),
// popped in batches of random sizes. Properties: pop returns records in queue order;
// no batch is larger than n unless it is one group (a statement with its held errors, or
// what is left of one); the records of one group that are not dropped leave in one
// batch; pending always equals the queued records plus the places the outboxes hold;
// the counters add up.
func TestQueueRandomized(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, seed*7919))
			q := queue{max: 1 + r.IntN(12)}
			const maxHeld = 3
			var outbox []record // places reserved
			var popped int64
			groupBatch := map[string]int{} // group name → batch index
			nextID := 0
			name := func(group string, i int) string { return fmt.Sprintf("%s/%d", group, i) }
			batchNo := 0
			lastSeq := uint64(0)
			for step := 0; step < 400; step++ {
				switch op := r.IntN(10); {
				case op < 3: // a single log
					nextID++
					rec := record{sessionID: name(fmt.Sprint("p", nextID), 0)}
					if r.IntN(2) == 0 {
						rec.err.name = telemetry.ErrNameServer
					}
					q.push(&rec)
				case op < 5: // a log into the outbox
					nextID++
					rec := record{sessionID: name(fmt.Sprint("o", nextID), 0)}
					isErr := r.IntN(3) == 0
					if isErr {
						rec.err.name = telemetry.ErrNameServer
					}
					if q.reserveOutbox(isErr) {
						outbox = append(outbox, rec)
					} else {
						q.push(&rec) // what stage does: the outbox moves in, then rec
					}
				case op < 7: // a statement with held errors, after the outbox
					nextID++
					g := fmt.Sprint("g", nextID)
					k := 1 + r.IntN(maxHeld)
					grp := make([]record, 1+k)
					grp[0].sessionID = name(g, 0)
					if r.IntN(4) == 0 {
						grp[0].err.name = telemetry.ErrNameSyntax
					}
					for i := 1; i <= k; i++ {
						grp[i] = record{follows: true, sessionID: name(g, i)}
						grp[i].err.name = telemetry.ErrNameServer
					}
					q.moveIn(outbox, grp...)
					outbox = outbox[:0]
				case op < 8:
					q.moveIn(outbox)
					outbox = outbox[:0]
				default:
					n := 1 + r.IntN(4)
					batch := q.pop(nil, n)
					popped += int64(len(batch))
					groups := map[string]bool{}
					for _, rec := range batch {
						require.Greater(t, rec.seq, lastSeq, "queue order")
						lastSeq = rec.seq
						g := strings.Split(rec.sessionID, "/")[0]
						groups[g] = true
						if strings.HasPrefix(g, "g") {
							if b, ok := groupBatch[g]; ok {
								assert.Equal(t, b, batchNo, "group %s split over batches", g)
							}
							groupBatch[g] = batchNo
						}
					}
					if len(batch) > n {
						assert.Len(t, groups, 1, "batch of %d for n=%d holds more than one group: %v", len(batch), n, names(batch))
					}
					batchNo++
				}
				q.mu.Lock()
				queuedNow := q.normal.n + q.errs.n
				require.Equal(t, int64(queuedNow+len(outbox)), q.pending.Load(), "pending = queued + reserved (step %d)", step)
				require.Equal(t, q.queued, popped+q.droppedFull+int64(queuedNow), "queued = popped + dropped + queued now")
				q.mu.Unlock()
			}
		})
	}
}

func names(recs []record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.sessionID)
	}
	return out
}
