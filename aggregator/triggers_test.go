package aggregator

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/internal/testwait"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// A connection.open or connection close that carries a terminal error is flushed at once
// (SPEC §2: terminal error → flush now), with what was queued before it; the timer (1 h)
// and the batch size (100) cannot be what exports it, and Flush is never called.
func TestTerminalConnectionErrorFlushesNow(t *testing.T) {
	failed := func(ev telemetry.Event) telemetry.Event {
		ev.ErrorName, ev.Terminal, ev.HTTPStatus, ev.Message = telemetry.ErrNameAuth, true, 401, "unexpected HTTP status 401"
		return ev
	}
	tests := []struct {
		name   string
		ev     telemetry.Event
		wantOp string
	}{
		{"connection.open", failed(connOpen("sess-2")), telemetry.OpCreateSession},
		{"connection close", failed(connClose("sess-2")), telemetry.OpDeleteSession},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp)
			a.Handle(connOpen("sess-1")) // queued, waiting for a trigger
			a.Handle(tt.ev)
			waitFor(t, "the terminal error's flush", func() bool { return len(exp.logs()) == 2 })
			assert.Equal(t, []int{2}, exp.batchSizes(), "one batch, with the log queued before")
			logs := exp.logs()
			assert.Equal(t, tt.wantOp, opType(logs[1]))
			require.NotNil(t, driverLog(logs[1]).ErrorInfo)
			assert.Equal(t, telemetry.ErrNameAuth, driverLog(logs[1]).ErrorInfo.ErrorName)
		})
	}
}

// parkExport makes the export goroutine hang in an export (of a standalone terminal
// error's log), so that nothing it does can hide what Handle asks of it meanwhile. The
// returned func lets the export finish.
func parkExport(t *testing.T, a *Aggregator, exp *fakeExporter) (release func()) {
	t.Helper()
	release = exp.block(false)
	t.Cleanup(release)
	a.Handle(telemetry.Event{Kind: telemetry.KindError, SessionID: "park", ErrorName: telemetry.ErrNameAuth, Terminal: true})
	testwait.Recv(t, exp.started, 5*time.Second, "the parking export to begin")
	return release
}

// Only a terminal error flushes: a retryable error is held on its open statement and
// requests no flush (SPEC §2). While the export goroutine is parked in an export, the
// error's Handle must leave no flush request and no wake-up behind; once the goroutine
// is free, a log queued before stays queued until something else triggers it. The
// terminal row shows the same setup does see a flush.
func TestOnlyTerminalStatementErrorsRequestAFlush(t *testing.T) {
	tests := []struct {
		name      string
		terminal  bool
		wantFlush bool
	}{
		{"retryable error held on an open statement", false, false},
		{"terminal error", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp) // timer 1 h, batch 100
			release := parkExport(t, a, exp)
			a.Handle(connOpen("sess-1")) // queued behind the parked export
			a.Handle(start("q1"))
			a.Handle(stmtErr("q1", tt.terminal))

			assert.Equal(t, tt.wantFlush, a.flushNow.Load(), "flush requested")
			assert.Equal(t, tt.wantFlush, len(a.kick) == 1, "export goroutine woken")

			release()
			waitFor(t, "the parked export to finish", func() bool { return len(exp.batchSizes()) >= 1 })
			if tt.wantFlush {
				waitFor(t, "the terminal error's flush", func() bool { return len(exp.logs()) == 3 })
				assert.Equal(t, 0, a.Stats().OpenStatements)
				return
			}
			time.Sleep(50 * time.Millisecond) // room for a wrongly requested flush to happen
			assert.Equal(t, []int{1}, exp.batchSizes(), "only the parked batch was exported")
			s := a.Stats()
			assert.Equal(t, 1, s.Pending, "the connection log still waits")
			assert.Equal(t, 1, s.OpenStatements, "the statement stays open, its error held")
		})
	}
}

// The flush timer's tick evicts the statements older than StatementTTL (WithStatementTTL:
// "checked on every timer tick"), without any Flush: the statement's log then goes out
// with the tick's export.
func TestTimerTickSweepsStatementTTL(t *testing.T) {
	exp := newFake()
	clock := newClock()
	a := newTest(t, exp, WithFlushInterval(20*time.Millisecond), WithClock(clock.Now), WithStatementTTL(time.Minute))
	a.Handle(start("old"))
	clock.Advance(2 * time.Minute)
	a.Handle(start("young"))
	waitFor(t, "the tick to evict the expired statement", func() bool { return len(exp.logs()) == 1 })
	assert.Equal(t, "old", driverLog(exp.logs()[0]).SQLStatementID)
	s := a.Stats()
	assert.Equal(t, int64(1), s.Evicted.TTL)
	assert.Equal(t, 1, s.OpenStatements, "the young statement stays")
}
