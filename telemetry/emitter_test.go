package telemetry

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/internal/testlog"
)

// recordingSink keeps every event it is handed.
type recordingSink struct {
	mu     sync.Mutex
	events []Event
}

func (s *recordingSink) Handle(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
}

func (s *recordingSink) all() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

func noEnv(string) (string, bool) { return "", false }

func TestEmitterDisabled(t *testing.T) {
	killSwitch := func(k string) (string, bool) { return "yes", k == DisableEnv }
	tests := []struct {
		name string
		mk   func(Sink) *Emitter
	}{
		{"nil emitter", func(Sink) *Emitter { return nil }},
		{"nil sink", func(Sink) *Emitter { return NewEmitter(nil, WithLookupEnv(noEnv)) }},
		{"WithEnabled(false)", func(s Sink) *Emitter { return NewEmitter(s, WithEnabled(false), WithLookupEnv(noEnv)) }},
		{"kill switch beats WithEnabled(true)", func(s Sink) *Emitter {
			return NewEmitter(s, WithEnabled(true), WithLookupEnv(killSwitch))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &recordingSink{}
			e := tt.mk(sink)
			assert.False(t, e.Enabled())
			e.Emit(&Event{Kind: KindStatementStart, StatementID: "s"})
			e.EmitError("sess", "s", errors.New("boom"))
			assert.Empty(t, sink.all())
			assert.Zero(t, e.Panics())
		})
	}
}

func TestEmitterPassesEvents(t *testing.T) {
	sink := &recordingSink{}
	e := NewEmitter(sink, WithLookupEnv(noEnv))
	require.True(t, e.Enabled())
	ev := Event{Kind: KindChunk, SessionID: "sess", StatementID: "st", ChunkIndex: 3, Bytes: 1 << 20, Latency: 40 * time.Millisecond, Compressed: true}
	e.Emit(&ev)
	require.Len(t, sink.all(), 1)
	assert.Equal(t, ev, sink.all()[0])
}

func TestEmitterErrors(t *testing.T) {
	tests := []struct {
		name     string
		ev       Event
		emitted  bool
		wantName string
		terminal bool
		msg      string
		hasError bool
	}{
		{
			name:    "error event with a failure",
			ev:      Event{Kind: KindError, StatementID: "st", Err: fmt.Errorf("query: %w", execErr("42601", "near 'selec' password=hunter2"))},
			emitted: true, wantName: ErrNameSyntax, terminal: true, hasError: true,
			msg: "query: databricks: execution error: near '?' password=[REDACTED]",
		},
		{
			name:    "error event with an outcome is not emitted",
			ev:      Event{Kind: KindError, StatementID: "st", Err: sql.ErrNoRows},
			emitted: false,
		},
		{
			name:    "cancelled by the caller is an outcome",
			ev:      Event{Kind: KindError, StatementID: "st", Err: fmt.Errorf("exec: %w", context.Canceled)},
			emitted: false,
		},
		{
			name:    "failed connection open keeps its kind",
			ev:      Event{Kind: KindConnectionOpen, SessionID: "", Err: statusErr(401)},
			emitted: true, wantName: ErrNameAuth, terminal: true, hasError: true,
			msg: "telemetry export failed (?)",
		},
		{
			name:    "open with an outcome is emitted without error",
			ev:      Event{Kind: KindConnectionOpen, SessionID: "sess", Err: context.Canceled},
			emitted: true,
		},
		{
			name:    "pre-classified message is redacted anyway",
			ev:      Event{Kind: KindError, ErrorName: "custom", Message: "Bearer " + testPAT},
			emitted: true, wantName: "custom", hasError: true, msg: "Bearer [REDACTED]",
		},
		{
			name:    "error event without a name gets the generic one",
			ev:      Event{Kind: KindError, Message: "x"},
			emitted: true, wantName: ErrNameGeneric, hasError: true, msg: "x",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &recordingSink{}
			e := NewEmitter(sink, WithLookupEnv(noEnv))
			e.Emit(&tt.ev)
			got := sink.all()
			if !tt.emitted {
				assert.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			ev := got[0]
			assert.Nil(t, ev.Err, "a sink never receives the error value")
			assert.Equal(t, tt.hasError, ev.HasError())
			assert.Equal(t, tt.wantName, ev.ErrorName)
			assert.Equal(t, tt.terminal, ev.Terminal)
			assert.Equal(t, tt.msg, ev.Message)
		})
	}
}

func TestEmitError(t *testing.T) {
	sink := &recordingSink{}
	e := NewEmitter(sink, WithLookupEnv(noEnv))
	e.EmitError("sess", "st", nil)
	e.EmitError("sess", "st", sql.ErrNoRows)
	e.EmitError("sess", "st", fmt.Errorf("poll: %w", context.DeadlineExceeded))
	got := sink.all()
	require.Len(t, got, 1)
	assert.Equal(t, KindError, got[0].Kind)
	assert.Equal(t, "sess", got[0].SessionID)
	assert.Equal(t, "st", got[0].StatementID)
	assert.Equal(t, ErrNameTimeout, got[0].ErrorName)
	assert.False(t, got[0].Terminal)
}

