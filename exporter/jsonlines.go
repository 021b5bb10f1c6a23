package exporter

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// JSONLinesExporter writes each FrontendLog as one line of JSON to an io.Writer, for
// local debugging. It is safe for concurrent use: a batch is written under a lock in one
// Write call, so batches never interleave. Make one with NewJSONLinesExporter: the zero
// value is not usable (its Export and Close wait for their ctx to end).
type JSONLinesExporter struct {
	lock    chan struct{} // holds a token while a batch is written: a mutex whose wait honours a context
	w       io.Writer
	buf     []byte // under lock
	closed  atomic.Bool
	flushed bool // under lock: a Close has flushed w (or found nothing to flush)

	batches, failed, logs atomic.Int64
}

var (
	_ telemetry.Exporter      = (*JSONLinesExporter)(nil)
	_ telemetry.StatsReporter = (*JSONLinesExporter)(nil)
)

// NewJSONLinesExporter returns an exporter writing to w, which must not be nil. The
// caller keeps ownership of w; Close flushes it when it has a Flush() error method (e.g.
// *bufio.Writer) but does not close it.
func NewJSONLinesExporter(w io.Writer) *JSONLinesExporter {
	return &JSONLinesExporter{w: w, lock: make(chan struct{}, 1)}
}

// acquire takes the lock, or gives up when ctx ends first.
func (j *JSONLinesExporter) acquire(ctx context.Context) error {
	select {
	case j.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("exporter: json lines: %w", ctx.Err())
	}
}

func (j *JSONLinesExporter) release() { <-j.lock }

// Export writes logs, one JSON object per line; nil entries are skipped. It waits for a
// batch being written as long as ctx allows; the write itself cannot be interrupted.
func (j *JSONLinesExporter) Export(ctx context.Context, logs []*telemetry.FrontendLog) error {
	if len(logs) == countNil(logs) {
		return nil // no log: no batch
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("exporter: json lines: %w", err)
	}
	if err := j.acquire(ctx); err != nil {
		return err
	}
	defer j.release()
	if j.closed.Load() {
		return ErrClosed
	}
	j.batches.Add(1)
	j.buf = j.buf[:0]
	n := 0
	for _, l := range logs {
		if l == nil {
			continue
		}
		j.buf = append(appendLog(j.buf, l, false), '\n') // json.Encoder's bytes
		n++
	}
	if _, err := j.w.Write(j.buf); err != nil {
		j.failed.Add(1)
		return fmt.Errorf("exporter: json lines: write: %w", err)
	}
	j.logs.Add(int64(n))
	return nil
}

// ExportStats implements telemetry.StatsReporter; it has no breaker.
func (j *JSONLinesExporter) ExportStats() telemetry.ExportStats {
	return telemetry.ExportStats{
		Batches:       j.batches.Load(),
		BatchesFailed: j.failed.Load(),
		LogsExported:  j.logs.Load(),
	}
}

// Close stops accepting batches and flushes the writer if it can, once the batch being
// written (if any) is done; when ctx ends first it returns ctx's error without flushing,
// and a later Close flushes. Once a Close has flushed (or tried to), later calls return
// nil.
func (j *JSONLinesExporter) Close(ctx context.Context) error {
	j.closed.Store(true)
	if err := j.acquire(ctx); err != nil {
		return err
	}
	defer j.release()
	if j.flushed {
		return nil
	}
	j.flushed = true
	if f, ok := j.w.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			return fmt.Errorf("exporter: json lines: flush: %w", err)
		}
	}
	return nil
}
