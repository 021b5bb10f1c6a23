package warehouse_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
	"github.com/dbtelemetry/dbtelemetry/warehouse/internal/tcli"
)

func TestThriftFaults(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	conn, err := db.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	query := func(ctx context.Context) (int64, error) {
		var v int64
		err := conn.QueryRowContext(ctx, "SELECT 6 * 7").Scan(&v)
		return v, err
	}

	t.Run("503 then 429 with Retry-After are retried by the driver", func(t *testing.T) {
		before := srv.FaultsServed(warehouse.GroupThrift)
		srv.InjectFaults(warehouse.GroupThrift,
			warehouse.Fault{Status: http.StatusServiceUnavailable},
			warehouse.Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Second})
		v, err := query(context.Background())
		require.NoError(t, err)
		assert.Equal(t, int64(42), v)
		assert.Equal(t, before+2, srv.FaultsServed(warehouse.GroupThrift))
	})
	t.Run("latency delays the call", func(t *testing.T) {
		srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Latency: 300 * time.Millisecond})
		began := time.Now()
		v, err := query(context.Background())
		require.NoError(t, err)
		assert.Equal(t, int64(42), v)
		assert.GreaterOrEqual(t, time.Since(began), 300*time.Millisecond)
	})
	t.Run("garbage body fails the call", func(t *testing.T) {
		srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Garbage: true, BodyBytes: 64})
		_, err := query(context.Background())
		require.Error(t, err)
	})
	t.Run("dropped connection fails ExecuteStatement, which is not retried", func(t *testing.T) {
		srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Drop: true})
		_, err := query(context.Background())
		require.Error(t, err)
	})
	t.Run("hang ends with the caller's context", func(t *testing.T) {
		srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Hang: true})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		began := time.Now()
		_, err := query(ctx)
		require.Error(t, err)
		assert.Less(t, time.Since(began), 2*time.Second)
	})
	t.Run("a status sequence repeats, then clears", func(t *testing.T) {
		srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Status: http.StatusBadRequest, Times: -1})
		_, err := query(context.Background())
		require.Error(t, err)
		_, err = query(context.Background())
		require.Error(t, err)
		srv.ClearFaults(warehouse.GroupThrift)
	})
	// After every fault the warehouse still answers.
	var v int64
	require.NoError(t, db.QueryRow("SELECT 6 * 7").Scan(&v))
	assert.Equal(t, int64(42), v)
}

func TestCloudFetchFaults(t *testing.T) {
	srv := start(t, warehouse.WithCloudFetchThreshold(1000), warehouse.WithChunkRows(2000), warehouse.WithBatchRows(1000))
	db := open(t, srv, "")
	sum := func(ctx context.Context) (int64, error) {
		rows, err := db.QueryContext(ctx, "SELECT range FROM range(10000)")
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		var s int64
		for rows.Next() {
			var v int64
			if err := rows.Scan(&v); err != nil {
				return 0, err
			}
			s += v
		}
		return s, rows.Err()
	}
	const want = int64(9999 * 10000 / 2)

	t.Run("503 on a download is retried", func(t *testing.T) {
		srv.InjectFaults(warehouse.GroupCloudFetch, warehouse.Fault{Status: http.StatusServiceUnavailable})
		s, err := sum(context.Background())
		require.NoError(t, err)
		assert.Equal(t, want, s)
		assert.Equal(t, 1, srv.FaultsServed(warehouse.GroupCloudFetch))
		st := lastStatement(t, srv)
		assert.Equal(t, warehouse.DeliveryCloudFetch, st.Delivery)
		assert.Equal(t, 5, st.Chunks)
		assert.Equal(t, 5, st.ChunkDownloads)
	})
	t.Run("slow downloads still deliver every row", func(t *testing.T) {
		srv.InjectFaults(warehouse.GroupCloudFetch, warehouse.Fault{Latency: 100 * time.Millisecond, Times: 5})
		s, err := sum(context.Background())
		require.NoError(t, err)
		assert.Equal(t, want, s)
	})
	t.Run("a forbidden download fails the query", func(t *testing.T) {
		srv.InjectFaults(warehouse.GroupCloudFetch, warehouse.Fault{Status: http.StatusForbidden, Times: -1})
		defer srv.ClearFaults(warehouse.GroupCloudFetch)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := sum(ctx)
		require.Error(t, err)
	})
	s, err := sum(context.Background())
	require.NoError(t, err)
	assert.Equal(t, want, s)
}

