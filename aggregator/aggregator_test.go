package aggregator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/internal/testwait"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

func driverLog(l *telemetry.FrontendLog) *telemetry.SQLDriverLog { return l.Entry.SQLDriverLog }

// byStatement indexes logs by statement id: logs of different statements may leave
// their shards' outboxes in any order.
func byStatement(logs []*telemetry.FrontendLog) map[string]*telemetry.SQLDriverLog {
	out := make(map[string]*telemetry.SQLDriverLog, len(logs))
	for _, l := range logs {
		out[driverLog(l).SQLStatementID] = driverLog(l)
	}
	return out
}

func opType(l *telemetry.FrontendLog) string {
	if op := driverLog(l).SQLOperation; op != nil && op.OperationDetail != nil {
		return op.OperationDetail.OperationType
	}
	return ""
}

// TestAggregation drives the per-statement rules of SPEC §2 with event sequences and
// checks the logs each produces after a Flush.
func TestAggregation(t *testing.T) {
	tests := []struct {
		name   string
		events []telemetry.Event
		check  func(t *testing.T, logs []*telemetry.FrontendLog, s Stats)
	}{
		{
			name:   "connection open and close go straight to the batch",
			events: []telemetry.Event{connOpen("sess-1"), connClose("sess-1")},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				require.Len(t, logs, 2)
				open, closed := driverLog(logs[0]), driverLog(logs[1])
				assert.Equal(t, telemetry.OpCreateSession, opType(logs[0]))
				assert.Equal(t, "sess-1", open.SessionID)
				assert.Equal(t, int64(80), open.OperationLatencyMs)
				assert.Equal(t, "pat", open.AuthType)
				require.NotNil(t, open.DriverConnectionParams)
				assert.Equal(t, "/sql/1.0/warehouses/abc", open.DriverConnectionParams.HTTPPath)
				assert.Equal(t, &telemetry.HostInfo{HostURL: "adb-1.example.net", Port: 443}, open.DriverConnectionParams.HostInfo)
				assert.Equal(t, int64(900), open.DriverConnectionParams.SocketTimeout, "seconds")
				assert.True(t, open.DriverConnectionParams.EnableArrow)
				assert.NotNil(t, open.SystemConfiguration)
				assert.Equal(t, telemetry.OpDeleteSession, opType(logs[1]))
				assert.Nil(t, closed.DriverConnectionParams)
				assert.Equal(t, int64(5), closed.OperationLatencyMs)
			},
		},
		{
			name: "failed connection open carries its error",
			events: []telemetry.Event{{Kind: telemetry.KindConnectionOpen, Latency: time.Second,
				ErrorName: telemetry.ErrNameAuth, Terminal: true, HTTPStatus: 401, Message: "unexpected HTTP status 401",
				Connection: &telemetry.ConnectionInfo{Host: "h", AuthType: "pat"}}},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				require.Len(t, logs, 1)
				dl := driverLog(logs[0])
				require.NotNil(t, dl.ErrorInfo)
				assert.Equal(t, telemetry.ErrNameAuth, dl.ErrorInfo.ErrorName)
				assert.Equal(t, "unexpected HTTP status 401", dl.ErrorInfo.StackTrace)
			},
		},
		{
			// SPEC §3 lists driver_connection_params; each field the connection knows is sent,
			// host_info included when only the port is known.
			name: "every driver_connection_params field is sent",
			events: []telemetry.Event{{Kind: telemetry.KindConnectionOpen, SessionID: "s", Connection: &telemetry.ConnectionInfo{
				Port: 8443, HTTPPath: "/p", Mode: "THRIFT", AuthMech: "OAUTH", AuthFlow: "CLIENT_CREDENTIALS",
				EnableDirectResults: true, QueryTags: "team:x", SocketTimeout: 30 * time.Second}}},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				require.Len(t, logs, 1)
				assert.Equal(t, &telemetry.DriverConnectionParams{HTTPPath: "/p", Mode: "THRIFT",
					HostInfo: &telemetry.HostInfo{Port: 8443}, AuthMech: "OAUTH", AuthFlow: "CLIENT_CREDENTIALS",
					EnableDirectResults: true, QueryTags: "team:x", SocketTimeout: 30},
					driverLog(logs[0]).DriverConnectionParams)
			},
		},
		{
			name: "chunks and polls accumulate into one log per statement",
			events: []telemetry.Event{
				start("q1"),
				chunk("q1", 0, 30*time.Millisecond, false),
				chunk("q1", 1, 50*time.Millisecond, true),
				chunk("q1", 2, 20*time.Millisecond, false),
				{Kind: telemetry.KindStatementComplete, StatementID: "q1", ResultFormat: telemetry.ResultExternalLinks,
					ChunksPresent: 4, PollCount: 3, PollLatency: 45 * time.Millisecond,
					Latency: 400 * time.Millisecond, ResultReadyLatency: 300 * time.Millisecond, ConsumptionLatency: 100 * time.Millisecond},
			},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				require.Len(t, logs, 1)
				dl := driverLog(logs[0])
				assert.Equal(t, "sess-1", dl.SessionID)
				assert.Equal(t, "q1", dl.SQLStatementID)
				assert.Equal(t, int64(400), dl.OperationLatencyMs)
				op := dl.SQLOperation
				assert.Equal(t, telemetry.StatementQuery, op.StatementType)
				assert.Equal(t, telemetry.ResultExternalLinks, op.ExecutionResult)
				assert.True(t, op.IsCompressed, "compressed if any chunk was")
				assert.Equal(t, &telemetry.ChunkDetails{InitialChunkLatencyMillis: 30, SlowestChunkLatencyMillis: 50,
					TotalChunksPresent: 4, TotalChunksIterated: 3, SumChunksDownloadTimeMillis: 100}, op.ChunkDetails)
				assert.Equal(t, &telemetry.ResultLatency{ResultSetReadyLatencyMillis: 300, ResultSetConsumptionLatencyMillis: 100}, op.ResultLatency)
				assert.Equal(t, &telemetry.OperationDetail{NOperationStatusCalls: 3, OperationStatusLatencyMillis: 45,
					OperationType: telemetry.OpExecuteStatement}, op.OperationDetail)
				assert.Nil(t, dl.ErrorInfo)
				assert.Equal(t, 0, s.OpenStatements, "the entry is freed")
			},
		},
		{
			// Event.PollCount and PollLatency are increments: a statement's polls add up
			// across its events (SPEC §2: polls accumulate into the entry).
			name: "polls add up across a statement's events",
			events: func() []telemetry.Event {
				st, done := start("q1"), complete("q1")
				st.PollCount, st.PollLatency = 2, 20*time.Millisecond
				done.PollCount, done.PollLatency = 3, 30*time.Millisecond
				return []telemetry.Event{st, done}
			}(),
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				require.Len(t, logs, 1)
				od := driverLog(logs[0]).SQLOperation.OperationDetail
				assert.Equal(t, int32(5), od.NOperationStatusCalls)
				assert.Equal(t, int64(50), od.OperationStatusLatencyMillis)
			},
		},
		{
			// The start knows what was sent: the completion fills in only what it left
			// out, and a completion without a result format keeps the start's.
			name: "the start's operation type, statement type and result format stand",
			events: func() []telemetry.Event {
				st, done := start("q1"), complete("q1") // start: EXECUTE_STATEMENT, QUERY
				st.ResultFormat = telemetry.ResultColumnarInline
				done.ResultFormat = ""
				done.OperationType, done.StatementType = telemetry.OpUnspecified, telemetry.StatementSQL
				return []telemetry.Event{st, done}
			}(),
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				require.Len(t, logs, 1)
				op := driverLog(logs[0]).SQLOperation
				assert.Equal(t, telemetry.OpExecuteStatement, op.OperationDetail.OperationType)
				assert.Equal(t, telemetry.StatementQuery, op.StatementType)
				assert.Equal(t, telemetry.ResultColumnarInline, op.ExecutionResult)
			},
		},
		{
			// A start may come before the session id is known: the session is taken from
			// the completion, or from any later event of the statement.
			name: "a statement's session comes from whichever event knows it",
			events: []telemetry.Event{
				{Kind: telemetry.KindStatementStart, StatementID: "q1"},
				{Kind: telemetry.KindStatementComplete, StatementID: "q1", SessionID: "s1"},
				{Kind: telemetry.KindStatementStart, StatementID: "q2"},
				{Kind: telemetry.KindChunk, StatementID: "q2", SessionID: "s2", Latency: time.Millisecond},
				{Kind: telemetry.KindStatementComplete, StatementID: "q2"},
			},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				got := map[string]string{}
				for id, dl := range byStatement(logs) {
					got[id] = dl.SessionID
				}
				assert.Equal(t, map[string]string{"q1": "s1", "q2": "s2"}, got)
			},
		},
		{
			// SPEC §3: chunks mean CloudFetch (EXTERNAL_LINKS) when the completion names no
			// format; chunk_details and result_latency are sent when any of their fields is known.
			name: "CloudFetch details from partial information",
			events: []telemetry.Event{
				start("q1"),
				chunk("q1", 0, 10*time.Millisecond, false),
				{Kind: telemetry.KindStatementComplete, StatementID: "q1", Latency: time.Second},
				start("q2"),
				{Kind: telemetry.KindStatementComplete, StatementID: "q2", Latency: time.Second,
					ResultFormat: telemetry.ResultExternalLinks, ChunksPresent: 3, ConsumptionLatency: 40 * time.Millisecond},
			},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				byID := byStatement(logs)
				require.Len(t, byID, 2)
				require.Contains(t, byID, "q1")
				assert.Equal(t, telemetry.ResultExternalLinks, byID["q1"].SQLOperation.ExecutionResult)
				require.Contains(t, byID, "q2")
				op := byID["q2"].SQLOperation
				assert.Equal(t, &telemetry.ChunkDetails{TotalChunksPresent: 3}, op.ChunkDetails, "chunks present, none iterated")
				assert.Equal(t, &telemetry.ResultLatency{ResultSetConsumptionLatencyMillis: 40}, op.ResultLatency, "consumption only")
			},
		},
		{
			// total_chunks_present is never below total_chunks_iterated: a completion that
			// does not say how many chunks the result has (q1), or says fewer than were
			// downloaded (q2), reports the chunks downloaded as present.
			name: "chunks downloaded count as present",
			events: []telemetry.Event{
				start("q1"),
				chunk("q1", 0, 10*time.Millisecond, false),
				chunk("q1", 1, 10*time.Millisecond, false),
				{Kind: telemetry.KindStatementComplete, StatementID: "q1", Latency: time.Second},
				start("q2"),
				chunk("q2", 0, 10*time.Millisecond, false),
				chunk("q2", 1, 10*time.Millisecond, false),
				chunk("q2", 2, 10*time.Millisecond, false),
				{Kind: telemetry.KindStatementComplete, StatementID: "q2", Latency: time.Second, ChunksPresent: 2},
			},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				byID := byStatement(logs)
				for id, want := range map[string]int32{"q1": 2, "q2": 3} {
					require.Contains(t, byID, id)
					cd := byID[id].SQLOperation.ChunkDetails
					require.NotNil(t, cd, id)
					assert.EqualValues(t, want, cd.TotalChunksIterated, "%s iterated", id)
					assert.EqualValues(t, want, cd.TotalChunksPresent, "%s present", id)
				}
			},
		},
		{
			name:   "inline statement",
			events: []telemetry.Event{start("q1"), complete("q1")},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				require.Len(t, logs, 1)
				op := driverLog(logs[0]).SQLOperation
				assert.Equal(t, telemetry.ResultInlineArrow, op.ExecutionResult)
				assert.Nil(t, op.ChunkDetails)
				assert.False(t, op.IsCompressed)
			},
		},
		{
			name:   "statement still open produces nothing yet",
			events: []telemetry.Event{start("q1"), chunk("q1", 0, time.Millisecond, false)},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				assert.Empty(t, logs)
				assert.Equal(t, 1, s.OpenStatements)
			},
		},
		{
			name:   "completion without a start still logs",
			events: []telemetry.Event{complete("q9")},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				require.Len(t, logs, 1)
				assert.Equal(t, "q9", driverLog(logs[0]).SQLStatementID)
				assert.Equal(t, int64(250), driverLog(logs[0]).OperationLatencyMs)
			},
		},
		{
			name: "retry_count is the most the statement's events reported",
			events: []telemetry.Event{start("q1"), stmtErr("q1", false),
				withRetries(chunk("q1", 0, time.Millisecond, false), 1), withRetries(complete("q1"), 3)},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				require.Len(t, logs, 2)
				assert.Equal(t, int64(3), driverLog(logs[0]).SQLOperation.RetryCount)
			},
		},
		{
			name:   "retryable errors are held and exported with their statement",
			events: []telemetry.Event{start("q1"), stmtErr("q1", false), stmtErr("q1", false), complete("q1")},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				require.Len(t, logs, 3)
				assert.Nil(t, driverLog(logs[0]).ErrorInfo, "the statement log comes first")
				assert.Zero(t, driverLog(logs[0]).SQLOperation.RetryCount, "an error is no retry: the driver reports its retries")
				for _, l := range logs[1:] {
					dl := driverLog(l)
					assert.Equal(t, "q1", dl.SQLStatementID)
					assert.Equal(t, "sess-1", dl.SessionID)
					require.NotNil(t, dl.ErrorInfo)
					assert.Equal(t, telemetry.ErrNameServer, dl.ErrorInfo.ErrorName)
					assert.Equal(t, "boom '?'", dl.ErrorInfo.StackTrace)
				}
			},
		},
		{
			name:   "retryable errors wait while the statement is open",
			events: []telemetry.Event{start("q1"), stmtErr("q1", false)},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				assert.Empty(t, logs)
				assert.Equal(t, 1, s.OpenStatements)
			},
		},
		{
			name:   "terminal error joins and finishes its statement",
			events: []telemetry.Event{start("q1"), chunk("q1", 0, 10*time.Millisecond, false), stmtErr("q1", false), stmtErr("q1", true)},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				require.Len(t, logs, 2)
				dl := driverLog(logs[0])
				assert.Equal(t, "q1", dl.SQLStatementID)
				require.NotNil(t, dl.ErrorInfo)
				assert.Equal(t, telemetry.ErrNameSyntax, dl.ErrorInfo.ErrorName)
				assert.Equal(t, int32(1), dl.SQLOperation.ChunkDetails.TotalChunksIterated)
				assert.Equal(t, telemetry.ErrNameServer, driverLog(logs[1]).ErrorInfo.ErrorName, "the held retryable error")
				assert.Equal(t, 0, s.OpenStatements)
			},
		},
		{
			name:   "terminal error for an unknown statement is a standalone error log",
			events: []telemetry.Event{stmtErr("q7", true)},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				require.Len(t, logs, 1)
				dl := driverLog(logs[0])
				assert.Equal(t, "q7", dl.SQLStatementID)
				assert.Nil(t, dl.SQLOperation)
				assert.Equal(t, telemetry.ErrNameSyntax, dl.ErrorInfo.ErrorName)
			},
		},
		{
			name: "retryable error of a completed statement is a standalone error log",
			events: func() []telemetry.Event {
				late := stmtErr("q8", false)
				late.Standalone = true
				return []telemetry.Event{late}
			}(),
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				require.Len(t, logs, 1, "logged, not held for a completion that came already")
				dl := driverLog(logs[0])
				assert.Equal(t, "q8", dl.SQLStatementID)
				assert.Nil(t, dl.SQLOperation)
				assert.Equal(t, telemetry.ErrNameServer, dl.ErrorInfo.ErrorName)
				assert.Zero(t, s.OpenStatements)
			},
		},
		{
			name:   "error without a statement is a standalone error log",
			events: []telemetry.Event{{Kind: telemetry.KindError, SessionID: "sess-1", ErrorName: telemetry.ErrNameConnection, Message: "reset"}},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				require.Len(t, logs, 1)
				dl := driverLog(logs[0])
				assert.Equal(t, "sess-1", dl.SessionID)
				assert.Empty(t, dl.SQLStatementID)
				assert.Equal(t, telemetry.ErrNameConnection, dl.ErrorInfo.ErrorName)
			},
		},
		{
			// An error event handed straight to the sink (not through the emitter, which
			// names it) is still an error log: error_info with the generic name.
			name:   "error without a name or message is still an error log",
			events: []telemetry.Event{{Kind: telemetry.KindError, SessionID: "s"}},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				require.Len(t, logs, 1)
				require.NotNil(t, driverLog(logs[0]).ErrorInfo)
				assert.Equal(t, telemetry.ErrNameGeneric, driverLog(logs[0]).ErrorInfo.ErrorName)
			},
		},
		{
			name: "invalid events are counted, not logged",
			events: []telemetry.Event{
				{Kind: 0, StatementID: "x"},
				{Kind: 42},
				{Kind: telemetry.KindStatementStart},
				{Kind: telemetry.KindChunk},
			},
			check: func(t *testing.T, logs []*telemetry.FrontendLog, s Stats) {
				assert.Empty(t, logs)
				assert.Equal(t, int64(4), s.Dropped.Invalid)
				assert.Equal(t, int64(4), s.Received)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp)
			for _, ev := range tt.events {
				a.Handle(ev)
			}
			flush(t, a)
			s := a.Stats()
			assert.Equal(t, int64(len(tt.events)), s.Received)
			tt.check(t, exp.logs(), s)
		})
	}
}

