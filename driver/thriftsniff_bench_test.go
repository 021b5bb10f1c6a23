package driver

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// replyRecorder keeps the Thrift replies that pass through it.
type replyRecorder struct {
	base    http.RoundTripper
	replies [][]byte
}

func (r *replyRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.replies = append(r.replies, b)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// warehouseReply returns the reply to the first call of method that query makes against
// the local warehouse.
func warehouseReply(tb testing.TB, query, method string) []byte {
	srv, err := warehouse.NewServer()
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = srv.Close() })
	c, err := OpenConnector(srv.DSN()+"?enableTelemetry=true", WithExporter(nopExporter{}))
	require.NoError(tb, err)
	base := c.tr.base
	rec := &replyRecorder{base: base}
	c.tr.base = rec
	db := sql.OpenDB(c)
	rows, err := db.QueryContext(context.Background(), query)
	require.NoError(tb, err)
	for rows.Next() {
	}
	require.NoError(tb, rows.Close())
	c.tr.base = base
	require.NoError(tb, db.Close())
	for _, b := range rec.replies {
		if m, _, _ := rpcMethod(b); m == method {
			return b
		}
	}
	tb.Fatalf("no %s reply", method)
	return nil
}

// BenchmarkRowSetFacts reads how a SELECT 1 reply of the local warehouse (direct results:
// status, handle, metadata with its schema, one inline Arrow batch) delivers its rows.
func BenchmarkRowSetFacts(b *testing.B) {
	reply := warehouseReply(b, "SELECT 1", "ExecuteStatement")
	b.SetBytes(int64(len(reply)))
	b.ReportAllocs()
	for b.Loop() {
		if links, n, _ := rowSetFacts(reply); n != 1 || links != nil {
			b.Fatalf("rowSetFacts = %q, %d", links, n)
		}
	}
}