// Close unblocks hanging requests and interrupts running statements, returns promptly and
// leaves no goroutine of the server behind.
func TestCloseUnblocksEverything(t *testing.T) {
	baseline := goleak.IgnoreCurrent()
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	transport := &http.Transport{}
	client := &http.Client{Transport: transport}
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Hang: true, Times: -1})
	hung := make(chan error, 1)
	go func() {
		_, _, err := post(t, client, srv, "/telemetry-ext", telemetryBody)
		hung <- err
	}()
	// A statement that runs for a minute, over raw Thrift so that no driver goroutine
	// (whose status polls retry for seconds against a closed server) outlives the test.
	ctx := context.Background()
	rc := rawClient(t, srv, transport)
	sess := openRawSession(t, rc)
	exec, err := rc.ExecuteStatement(ctx, &tcli.TExecuteStatementReq{
		SessionHandle: sess, Statement: "SELECT wait_ms(60000)", RunAsync: true, CanReadArrowResult_: ptr(true),
	})
	require.NoError(t, err)
	require.Equal(t, tcli.TOperationState_RUNNING_STATE, exec.DirectResults.OperationStatus.GetOperationState())
	require.Eventually(t, func() bool {
		st := srv.Statements()
		return len(st) == 1 && st[0].State == warehouse.StateRunning && len(srv.TelemetryRequests()) == 1
	}, 5*time.Second, 10*time.Millisecond)

	began := time.Now()
	require.NoError(t, srv.Close())
	assert.Less(t, time.Since(began), 2*time.Second, "Close does not wait for hanging requests or statements")
	require.Error(t, <-hung, "the hanging request was cut")
	assert.Equal(t, warehouse.StateCanceled, srv.Statements()[0].State, "the statement was interrupted")
	require.NoError(t, srv.Close(), "Close is idempotent")
	transport.CloseIdleConnections()
	goleak.VerifyNone(t, baseline)
}

// rawClient is a Thrift TCLIService client over HTTP with the server's token.
func rawClient(t *testing.T, srv *warehouse.Server, transport http.RoundTripper) *tcli.TCLIServiceClient {
	t.Helper()
	tr, err := thrift.NewTHttpClientWithOptions(srv.URL()+warehouse.HTTPPath, thrift.THttpClientOptions{Client: &http.Client{Transport: transport}})
	require.NoError(t, err)
	tr.(*thrift.THttpClient).SetHeader("Authorization", "Bearer "+srv.Token())
	proto := thrift.NewTBinaryProtocolFactoryConf(&thrift.TConfiguration{})
	return tcli.NewTCLIServiceClientFactory(tr, proto)
}

// openRawSession opens a session on rc as the driver does (its protocol version) and
// returns its handle.
func openRawSession(t *testing.T, rc *tcli.TCLIServiceClient) *tcli.TSessionHandle {
	t.Helper()
	sess, err := rc.OpenSession(context.Background(), &tcli.TOpenSessionReq{ClientProtocolI64: ptr(int64(42248))})
	require.NoError(t, err)
	return sess.SessionHandle
}

// executeDirect runs q in the session sess as the driver does (asynchronously, Arrow,
// direct results of up to maxRows rows; CloudFetch when download) and returns the answer.
func executeDirect(t *testing.T, rc *tcli.TCLIServiceClient, sess *tcli.TSessionHandle, q string, maxRows int64, download bool) *tcli.TExecuteStatementResp {
	t.Helper()
	resp, err := rc.ExecuteStatement(context.Background(), &tcli.TExecuteStatementReq{
		SessionHandle: sess, Statement: q, RunAsync: true,
		CanReadArrowResult_: ptr(true), CanDownloadResult_: ptr(download),
		GetDirectResults: &tcli.TSparkGetDirectResults{MaxRows: maxRows},
	})
	require.NoError(t, err, q)
	return resp
}

func ptr[T any](v T) *T { return &v }