func TestMaxErrorsPerStatement(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp, WithMaxErrorsPerStatement(5), WithMaxPendingLogs(100))
	a.Handle(start("q1"))
	for i := 0; i < 8; i++ {
		a.Handle(stmtErr("q1", false))
	}
	a.Handle(complete("q1"))
	flush(t, a)
	logs := exp.logs()
	require.Len(t, logs, 1+5)
	assert.Equal(t, int64(3), a.Stats().Dropped.ErrorLimit)
}

func TestTerminalErrorFlushesNow(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp) // timer 1 h, batch 100: only the error can trigger the export
	a.Handle(connOpen("sess-1"))
	a.Handle(start("q1"))
	a.Handle(stmtErr("q1", true))
	waitFor(t, "the terminal error's flush", func() bool { return len(exp.logs()) == 2 })
	assert.Equal(t, []int{2}, exp.batchSizes(), "the batch with the connection log went too")
}

// A statement a terminal error finished has one log, the error's: its later events (its
// completion when its Rows close, a chunk still read) are dropped as late, and a later
// error is logged on its own, as for a statement that completed. The statement need not
// have been open: a sink may send the error without a start.
func TestTerminalErrorEndsTheStatement(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opened   bool
		after    telemetry.Event
		wantLogs int
		wantLate int64
	}{
		{"completion", true, complete("q1"), 1, 1},
		{"completion, never opened", false, complete("q1"), 1, 1},
		{"chunk", true, chunk("q1", 0, time.Millisecond, false), 1, 1},
		{"retryable error", true, stmtErr("q1", false), 2, 0},
		{"terminal error", true, stmtErr("q1", true), 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp)
			if tc.opened {
				a.Handle(start("q1"))
			}
			a.Handle(stmtErr("q1", true))
			a.Handle(tc.after)
			flush(t, a)
			logs := exp.logs()
			require.Len(t, logs, tc.wantLogs)
			for _, l := range logs {
				assert.NotNil(t, driverLog(l).ErrorInfo, "an error's log")
			}
			s := a.Stats()
			assert.Equal(t, tc.wantLate, s.Dropped.Late)
			assert.Zero(t, s.OpenStatements, "nothing waits for StatementTTL")
		})
	}
}

