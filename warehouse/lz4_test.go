package warehouse_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/pierrec/lz4/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
	"github.com/dbtelemetry/dbtelemetry/warehouse/internal/tcli"
)

// sumArrow reads an Arrow IPC stream of one BIGINT column and returns rows and sum.
func sumArrow(t *testing.T, stream []byte) (n, sum int64) {
	t.Helper()
	r, err := ipc.NewReader(bytes.NewReader(stream))
	require.NoError(t, err)
	defer r.Release()
	for r.Next() {
		col := r.RecordBatch().Column(0).(*array.Int64)
		for i := range col.Len() {
			sum += col.Value(i)
		}
		n += int64(col.Len())
	}
	require.NoError(t, r.Err())
	return n, sum
}

func unlz4(t *testing.T, b []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(lz4.NewReader(bytes.NewReader(b)))
	require.NoError(t, err)
	return out
}

// The Go driver never asks for LZ4, so a raw Thrift client checks the compressed paths.
func TestLZ4Results(t *testing.T) {
	srv := start(t, warehouse.WithCloudFetchThreshold(1000), warehouse.WithChunkRows(3000), warehouse.WithBatchRows(1000), settled)
	ctx := context.Background()
	rc := rawClient(t, srv, http.DefaultTransport)
	sess := openRawSession(t, rc)
	exec := func(q string, cloud bool) *tcli.TExecuteStatementResp {
		resp, err := rc.ExecuteStatement(ctx, &tcli.TExecuteStatementReq{
			SessionHandle: sess, Statement: q, RunAsync: true,
			CanReadArrowResult_: ptr(true), CanDownloadResult_: ptr(cloud), CanDecompressLZ4Result_: ptr(true),
			GetDirectResults: &tcli.TSparkGetDirectResults{MaxRows: 100000},
		})
		require.NoError(t, err)
		require.Equal(t, tcli.TOperationState_FINISHED_STATE, resp.DirectResults.OperationStatus.GetOperationState())
		require.True(t, resp.DirectResults.ResultSetMetadata.GetLz4Compressed())
		return resp
	}

	t.Run("inline batches", func(t *testing.T) {
		resp := exec("SELECT range FROM range(500)", false)
		md := resp.DirectResults.ResultSetMetadata
		var stream []byte
		stream = append(stream, md.ArrowSchema...)
		for _, b := range resp.DirectResults.ResultSet.Results.ArrowBatches {
			stream = append(stream, unlz4(t, b.Batch)...)
		}
		n, sum := sumArrow(t, stream)
		assert.Equal(t, int64(500), n)
		assert.Equal(t, int64(499*500/2), sum)
	})
	t.Run("cloudfetch files", func(t *testing.T) {
		resp := exec("SELECT range FROM range(10000)", true)
		links := resp.DirectResults.ResultSet.Results.ResultLinks
		require.Len(t, links, 4)
		var n, sum int64
		for _, l := range links {
			r, err := http.Get(l.FileLink)
			require.NoError(t, err)
			body, err := io.ReadAll(r.Body)
			r.Body.Close()
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, r.StatusCode)
			assert.Equal(t, l.BytesNum, int64(len(body)))
			cn, cs := sumArrow(t, unlz4(t, body))
			assert.Equal(t, l.RowCount, cn)
			n, sum = n+cn, sum+cs
		}
		assert.Equal(t, int64(10000), n)
		assert.Equal(t, int64(9999*10000/2), sum)
		st := lastStatement(t, srv)
		assert.True(t, st.Compressed)
		assert.Equal(t, 4, st.ChunkDownloads)

		// A file served stays downloadable while its link is valid (the served-file
		// retention), as from a real store.
		r, err := http.Get(links[0].FileLink)
		require.NoError(t, err)
		again, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		r.Body.Close()
		assert.Equal(t, http.StatusOK, r.StatusCode)
		assert.Equal(t, links[0].BytesNum, int64(len(again)))
	})
}
