package exporter

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// blockingFlusher is a buffered writer whose Write blocks until release is closed.
type blockingFlusher struct {
	entered chan struct{}
	release chan struct{}
	flushes atomic.Int32
}

func (w *blockingFlusher) Write(p []byte) (int, error) {
	close(w.entered)
	<-w.release
	return len(p), nil
}

func (w *blockingFlusher) Flush() error { w.flushes.Add(1); return nil }

// A Close cut short by its ctx (a batch was being written) did not flush: a later Close,
// once the batch is written, must still flush the writer rather than return nil with the
// logs left in its buffer.
func TestJSONLinesCloseCutShortFlushesOnTheNextClose(t *testing.T) {
	w := &blockingFlusher{entered: make(chan struct{}), release: make(chan struct{})}
	j := NewJSONLinesExporter(w)
	exported := make(chan error, 1)
	go func() {
		exported <- j.Export(context.Background(), []*telemetry.FrontendLog{{FrontendLogEventID: "a"}})
	}()
	<-w.entered

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := j.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close during a write: %v, want a deadline", err)
	}
	close(w.release)
	if err := <-exported; err != nil {
		t.Fatalf("Export: %v", err)
	}
	if err := j.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := w.flushes.Load(); n != 1 {
		t.Fatalf("writer flushed %d times after the second Close, want 1: the batch stays in its buffer", n)
	}
	if err := j.Close(context.Background()); err != nil || w.flushes.Load() != 1 {
		t.Fatalf("third Close: %v, %d flushes; want nil and still 1", err, w.flushes.Load())
	}
	if err := j.Export(context.Background(), []*telemetry.FrontendLog{{}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Export after Close: %v, want ErrClosed", err)
	}
}
