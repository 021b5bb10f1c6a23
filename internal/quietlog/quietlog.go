// Package quietlog writes telemetry's debug lines to the caller's logger off the caller's
// path. A line that telemetry writes during a driver call, Open or Close goes out on a
// goroutine of its own, which swallows a panic: a logger whose output has stopped draining
// (a full pipe, a stuck log shipper) holds that goroutine until it drains, never the
// caller's call, and a logger that panics reaches nothing.
package quietlog

import "github.com/rs/zerolog"

// Debug writes, on a goroutine of its own, the debug line that write makes of the event
// it is given (its fields and Msg). It does nothing when l does not log at debug level,
// and costs no goroutine then.
func Debug(l zerolog.Logger, write func(*zerolog.Event)) {
	ev := debugEvent(l)
	if ev == nil {
		return
	}
	go func() {
		defer func() { _ = recover() }()
		write(ev)
	}()
}

// debugEvent is l's debug event, nil when l does not log at debug level (or panics).
func debugEvent(l zerolog.Logger) (ev *zerolog.Event) {
	defer func() {
		if recover() != nil {
			ev = nil
		}
	}()
	if ev = l.Debug(); ev == nil || !ev.Enabled() {
		return nil
	}
	return ev
}
