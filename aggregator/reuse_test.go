package aggregator

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logJSON is l without its (random) id, as JSON.
func logJSON(t *testing.T, l *telemetry.FrontendLog) string {
	t.Helper()
	c := l.Clone()
	c.FrontendLogEventID = ""
	b, err := json.Marshal(c)
	require.NoError(t, err)
	return string(b)
}

// The logs of a batch live in blocks that the next batch reuses (buildLogs): a
// connection's log built where a statement's log with chunks, polls and errors was
// carries nothing of it.
func TestReusedLogsKeepNothingOfTheLastBatch(t *testing.T) {
	clock := newClock()
	freshExp := newFake()
	fresh := newTest(t, freshExp, WithClock(clock.Now))
	fresh.Handle(connOpen("sess-2"))
	flush(t, fresh)
	require.Len(t, freshExp.logs(), 1)
	want := logJSON(t, freshExp.logs()[0])

	exp := newFake()
	a := newTest(t, exp, WithClock(clock.Now))
	a.Handle(start("q1"))
	a.Handle(chunk("q1", 0, 30*time.Millisecond, true))
	a.Handle(stmtErr("q1", false))
	done := complete("q1")
	done.PollCount, done.PollLatency, done.ChunksPresent = 3, 45*time.Millisecond, 2
	a.Handle(done)
	flush(t, a)
	first := exp.logs()
	require.Len(t, first, 2, "the statement's log and its error's")
	require.NotNil(t, driverLog(first[0]).SQLOperation.ChunkDetails)
	require.NotNil(t, driverLog(first[1]).ErrorInfo)

	a.Handle(connOpen("sess-2"))
	flush(t, a)
	logs := exp.logs()
	require.Len(t, logs, 3)
	assert.JSONEq(t, want, logJSON(t, logs[2]))
}