// A statement.complete that carries its terminal error (the driver's way of ending a
// statement that failed, with what it did so far) is flushed at once too, as one log
// with the statement's facts and its error.
func TestCompletionWithATerminalErrorFlushesNow(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp)
	a.Handle(start("q1"))
	done := complete("q1")
	done.ErrorName, done.SQLState, done.Terminal, done.Message = telemetry.ErrNameData, "22018", true, "bad cast"
	a.Handle(done)
	waitFor(t, "the terminal error's flush", func() bool { return len(exp.logs()) == 1 })
	d := driverLog(exp.logs()[0])
	require.NotNil(t, d.ErrorInfo)
	assert.Equal(t, telemetry.ErrNameData, d.ErrorInfo.ErrorName)
	assert.Equal(t, telemetry.ResultInlineArrow, d.SQLOperation.ExecutionResult, "the statement's facts stay")
	assert.Equal(t, int64(0), d.SQLOperation.RetryCount, "a terminal error is no retry")
}

func TestStandaloneTerminalErrorFlushesNow(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp)
	a.Handle(telemetry.Event{Kind: telemetry.KindError, ErrorName: telemetry.ErrNameAuth, Terminal: true})
	waitFor(t, "the terminal error's flush", func() bool { return len(exp.logs()) == 1 })
}

func TestRetryableErrorDoesNotFlush(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp)
	a.Handle(telemetry.Event{Kind: telemetry.KindError, ErrorName: telemetry.ErrNameTimeout})
	time.Sleep(50 * time.Millisecond)
	assert.Zero(t, exp.calls.Load())
	assert.Equal(t, 1, a.Stats().Pending)
}

func TestBatchSizeTriggersExport(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp, WithBatchSize(10))
	for i := 0; i < 9; i++ {
		a.Handle(connOpen(fmt.Sprint("s", i)))
	}
	time.Sleep(50 * time.Millisecond)
	assert.Zero(t, exp.calls.Load(), "9 < batch size")
	for i := 9; i < 25; i++ {
		a.Handle(connOpen(fmt.Sprint("s", i)))
	}
	waitFor(t, "two full batches", func() bool { return len(exp.batchSizes()) == 2 })
	assert.Equal(t, []int{10, 10}, exp.batchSizes())
	assert.Equal(t, 5, a.Stats().Pending, "a partial batch waits for the timer")
}

// Statement logs wait in their shards' outboxes, yet a full batch across the shards
// still wakes the exporter at once.
func TestBatchSizeCountsStatementsOnEveryShard(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp, WithBatchSize(10))
	require.Greater(t, len(a.shards), 1)
	finish := func(i int) {
		id := fmt.Sprint("q", i)
		a.Handle(start(id))
		a.Handle(complete(id))
	}
	for i := 0; i < 9; i++ {
		finish(i)
	}
	time.Sleep(50 * time.Millisecond)
	assert.Zero(t, exp.calls.Load(), "9 < batch size")
	assert.Equal(t, 9, a.Stats().Pending, "the outboxes count as pending")
	finish(9)
	waitFor(t, "a full batch", func() bool { return len(exp.batchSizes()) == 1 })
	assert.Equal(t, []int{10}, exp.batchSizes())
	s := a.Stats()
	assert.Zero(t, s.Pending)
	assert.Equal(t, int64(10), s.Queued)
}

// A statement's events never wait for the export queue's lock (shared by every
// connection of the host): the finished log waits in its shard's outbox.
func TestStatementsDoNotTakeTheQueueLock(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp)
	a.q.mu.Lock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < a.outboxCap-1; i++ { // fewer than any outbox holds
			id := fmt.Sprint("q", i)
			a.Handle(start(id))
			a.Handle(chunk(id, 0, time.Millisecond, false))
			a.Handle(complete(id))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a statement waited for the queue's lock")
	}
	a.q.mu.Unlock()
	flush(t, a)
	assert.Len(t, exp.logs(), a.outboxCap-1)
}

// With the exporter hanging, at most MaxPendingLogs wait, outboxes included, and
// everything is accounted for.
func TestOutboxesBoundedWhileExporterHangs(t *testing.T) {
	exp := newFake()
	release := exp.block(false)
	defer release()
	a := newTest(t, exp, WithBatchSize(10), WithMaxPendingLogs(50))
	for i := 0; i < 5000; i++ {
		id := fmt.Sprint("q", i)
		a.Handle(start(id))
		a.Handle(complete(id))
	}
	s := a.Stats()
	assert.Equal(t, 50, s.Pending)
	assert.Equal(t, int64(5000), s.Queued)
	release()
	flush(t, a)
	s = a.Stats()
	assert.Zero(t, s.Pending)
	assert.Positive(t, s.Dropped.QueueFull)
	assert.Equal(t, s.Queued, s.Exported+s.Dropped.QueueFull)
}

// Logs leave in the order of their events: the statements waiting in the outboxes go
// before a connection's close that follows them.
func TestStatementLogsPrecedeTheConnectionClose(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp)
	a.Handle(connOpen("sess-1"))
	for i := 0; i < 5; i++ {
		id := fmt.Sprint("q", i)
		a.Handle(start(id))
		a.Handle(complete(id))
	}
	a.Handle(connClose("sess-1"))
	flush(t, a)
	var ops []string
	for _, l := range exp.logs() {
		ops = append(ops, opType(l))
	}
	assert.Equal(t, []string{telemetry.OpCreateSession, telemetry.OpExecuteStatement, telemetry.OpExecuteStatement,
		telemetry.OpExecuteStatement, telemetry.OpExecuteStatement, telemetry.OpExecuteStatement, telemetry.OpDeleteSession}, ops)
}

func TestTimerFlushes(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp, WithFlushInterval(30*time.Millisecond))
	a.Handle(connOpen("s1"))
	waitFor(t, "the timer", func() bool { return len(exp.logs()) == 1 })
}

// TestTimerNotResetByFlushes: neither an error-triggered nor a batch-triggered flush
// pushes the next tick back (SPEC §2).
//
// The interval leaves the check half an interval (500 ms) of slack for a loaded machine:
// at 400 ms, a race-enabled run of the whole suite beside other work once took longer.
func TestTimerNotResetByFlushes(t *testing.T) {
	const interval = time.Second
	for _, tt := range []struct {
		name    string
		trigger []telemetry.Event
	}{
		{"terminal error", []telemetry.Event{{Kind: telemetry.KindError, ErrorName: telemetry.ErrNameAuth, Terminal: true}}},
		{"full batch", []telemetry.Event{connOpen("b1"), connOpen("b2"), connOpen("b3")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			exp := newFake()
			begin := time.Now()
			a := newTest(t, exp, WithFlushInterval(interval), WithBatchSize(3))
			time.Sleep(interval / 2)
			for _, ev := range tt.trigger {
				a.Handle(ev)
			}
			n := len(tt.trigger)
			waitFor(t, "the triggered flush", func() bool { return len(exp.logs()) == n })
			a.Handle(connOpen("s1"))
			waitFor(t, "the timer", func() bool { return len(exp.logs()) == n+1 })
			// A reset timer would fire at interval/2 + interval at the earliest.
			assert.Less(t, time.Since(begin), interval/2+interval, "exported on the original tick")
		})
	}
}

func TestMaxOpenStatementsEvictsOldest(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp, WithMaxOpenStatements(3))
	a.Handle(start("q1"))
	a.Handle(stmtErr("q1", false))
	a.Handle(start("q2"))
	a.Handle(start("q3"))
	a.Handle(start("q4")) // evicts q1, with its error
	flush(t, a)
	logs := exp.logs()
	require.Len(t, logs, 2)
	assert.Equal(t, "q1", driverLog(logs[0]).SQLStatementID)
	assert.Nil(t, driverLog(logs[0]).ErrorInfo)
	assert.Equal(t, "q1", driverLog(logs[1]).SQLStatementID)
	assert.NotNil(t, driverLog(logs[1]).ErrorInfo, "evicted with its errors kept")
	s := a.Stats()
	assert.Equal(t, int64(1), s.Evicted.Capacity)
	assert.Equal(t, 3, s.OpenStatements)
}

