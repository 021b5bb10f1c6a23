package warehouse_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
	"github.com/dbtelemetry/dbtelemetry/warehouse/internal/tcli"
)

// OpenSession answers the lower of the client's protocol version and the server's own
// (SPARK V8), as HiveServer2 and Databricks negotiate it: a client that speaks an older
// version must not be told that the server speaks features it does not know.
func TestServerProtocolIsNegotiatedDown(t *testing.T) {
	srv := start(t)
	rc := rawClient(t, srv, http.DefaultTransport)
	for _, tc := range []struct {
		client, want tcli.TProtocolVersion
	}{
		{tcli.TProtocolVersion_SPARK_CLI_SERVICE_PROTOCOL_V6, tcli.TProtocolVersion_SPARK_CLI_SERVICE_PROTOCOL_V6},
		{tcli.TProtocolVersion_SPARK_CLI_SERVICE_PROTOCOL_V8, tcli.TProtocolVersion_SPARK_CLI_SERVICE_PROTOCOL_V8},
		{tcli.TProtocolVersion_SPARK_CLI_SERVICE_PROTOCOL_V9, tcli.TProtocolVersion_SPARK_CLI_SERVICE_PROTOCOL_V8},
	} {
		t.Run(tc.client.String(), func(t *testing.T) {
			resp, err := rc.OpenSession(context.Background(), &tcli.TOpenSessionReq{ClientProtocolI64: ptr(int64(tc.client))})
			require.NoError(t, err)
			require.Equal(t, tcli.TStatusCode_SUCCESS_STATUS, resp.Status.StatusCode)
			assert.Equal(t, tc.want, resp.ServerProtocolVersion)
		})
	}
}

// fetchPage sends one FetchResults for the operation.
func fetchPage(t *testing.T, rc *tcli.TCLIServiceClient, op *tcli.TOperationHandle, orientation tcli.TFetchOrientation, maxRows int64) *tcli.TFetchResultsResp {
	t.Helper()
	resp, err := rc.FetchResults(context.Background(), &tcli.TFetchResultsReq{
		OperationHandle: op, Orientation: orientation, MaxRows: maxRows, IncludeResultSetMetadata: ptr(true),
	})
	require.NoError(t, err)
	return resp
}

func pageRows(rs *tcli.TRowSet) int64 {
	var n int64
	for _, b := range rs.GetArrowBatches() {
		n += b.RowCount
	}
	return n
}

// A FetchResults page holds at most the maxRows of that request (whole batches), not
// the page size of the direct results.
func TestFetchResultsHonoursItsMaxRows(t *testing.T) {
	srv := start(t, settled, warehouse.WithBatchRows(100))
	rc := rawClient(t, srv, http.DefaultTransport)
	sess := openRawSession(t, rc)
	resp := executeDirect(t, rc, sess, "SELECT range FROM range(5000)", 1000, false)
	require.Equal(t, tcli.TOperationState_FINISHED_STATE, resp.DirectResults.OperationStatus.GetOperationState())
	require.Equal(t, int64(1000), pageRows(resp.DirectResults.ResultSet.Results))
	for _, max := range []int64{200, 300} {
		page := fetchPage(t, rc, resp.OperationHandle, tcli.TFetchOrientation_FETCH_NEXT, max)
		require.Equal(t, tcli.TStatusCode_SUCCESS_STATUS, page.Status.StatusCode)
		assert.Equal(t, max, pageRows(page.Results), "maxRows %d", max)
	}
	page := fetchPage(t, rc, resp.OperationHandle, tcli.TFetchOrientation_FETCH_NEXT, 1000)
	assert.Equal(t, int64(1500), page.Results.StartRowOffset, "the cursor moved by what was sent")
}

// The server keeps a forward cursor only: a FetchResults in another orientation
// (FETCH_PRIOR, which the driver sends when a page does not line up, FETCH_FIRST, …) is
// refused, and does not silently hand out, and skip, the next page.
func TestFetchResultsRefusesOrientationsOtherThanNext(t *testing.T) {
	for _, o := range []tcli.TFetchOrientation{
		tcli.TFetchOrientation_FETCH_PRIOR, tcli.TFetchOrientation_FETCH_FIRST,
		tcli.TFetchOrientation_FETCH_ABSOLUTE, tcli.TFetchOrientation_FETCH_LAST,
	} {
		t.Run(o.String(), func(t *testing.T) {
			srv := start(t, settled)
			rc := rawClient(t, srv, http.DefaultTransport)
			sess := openRawSession(t, rc)
			resp := executeDirect(t, rc, sess, "SELECT range FROM range(3000)", 1000, false)
			require.Equal(t, tcli.TOperationState_FINISHED_STATE, resp.DirectResults.OperationStatus.GetOperationState())
			page := fetchPage(t, rc, resp.OperationHandle, o, 1000)
			assert.Equal(t, tcli.TStatusCode_ERROR_STATUS, page.Status.StatusCode)
			next := fetchPage(t, rc, resp.OperationHandle, tcli.TFetchOrientation_FETCH_NEXT, 1000)
			require.Equal(t, tcli.TStatusCode_SUCCESS_STATUS, next.Status.StatusCode)
			assert.Equal(t, int64(1000), next.Results.StartRowOffset, "no page was skipped")
		})
	}
}

// A statement that arrives while its session is being closed is refused as one on an
// unknown session (the driver then reconnects), and leaves nothing behind: not an
// operation the server keeps for ever, nor an internal error.
func TestExecuteRacingCloseSessionLeavesNoOperation(t *testing.T) {
	srv := start(t, settled)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc := rawClient(t, srv, http.DefaultTransport)
			rc2 := rawClient(t, srv, http.DefaultTransport)
			for i := 0; i < 300; i++ {
				sess, err := rc.OpenSession(context.Background(), &tcli.TOpenSessionReq{ClientProtocolI64: ptr(int64(42248))})
				if !assert.NoError(t, err) {
					return
				}
				done := make(chan struct{})
				go func() {
					defer close(done)
					_, _ = rc2.ExecuteStatement(context.Background(), &tcli.TExecuteStatementReq{
						SessionHandle: sess.SessionHandle, Statement: "SELECT 1", RunAsync: true,
						CanReadArrowResult_: ptr(true), GetDirectResults: &tcli.TSparkGetDirectResults{MaxRows: 10},
					})
				}()
				_, err = rc.CloseSession(context.Background(), &tcli.TCloseSessionReq{SessionHandle: sess.SessionHandle})
				assert.NoError(t, err)
				<-done
			}
		}()
	}
	wg.Wait()
	time.Sleep(50 * time.Millisecond)
	assert.Zero(t, srv.OpenOperations(), "operations of closed sessions are forgotten")
	for _, st := range srv.Statements() {
		assert.NotEqual(t, "XX000", st.SQLState, "statement %s: %s", st.ID, st.Message)
	}
}