type panickyErr struct{}

func (*panickyErr) Error() string { panic("Error() exploded") }

func TestEmitterRecoversPanics(t *testing.T) {
	var logs testlog.Buffer // the line is written off the caller's path (internal/quietlog)
	logger := zerolog.New(&logs).Level(zerolog.DebugLevel)
	panicky := SinkFunc(func(Event) { panic("sink exploded") })
	e := NewEmitter(panicky, WithLookupEnv(noEnv), WithLogger(logger))
	assert.NotPanics(t, func() {
		e.Emit(&Event{Kind: KindStatementStart, StatementID: "s"})
		e.EmitError("sess", "s", errors.New("x"))
	})
	assert.Equal(t, int64(2), e.Panics())
	require.Eventually(t, func() bool { return strings.Count(logs.String(), "sink exploded") == 2 }, 10*time.Second, time.Millisecond)
	assert.Contains(t, logs.String(), `"level":"debug"`)

	sink := &recordingSink{}
	e = NewEmitter(sink, WithLookupEnv(noEnv))
	assert.NotPanics(t, func() { e.EmitError("sess", "s", (*panickyErr)(nil)) })
	assert.Equal(t, int64(1), e.Panics())
	assert.Empty(t, sink.all())
}

// explodingWriter is a log writer that panics.
type explodingWriter struct{}

func (explodingWriter) Write([]byte) (int, error) { panic("log writer exploded") }

// The caller's logger is the caller's code too: a logger that panics while the Emitter
// reports a disabled start or a recovered panic stays inside.
func TestEmitterSurvivesAPanickingLogger(t *testing.T) {
	logger := zerolog.New(explodingWriter{}).Level(zerolog.DebugLevel)
	assert.NotPanics(t, func() {
		NewEmitter(nil, WithLookupEnv(noEnv), WithLogger(logger)) // disabled: it says so
	})
	e := NewEmitter(SinkFunc(func(Event) { panic("sink exploded") }), WithLookupEnv(noEnv), WithLogger(logger))
	assert.NotPanics(t, func() { e.Emit(&Event{Kind: KindChunk}) })
	assert.Equal(t, int64(1), e.Panics())
}

func TestEmitterLogsOnlyAtDebug(t *testing.T) {
	var logs bytes.Buffer
	logger := zerolog.New(&logs).Level(zerolog.InfoLevel)
	e := NewEmitter(SinkFunc(func(Event) { panic("x") }), WithLookupEnv(noEnv), WithLogger(logger))
	e.Emit(&Event{Kind: KindChunk})
	assert.Equal(t, int64(1), e.Panics())
	assert.Empty(t, logs.String(), "nothing above debug level")
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{
		KindConnectionOpen: "connection.open", KindConnectionClose: "connection.close",
		KindStatementStart: "statement.start", KindStatementComplete: "statement.complete",
		KindChunk: "cloudfetch.chunk", KindError: "error", 0: "invalid", 99: "invalid",
	} {
		assert.Equal(t, want, k.String())
	}
}

// nopSink is the cheapest possible sink, to measure the emitter alone.
type nopSink struct{ n int }

func (s *nopSink) Handle(Event) { s.n++ }

func BenchmarkEmitDisabled(b *testing.B) {
	e := NewEmitter(&nopSink{}, WithEnabled(false))
	ev := Event{Kind: KindChunk, SessionID: "sess", StatementID: "01ef-stmt", ChunkIndex: 1, Bytes: 1 << 20, Latency: time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		e.Emit(&ev)
	}
}

func BenchmarkEmitDisabledNil(b *testing.B) {
	var e *Emitter
	ev := Event{Kind: KindChunk, StatementID: "01ef-stmt"}
	b.ReportAllocs()
	for b.Loop() {
		e.Emit(&ev)
	}
}

func BenchmarkEmitEnabled(b *testing.B) {
	e := NewEmitter(&nopSink{}, WithLookupEnv(noEnv))
	ev := Event{Kind: KindChunk, SessionID: "sess", StatementID: "01ef-stmt", ChunkIndex: 1, Bytes: 1 << 20, Latency: time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		e.Emit(&ev)
	}
}

func BenchmarkEmitError(b *testing.B) {
	e := NewEmitter(&nopSink{}, WithLookupEnv(noEnv))
	err := fmt.Errorf("query: %w", execErr("42P01", "[TABLE_OR_VIEW_NOT_FOUND] The table `main`.`t` cannot be found. SQLSTATE: 42P01"))
	b.ReportAllocs()
	for b.Loop() {
		e.EmitError("sess", "01ef-stmt", err)
	}
}