func TestStatementTTL(t *testing.T) {
	exp := newFake()
	clock := newClock()
	a := newTest(t, exp, WithClock(clock.Now), WithStatementTTL(time.Hour))
	a.Handle(start("old"))
	a.Handle(chunk("old", 0, 10*time.Millisecond, false))
	clock.Advance(59 * time.Minute)
	a.Handle(start("young"))
	flush(t, a)
	assert.Empty(t, exp.logs(), "nothing is older than the TTL yet")
	clock.Advance(2 * time.Minute)
	flush(t, a)
	logs := exp.logs()
	require.Len(t, logs, 1)
	dl := driverLog(logs[0])
	assert.Equal(t, "old", dl.SQLStatementID)
	assert.Equal(t, (61 * time.Minute).Milliseconds(), dl.OperationLatencyMs, "latency up to the eviction")
	s := a.Stats()
	assert.Equal(t, int64(1), s.Evicted.TTL)
	assert.Equal(t, 1, s.OpenStatements)
}

// Events that carry their Time are taken at it: the statement's latency runs from its
// statement.start's Time and its log is stamped with its statement.complete's Time,
// whatever the aggregator's own clock says. Its StatementTTL, though, runs from when the
// start was reported: its Time plus its Latency, the driver call that ran it.
func TestEventTimesStampStatements(t *testing.T) {
	exp := newFake()
	clock := newClock()
	a := newTest(t, exp, WithClock(clock.Now), WithStatementTTL(time.Hour))
	began := clock.Now().Add(-2 * time.Hour) // longer ago than the TTL
	old := start("old")
	old.Time, old.Latency = began, 2*time.Hour // the server answered just now
	a.Handle(old)
	timed := start("timed")
	timed.Time = clock.Now()
	a.Handle(timed)
	done := complete("timed")
	done.Time = clock.Now().Add(-time.Minute)
	a.Handle(done)
	flush(t, a)
	require.Len(t, exp.logs(), 1, "old is not evicted though its start is two hours back")
	clock.Advance(time.Hour)
	flush(t, a) // the sweep evicts "old": first seen an hour ago

	logs := exp.logs()
	require.Len(t, logs, 2)
	byID := map[string]*telemetry.FrontendLog{}
	for _, l := range logs {
		byID[driverLog(l).SQLStatementID] = l
	}
	require.Contains(t, byID, "old")
	assert.Equal(t, (3 * time.Hour).Milliseconds(), driverLog(byID["old"]).OperationLatencyMs, "latency from the start's Time")
	require.Contains(t, byID, "timed")
	assert.Equal(t, done.Time.UnixMilli(), byID["timed"].Context.ClientContext.TimestampMillis, "stamped at the completion's Time")
	assert.Equal(t, int64(1), a.Stats().Evicted.TTL)
}

func TestQueueDropsOldestNonError(t *testing.T) {
	q := queue{max: 3}
	push := func(name string, isErr bool) {
		r := record{kind: recConnOpen, sessionID: name}
		if isErr {
			r.kind, r.err = recError, errData{name: "e"}
		}
		q.push(&r)
	}
	push("n1", false)
	push("e1", true)
	push("n2", false)
	push("n3", false) // drops n1
	push("e2", true)  // drops n2
	push("e3", true)  // drops n3
	push("e4", true)  // no non-error left: drops e1
	var names []string
	for _, r := range q.pop(nil, 10) {
		names = append(names, r.sessionID)
	}
	assert.Equal(t, []string{"e2", "e3", "e4"}, names)
	assert.Equal(t, int64(4), q.droppedFull)
	assert.Equal(t, int64(7), q.queued)
}

// Places reserved for outboxes count against max: when they take every place, a pushed
// log is dropped itself, and popping frees places for the outboxes' logs to move in.
func TestQueueCountsReservedPlaces(t *testing.T) {
	q := queue{max: 2}
	require.True(t, q.reserve())
	require.True(t, q.reserve())
	assert.False(t, q.reserve(), "max reached")
	n := q.push(&record{sessionID: "late"})
	assert.Equal(t, 2, n)
	assert.Equal(t, int64(1), q.droppedFull)
	assert.Zero(t, q.len())
	q.moveIn([]record{{sessionID: "a"}, {sessionID: "b"}}, record{sessionID: "c"}) // c replaces a
	var names []string
	for _, r := range q.pop(nil, 10) {
		names = append(names, r.sessionID)
	}
	assert.Equal(t, []string{"b", "c"}, names)
	assert.Zero(t, q.waiting())
	assert.True(t, q.reserve(), "places freed by pop")
}

// At max, an error log that finds only error logs in the queue and logs without an error
// in outboxes does not push out an error log: one of the outboxes' logs goes instead, when
// it moves in (SPEC §2: the oldest non-error log goes first, wherever it waits).
func TestQueueFullDropsAnOutboxLogBeforeAnError(t *testing.T) {
	q := queue{max: 4}
	outbox := []record{{sessionID: "n1"}, {sessionID: "n2"}}
	for i := range outbox {
		require.True(t, q.reserveOutbox(outbox[i].hasError()))
	}
	errLog := func(name string) *record { return &record{kind: recError, sessionID: name, err: errData{name: "e"}} }
	q.push(errLog("e1"))
	q.push(errLog("e2"))
	assert.Equal(t, 4, q.waiting(), "max reached")

	q.push(errLog("e3")) // over max: n1 or n2 owes its place
	q.push(errLog("e4")) // and the other
	q.push(errLog("e5")) // no outbox log left to owe it: the oldest error log goes
	assert.Equal(t, int64(1), q.droppedFull)
	q.moveIn(outbox)
	assert.Equal(t, int64(3), q.droppedFull)
	assert.Equal(t, 4, q.waiting())
	assert.Zero(t, q.excess())

	var names []string
	for _, r := range q.pop(nil, 10) {
		names = append(names, r.sessionID)
	}
	assert.Equal(t, []string{"e2", "e3", "e4", "e5"}, names)
	assert.Equal(t, int64(7), q.queued, "5 pushed, 2 moved in")
	assert.Zero(t, q.outboxErrs.Load())
	assert.Zero(t, q.waiting())
}

// An export that makes room before the outbox's logs move in ends the excess over max:
// no log is dropped while fewer than max await export.
func TestQueueExcessEndedByAnExport(t *testing.T) {
	q := queue{max: 4}
	outbox := []record{{sessionID: "n1"}, {sessionID: "n2"}}
	for i := range outbox {
		require.True(t, q.reserveOutbox(outbox[i].hasError()))
	}
	for _, name := range []string{"e1", "e2", "e3"} { // e3 goes in over max
		q.push(&record{kind: recError, sessionID: name, err: errData{name: "e"}})
	}
	require.Equal(t, int64(1), q.excess())
	require.Len(t, q.pop(nil, 10), 3, "the export takes the error logs")
	q.moveIn(outbox)
	assert.Zero(t, q.droppedFull, "room was made: nothing is dropped")
	assert.Zero(t, q.excess())
	assert.Equal(t, 2, q.waiting())
	assert.Len(t, q.pop(nil, 10), 2)
}

// An outbox's error logs are not counted as logs that could go in an error's place.
func TestQueueFullOutboxOfErrors(t *testing.T) {
	q := queue{max: 2}
	outbox := []record{{kind: recError, sessionID: "oe", err: errData{name: "e"}}}
	require.True(t, q.reserveOutbox(outbox[0].hasError()))
	q.push(&record{kind: recError, sessionID: "e1", err: errData{name: "e"}})
	q.push(&record{kind: recError, sessionID: "e2", err: errData{name: "e"}}) // e1 goes
	assert.Zero(t, q.excess())
	q.moveIn(outbox)
	var names []string
	for _, r := range q.pop(nil, 10) {
		names = append(names, r.sessionID)
	}
	assert.Equal(t, []string{"e2", "oe"}, names)
	assert.Equal(t, int64(1), q.droppedFull)
}

func TestQueuePopKeepsOrder(t *testing.T) {
	q := queue{max: 100}
	for i := 0; i < 40; i++ {
		r := record{sessionID: fmt.Sprint(i)}
		if i%3 == 0 {
			r.err = errData{name: "e"}
		}
		q.push(&r)
	}
	var got []string
	for q.len() > 0 {
		for _, r := range q.pop(nil, 7) {
			got = append(got, r.sessionID)
		}
	}
	require.Len(t, got, 40)
	for i, s := range got {
		assert.Equal(t, fmt.Sprint(i), s)
	}
}

// A log pushed after the queue closed (an event racing with Close) is counted as
// Dropped.Closed: SPEC §2 wants every drop counted.
// Logs that move in from an outbox after the queue closed are dropped and counted as
// Closed, and give back the places they held: every log stays accounted for.
func TestQueueCountsMoveInAfterClose(t *testing.T) {
	q := queue{max: 10}
	outbox := []record{{sessionID: "n1"}, {kind: recError, sessionID: "e1", err: errData{name: "e"}}}
	for i := range outbox {
		require.True(t, q.reserveOutbox(outbox[i].hasError()))
	}
	q.close()
	q.moveIn(outbox)
	assert.Equal(t, int64(2), q.droppedClosed)
	assert.Zero(t, q.waiting())
	assert.Zero(t, q.outboxErrs.Load())
	assert.Zero(t, q.len())
}

