package telemetry

import (
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/dbtelemetry/dbtelemetry/internal/quietlog"
)

// Emitter is what the driver wrapper calls on the hot path. It never returns an error,
// never lets a panic out (it recovers and counts it), logs only at debug level, and
// returns at once when telemetry is disabled. A nil *Emitter is a disabled one.
//
// Errors are turned into data here, on the caller's goroutine, so that no error value or
// unredacted text ever reaches a Sink: see Event.
type Emitter struct {
	sink   Sink
	log    zerolog.Logger
	on     bool
	panics atomic.Int64
}

// EmitterOption configures NewEmitter.
type EmitterOption func(*emitterOptions)

type emitterOptions struct {
	log     zerolog.Logger
	enabled bool
	lookup  LookupEnvFunc
}

// WithLogger sets the logger; the Emitter writes only debug-level records to it.
// Default: zerolog.Nop().
func WithLogger(l zerolog.Logger) EmitterOption {
	return func(o *emitterOptions) { o.log = l }
}

// WithEnabled switches the Emitter on or off (the DSN's enableTelemetry or the server's
// feature flag, as the caller resolved them). Default: on. The kill switch DisableEnv
// wins over it.
func WithEnabled(on bool) EmitterOption {
	return func(o *emitterOptions) { o.enabled = on }
}

// WithLookupEnv sets how the kill switch DisableEnv is read. Default: os.LookupEnv.
func WithLookupEnv(f LookupEnvFunc) EmitterOption {
	return func(o *emitterOptions) { o.lookup = f }
}

// NewEmitter returns an Emitter handing events to sink. It is disabled when sink is nil,
// when WithEnabled(false) is given, or when the kill switch DisableEnv is set; the
// decision is taken here, once.
func NewEmitter(sink Sink, opts ...EmitterOption) *Emitter {
	o := emitterOptions{log: zerolog.Nop(), enabled: true}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	on := o.enabled && sink != nil && !DisabledByEnv(o.lookup)
	if !on {
		enabled := o.enabled
		quietlog.Debug(o.log, func(ev *zerolog.Event) {
			ev.Bool("sink", sink != nil).Bool("enabled", enabled).Msg("telemetry: emitter disabled")
		})
	}
	return &Emitter{sink: sink, log: o.log, on: on}
}

// Enabled reports whether events reach the sink.
func (e *Emitter) Enabled() bool { return e != nil && e.on }

// Sink returns the sink events go to; nil when the Emitter is disabled.
func (e *Emitter) Sink() Sink {
	if !e.Enabled() {
		return nil
	}
	return e.sink
}

// Panics returns how many panics (in the sink or while preparing an event) were recovered.
func (e *Emitter) Panics() int64 {
	if e == nil {
		return 0
	}
	return e.panics.Load()
}

// Emit hands a copy of *ev to the sink; ev itself is not modified or retained, so the
// caller may keep it on its stack and reuse it. If ev.Err is set, it is classified and
// redacted first (see Event); a KindError event whose Err is an outcome (IsOutcome) is
// not emitted at all. Emit takes a pointer so that a disabled Emitter costs a nil check
// and a flag test, without copying the event.
func (e *Emitter) Emit(ev *Event) {
	if e == nil || !e.on || ev == nil {
		return
	}
	e.emit(ev)
}

// EmitError emits a KindError event for err, unless err is nil or an outcome.
// statementID may be empty for a failure that belongs to no statement.
func (e *Emitter) EmitError(sessionID, statementID string, err error) {
	if e == nil || !e.on || err == nil {
		return
	}
	e.emit(&Event{Kind: KindError, SessionID: sessionID, StatementID: statementID, Err: err})
}

func (e *Emitter) emit(ev *Event) {
	defer e.recoverPanic(ev.Kind)
	if ev.Err != nil || ev.ErrorName != "" || ev.Message != "" {
		c := *ev
		if !prepareError(&c) {
			return
		}
		e.sink.Handle(c)
		return
	}
	e.sink.Handle(*ev)
}

func (e *Emitter) recoverPanic(kind Kind) {
	if r := recover(); r != nil {
		e.panics.Add(1)
		quietlog.Debug(e.log, func(ev *zerolog.Event) {
			ev.Str("kind", kind.String()).Interface("panic", r).Msg("telemetry: recovered panic while emitting")
		})
	}
}

// prepareError fills the error fields from ev.Err and redacts the message. It reports
// false when the event should not be emitted (an error event whose error is an outcome).
func prepareError(ev *Event) bool {
	if err := ev.Err; err != nil {
		ev.Err = nil
		if IsOutcome(err) {
			return ev.Kind != KindError
		}
		c := Classify(err)
		ev.ErrorName, ev.SQLState, ev.HTTPStatus, ev.Terminal = c.Name, c.SQLState, c.HTTPStatus, c.Terminal
		ev.Message = err.Error()
	}
	if ev.Kind == KindError && ev.ErrorName == "" {
		ev.ErrorName = ErrNameGeneric
	}
	ev.Message = Redact(ev.Message)
	return true
}
