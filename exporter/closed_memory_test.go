package exporter

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/dbtelemetry/dbtelemetry/internal/testmem"
)

// A closed exporter keeps no request body for reuse: one is about 1.4 KB per log, kept
// (up to 1 MiB each, two of them) for the next batch, of which a closed exporter has
// none. Whoever holds a closed exporter holds them all the same: with the driver, every
// Connector of the host, which a program may keep for its Stats and the driver's own
// 15-minute timeout watchers keep after db.Close (see TestClosedPoolsKeepLittleMemory in
// driver/).
func TestClosedExporterKeepsNoBodies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"errors":[],"numSuccess":1,"numProtoSuccess":1,"numRealtimeSuccess":0}`)
	}))
	defer srv.Close()
	tgt, err := ParseTarget(srv.URL, true)
	noErr(t, err, "target")
	logs := sharedBatch(300) // a body of about 400 KiB
	const n = 8
	before := testmem.LiveHeap()
	exps := make([]*HTTPExporter, n)
	for i := range exps {
		e := NewHTTPExporter(tgt, fastOpts()...)
		noErr(t, e.Export(context.Background(), logs), "export")
		noErr(t, e.Export(context.Background(), logs), "export")
		noErr(t, e.Close(context.Background()), "close")
		exps[i] = e
	}
	per := (testmem.LiveHeap() - before) / n
	runtime.KeepAlive(exps)
	t.Logf("a closed exporter retains %d B", per)
	if per > 64<<10 {
		t.Errorf("a closed exporter retains %d KiB: its request bodies outlive Close", per>>10)
	}
}
