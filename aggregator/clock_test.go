package aggregator

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// panicky is a clock that panics on the n-th call after arm(n), and otherwise reads c.
type panicky struct {
	c     *fakeClock
	armed atomic.Int64 // > 0: calls left until the panic
}

func (p *panicky) arm(n int64) { p.armed.Store(n) }

func (p *panicky) now() time.Time {
	if p.armed.Load() > 0 && p.armed.Add(-1) == 0 {
		panic("clock boom")
	}
	return p.c.Now()
}

// A caller's clock (WithClock) is read with a shard's lock held, when a statement's log
// is finished: by the TTL sweep, by Close, by an eviction, and when a statement opens
// without a time. A panic in it must not escape, leave a lock held, leak a place among
// MaxOpenStatements or leave the export goroutine running; it is counted in Panics.
func TestPanickingClock(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, a *Aggregator, p *panicky)
	}{
		{"in the TTL sweep", func(t *testing.T, a *Aggregator, p *panicky) {
			a.Handle(timedAt(start("s1"), p.c.Now()))
			p.c.Advance(2 * time.Minute)
			p.arm(2) // the sweep's own read passes; the expired statement's log panics
			require.NoError(t, a.Flush(ctxFor(t, 2*time.Second)))
			assert.Equal(t, int64(1), a.Stats().Evicted.TTL)
		}},
		{"in Close", func(t *testing.T, a *Aggregator, p *panicky) {
			a.Handle(timedAt(start("s1"), p.c.Now()))
			p.arm(1)
			assert.NotPanics(t, func() { _ = a.Close(ctxFor(t, 2*time.Second)) })
			select {
			case <-a.done:
			case <-time.After(2 * time.Second):
				t.Fatal("the export goroutine still runs after Close")
			}
			assert.Equal(t, int64(1), a.Stats().Evicted.Close)
		}},
		{"while a statement opens without a time", func(t *testing.T, a *Aggregator, p *panicky) {
			p.arm(1)
			assert.NotPanics(t, func() { a.Handle(chunk("s1", 0, time.Millisecond, false)) })
			assert.Equal(t, int64(1), a.openStmts.Load(), "s1 holds the one place")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &panicky{c: newClock()}
			a := newTest(t, newFake(), WithMaxOpenStatements(1), WithStatementTTL(time.Minute), WithClock(p.now))
			tt.run(t, a, p)
			assert.Equal(t, int64(1), a.Stats().Panics)
			done := make(chan struct{})
			go func() {
				defer close(done)
				a.Handle(timedAt(start("s2"), p.c.Now())) // the same shard: one place, one shard
			}()
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				t.Fatal("Handle blocked: a lock stayed held, or a place was lost")
			}
		})
	}
}

func timedAt(ev telemetry.Event, at time.Time) telemetry.Event {
	ev.Time = at
	return ev
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// A Close made while another is still closing returns when its own context ends.
func TestConcurrentCloseHonoursItsContext(t *testing.T) {
	exp := newFake()
	release := exp.block(false)
	a := New(exp, WithFlushInterval(time.Hour))
	a.Handle(connOpen("s"))
	first := make(chan error, 1)
	go func() { first <- a.Close(ctxFor(t, 5*time.Second)) }()
	<-exp.started // Close exports the connection's log, which blocks
	began := time.Now()
	err := a.Close(ctxFor(t, 50*time.Millisecond))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(began), 2*time.Second)
	release()
	require.NoError(t, <-first)
	assert.NoError(t, a.Close(context.Background()), "later calls return the first call's result")
}

// When only error logs wait and the queue is full, a new log without an error is the
// oldest non-error log (SPEC §2): it goes, not an error log.
func TestFullQueueKeepsErrorLogs(t *testing.T) {
	exp := newFake()
	release := exp.block(false)
	a := newTest(t, exp, WithBatchSize(5), WithMaxPendingLogs(5))
	for range 5 {
		a.Handle(connOpen("warm"))
	}
	<-exp.started // the first batch is in flight and blocks
	retryable := telemetry.Event{Kind: telemetry.KindError, SessionID: "s", ErrorName: telemetry.ErrNameServer, Message: "retryable"}
	for range 5 {
		a.Handle(retryable)
	}
	a.Handle(connOpen("late"))
	assert.Equal(t, int64(1), a.Stats().Dropped.QueueFull)
	release()
	require.NoError(t, a.Flush(ctxFor(t, 3*time.Second)))
	logs := exp.logs()
	require.Len(t, logs, 10)
	for _, l := range logs[5:] {
		assert.NotNil(t, l.Entry.SQLDriverLog.ErrorInfo, "every error log is exported; the late connection log went")
	}
}
