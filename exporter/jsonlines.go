package exporter

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// JSONLinesExporter writes each FrontendLog as one line of JSON to an io.Writer, for
// local debugging. It is safe for concurrent use: a batch is written under a mutex in
// one Write call, so batches never interleave.
type JSONLinesExporter struct {
	mu     sync.Mutex
	w      io.Writer
	buf    []byte
	closed bool

	batches, failed, logs atomic.Int64
}

var (
	_ telemetry.Exporter      = (*JSONLinesExporter)(nil)
	_ telemetry.StatsReporter = (*JSONLinesExporter)(nil)
)

// NewJSONLinesExporter returns an exporter writing to w. The caller keeps ownership of
// w; Close flushes it when it has a Flush() error method (e.g. *bufio.Writer) but does
// not close it.
func NewJSONLinesExporter(w io.Writer) *JSONLinesExporter { return &JSONLinesExporter{w: w} }

// Export writes logs, one JSON object per line; nil entries are skipped. ctx is checked
// before writing; the write itself cannot be interrupted.
func (j *JSONLinesExporter) Export(ctx context.Context, logs []*telemetry.FrontendLog) error {
	if len(logs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("exporter: json lines: %w", err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
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

// Close stops accepting batches and flushes the writer if it can; idempotent.
func (j *JSONLinesExporter) Close(context.Context) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	if f, ok := j.w.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			return fmt.Errorf("exporter: json lines: flush: %w", err)
		}
	}
	return nil
}
