package aggregator

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// queued is a test's spelling of what goes into the queue: "a" is a log without an
// error, "!a" one with an error (a statement ended by a terminal error), and "S+e1+e2" a
// statement's log with the logs of its held errors, queued as one group (finishHeld).
func pushSpelled(q *queue, spelled string) {
	for _, item := range strings.Fields(spelled) {
		var grp []record
		for i, name := range strings.Split(item, "+") {
			rec := record{sessionID: strings.TrimPrefix(name, "!"), follows: i > 0}
			if i > 0 || strings.HasPrefix(name, "!") {
				rec.err.name = telemetry.ErrNameServer
			}
			grp = append(grp, rec)
		}
		q.moveIn(nil, grp...)
	}
}

// popSpelled pops every batch of at most n from q, each spelled as its logs' names.
func popSpelled(q *queue, n int) []string {
	var got []string
	for q.len() > 0 {
		got = append(got, strings.Join(names(q.pop(nil, n)), " "))
	}
	return got
}

// A statement's log and its held errors' logs leave in one batch: the batch ends before
// them when they do not fit in it, and is larger than asked only when they alone are.
func TestPopKeepsAStatementWithItsHeldErrors(t *testing.T) {
	cases := []struct {
		name   string
		max    int
		queued string
		n      int
		want   []string // the batches popped, their logs by name
	}{
		{name: "the group fits", queued: "a b S+e1", n: 4, want: []string{"a b S e1"}},
		{name: "the group would cross the batch's end", queued: "a b c S+e1 d", n: 4, want: []string{"a b c", "S e1 d"}},
		{name: "the statement alone fills the batch", queued: "a S+e1+e2", n: 2, want: []string{"a", "S e1 e2"}},
		{name: "a group larger than a batch goes whole", queued: "S+e1+e2 a", n: 2, want: []string{"S e1 e2", "a"}},
		{name: "a batch of one", queued: "a S+e1 b", n: 1, want: []string{"a", "S e1", "b"}},
		{name: "a statement ended by a terminal error", queued: "a !T+e1 b", n: 2, want: []string{"a", "T e1", "b"}},
		{name: "groups one after the other", queued: "S+e1 T+e2 U+e3", n: 4, want: []string{"S e1 T e2", "U e3"}},
		{name: "plain error logs do not join", queued: "a !x !y", n: 2, want: []string{"a x", "y"}},
		// max 2: b takes the place of the oldest log without an error, S: its errors,
		// left without it, go as any error logs do.
		{name: "held errors whose statement was dropped", max: 2, queued: "S+e1 b", n: 1, want: []string{"e1", "b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := queue{max: 100}
			if tc.max > 0 {
				q.max = tc.max
			}
			pushSpelled(&q, tc.queued)
			assert.Equal(t, tc.want, popSpelled(&q, tc.n))
			assert.Zero(t, q.waiting(), "every place given back")
		})
	}
}

// Through the aggregator, on every shard: whichever statement's log fills a batch, and
// however many held errors it has, they leave in the batch of their statement's log,
// and no batch is larger than BatchSize unless one statement with its errors is.
func TestHeldErrorsLeaveWithTheirStatement(t *testing.T) {
	for _, errs := range []int{1, 3, 12} {
		t.Run(fmt.Sprint(errs, " held errors"), func(t *testing.T) {
			exp := newFake()
			const batch = 10
			a := newTest(t, exp, WithBatchSize(batch))
			for i := 0; i < 95; i++ {
				id := fmt.Sprint("q", i)
				a.Handle(start(id))
				if i%7 == 3 {
					for range errs {
						a.Handle(stmtErr(id, false))
					}
				}
				a.Handle(complete(id))
			}
			flush(t, a)
			exp.mu.Lock()
			defer exp.mu.Unlock()
			stmtBatch := map[string]int{}
			for bi, b := range exp.batches {
				assert.LessOrEqual(t, len(b), max(batch, 1+errs), "batch %d", bi)
				for _, l := range b {
					if d := driverLog(l); d.SQLOperation != nil {
						stmtBatch[d.SQLStatementID] = bi
					}
				}
			}
			var held int
			for bi, b := range exp.batches {
				for _, l := range b {
					if d := driverLog(l); d.SQLOperation == nil && d.ErrorInfo != nil {
						held++
						bs, ok := stmtBatch[d.SQLStatementID]
						require.True(t, ok, "statement %s logged", d.SQLStatementID)
						assert.Equal(t, bs, bi, "the error of %s leaves in its statement's batch", d.SQLStatementID)
					}
				}
			}
			assert.Equal(t, 14*errs, held, "every held error exported")
		})
	}
}

// A batch full when a group comes goes at once, ending before the group (which waits
// for the next flush, as the logs of a batch not full do), rather than leaving its
// statement's errors behind.
func TestBatchCutBeforeAGroupStillGoesAtOnce(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp, WithBatchSize(3), WithMaxOpenStatements(100)) // one shard: logs queue in the order they finish
	require.Len(t, a.shards, 1)
	for _, id := range []string{"a", "b"} {
		a.Handle(start(id))
		a.Handle(complete(id))
	}
	a.Handle(start("S"))
	a.Handle(stmtErr("S", false))
	a.Handle(complete("S"))
	waitFor(t, "the batch the group filled", func() bool { return len(exp.batchSizes()) == 1 })
	assert.Equal(t, []int{2}, exp.batchSizes(), "a and b at once")
	flush(t, a)
	assert.Equal(t, []int{2, 2}, exp.batchSizes(), "then S with its error")
}
