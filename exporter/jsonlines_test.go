package exporter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbtelemetry/dbtelemetry/internal/testwait"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

func TestJSONLinesOneLogPerLine(t *testing.T) {
	var buf bytes.Buffer
	j := NewJSONLinesExporter(&buf)
	logs := []*telemetry.FrontendLog{connectionLog(), nil, cloudFetchLog(), terminalErrorLog()}
	noErr(t, j.Export(context.Background(), logs), "export")
	noErr(t, j.Export(context.Background(), []*telemetry.FrontendLog{nil, nil}), "export of nil entries only")
	noErr(t, j.Close(context.Background()), "close")

	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	equal(t, len(lines), 3, "lines")
	for i, want := range []string{"00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000003",
		"00000000-0000-4000-8000-000000000004"} {
		var l telemetry.FrontendLog
		noErr(t, json.Unmarshal([]byte(lines[i]), &l), "line", i)
		equal(t, l.FrontendLogEventID, want, "id", i)
	}
	st := j.ExportStats()
	equal(t, st.Batches, int64(1), "batches: nil entries alone are none")
	equal(t, st.LogsExported, int64(3), "logs")
	equal(t, st.Breaker, telemetry.BreakerState(""), "no breaker")
}

func TestJSONLinesConcurrentBatchesDoNotInterleave(t *testing.T) {
	var buf bytes.Buffer
	j := NewJSONLinesExporter(&buf)
	var wg sync.WaitGroup
	for b := range 16 {
		logs := batch(25)
		for _, l := range logs { // each batch its own session, to tell the batches apart
			l.Entry.SQLDriverLog.SessionID = fmt.Sprint("batch-", b)
		}
		wg.Go(func() { noErr(t, j.Export(context.Background(), logs), "export") })
	}
	wg.Wait()
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	var sessions []string // one per line
	for sc.Scan() {
		var l telemetry.FrontendLog
		noErr(t, json.Unmarshal(sc.Bytes(), &l), "line", len(sessions))
		sessions = append(sessions, l.Entry.SQLDriverLog.SessionID)
	}
	equal(t, len(sessions), 400, "lines")
	// 16 runs of 25 lines, each of one batch, in its own order.
	seen := map[string]bool{}
	for i := 0; i < len(sessions); i += 25 {
		run := sessions[i]
		if seen[run] {
			t.Fatalf("batch %s comes back at line %d", run, i)
		}
		seen[run] = true
		for k := i; k < i+25; k++ {
			if sessions[k] != run {
				t.Fatalf("line %d is of %s inside the run of %s: batches interleave", k, sessions[k], run)
			}
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestJSONLinesErrorsAndClose(t *testing.T) {
	j := NewJSONLinesExporter(failingWriter{})
	if err := j.Export(context.Background(), batch(1)); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
	equal(t, j.ExportStats().BatchesFailed, int64(1), "failed")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := j.Export(ctx, batch(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}

	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	j = NewJSONLinesExporter(bw)
	noErr(t, j.Export(context.Background(), batch(2)), "export")
	equal(t, out.Len(), 0, "still buffered")
	noErr(t, j.Close(context.Background()), "close flushes")
	equal(t, strings.Count(out.String(), "\n"), 2, "lines after close")
	noErr(t, j.Close(context.Background()), "close again")
	if err := j.Export(context.Background(), batch(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// blockingWriter blocks each Write until release is closed; writing, if set (and it has
// room), receives a value as each Write begins.
type blockingWriter struct{ release, writing chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) {
	select {
	case w.writing <- struct{}{}: // nil: never ready
	default:
	}
	<-w.release
	return len(p), nil
}

// Close and Export wait for a batch being written only as long as their context allows.
func TestJSONLinesWaitsHonourTheirContext(t *testing.T) {
	w := blockingWriter{release: make(chan struct{}), writing: make(chan struct{}, 1)}
	j := NewJSONLinesExporter(w)
	first := make(chan error, 1)
	go func() { first <- j.Export(context.Background(), []*telemetry.FrontendLog{{FrontendLogEventID: "x"}}) }()
	deadline := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	// The first batch is being written. (A sleep of 20 ms here let the second Export, on
	// a loaded machine, take the lock first and block in Write for ever.)
	testwait.Recv(t, w.writing, 10*time.Second, "the first batch's Write")
	began := time.Now()
	err := j.Export(deadline(), []*telemetry.FrontendLog{{FrontendLogEventID: "y"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Export behind a blocked write: %v, want the deadline", err)
	}
	err = j.Close(deadline())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close behind a blocked write: %v, want the deadline", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("the waits took %v", d)
	}
	close(w.release)
	if err := <-first; err != nil {
		t.Errorf("the first batch: %v", err)
	}
	if err := j.Export(context.Background(), []*telemetry.FrontendLog{{FrontendLogEventID: "z"}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Export after Close: %v, want ErrClosed", err)
	}
}

// failingFlusher is a writer whose Flush fails; it counts the flushes.
type failingFlusher struct {
	bytes.Buffer
	flushes int
}

func (f *failingFlusher) Flush() error {
	f.flushes++
	return errors.New("flush failed")
}

// Close is idempotent: a second Close returns nil without flushing the writer again,
// also when the first one's flush failed.
func TestJSONLinesCloseTwiceFlushesOnce(t *testing.T) {
	w := &failingFlusher{}
	j := NewJSONLinesExporter(w)
	noErr(t, j.Export(context.Background(), batch(1)), "export")
	if err := j.Close(context.Background()); err == nil {
		t.Fatal("first close: want the flush error")
	}
	noErr(t, j.Close(context.Background()), "close again")
	equal(t, w.flushes, 1, "flushes")
}