// An error log refused a place in an outbox (the queue was full) is not counted among
// the outboxes' error logs: that count tells the logs without an error waiting in
// outboxes, one of which a later error log displaces rather than an error log.
func TestQueueRefusedOutboxErrorIsNotCounted(t *testing.T) {
	q := queue{max: 2}
	errLog := func(name string) *record { return &record{kind: recError, sessionID: name, err: errData{name: "e"}} }
	q.push(errLog("e1"))
	outbox := []record{{sessionID: "n1"}}
	require.True(t, q.reserveOutbox(outbox[0].hasError()))
	require.False(t, q.reserveOutbox(errLog("refused").hasError()), "max reached")
	assert.Zero(t, q.outboxErrs.Load())

	q.push(errLog("e2")) // over max: n1 owes its place
	q.moveIn(outbox)
	var names []string
	for _, r := range q.pop(nil, 10) {
		names = append(names, r.sessionID)
	}
	assert.Equal(t, []string{"e1", "e2"}, names, "both error logs kept, n1 dropped")
	assert.Equal(t, int64(1), q.droppedFull)
}

func TestQueueCountsPushAfterClose(t *testing.T) {
	q := queue{max: 10}
	q.close()
	q.push(&record{kind: recConnOpen})
	assert.Equal(t, int64(1), q.droppedClosed)
	assert.Zero(t, q.len())
}

// batchInFlight returns an aggregator of batches of 10 logs, at most maxPending waiting,
// whose first batch (the connection logs a0…a9) is in flight: its export hangs until
// release (also called when the test ends, before the aggregator closes).
func batchInFlight(t *testing.T, maxPending int) (a *Aggregator, exp *fakeExporter, release func()) {
	t.Helper()
	exp = newFake()
	release = exp.block(false)
	a = newTest(t, exp, WithBatchSize(10), WithMaxPendingLogs(maxPending))
	t.Cleanup(release)
	for i := 0; i < 10; i++ {
		a.Handle(connOpen(fmt.Sprint("a", i)))
	}
	testwait.Recv(t, exp.started, 5*time.Second, "the full batch's export to begin")
	return a, exp, release
}

func TestMaxPendingLogsWhileExporterHangs(t *testing.T) {
	a, exp, release := batchInFlight(t, 20)
	a.Handle(telemetry.Event{Kind: telemetry.KindError, SessionID: "err", ErrorName: telemetry.ErrNameTimeout})
	for i := 0; i < 100; i++ {
		a.Handle(connOpen(fmt.Sprint("b", i)))
	}
	s := a.Stats()
	assert.Equal(t, 20, s.Pending)
	assert.Equal(t, int64(81), s.Dropped.QueueFull)
	release()
	flush(t, a)
	var sawErr bool
	for _, l := range exp.logs() {
		sawErr = sawErr || driverLog(l).SessionID == "err"
	}
	assert.True(t, sawErr, "the error log survived the drops")
	// The oldest logs without an error went: the first batch, then the newest 19 of b.
	var kept []string
	for _, l := range exp.logs() {
		kept = append(kept, driverLog(l).SessionID)
	}
	want := []string{}
	for i := 0; i < 10; i++ {
		want = append(want, fmt.Sprint("a", i))
	}
	want = append(want, "err")
	for i := 81; i < 100; i++ {
		want = append(want, fmt.Sprint("b", i))
	}
	assert.Equal(t, want, kept, "the oldest logs without an error are dropped")
	s = a.Stats()
	assert.Equal(t, s.Queued, s.Exported+s.Dropped.QueueFull)
}

// At MaxPendingLogs, with error logs in the queue and finished statements in outboxes, a
// terminal error pushes out a statement's log, not an older error log.
func TestMaxPendingLogsKeepsErrorsOverOutboxLogs(t *testing.T) {
	a, exp, release := batchInFlight(t, 40)
	for i := 0; i < 35; i++ {
		a.Handle(telemetry.Event{Kind: telemetry.KindError, SessionID: fmt.Sprint("err", i), ErrorName: telemetry.ErrNameTimeout})
	}
	// Five statements, placed so that no outbox overflows into the queue (the shard count
	// and the outboxes' size follow GOMAXPROCS), and a last shard left empty.
	shard := 0
	for placed := 0; placed < 5; shard++ {
		for _, id := range idsOnShard(a, shard, min(a.outboxCap, 5-placed)) {
			a.Handle(complete(id))
			placed++
		}
	}
	require.Less(t, shard, len(a.shards), "a shard is left for the error")
	require.Equal(t, 40, a.Stats().Pending)
	require.Equal(t, 35, a.q.len(), "the statements' logs wait in outboxes")
	a.Handle(stmtErr(idsOnShard(a, len(a.shards)-1, 1)[0], true)) // a statement whose outbox is empty

	release()
	flush(t, a)
	var errs, stmts int
	for _, l := range exp.logs() {
		switch d := driverLog(l); {
		case d.ErrorInfo != nil:
			errs++
		case d.SQLStatementID != "":
			stmts++
		}
	}
	assert.Equal(t, 36, errs, "every error log is exported")
	assert.Equal(t, 4, stmts, "one statement's log made room")
	s := a.Stats()
	assert.Equal(t, int64(1), s.Dropped.QueueFull)
	assert.Equal(t, s.Queued, s.Exported+s.Dropped.QueueFull)
	assert.Zero(t, s.Pending)
}

func TestHandleNeverBlocksWhileExporterHangs(t *testing.T) {
	exp := newFake()
	release := exp.block(true) // ignores its context, like a badly written exporter
	defer release()            // a failure below must not leave the export goroutine hanging
	a := New(exp, WithBatchSize(10), WithFlushInterval(10*time.Millisecond), WithCloseTimeout(100*time.Millisecond))
	a.Handle(telemetry.Event{Kind: telemetry.KindError, ErrorName: telemetry.ErrNameAuth, Terminal: true})
	testwait.Recv(t, exp.started, 5*time.Second, "the terminal error's export to begin")

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200000; i++ {
			id := fmt.Sprint("q", i%5000)
			a.Handle(start(id))
			a.Handle(stmtErr(id, true)) // terminal: asks for a flush every time
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Handle blocked while the exporter hangs")
	}
	assert.NoError(t, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err := a.Flush(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			return nil // expected: the export goroutine is stuck
		}
		return fmt.Errorf("flush returned %w", err)
	}())

	began := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- a.Close(context.Background()) }() // no deadline: CloseTimeout applies
	err := testwait.Recv(t, closed, 10*time.Second, "Close, which CloseTimeout should bound")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(began), time.Second, "Close is bounded")
	s := a.Stats()
	assert.Positive(t, s.Dropped.QueueFull)
	assert.Equal(t, int64(1+400000), s.Received)

	release()
	testwait.Recv(t, a.done, 5*time.Second, "the export goroutine to end once the export returns")
	s = a.Stats()
	assert.Equal(t, s.Queued, s.Exported+s.Dropped.QueueFull+s.Dropped.ExportFailed+s.Dropped.Unfinished+int64(s.Pending))
	assert.Positive(t, s.Dropped.Unfinished)
}

func TestCloseFinishesOpenStatementsAndFlushes(t *testing.T) {
	exp := newFake()
	a := New(exp, WithFlushInterval(time.Hour))
	a.Handle(connOpen("sess-1"))
	a.Handle(start("q1"))
	a.Handle(stmtErr("q1", false))
	a.Handle(start("q2"))
	a.Handle(chunk("q2", 0, time.Millisecond, false))
	require.NoError(t, a.Close(context.Background()))
	logs := exp.logs()
	require.Len(t, logs, 4) // connection, q1 + its error, q2
	s := a.Stats()
	assert.Equal(t, int64(2), s.Evicted.Close)
	assert.Equal(t, int64(4), s.Exported)
	assert.Zero(t, s.OpenStatements)
	assert.Zero(t, s.Pending)
}

func TestCloseWaitsForExportInFlight(t *testing.T) {
	exp := newFake()
	release := exp.block(false)
	a := New(exp, WithBatchSize(5), WithFlushInterval(time.Hour))
	for i := 0; i < 7; i++ {
		a.Handle(connOpen(fmt.Sprint("s", i)))
	}
	<-exp.started
	go func() {
		time.Sleep(50 * time.Millisecond)
		release()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, a.Close(ctx))
	assert.Equal(t, []int{5, 2}, exp.batchSizes())
	assert.Equal(t, int64(7), a.Stats().Exported)
}

func TestCloseIdempotentAndAfterwards(t *testing.T) {
	exp := newFake()
	a := New(exp)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.Close(context.Background())
		}()
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
	a.Handle(start("late"))
	a.Handle(connOpen("late"))
	s := a.Stats()
	assert.Equal(t, int64(2), s.Dropped.Closed)
	assert.Equal(t, int64(2), s.Received)
	assert.ErrorIs(t, a.Flush(context.Background()), ErrClosed)
	assert.NoError(t, a.Close(context.Background()))
}

