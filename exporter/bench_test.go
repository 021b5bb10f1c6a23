package exporter

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkExport100 measures one 100-log batch end to end against a loopback server:
// encoding, the failsafe executors, the HTTP round trip and the capped response read.
func BenchmarkExport100(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"errors":[],"numSuccess":100,"numProtoSuccess":100,"numRealtimeSuccess":0}`)
	}))
	b.Cleanup(srv.Close)
	e := newTestExporter(b, srv, WithCredentials(BearerToken("dapi-bench")))
	logs := sharedBatch(100)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Export(ctx, logs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode100 isolates the wire encoding of a 100-log batch.
func BenchmarkEncode100(b *testing.B) {
	logs := sharedBatch(100)
	now := goldenClock()
	b.ReportAllocs()
	for b.Loop() {
		if _, n := encodeRequest(nil, logs, now, false); n != len(logs) {
			b.Fatal("encoded", n)
		}
	}
}

// BenchmarkJSONLines100 measures the debugging exporter on a 100-log batch.
func BenchmarkJSONLines100(b *testing.B) {
	j := NewJSONLinesExporter(discard{})
	logs := sharedBatch(100)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := j.Export(ctx, logs); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkExportBreakerOpen measures a 100-log batch that the open breaker drops: what a
// telemetry outage costs per batch once the breaker has opened (the body is not written).
func BenchmarkExportBreakerOpen(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	b.Cleanup(srv.Close)
	e := newTestExporter(b, srv, WithCredentials(BearerToken("dapi-bench")), WithBreaker(1, time.Hour, 1))
	logs := sharedBatch(100)
	ctx := context.Background()
	if err := e.Export(ctx, logs); err == nil || errors.Is(err, ErrBreakerOpen) {
		b.Fatalf("first batch: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Export(ctx, logs); !errors.Is(err, ErrBreakerOpen) {
			b.Fatal(err)
		}
	}
}
