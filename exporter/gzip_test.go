package exporter

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"runtime"
	"testing"
)

// A gzip-encoded flag answer is read; a gzip bomb (32 MiB of zeros in 32 KiB) is not
// inflated beyond the caps (256 KiB for the flag, 64 KiB for the ingest, each with a
// bounded drain), neither for the flag nor for the ingest.
func TestGzipAnswersAreReadWithinTheCap(t *testing.T) {
	var good, bomb bytes.Buffer
	zw := gzip.NewWriter(&good)
	_, _ = zw.Write([]byte(`{"flags":[{"name":"` + DefaultFlagName + `","value":"true"}],"ttl_seconds":60}`))
	_ = zw.Close()
	zw, _ = gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 32 {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()
	for _, tc := range []struct {
		name string
		body []byte
		flag bool
	}{{"good", good.Bytes(), true}, {"bomb", bomb.Bytes(), false}} {
		srv, _ := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(tc.body)
		})
		e := newTestExporter(t, srv, WithCredentials(BearerToken("x")))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		equal(t, e.FeatureFlags().Enabled(context.Background()), tc.flag, tc.name+" flag")
		noErr(t, e.Export(context.Background(), batch(1)), tc.name+" export")
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
			t.Fatalf("%s: allocated %d bytes", tc.name, grew)
		}
	}
}