// FinishOpen (a connector closed while its statement ran) and FinishIfOpen (the
// server's flag said off while it ran) finish only a statement open here. What is not
// one (a completion of a statement never open here, or finished already, an event that
// is not a completion, anything after Close) FinishOpen drops, counted as
// Dropped.Closed, and FinishIfOpen ignores, uncounted: what comes while the flag says
// off is no telemetry, and no drop.
func TestFinishOpenFinishesOnlyOpenStatements(t *testing.T) {
	tests := []struct {
		name        string
		finish      func(*Aggregator, telemetry.Event)
		wantDropped int64 // not applied: unknown, a chunk, finished already, after Close
	}{
		{"FinishOpen", (*Aggregator).FinishOpen, 4},
		{"FinishIfOpen", (*Aggregator).FinishIfOpen, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := newFake()
			a := newTest(t, exp)
			tt.finish(a, complete("unknown"))                                           // not open here
			tt.finish(a, telemetry.Event{Kind: telemetry.KindChunk, StatementID: "q1"}) // not a completion
			a.Handle(start("q1"))
			tt.finish(a, complete("q1"))
			tt.finish(a, complete("q1")) // finished already
			flush(t, a)
			logs := exp.logs()
			require.Len(t, logs, 1)
			assert.Equal(t, "q1", driverLog(logs[0]).SQLStatementID)
			assert.Equal(t, int64(250), driverLog(logs[0]).OperationLatencyMs, "the completion's latency")
			require.NoError(t, a.Close(context.Background()))
			tt.finish(a, complete("q2"))
			s := a.Stats()
			assert.Equal(t, tt.wantDropped, s.Dropped.Closed)
			assert.Equal(t, 2+tt.wantDropped, s.Received, "q1's start and completion, and what was dropped")
			assert.Zero(t, s.OpenStatements)
		})
	}
}

func TestCloseBoundedByContext(t *testing.T) {
	exp := newFake()
	release := exp.block(false) // honours ctx: Close's cancellation frees it
	defer release()
	a := New(exp, WithBatchSize(1))
	a.Handle(connOpen("s1"))
	<-exp.started
	a.Handle(connOpen("s2"))
	// A deadline of 500 ms gives Close its largest margin (cancelMargin: a tenth of the
	// time left, at most 50 ms) to cancel the export and let the export goroutine count
	// what is left. At 50 ms the margin was 5 ms, which a race-enabled run on a loaded
	// machine overran about once in 30 runs: Close kept its deadline and returned before
	// the export goroutine was scheduled to count.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	began := time.Now()
	err := a.Close(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(began), 5*time.Second)
	// Counted by the time Close returns (the exporter honoured its cancellation), with no
	// wait of the test's own: Stats read at once adds up.
	s := a.Stats()
	assert.Equal(t, int64(1), s.Dropped.ExportFailed, "the cancelled batch")
	assert.Equal(t, int64(1), s.Dropped.Unfinished, "the log that never left")
	assert.Zero(t, s.Pending)
}

// Close cancels the export in flight a little before its deadline, a tenth of the time
// left and at most 50 ms, and never after it.
func TestCancelMargin(t *testing.T) {
	for _, tc := range []struct{ left, want time.Duration }{
		{2 * time.Second, 50 * time.Millisecond},
		{100 * time.Millisecond, 10 * time.Millisecond},
		{0, 0},
		{-time.Second, 0},
	} {
		assert.Equal(t, tc.want, cancelMargin(tc.left), "left %v", tc.left)
	}
}

// panicWriter is a log destination that panics on every write.
type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) { panic("log writer") }

// A caller's logger that panics while Close reports its deadline is counted, as every
// other of the aggregator's log lines: Close returns its error, and so does the next.
func TestCloseDeadlineWithAPanickingLogger(t *testing.T) {
	exp := newFake()
	release := exp.block(false)
	defer release()
	a := New(exp, WithBatchSize(1), WithLogger(zerolog.New(panicWriter{}).Level(zerolog.DebugLevel)))
	a.Handle(connOpen("s1"))
	<-exp.started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var err error
	require.NotPanics(t, func() { err = a.Close(ctx) })
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, a.Close(context.Background()), context.DeadlineExceeded, "a second Close says the same")
	// Counted once the line is written: Close writes it on a goroutine of its own, and
	// the export goroutine writes the cancelled batch's line, maybe after Close returned.
	assert.Eventually(t, func() bool { return a.Stats().Panics > 0 }, 2*time.Second, time.Millisecond)
}

// A completion without a statement id that carries its terminal error is flushed at once,
// as one with an id is, and dated by its event.
func TestCompletionWithoutIDWithATerminalErrorFlushesNow(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp) // timer 1 h, batch 100: only the error can trigger the export
	done := complete("")
	done.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	done.ErrorName, done.Terminal = telemetry.ErrNameData, true
	a.Handle(done)
	waitFor(t, "the terminal error's flush", func() bool { return len(exp.logs()) == 1 })
	assert.Equal(t, done.Time.UnixMilli(), exp.logs()[0].Context.ClientContext.TimestampMillis)
}

func TestFlushBoundedByContext(t *testing.T) {
	exp := newFake()
	release := exp.block(false)
	defer release()
	a := newTest(t, exp)
	a.Handle(connOpen("s1"))
	go func() { _ = a.Flush(context.Background()) }() // occupies the exporter
	<-exp.started
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, a.Flush(ctx), context.DeadlineExceeded)
}

// WithExportTimeout bounds each Export call on its own: an exporter that waits on its
// context is cut off after the timeout, and the batch counted as failed, long before the
// caller's Flush deadline. Without the bound, one hung export would hold every later flush.
func TestExportTimeoutBoundsEachExport(t *testing.T) {
	exp := newFake()
	release := exp.block(false) // waits for its ctx
	defer release()
	a := newTest(t, exp, WithExportTimeout(50*time.Millisecond))
	a.Handle(connOpen("s"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := a.Flush(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, ctx.Err(), "the export timed out, not the Flush")
	s := a.Stats()
	assert.Equal(t, int64(1), s.BatchesFailed)
	assert.Equal(t, int64(1), s.Dropped.ExportFailed)
}

func TestOneExportInFlight(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp, WithBatchSize(3), WithFlushInterval(time.Millisecond))
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				a.Handle(connOpen("s"))
				a.Handle(telemetry.Event{Kind: telemetry.KindError, ErrorName: "x", Terminal: i%7 == 0})
				if i%50 == 0 {
					_ = a.Flush(context.Background())
				}
			}
		}()
	}
	wg.Wait()
	flush(t, a)
	assert.Equal(t, int64(1), exp.maxSeen.Load())
	s := a.Stats()
	assert.Equal(t, s.Queued, s.Exported+s.Dropped.QueueFull)
}

func TestExportFailureIsCounted(t *testing.T) {
	exp := newFake()
	boom := errors.New("503 storm")
	exp.setErr(boom)
	a := newTest(t, exp)
	a.Handle(connOpen("s1"))
	a.Handle(connOpen("s2"))
	err := a.Flush(context.Background())
	assert.ErrorIs(t, err, boom)
	s := a.Stats()
	assert.Equal(t, int64(1), s.Batches)
	assert.Equal(t, int64(1), s.BatchesFailed)
	assert.Equal(t, int64(2), s.Dropped.ExportFailed)
	exp.setErr(nil)
	a.Handle(connOpen("s3"))
	flush(t, a)
	assert.Equal(t, int64(1), a.Stats().Exported, "failed batches are not retried here")
}

func TestExporterPanicIsRecovered(t *testing.T) {
	exp := newFake()
	exp.panicMsg = "exporter bug"
	a := newTest(t, exp)
	a.Handle(connOpen("s1"))
	err := a.Flush(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exporter bug")
	s := a.Stats()
	assert.Equal(t, int64(1), s.Panics)
	assert.Equal(t, int64(1), s.BatchesFailed)
	exp.mu.Lock()
	exp.panicMsg = ""
	exp.mu.Unlock()
	a.Handle(connOpen("s2"))
	flush(t, a)
	assert.Equal(t, int64(1), a.Stats().Exported, "still working")
}

func TestStatsFromExporter(t *testing.T) {
	exp := newFake()
	exp.stats = &telemetry.ExportStats{Retries: 7, Breaker: telemetry.BreakerOpen, BreakerOpened: 1}
	a := newTest(t, exp)
	s := a.Stats()
	assert.Equal(t, int64(7), s.Retried)
	assert.Equal(t, telemetry.BreakerOpen, s.Breaker)
	assert.Equal(t, int64(1), s.Exporter.BreakerOpened)
}

func TestLogEnvelope(t *testing.T) {
	exp := newFake()
	clock := newClock()
	a := newTest(t, exp, WithClock(clock.Now), WithWorkspaceID(1234), WithAuthType("pat"),
		WithClientContext("9.9.9", "myapp/1.0"))
	for i := 0; i < 50; i++ {
		a.Handle(connOpen(fmt.Sprint("s", i)))
	}
	a.Handle(start("q1"))
	a.Handle(complete("q1"))
	flush(t, a)
	logs := exp.logs()
	require.Len(t, logs, 51)
	seen := map[string]bool{}
	for _, l := range logs {
		id, err := uuid.Parse(l.FrontendLogEventID)
		require.NoError(t, err)
		assert.Equal(t, uuid.Version(4), id.Version())
		assert.Equal(t, uuid.RFC4122, id.Variant())
		assert.False(t, seen[l.FrontendLogEventID], "unique ids")
		seen[l.FrontendLogEventID] = true
		assert.Equal(t, int64(1234), l.WorkspaceID)
		cc := l.Context.ClientContext
		assert.Equal(t, telemetry.ClientType, cc.ClientType)
		assert.Equal(t, "9.9.9", cc.ClientVersion)
		assert.Equal(t, "myapp/1.0", cc.UserAgent)
		assert.Equal(t, clock.Now().UnixMilli(), cc.TimestampMillis)
		assert.Equal(t, "pat", driverLog(l).AuthType)
		assert.Equal(t, "1.15.1", driverLog(l).SystemConfiguration.DriverVersion)
	}
	b, err := json.Marshal(logs[len(logs)-1])
	require.NoError(t, err)
	assert.Contains(t, string(b), `"operation_latency_ms":250`)
	assert.Contains(t, string(b), `"client_type":"golang-dbtelemetry"`)
}

// Empty arguments keep the defaults: WithClientContext("", ua) keeps
// telemetry.ClientVersion, and WithClock(nil) keeps time.Now rather than a nil clock
// whose every call would panic (recovered and counted in Stats.Panics).
func TestEmptyOptionArgumentsKeepDefaults(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp, WithClientContext("", "ua"), WithClock(nil))
	a.Handle(connOpen("s"))
	flush(t, a)
	logs := exp.logs()
	require.Len(t, logs, 1)
	assert.Equal(t, telemetry.ClientVersion, logs[0].Context.ClientContext.ClientVersion)
	assert.Equal(t, "ua", logs[0].Context.ClientContext.UserAgent)
	assert.Zero(t, a.Stats().Panics)
}