// post sends a telemetry request the way an exporter does.
func post(t *testing.T, client *http.Client, srv *warehouse.Server, path, body string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL()+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

const telemetryBody = `{"uploadTime":1,"items":[],"protoLogs":["{\"frontend_log_event_id\":\"a\"}","{\"frontend_log_event_id\":\"b\"}"]}`

func TestTelemetryIngest(t *testing.T) {
	srv := start(t)
	client := &http.Client{Timeout: 5 * time.Second}

	resp, body, err := post(t, client, srv, "/telemetry-ext", telemetryBody)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	var answer struct {
		Errors          []string `json:"errors"`
		NumSuccess      int      `json:"numSuccess"`
		NumProtoSuccess int      `json:"numProtoSuccess"`
		// SPEC §3: every count is N, the realtime one too.
		NumRealtimeSuccess int `json:"numRealtimeSuccess"`
	}
	require.NoError(t, json.Unmarshal(body, &answer))
	assert.Equal(t, 2, answer.NumSuccess)
	assert.Equal(t, 2, answer.NumProtoSuccess)
	assert.Equal(t, 2, answer.NumRealtimeSuccess)
	assert.Empty(t, answer.Errors)

	resp, _, err = post(t, client, srv, "/telemetry-unauth", `not json`)
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	reqs := srv.TelemetryRequests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "/telemetry-ext", reqs[0].Path)
	assert.Equal(t, http.StatusOK, reqs[0].Status)
	assert.Equal(t, "Bearer "+srv.Token(), reqs[0].Header.Get("Authorization"))
	assert.Equal(t, []string{`{"frontend_log_event_id":"a"}`, `{"frontend_log_event_id":"b"}`}, reqs[0].ProtoLogs())
	assert.Equal(t, "/telemetry-unauth", reqs[1].Path)
	assert.Equal(t, http.StatusBadRequest, reqs[1].Status)
	assert.Equal(t, []string{`{"frontend_log_event_id":"a"}`, `{"frontend_log_event_id":"b"}`}, srv.TelemetryLogs())
}

func TestTelemetryAndFeatureFlagFaults(t *testing.T) {
	srv := start(t)
	client := &http.Client{Timeout: 500 * time.Millisecond}
	flagURL := srv.URL() + "/api/2.0/connector-service/feature-flags/GOLANG/1.15.1"
	getFlag := func() (*http.Response, []byte, error) {
		req, _ := http.NewRequest(http.MethodGet, flagURL, nil)
		req.Header.Set("Authorization", "Bearer "+srv.Token())
		resp, err := client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	telemetry := func() (*http.Response, []byte, error) { return post(t, client, srv, "/telemetry-ext", telemetryBody) }

	for _, ep := range []struct {
		name  string
		group warehouse.Group
		call  func() (*http.Response, []byte, error)
	}{
		{"telemetry", warehouse.GroupTelemetry, telemetry},
		{"feature flag", warehouse.GroupFeatureFlag, getFlag},
	} {
		t.Run(ep.name, func(t *testing.T) {
			srv.InjectFaults(ep.group, warehouse.Fault{Status: http.StatusServiceUnavailable, Times: 3})
			for range 3 {
				resp, _, err := ep.call()
				require.NoError(t, err)
				assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			}
			resp, _, err := ep.call()
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode, "the storm is over")

			srv.InjectFaults(ep.group, warehouse.Fault{Status: http.StatusTooManyRequests, RetryAfter: 2 * time.Second})
			resp, _, err = ep.call()
			require.NoError(t, err)
			assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
			assert.Equal(t, "2", resp.Header.Get("Retry-After"))

			srv.InjectFaults(ep.group, warehouse.Fault{Hang: true})
			began := time.Now()
			_, _, err = ep.call()
			require.Error(t, err, "a hang lasts until the client gives up")
			assert.Less(t, time.Since(began), 2*time.Second)

			srv.InjectFaults(ep.group, warehouse.Fault{Drop: true})
			_, _, err = ep.call()
			require.Error(t, err)

			srv.InjectFaults(ep.group, warehouse.Fault{Garbage: true, BodyBytes: 300})
			resp, body, err := ep.call()
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Len(t, body, 300)
			assert.False(t, json.Valid(body))

			srv.InjectFaults(ep.group, warehouse.Fault{SlowDrip: 200 * time.Millisecond})
			_, _, err = ep.call()
			require.Error(t, err, "a slow-drip body outlasts the client's timeout")

			srv.InjectFaults(ep.group, warehouse.Fault{Latency: 100 * time.Millisecond})
			began = time.Now()
			resp, _, err = ep.call()
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.GreaterOrEqual(t, time.Since(began), 100*time.Millisecond)
		})
	}
	// Faulted telemetry requests are recorded too, with the status answered (0 for none).
	var statuses []int
	for _, r := range srv.TelemetryRequests() {
		statuses = append(statuses, r.Status)
	}
	assert.Equal(t, []int{503, 503, 503, 200, 429, 0, 0, 200, 200, 200}, statuses)
}

