package exporter

import (
	"context"
	"testing"
)

// Close with nothing in flight has nothing to wait for: a ctx that has ended already
// makes no error of it (Registry.Release and Close pass Close's error on).
func TestCloseWithNothingInFlightIgnoresAnEndedContext(t *testing.T) {
	srv, _ := newServer(t, nil)
	tgt, err := ParseTarget(srv.URL, true)
	noErr(t, err, "target")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 100 { // the choice was at random: each would fail half the time
		e := NewHTTPExporter(tgt)
		noErr(t, e.Close(ctx), "close of an idle exporter")
		noErr(t, e.Close(ctx), "second close")
	}
}

// A host shut down elsewhere and done: waiting for it with a ctx that has ended already
// returns the shutdown's result, not ctx's error.
func TestWaitForAShutdownDoneIgnoresAnEndedContext(t *testing.T) {
	e := &entry{key: "h", done: make(chan struct{})}
	close(e.done)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 100 {
		noErr(t, e.wait(ctx), "wait")
	}
}