func TestUnauthenticatedLogsCarryNoIdentifiers(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp, WithAuthenticated(false), WithWorkspaceID(1234))
	a.Handle(connOpen("sess-1"))
	a.Handle(start("q1"))
	a.Handle(stmtErr("q1", true))
	a.Handle(telemetry.Event{Kind: telemetry.KindError, SessionID: "sess-1", ErrorName: "auth_error", Message: "secret-ish text"})
	flush(t, a)
	logs := exp.logs()
	require.Len(t, logs, 3)
	for _, l := range logs {
		dl := driverLog(l)
		assert.Zero(t, l.WorkspaceID)
		assert.Empty(t, dl.SessionID)
		assert.Empty(t, dl.SQLStatementID)
		assert.Nil(t, dl.SystemConfiguration)
		assert.Nil(t, dl.DriverConnectionParams)
		if dl.ErrorInfo != nil {
			assert.NotEmpty(t, dl.ErrorInfo.ErrorName)
			assert.Empty(t, dl.ErrorInfo.StackTrace)
		}
		b, err := json.Marshal(l)
		require.NoError(t, err)
		for _, banned := range []string{"sess-1", "q1", "1234", "adb-1", "warehouses", "secret-ish"} {
			assert.NotContains(t, string(b), banned)
		}
	}
}

func TestNoSQLOrURLsInLogs(t *testing.T) {
	exp := newFake()
	a := newTest(t, exp)
	// The emitter redacts; an event handed to the aggregator directly is redacted again.
	a.Handle(telemetry.Event{Kind: telemetry.KindError, StatementID: "q1", ErrorName: "x", Terminal: true,
		Message: "near 'select ssn from people' at https://bucket.example/f?X-Amz-Signature=abc Bearer dapi0123456789abcdef0123456789abcdef"})
	flush(t, a)
	b, err := json.Marshal(exp.logs())
	require.NoError(t, err)
	for _, banned := range []string{"select", "ssn", "X-Amz", "dapi0123"} {
		assert.NotContains(t, string(b), banned)
	}
}

// TestConcurrentAccounting runs emitters, flushes and Close concurrently (meant for
// -race) and checks that every log is accounted for.
func TestConcurrentAccounting(t *testing.T) {
	const goroutines, perG = 8, 2000
	tests := []struct {
		name    string
		maxOpen int
		exact   bool
	}{
		// Room for every open statement: exactly one log per statement, plus held errors.
		{"no eviction pressure", 100000, true},
		// Constant capacity eviction: an evicted statement whose completion arrives later
		// yields a second log, so only a lower bound holds.
		{"eviction pressure", 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := newFake()
			a := New(exp, WithBatchSize(16), WithMaxPendingLogs(64), WithMaxOpenStatements(tt.maxOpen), WithFlushInterval(2*time.Millisecond))
			concurrently(goroutines, perG, func(id string, i int) {
				a.Handle(start(id))
				a.Handle(chunk(id, 0, time.Millisecond, i%2 == 0))
				switch i % 10 {
				case 0:
					a.Handle(stmtErr(id, true))
				case 1:
					a.Handle(stmtErr(id, false))
					a.Handle(complete(id))
				case 2: // left open: evicted by capacity or Close
				default:
					a.Handle(complete(id))
				}
				if i%500 == 0 {
					_ = a.Flush(context.Background())
					_ = a.Stats()
				}
			})
			require.NoError(t, a.Close(context.Background()))
			s := a.Stats()
			assert.Zero(t, s.Pending)
			assert.Zero(t, s.OpenStatements)
			assert.Equal(t, s.Queued, s.Exported+s.Dropped.QueueFull+s.Dropped.ExportFailed+s.Dropped.Unfinished)
			assert.Equal(t, int64(len(exp.logs())), s.Exported)
			want := int64(goroutines*perG + goroutines*perG/10) // one log per statement, one per held error
			if tt.exact {
				assert.Equal(t, want, s.Queued)
				assert.Equal(t, int64(goroutines*perG/10), s.Evicted.Close)
				assert.Zero(t, s.Evicted.Capacity)
			} else {
				assert.GreaterOrEqual(t, s.Queued, want)
				assert.Positive(t, s.Evicted.Capacity)
			}
		})
	}
}

func TestShardCount(t *testing.T) {
	tests := []struct{ maxOpen, procs, want int }{
		{5000, 2, 8},
		{5000, 64, 64},
		{3, 8, 1},
		{127, 8, 1},
		{200, 8, 2},
		{256, 8, 4},
		{1 << 20, 1, 4},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, shardCount(tt.maxOpen, tt.procs), "%+v", tt)
	}
}

func TestNilExporterCountsFailures(t *testing.T) {
	a := newTest(t, nil)
	a.Handle(connOpen("s"))
	err := a.Flush(context.Background())
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "no exporter"))
	assert.Equal(t, int64(1), a.Stats().Dropped.ExportFailed)
}

// TestMaxOpenStatementsCountsEveryShard checks that MaxOpenStatements bounds the open
// statements of all shards together: nothing is evicted below it however unevenly the
// ids hash, and exactly the statements beyond it are.
func TestMaxOpenStatementsCountsEveryShard(t *testing.T) {
	tests := []struct {
		name       string
		procs      int
		maxOpen    int // 0: the default
		statements int
		wantShards int
	}{
		{name: "below the default limit on 64 shards", procs: 16, statements: 4000, wantShards: 64},
		{name: "at the default limit on 64 shards", procs: 16, statements: 5000, wantShards: 64},
		{name: "beyond the default limit on 64 shards", procs: 16, statements: 5300, wantShards: 64},
		{name: "beyond a small limit on 4 shards", procs: 8, maxOpen: 256, statements: 300, wantShards: 4},
		{name: "one shard", procs: 1, maxOpen: 100, statements: 150, wantShards: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev := runtime.GOMAXPROCS(tt.procs)
			t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
			maxOpen := tt.maxOpen
			if maxOpen == 0 {
				maxOpen = telemetry.DefaultConfig().MaxOpenStatements
			}
			exp := newFake()
			opts := []Option{WithMaxPendingLogs(2 * tt.statements)}
			if tt.maxOpen != 0 {
				opts = append(opts, WithMaxOpenStatements(tt.maxOpen))
			}
			a := newTest(t, exp, opts...)
			require.Len(t, a.shards, tt.wantShards)

			for i := 0; i < tt.statements; i++ {
				a.Handle(start(fmt.Sprintf("q%d", i)))
			}
			wantEvicted := max(0, tt.statements-maxOpen)
			s := a.Stats()
			assert.Equal(t, min(tt.statements, maxOpen), s.OpenStatements)
			assert.Equal(t, int64(wantEvicted), s.Evicted.Capacity)

			for i := 0; i < tt.statements; i++ {
				a.Handle(complete(fmt.Sprintf("q%d", i)))
			}
			flush(t, a)
			// One log per statement: an evicted one's went at its eviction, and its
			// completion, late, is counted and dropped.
			perID := map[string]int{}
			for _, l := range exp.logs() {
				perID[driverLog(l).SQLStatementID]++
			}
			require.Len(t, perID, tt.statements)
			for id, n := range perID {
				require.Equal(t, 1, n, id)
			}
			s = a.Stats()
			assert.Zero(t, s.OpenStatements)
			assert.Zero(t, a.openStmts.Load())
			assert.Equal(t, int64(wantEvicted), s.Dropped.Late)
			assert.Equal(t, int64(wantEvicted), s.Dropped.Total())
		})
	}
}