// featureFlags asks srv's feature-flag endpoint, as the driver does, and returns its answer.
func featureFlags(t *testing.T, srv *warehouse.Server) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/api/2.0/connector-service/feature-flags/GOLANG/1.15.1", nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

// WithFeatureFlagTTL goes out in whole seconds rounded up: a TTL under a second is one
// second, not the 0 that clients read as none; 0 says none.
func TestFeatureFlagTTLInWholeSeconds(t *testing.T) {
	for _, tc := range []struct {
		ttl  time.Duration
		want float64
	}{{300 * time.Millisecond, 1}, {1500 * time.Millisecond, 2}, {2 * time.Second, 2}, {0, 0}} {
		srv := start(t, warehouse.WithFeatureFlagTTL(tc.ttl))
		assert.Equal(t, tc.want, featureFlags(t, srv)["ttl_seconds"], "WithFeatureFlagTTL(%v)", tc.ttl)
	}
}

func TestFeatureFlag(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		srv := start(t, warehouse.WithTelemetryFlag(enabled), warehouse.WithFeatureFlagTTL(90*time.Second))
		get := func() map[string]any { return featureFlags(t, srv) }
		flag := func(m map[string]any) string {
			f := m["flags"].([]any)[0].(map[string]any)
			require.Equal(t, warehouse.TelemetryFlagName, f["name"])
			return f["value"].(string)
		}
		got := get()
		assert.Equal(t, float64(90), got["ttl_seconds"])
		assert.Equal(t, map[bool]string{true: "true", false: "false"}[enabled], flag(got))
		srv.SetTelemetryFlag(!enabled)
		assert.Equal(t, map[bool]string{true: "true", false: "false"}[!enabled], flag(get()))
		assert.Equal(t, 2, srv.FeatureFlagRequests())
	}
}

func TestWithTelemetryHandler(t *testing.T) {
	srv := start(t, warehouse.WithTelemetryHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	})))
	resp, _, err := post(t, http.DefaultClient, srv, "/telemetry-unauth", telemetryBody)
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	reqs := srv.TelemetryRequests()
	require.Len(t, reqs, 1)
	assert.Equal(t, http.StatusAccepted, reqs[0].Status)
	assert.Equal(t, telemetryBody, string(reqs[0].Body))
}

func TestBadInput(t *testing.T) {
	srv := start(t, warehouse.WithMaxBodyBytes(4096))
	thriftPost := func(contentType string, body []byte) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL()+warehouse.HTTPPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Authorization", "Bearer "+srv.Token())
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	// A strict binary-protocol CALL of OpenSession, cut short.
	openSession := append([]byte{0x80, 0x01, 0x00, 0x01, 0, 0, 0, 11}, "OpenSession"...)
	openSession = append(openSession, 0, 0, 0, 1, 12, 0, 1) // seqid 1, struct field 1 begins
	cases := []struct {
		name        string
		contentType string
		body        []byte
		status      int
	}{
		{"truncated thrift", "application/x-thrift", openSession, http.StatusOK},
		{"not thrift at all", "application/x-thrift", []byte("hello"), http.StatusBadRequest},
		{"empty body", "application/x-thrift", nil, http.StatusBadRequest},
		{"wrong content type", "application/json", []byte(`{}`), http.StatusUnsupportedMediaType},
		{"oversized body", "application/x-thrift", bytes.Repeat([]byte{0x80}, 5000), http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := thriftPost(tc.contentType, tc.body)
			assert.Equal(t, tc.status, resp.StatusCode, string(body))
			if tc.status == http.StatusOK {
				// The answer is a Thrift EXCEPTION message (type 3) the client can decode.
				require.GreaterOrEqual(t, len(body), 4)
				assert.Equal(t, byte(3), body[3])
			}
		})
	}
	t.Run("unknown method", func(t *testing.T) {
		msg := append([]byte{0x80, 0x01, 0x00, 0x01, 0, 0, 0, 9}, "GetTables"...)
		msg = append(msg, 0, 0, 0, 7, 0) // seqid 7, empty args struct
		resp, body := thriftPost("application/x-thrift", msg)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, byte(3), body[3], "EXCEPTION")
		assert.Contains(t, string(body), "GetTables")
		assert.Equal(t, 1, srv.RPCs()[warehouse.UnknownRPC], "a method the server does not serve")
		assert.NotContains(t, srv.RPCs(), "GetTables")
	})
	t.Run("methods named by the client", func(t *testing.T) {
		before := srv.RPCs()
		for _, name := range []string{"NoSuchMethod1", "NoSuchMethod2"} {
			msg := append([]byte{0x80, 0x01, 0x00, 0x01, 0, 0, 0, byte(len(name))}, name...)
			msg = append(msg, 0, 0, 0, 8, 0) // seqid 8, empty args struct
			resp, body := thriftPost("application/x-thrift", msg)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, byte(3), body[3], "EXCEPTION")
		}
		after := srv.RPCs()
		assert.Equal(t, before[warehouse.UnknownRPC]+2, after[warehouse.UnknownRPC], "one key for every name a client makes up")
		assert.NotContains(t, after, "NoSuchMethod1")
		assert.NotContains(t, after, "NoSuchMethod2")
	})
	t.Run("GET on the Thrift path", func(t *testing.T) {
		resp, err := http.Get(srv.URL() + warehouse.HTTPPath)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	})
	// The server is still healthy.
	db := open(t, srv, "")
	var v int
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&v))
}