// idsOnShard returns n statement ids that hash to shard i of a.
func idsOnShard(a *Aggregator, i, n int) []string {
	var ids []string
	for k := 0; len(ids) < n; k++ {
		id := fmt.Sprintf("s%d-q%d", i, k)
		if a.shardFor(id) == &a.shards[i] {
			ids = append(ids, id)
		}
	}
	return ids
}

// A statement opening on an empty shard when the others hold MaxOpenStatements evicts
// the oldest statement of another shard: the bound holds whatever the hash does.
func TestMaxOpenStatementsEvictsFromAnotherShard(t *testing.T) {
	const maxOpen = 128
	prev := runtime.GOMAXPROCS(8)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	exp := newFake()
	clock := newClock()
	a := newTest(t, exp, WithMaxOpenStatements(maxOpen), WithClock(clock.Now))
	require.Len(t, a.shards, 2)

	full := idsOnShard(a, 0, maxOpen)
	for _, id := range full {
		clock.Advance(time.Millisecond)
		a.Handle(start(id))
	}
	newcomer := idsOnShard(a, 1, 1)[0]
	a.Handle(start(newcomer))
	s := a.Stats()
	assert.Equal(t, maxOpen, s.OpenStatements)
	assert.Equal(t, int64(1), s.Evicted.Capacity)
	flush(t, a)
	logs := exp.logs()
	require.Len(t, logs, 1)
	assert.Equal(t, full[0], driverLog(logs[0]).SQLStatementID, "the oldest statement of all")
}

// With several other shards to choose from, the statement evicted to make room is the
// oldest of them all, whichever shard it is on, not the head of the first or the last
// shard looked at: a younger statement still being read must not lose its log early.
func TestMaxOpenStatementsEvictsOldestOfOtherShards(t *testing.T) {
	const maxOpen = 256
	prev := runtime.GOMAXPROCS(8)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	for _, oldestOn := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("oldest on shard %d", oldestOn), func(t *testing.T) {
			exp := newFake()
			clock := newClock()
			a := newTest(t, exp, WithMaxOpenStatements(maxOpen), WithClock(clock.Now))
			require.Len(t, a.shards, 4)
			const perShard = maxOpen / 3
			ids := [3][]string{}
			for i := range ids {
				ids[i] = idsOnShard(a, i, perShard+1)
			}
			// The oldest statement first, then the others shard by shard, filling every
			// place on shards 0 to 2.
			open := func(id string) {
				clock.Advance(time.Millisecond)
				a.Handle(start(id))
			}
			open(ids[oldestOn][0])
			n := 1
			for i := range ids {
				for k := 1; k < len(ids[i]) && n < maxOpen; k++ {
					open(ids[i][k])
					n++
				}
			}
			require.Equal(t, maxOpen, a.Stats().OpenStatements)
			newcomer := idsOnShard(a, 3, 1)[0]
			open(newcomer)
			s := a.Stats()
			assert.Equal(t, maxOpen, s.OpenStatements)
			assert.Equal(t, int64(1), s.Evicted.Capacity)
			flush(t, a)
			logs := exp.logs()
			require.Len(t, logs, 1)
			assert.Equal(t, ids[oldestOn][0], driverLog(logs[0]).SQLStatementID, "the oldest statement of all")
		})
	}
}

// A caller's clock that panics while a statement makes room on another shard (read for
// the evicted statement's log, with that shard's lock held) neither escapes nor leaves a
// lock held: time.Now answers, the panic is counted, and the aggregator goes on.
func TestPanicWhileEvictingFromAnotherShard(t *testing.T) {
	const maxOpen = 128
	prev := runtime.GOMAXPROCS(8)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	clock := newClock()
	var armed atomic.Bool
	now := func() time.Time {
		if armed.Load() {
			panic("clock boom")
		}
		return clock.Now()
	}
	a := newTest(t, newFake(), WithMaxOpenStatements(maxOpen), WithClock(now))
	require.Len(t, a.shards, 2)
	at := clock.Now()
	timed := func(ev telemetry.Event) telemetry.Event { ev.Time = at; return ev } // opening reads no clock
	full := idsOnShard(a, 0, maxOpen)
	for _, id := range full {
		a.Handle(timed(start(id)))
	}
	newcomer := idsOnShard(a, 1, 1)[0]
	armed.Store(true)
	assert.NotPanics(t, func() { a.Handle(timed(start(newcomer))) })
	armed.Store(false)
	assert.Equal(t, int64(1), a.Stats().Panics)

	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Handle(timed(complete(full[1])))
		a.Handle(timed(start(newcomer)))
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a shard's lock stayed held")
	}
	// The eviction took its statement out, the completion another; the newcomer is in.
	assert.Equal(t, maxOpen-1, a.Stats().OpenStatements)
	assert.Equal(t, int64(maxOpen-1), a.openStmts.Load())
}

// TestOpenStatementsNeverExceedLimit opens statements from several goroutines under
// constant eviction pressure and samples the count meanwhile (meant for -race).
func TestOpenStatementsNeverExceedLimit(t *testing.T) {
	const maxOpen, goroutines, perG = 256, 8, 3000
	prev := runtime.GOMAXPROCS(8)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	a := newTest(t, newFake(), WithMaxOpenStatements(maxOpen), WithMaxPendingLogs(64))
	stop := make(chan struct{})
	sampled := make(chan int)
	go func() {
		most := 0
		for {
			select {
			case <-stop:
				sampled <- most
				return
			default:
			}
			most = max(most, int(a.openStmts.Load()), a.Stats().OpenStatements)
		}
	}()
	concurrently(goroutines, perG, func(id string, i int) {
		a.Handle(start(id))
		if i%3 == 0 {
			a.Handle(complete(id))
		}
	})
	close(stop)
	assert.LessOrEqual(t, <-sampled, maxOpen)
	s := a.Stats()
	assert.Equal(t, maxOpen, s.OpenStatements)
	assert.Equal(t, int64(maxOpen), a.openStmts.Load())
	// Every statement never completed but the last maxOpen is evicted; one that is
	// completed may be evicted before its completion comes.
	neverCompleted := goroutines * perG * 2 / 3
	assert.GreaterOrEqual(t, s.Evicted.Capacity, int64(neverCompleted-maxOpen))
	assert.LessOrEqual(t, s.Evicted.Capacity, int64(goroutines*perG-maxOpen))
}

// TestStatementTTLRunsFromFirstSeen: the driver emits statement.start only once the
// server answered, with Time set to when execution began. A statement's TTL runs from
// when the aggregator first saw it, so a long query is not evicted on arrival; its
// latency still runs from the start's Time.
func TestStatementTTLRunsFromFirstSeen(t *testing.T) {
	tests := []struct {
		name        string
		ranFor      time.Duration // how long before statement.start execution began; 0: no Time
		openFor     time.Duration // how long the Rows stay open after the first chunk
		closed      bool          // whether statement.complete comes
		wantTTL     int64
		wantLatency time.Duration
	}{
		{name: "query ran 90 min, Rows read at once", ranFor: 90 * time.Minute, closed: true,
			wantLatency: 250 * time.Millisecond},
		{name: "query ran 90 min, Rows read for 59 min", ranFor: 90 * time.Minute, openFor: 59 * time.Minute, closed: true,
			wantLatency: 250 * time.Millisecond},
		{name: "query ran 90 min, Rows never closed", ranFor: 90 * time.Minute, openFor: 61 * time.Minute,
			wantTTL: 1, wantLatency: 151 * time.Minute},
		{name: "no Time, Rows never closed", openFor: 61 * time.Minute,
			wantTTL: 1, wantLatency: 61 * time.Minute},
		{name: "no Time, Rows open for just under the TTL", openFor: 59 * time.Minute, closed: true,
			wantLatency: 250 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := newFake()
			clock := newClock()
			a := newTest(t, exp, WithClock(clock.Now), WithStatementTTL(time.Hour))
			ev := start("q")
			if tt.ranFor > 0 {
				// As the driver reports it: when execution began, and how long until the
				// server answered (now).
				ev.Time, ev.Latency = clock.Now().Add(-tt.ranFor), tt.ranFor
			}
			a.Handle(ev)
			flush(t, a)
			assert.Empty(t, exp.logs(), "not evicted on arrival")
			a.Handle(chunk("q", 0, 10*time.Millisecond, false))
			clock.Advance(tt.openFor)
			flush(t, a)
			if tt.closed {
				a.Handle(complete("q"))
				flush(t, a)
			}
			logs := exp.logs()
			require.Len(t, logs, 1, "one log per statement")
			dl := driverLog(logs[0])
			assert.Equal(t, "q", dl.SQLStatementID)
			assert.Equal(t, tt.wantLatency.Milliseconds(), dl.OperationLatencyMs)
			require.NotNil(t, dl.SQLOperation)
			require.NotNil(t, dl.SQLOperation.ChunkDetails)
			assert.Equal(t, int32(1), dl.SQLOperation.ChunkDetails.TotalChunksIterated)
			s := a.Stats()
			assert.Equal(t, tt.wantTTL, s.Evicted.TTL)
			assert.Zero(t, s.OpenStatements)
		})
	}
}

// concurrently runs each for perG statements ("g<g>-q<i>") on every one of goroutines
// goroutines at once, and waits for them.
func concurrently(goroutines, perG int, each func(id string, i int)) {
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				each(fmt.Sprintf("g%d-q%d", g, i), i)
			}
		})
	}
	wg.Wait()
}