// A fault's delay that Close interrupts cuts the connection: the client never takes an
// empty or short answer for a whole one (an exporter would count its batch delivered).
func TestCloseCutsADelayedAnswer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault warehouse.Fault
	}{
		{"latency", warehouse.Fault{Latency: 5 * time.Second}},
		{"slow drip", warehouse.Fault{SlowDrip: 500 * time.Millisecond}},
		{"hang", warehouse.Fault{Hang: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 10 { // Close and the handler's return race: each run may tell
				srv, err := warehouse.NewServer()
				require.NoError(t, err)
				srv.InjectFaults(warehouse.GroupTelemetry, tc.fault)
				transport := &http.Transport{}
				got := make(chan error, 1)
				go func() {
					resp, body, err := post(t, &http.Client{Transport: transport}, srv, "/telemetry-ext", telemetryBody)
					if err == nil {
						got <- fmt.Errorf("an answer: HTTP %d, body %q", resp.StatusCode, body)
						return
					}
					got <- nil
				}()
				require.Eventually(t, func() bool { return len(srv.TelemetryRequests()) == 1 }, 5*time.Second, time.Millisecond)
				require.NoError(t, srv.Close())
				require.NoError(t, <-got, "the connection was cut")
				transport.CloseIdleConnections()
			}
		})
	}
}

// A statement that ends after the async threshold is answered RUNNING, for the client to
// poll, even when ExecuteStatement sees it ended only once it has (a loaded machine
// schedules the handler late): with a threshold of a nanosecond, every statement is, however
// fast. Before, the handler answered such a statement at once when it saw it ended.
func TestStatementPastTheThresholdIsPolled(t *testing.T) {
	srv := start(t, warehouse.WithAsyncThreshold(time.Nanosecond))
	rc := rawClient(t, srv, http.DefaultTransport)
	sess := openRawSession(t, rc)
	for i := range 200 {
		resp := executeDirect(t, rc, sess, fmt.Sprintf("SELECT %d", i), 100, false)
		require.Equal(t, tcli.TOperationState_RUNNING_STATE, resp.GetDirectResults().GetOperationStatus().GetOperationState(), "statement %d", i)
	}
}

// A fault on the Thrift endpoint ends when its client gives up: a Latency's call is then
// not run (the driver gave the statement up: running it late would be a statement no
// one asked for any more), and a Hang's handler returns, not waiting for Close.
func TestThriftFaultEndsWhenTheClientGivesUp(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "")
	conn, err := db.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.PingContext(context.Background())) // the session, before the fault

	const late = "CREATE TABLE given_up AS SELECT 1 AS x"
	srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Latency: 1500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err = conn.ExecContext(ctx, late)
	cancel()
	require.Error(t, err, "the driver gave up")
	time.Sleep(2500 * time.Millisecond) // past the latency
	for _, st := range srv.Statements() {
		assert.NotEqual(t, late, st.SQL, "a statement its client gave up on ran after the latency")
	}

	srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Hang: true})
	served := srv.FaultsServed(warehouse.GroupThrift)
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err = conn.ExecContext(ctx, "SELECT 1")
	cancel()
	require.Error(t, err)
	require.Equal(t, served+1, srv.FaultsServed(warehouse.GroupThrift))
	// The hung handler returned: its connection's goroutines with it.
	assert.Eventually(t, func() bool { return hungHandlers() == 0 }, 5*time.Second, 20*time.Millisecond,
		"the hung handler still runs after its client gave up")
}

// hungHandlers counts the goroutines waiting in a fault's Hang.
func hungHandlers() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "(*Server).group.func") // maybe inlined in NewServer
}
