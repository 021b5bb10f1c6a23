package exporter_test

// Integration tests through real HTTP against the local warehouse's telemetry ingest and
// feature-flag endpoint (warehouse.NewServer): what the ingest reads back is exactly what
// was sent, every fault kind the warehouse injects is survived within bounds, and the
// per-host breaker and the registry behave end to end. Delays come from options, so the
// whole file runs in a few seconds.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

const whWorkspaceID = 6051921418418893

// startWarehouse runs a local warehouse for the test and closes it at the end.
//
// Before Close it reads the recorder and the fault table: every handler takes their
// locks right after the warehouse's Server.track counted it in, so this orders that
// count before Close's WaitGroup.Wait. Without it, a handler still in flight at Close
// (a hang the client already gave up on) makes the race detector report
// WaitGroup.Add concurrent with Wait inside the warehouse (see the report of this change).
func startWarehouse(t testing.TB, opts ...warehouse.Option) *warehouse.Server {
	t.Helper()
	srv, err := warehouse.NewServer(opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = srv.TelemetryRequests()
		for _, g := range []warehouse.Group{warehouse.GroupTelemetry, warehouse.GroupFeatureFlag} {
			_ = srv.FaultsServed(g)
		}
		assert.NoError(t, srv.Close())
	})
	return srv
}

// whTarget is the warehouse as a telemetry target: its DSN is loopback, so loopback is allowed.
func whTarget(t testing.TB, srv *warehouse.Server) exporter.Target {
	t.Helper()
	tgt, err := exporter.ParseTarget(srv.URL(), true)
	require.NoError(t, err)
	require.True(t, tgt.Loopback)
	require.Equal(t, "http", tgt.Scheme)
	return tgt
}

// whExporter builds an exporter for srv with the warehouse's token, millisecond backoff
// and a 2 s attempt timeout; opts come after and override. It is closed at cleanup.
func whExporter(t testing.TB, srv *warehouse.Server, opts ...exporter.Option) *exporter.HTTPExporter {
	t.Helper()
	base := []exporter.Option{
		exporter.WithCredentials(exporter.BearerToken(srv.Token())),
		exporter.WithBackoff(time.Millisecond, 5*time.Millisecond, 0),
		exporter.WithAttemptTimeout(2 * time.Second),
	}
	e := exporter.NewHTTPExporter(whTarget(t, srv), append(base, opts...)...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, e.Close(ctx))
	})
	return e
}

// whLogs builds n logs of batch b, cycling through the kinds of log the aggregator
// produces; text fields carry characters that JSON must escape.
func whLogs(b, n int) []*telemetry.FrontendLog {
	logs := make([]*telemetry.FrontendLog, n)
	for i := range logs {
		d := &telemetry.SQLDriverLog{
			SessionID:          fmt.Sprintf("01ef-session-%02d", b),
			AuthType:           "pat",
			OperationLatencyMs: int64(i * 7),
			SystemConfiguration: &telemetry.SystemConfiguration{
				DriverVersion: "1.15.1", RuntimeName: "go", RuntimeVersion: "go1.26", RuntimeVendor: "Google",
				OSName: "linux", OSArch: "amd64", DriverName: "databricks-sql-go", LocaleName: "en_US",
				CharSetEncoding: "UTF-8", ProcessName: "app",
			},
			DriverConnectionParams: &telemetry.DriverConnectionParams{
				HTTPPath: warehouse.HTTPPath, Mode: "THRIFT", HostInfo: &telemetry.HostInfo{HostURL: "http://127.0.0.1", Port: 8443},
				AuthMech: "PAT", AuthFlow: "TOKEN_PASSTHROUGH", EnableArrow: true, EnableDirectResults: true,
			},
		}
		stmt := fmt.Sprintf("01ef-statement-%02d-%03d", b, i)
		switch i % 4 {
		case 0:
			d.SQLOperation = &telemetry.SQLOperation{OperationDetail: &telemetry.OperationDetail{OperationType: telemetry.OpCreateSession}}
		case 1:
			d.SQLStatementID = stmt
			d.SQLOperation = &telemetry.SQLOperation{
				StatementType: telemetry.StatementQuery, ExecutionResult: telemetry.ResultInlineArrow, IsCompressed: true,
				ResultLatency: &telemetry.ResultLatency{ResultSetReadyLatencyMillis: 12, ResultSetConsumptionLatencyMillis: 3},
				OperationDetail: &telemetry.OperationDetail{
					NOperationStatusCalls: 2, OperationStatusLatencyMillis: 9, OperationType: telemetry.OpExecuteStatement,
				},
			}
		case 2:
			d.SQLStatementID = stmt
			d.SQLOperation = &telemetry.SQLOperation{
				StatementType: telemetry.StatementQuery, ExecutionResult: telemetry.ResultExternalLinks,
				ChunkDetails: &telemetry.ChunkDetails{
					InitialChunkLatencyMillis: 40, SlowestChunkLatencyMillis: 90, TotalChunksPresent: 4,
					TotalChunksIterated: 4, SumChunksDownloadTimeMillis: 220,
				},
				OperationDetail: &telemetry.OperationDetail{OperationType: telemetry.OpExecuteStatement},
			}
		case 3:
			d.SQLStatementID = stmt
			d.SQLOperation = &telemetry.SQLOperation{
				StatementType: telemetry.StatementQuery, RetryCount: 2,
				OperationDetail: &telemetry.OperationDetail{OperationType: telemetry.OpExecuteStatement},
			}
			d.ErrorInfo = &telemetry.ErrorInfo{
				ErrorName:  "TABLE_OR_VIEW_NOT_FOUND",
				StackTrace: "at <query> & \"run\"\n\tin exec\\step\x01",
			}
		}
		logs[i] = &telemetry.FrontendLog{
			WorkspaceID:        whWorkspaceID,
			FrontendLogEventID: fmt.Sprintf("00000000-0000-4000-8000-%06d%06d", b, i),
			Context: &telemetry.LogContext{ClientContext: &telemetry.ClientContext{
				ClientType: "golang", ClientVersion: "1.15.1", TimestampMillis: 1732539999000 + int64(i),
				UserAgent: "dbtelemetry-go/0.1 databricks-sql-go/1.15.1",
			}},
			Entry: &telemetry.LogEntry{SQLDriverLog: d},
		}
	}
	return logs
}

// wire is what the ingest must read back for logs: each one as json.Marshal writes it.
func wire(t testing.TB, logs []*telemetry.FrontendLog) []string {
	t.Helper()
	out := make([]string, len(logs))
	for i, l := range logs {
		b, err := json.Marshal(l)
		require.NoError(t, err)
		out[i] = string(b)
	}
	return out
}

// strippedWire is what /telemetry-unauth must receive (SPEC §4a), written out here
// independently of the exporter's own stripping.
func strippedWire(t testing.TB, logs []*telemetry.FrontendLog) []string {
	t.Helper()
	out := make([]*telemetry.FrontendLog, len(logs))
	for i, l := range logs {
		c := *l
		c.WorkspaceID = 0
		d := *l.Entry.SQLDriverLog
		d.SessionID, d.SQLStatementID = "", ""
		d.SystemConfiguration, d.DriverConnectionParams = nil, nil
		if d.ErrorInfo != nil {
			d.ErrorInfo = &telemetry.ErrorInfo{ErrorName: d.ErrorInfo.ErrorName}
		}
		c.Entry = &telemetry.LogEntry{SQLDriverLog: &d}
		out[i] = &c
	}
	return wire(t, out)
}

func statuses(srv *warehouse.Server) []int {
	var out []int
	for _, r := range srv.TelemetryRequests() {
		out = append(out, r.Status)
	}
	return out
}

// requireStatuses waits for the warehouse to have recorded exactly these answers: it
// records a status once its handler returned, which may be after the client is done.
func requireStatuses(t testing.TB, srv *warehouse.Server, want ...int) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, want, statuses(srv))
	}, 3*time.Second, 5*time.Millisecond)
}

// timed runs f and returns how long it took.
func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

// stampTransport records when each attempt was sent.
type stampTransport struct {
	rt *http.Transport
	mu sync.Mutex
	at []time.Time
}

func newStampClient(t testing.TB) (*http.Client, *stampTransport) {
	st := &stampTransport{rt: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(st.rt.CloseIdleConnections)
	return &http.Client{Transport: st}, st
}

func (s *stampTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.at = append(s.at, time.Now())
	s.mu.Unlock()
	return s.rt.RoundTrip(r)
}

func (s *stampTransport) stamps() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.at...)
}

// attemptTransport records every attempt as the client saw it, so that a test can check
// what the exporter did without assuming that each attempt reached the warehouse in time:
// on a loaded machine (the race detector, a parallel build) a goroutine can be left
// unscheduled past a short attempt timeout, and the attempt ends before its request is
// written. The warehouse then records fewer requests than were attempted.
type attemptTransport struct {
	rt *http.Transport
	mu sync.Mutex
	at []*attemptRecord
}

// attemptRecord is one attempt: its context's time budget, whether the request was
// written out (set by the transport's writer, possibly after RoundTrip returned), how
// long it took and how it ended.
type attemptRecord struct {
	budget time.Duration
	wrote  atomic.Bool
	took   time.Duration
	err    error
}

func newAttemptClient(t testing.TB) (*http.Client, *attemptTransport) {
	at := &attemptTransport{rt: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(at.rt.CloseIdleConnections)
	return &http.Client{Transport: at}, at
}

func (a *attemptTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := &attemptRecord{budget: -1}
	start := time.Now()
	if d, ok := r.Context().Deadline(); ok {
		rec.budget = d.Sub(start)
	}
	a.mu.Lock()
	a.at = append(a.at, rec)
	a.mu.Unlock()
	r = r.WithContext(httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) { rec.wrote.Store(i.Err == nil) },
	}))
	resp, err := a.rt.RoundTrip(r)
	a.mu.Lock()
	rec.took, rec.err = time.Since(start), err
	a.mu.Unlock()
	return resp, err
}

// attempts returns the attempts made so far.
func (a *attemptTransport) attempts() []*attemptRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*attemptRecord(nil), a.at...)
}

// requireCutByTimeout checks that each of the attempts was bounded by the attempt
// timeout and ended by it (not by a failure, an answer or the caller).
func requireCutByTimeout(t testing.TB, ats []*attemptRecord, timeout time.Duration) {
	t.Helper()
	for i, a := range ats {
		require.Greater(t, a.budget, time.Duration(0), "attempt %d has a deadline", i)
		require.LessOrEqual(t, a.budget, timeout, "attempt %d is bounded by the attempt timeout", i)
		// The transport reports the context's cause: the exporter's attempt timeout.
		require.ErrorIs(t, a.err, exporter.ErrAttemptTimeout, "attempt %d ended by its deadline", i)
		require.GreaterOrEqual(t, a.took, a.budget, "attempt %d waited its budget out", i)
	}
}

// requireWrittenUnanswered waits for the warehouse to have recorded exactly the written
// ones of the attempts, in order, each left unanswered (status 0), followed by the
// given statuses of the attempts that were answered.
func requireWrittenUnanswered(t testing.TB, srv *warehouse.Server, hung []*attemptRecord, then ...int) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var want []int
		for _, a := range hung {
			if a.wrote.Load() {
				want = append(want, 0)
			}
		}
		assert.Equal(c, append(want, then...), statuses(srv))
	}, 5*time.Second, 5*time.Millisecond)
}

// whClock is a settable time source for the flag cache.
type whClock struct{ ns atomic.Int64 }

func newWHClock() *whClock {
	c := &whClock{}
	c.ns.Store(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *whClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *whClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// --- delivery -----------------------------------------------------------------------

func TestWarehouseExportReadsBackExactlyTheLogsSent(t *testing.T) {
	srv := startWarehouse(t)
	upload := time.UnixMilli(1732540000123)
	e := whExporter(t, srv,
		exporter.WithUserAgent("dbtelemetry-it/1.0"),
		exporter.WithClock(func() time.Time { return upload }))
	ctx := context.Background()

	batches := [][]*telemetry.FrontendLog{whLogs(1, 1), whLogs(2, 5), whLogs(3, 12), whLogs(4, 100)}
	var want []string
	for _, b := range batches {
		require.NoError(t, e.Export(ctx, b))
		want = append(want, wire(t, b)...)
	}

	assert.Equal(t, want, srv.TelemetryLogs(), "the ingest accepted exactly the logs sent, in order")
	reqs := srv.TelemetryRequests()
	require.Len(t, reqs, len(batches), "one request per batch")
	for i, r := range reqs {
		assert.Equal(t, "/telemetry-ext", r.Path)
		assert.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, "Bearer "+srv.Token(), r.Header.Get("Authorization"))
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		assert.Equal(t, "application/json", r.Header.Get("Accept"))
		assert.Equal(t, "dbtelemetry-it/1.0", r.Header.Get("User-Agent"))
		assert.Equal(t, fmt.Sprint(whWorkspaceID), r.Header.Get("X-Databricks-Org-Id"))

		var env telemetry.Request
		require.NoError(t, json.Unmarshal(r.Body, &env))
		assert.Equal(t, upload.UnixMilli(), env.UploadTime, "uploadTime")
		assert.NotNil(t, env.Items, "items present")
		assert.Empty(t, env.Items, "items empty")
		assert.Equal(t, wire(t, batches[i]), env.ProtoLogs, "batch %d", i)
		assert.Equal(t, env.ProtoLogs, r.ProtoLogs())
		// Each protoLog decodes back into the very log that was sent.
		for j, s := range env.ProtoLogs {
			var got telemetry.FrontendLog
			require.NoError(t, json.Unmarshal([]byte(s), &got))
			assert.Equal(t, batches[i][j], &got)
		}
	}

	st := e.ExportStats()
	assert.Equal(t, telemetry.ExportStats{
		Batches: 4, LogsExported: 118, Breaker: telemetry.BreakerClosed,
	}, st)
	assert.Empty(t, e.Transitions())

	// Empty and nil-only batches make no request.
	require.NoError(t, e.Export(ctx, nil))
	require.NoError(t, e.Export(ctx, []*telemetry.FrontendLog{nil}))
	assert.Len(t, srv.TelemetryRequests(), len(batches))
}

func TestWarehouseExportUnauthenticatedIsStripped(t *testing.T) {
	srv := startWarehouse(t)
	logs := whLogs(1, 8)
	for name, creds := range map[string]exporter.Credentials{
		"no credentials": nil,
		"unusable credentials": exporter.CredentialsFunc(func(*http.Request) error {
			return errors.New("token expired: dapi0000")
		}),
	} {
		t.Run(name, func(t *testing.T) {
			before := len(srv.TelemetryRequests())
			e := whExporter(t, srv, exporter.WithCredentials(creds))
			require.NoError(t, e.Export(context.Background(), logs))

			reqs := srv.TelemetryRequests()[before:]
			require.Len(t, reqs, 1)
			r := reqs[0]
			assert.Equal(t, "/telemetry-unauth", r.Path)
			assert.Equal(t, http.StatusOK, r.Status)
			assert.Empty(t, r.Header.Get("Authorization"))
			assert.Empty(t, r.Header.Get("X-Databricks-Org-Id"))
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			assert.Equal(t, exporter.DefaultUserAgent, r.Header.Get("User-Agent"))
			assert.Equal(t, strippedWire(t, logs), r.ProtoLogs())
			for _, leak := range []string{"workspace_id", "session_id", "sql_statement_id", "system_configuration",
				"driver_connection_params", "stack_trace", "01ef-", "dapi", warehouse.HTTPPath} {
				assert.NotContains(t, string(r.Body), leak)
			}
			assert.Equal(t, int64(8), e.ExportStats().LogsExported)
		})
	}
	// The caller's logs were not modified by stripping.
	assert.Equal(t, "01ef-session-01", logs[0].Entry.SQLDriverLog.SessionID)
	assert.Equal(t, int64(whWorkspaceID), logs[0].WorkspaceID)
}

func TestWarehouseExportWrongTokenIsTerminal(t *testing.T) {
	srv := startWarehouse(t)
	// Default backoff: a retry would also show in the time taken (at least 100 ms).
	e := exporter.NewHTTPExporter(whTarget(t, srv), exporter.WithCredentials(exporter.BearerToken("dapi-not-the-token")))
	t.Cleanup(func() { assert.NoError(t, e.Close(context.Background())) })

	err := e.Export(context.Background(), whLogs(1, 3))
	var se *exporter.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusUnauthorized, se.StatusCode)
	assert.False(t, se.Retryable())

	reqs := srv.TelemetryRequests()
	require.Len(t, reqs, 1, "401 is terminal: exactly one request")
	assert.Equal(t, http.StatusUnauthorized, reqs[0].Status)
	assert.Equal(t, "Bearer dapi-not-the-token", reqs[0].Header.Get("Authorization"))
	assert.Empty(t, srv.TelemetryLogs())
	assert.Equal(t, telemetry.ExportStats{Batches: 1, BatchesFailed: 1, Breaker: telemetry.BreakerClosed}, e.ExportStats())

	// The flag endpoint answers 401 too: an answer, meaning off.
	assert.False(t, e.FeatureFlags().Enabled(context.Background()))
	assert.Zero(t, srv.FeatureFlagRequests())
}

// --- faults on the ingest -------------------------------------------------------------

func TestWarehouseExportFaults(t *testing.T) {
	ctx := context.Background()

	t.Run("503 storm shorter than the retries recovers", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		e := whExporter(t, srv)
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: 503, Times: exporter.DefaultMaxRetries})
		logs := whLogs(1, 4)
		require.NoError(t, e.Export(ctx, logs))

		st := e.ExportStats()
		assert.Equal(t, int64(3), st.Retries)
		assert.Len(t, srv.TelemetryRequests(), 1+int(st.Retries), "requests = 1 + retries")
		requireStatuses(t, srv, 503, 503, 503, 200)
		assert.Equal(t, wire(t, logs), srv.TelemetryLogs(), "delivered once")
		assert.Equal(t, int64(4), st.LogsExported)
		assert.Zero(t, st.BatchesFailed)
		assert.Equal(t, 3, srv.FaultsServed(warehouse.GroupTelemetry))
	})

	t.Run("mixed 5xx storm recovers", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		e := whExporter(t, srv)
		srv.InjectFaults(warehouse.GroupTelemetry,
			warehouse.Fault{Status: 500}, warehouse.Fault{Status: 502}, warehouse.Fault{Status: 504})
		require.NoError(t, e.Export(ctx, whLogs(1, 2)))
		requireStatuses(t, srv, 500, 502, 504, 200)
		assert.Equal(t, int64(3), e.ExportStats().Retries)
	})

	t.Run("503 storm longer than the retries fails the batch", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		e := whExporter(t, srv)
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: 503, Times: -1})
		err := e.Export(ctx, whLogs(1, 3))
		var se *exporter.StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 503, se.StatusCode)
		requireStatuses(t, srv, 503, 503, 503, 503)
		assert.Empty(t, srv.TelemetryLogs())
		st := e.ExportStats()
		assert.Equal(t, telemetry.ExportStats{Batches: 1, BatchesFailed: 1, Retries: 3, Breaker: telemetry.BreakerClosed}, st)

		// The storm ends: the next batch goes through, the failed one is not resent.
		srv.ClearFaults(warehouse.GroupTelemetry)
		logs := whLogs(2, 2)
		require.NoError(t, e.Export(ctx, logs))
		assert.Equal(t, wire(t, logs), srv.TelemetryLogs())
		assert.Len(t, srv.TelemetryRequests(), 5)
	})

	for _, code := range []int{429, 503} {
		t.Run(fmt.Sprintf("%d with Retry-After is honoured", code), func(t *testing.T) {
			t.Parallel()
			srv := startWarehouse(t)
			client, stamps := newStampClient(t)
			const retryAfter, ceiling = time.Second, 3 * time.Second
			e := whExporter(t, srv, exporter.WithHTTPClient(client), exporter.WithRetryAfterCap(ceiling))
			srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: code, RetryAfter: retryAfter})
			logs := whLogs(1, 2)
			require.NoError(t, e.Export(ctx, logs))

			at := stamps.stamps()
			require.Len(t, at, 2)
			wait := at[1].Sub(at[0])
			assert.GreaterOrEqual(t, wait, retryAfter, "waited at least Retry-After")
			assert.LessOrEqual(t, wait, ceiling, "and no more than the cap")
			assert.Less(t, wait, retryAfter+500*time.Millisecond, "Retry-After replaces the backoff")
			requireStatuses(t, srv, code, 200)
			assert.Equal(t, wire(t, logs), srv.TelemetryLogs())
			assert.Equal(t, int64(1), e.ExportStats().Retries)
		})
	}

	t.Run("Retry-After beyond the cap waits the cap", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		client, stamps := newStampClient(t)
		const ceiling = 250 * time.Millisecond
		e := whExporter(t, srv, exporter.WithHTTPClient(client), exporter.WithRetryAfterCap(ceiling))
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: 429, RetryAfter: 30 * time.Second})
		require.NoError(t, e.Export(ctx, whLogs(1, 1)))
		at := stamps.stamps()
		require.Len(t, at, 2)
		wait := at[1].Sub(at[0])
		assert.GreaterOrEqual(t, wait, ceiling)
		assert.Less(t, wait, ceiling+500*time.Millisecond, "30 s asked, the cap waited")
	})

	t.Run("hang beyond the attempt timeout is retried", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		const attempt = 200 * time.Millisecond
		client, tr := newAttemptClient(t)
		e := whExporter(t, srv, exporter.WithAttemptTimeout(attempt), exporter.WithHTTPClient(client))
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Hang: true})
		logs := whLogs(1, 3)
		var err error
		took := timed(func() { err = e.Export(ctx, logs) })
		require.NoError(t, err)
		ats := tr.attempts()
		require.Len(t, ats, 2)
		requireCutByTimeout(t, ats[:1], attempt)
		assert.GreaterOrEqual(t, took, attempt)
		assert.Less(t, took, attempt+5*time.Second)
		requireWrittenUnanswered(t, srv, ats[:1], 200)
		assert.Equal(t, wire(t, logs), srv.TelemetryLogs())
		assert.Equal(t, int64(1), e.ExportStats().Retries)
	})

	t.Run("endless hang fails within the retry bound", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		const attempt = 150 * time.Millisecond
		client, tr := newAttemptClient(t)
		e := whExporter(t, srv, exporter.WithAttemptTimeout(attempt), exporter.WithHTTPClient(client))
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Hang: true, Times: -1})
		var err error
		took := timed(func() { err = e.Export(ctx, whLogs(1, 3)) })
		require.ErrorIs(t, err, exporter.ErrAttemptTimeout)
		// 4 attempts, each cut by its 150 ms timeout, plus millisecond backoffs. The
		// bound on the whole export follows from those; its wall-clock ceiling is only
		// a generous guard, as a loaded machine stretches every step.
		ats := tr.attempts()
		require.Len(t, ats, 1+exporter.DefaultMaxRetries)
		requireCutByTimeout(t, ats, attempt)
		assert.GreaterOrEqual(t, took, 4*attempt)
		assert.Less(t, took, 4*attempt+5*time.Second)
		requireWrittenUnanswered(t, srv, ats)
		st := e.ExportStats()
		assert.Equal(t, int64(3), st.Retries)
		assert.Equal(t, int64(1), st.BatchesFailed)
	})

	t.Run("dropped connection is retried", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		e := whExporter(t, srv)
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Drop: true}, warehouse.Fault{Drop: true})
		logs := whLogs(1, 5)
		require.NoError(t, e.Export(ctx, logs))
		requireStatuses(t, srv, 0, 0, 200)
		assert.Equal(t, wire(t, logs), srv.TelemetryLogs())
		assert.Equal(t, int64(2), e.ExportStats().Retries)
	})

	t.Run("dropped connections beyond the retries fail the batch", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		e := whExporter(t, srv)
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Drop: true, Times: -1})
		err := e.Export(ctx, whLogs(1, 1))
		require.Error(t, err)
		var se *exporter.StatusError
		assert.False(t, errors.As(err, &se), "a transport error, not a status: %v", err)
		requireStatuses(t, srv, 0, 0, 0, 0)
		assert.Equal(t, int64(1), e.ExportStats().BatchesFailed)
	})

	t.Run("garbage 200 body counts as delivered", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		e := whExporter(t, srv)
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Garbage: true, BodyBytes: 4000})
		logs := whLogs(1, 6)
		require.NoError(t, e.Export(ctx, logs))
		requireStatuses(t, srv, 200)
		assert.Equal(t, wire(t, logs), srv.TelemetryLogs(), "the ingest answered 200: not sent again")
		st := e.ExportStats()
		assert.Zero(t, st.Retries)
		assert.Equal(t, int64(6), st.LogsExported)
	})

	t.Run("garbage 200 body beyond the response cap counts as delivered", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		e := whExporter(t, srv, exporter.WithMaxResponseBytes(1024))
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Garbage: true, BodyBytes: 1 << 20})
		logs := whLogs(1, 2)
		var err error
		took := timed(func() { err = e.Export(ctx, logs) })
		require.NoError(t, err)
		assert.Less(t, took, time.Second)
		requireStatuses(t, srv, 200)
		assert.Equal(t, wire(t, logs), srv.TelemetryLogs())
		assert.Zero(t, e.ExportStats().Retries)
	})

	t.Run("slow drip is not waited for", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		e := whExporter(t, srv, exporter.WithAttemptTimeout(3*time.Second))
		const drip = 50 * time.Millisecond
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{SlowDrip: drip})
		logs := whLogs(1, 2)
		var err error
		took := timed(func() { err = e.Export(ctx, logs) })
		require.NoError(t, err)
		// The warehouse drips {"errors":[],"numSuccess":0}, 28 bytes: no debug line
		// needs them, so the batch is done at the status.
		assert.Less(t, took, 27*drip)
		requireStatuses(t, srv, 200)
		assert.Equal(t, wire(t, logs), srv.TelemetryLogs())
		assert.Zero(t, e.ExportStats().Retries)
	})

	t.Run("slow drip within the attempt timeout is read for the debug line", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		e := whExporter(t, srv, exporter.WithAttemptTimeout(3*time.Second), exporter.WithLogger(zerolog.New(io.Discard).Level(zerolog.DebugLevel)))
		const drip = 10 * time.Millisecond
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{SlowDrip: drip})
		logs := whLogs(1, 2)
		var err error
		took := timed(func() { err = e.Export(ctx, logs) })
		require.NoError(t, err)
		// The warehouse drips {"errors":[],"numSuccess":0}, 28 bytes.
		assert.GreaterOrEqual(t, took, 27*drip)
		requireStatuses(t, srv, 200)
		assert.Equal(t, wire(t, logs), srv.TelemetryLogs())
		assert.Zero(t, e.ExportStats().Retries)
	})

	t.Run("slow drip beyond the attempt timeout is delivered once", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		const attempt = 200 * time.Millisecond
		e := whExporter(t, srv, exporter.WithAttemptTimeout(attempt), exporter.WithLogger(zerolog.New(io.Discard).Level(zerolog.DebugLevel)))
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Garbage: true, BodyBytes: 500, SlowDrip: 20 * time.Millisecond})
		logs := whLogs(1, 3)
		var err error
		took := timed(func() { err = e.Export(ctx, logs) })
		require.NoError(t, err, "a 2xx status is the ingest's acknowledgement")
		assert.GreaterOrEqual(t, took, attempt, "the body read was bounded by the attempt timeout")
		assert.Less(t, took, attempt+time.Second)
		requireStatuses(t, srv, 200)
		assert.Equal(t, wire(t, logs), srv.TelemetryLogs(), "not resent: the ingest holds it once")
		assert.Zero(t, e.ExportStats().Retries)
	})

	t.Run("latency below the attempt timeout is waited out", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		e := whExporter(t, srv, exporter.WithAttemptTimeout(time.Second))
		const latency = 300 * time.Millisecond
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Latency: latency})
		logs := whLogs(1, 2)
		var err error
		took := timed(func() { err = e.Export(ctx, logs) })
		require.NoError(t, err)
		assert.GreaterOrEqual(t, took, latency)
		requireStatuses(t, srv, 200)
		assert.Equal(t, wire(t, logs), srv.TelemetryLogs())
		assert.Zero(t, e.ExportStats().Retries)
		assert.Equal(t, 1, srv.FaultsServed(warehouse.GroupTelemetry))
	})

	t.Run("latency beyond the attempt timeout is cut and retried", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		const attempt, latency = 200 * time.Millisecond, 5 * time.Second
		client, tr := newAttemptClient(t)
		e := whExporter(t, srv, exporter.WithAttemptTimeout(attempt), exporter.WithHTTPClient(client))
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Latency: latency})
		logs := whLogs(1, 2)
		var err error
		took := timed(func() { err = e.Export(ctx, logs) })
		require.NoError(t, err)
		ats := tr.attempts()
		require.Len(t, ats, 2)
		requireCutByTimeout(t, ats[:1], attempt)
		assert.GreaterOrEqual(t, took, attempt)
		assert.Less(t, took, latency, "did not wait for the 5 s latency")
		requireWrittenUnanswered(t, srv, ats[:1], 200)
		assert.Equal(t, wire(t, logs), srv.TelemetryLogs())
		assert.Equal(t, int64(1), e.ExportStats().Retries)
	})
}

// --- nothing blocks -------------------------------------------------------------------

func TestWarehouseNothingBlocks(t *testing.T) {
	t.Run("caller deadline cuts a hang and stops the retries", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		e := whExporter(t, srv, exporter.WithAttemptTimeout(time.Minute))
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Hang: true, Times: -1})
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		var err error
		took := timed(func() { err = e.Export(ctx, whLogs(1, 1)) })
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, took, time.Second)
		assert.Len(t, srv.TelemetryRequests(), 1, "no retry once the caller gave up")
		assert.Zero(t, e.ExportStats().Retries)
	})

	t.Run("caller deadline cuts a Retry-After wait", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		e := whExporter(t, srv)
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: 429, RetryAfter: 4 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		var err error
		took := timed(func() { err = e.Export(ctx, whLogs(1, 1)) })
		require.Error(t, err)
		assert.Less(t, took, time.Second)
		assert.Len(t, srv.TelemetryRequests(), 1)
	})

	t.Run("Close bounds an export stuck in a hang", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		e := whExporter(t, srv, exporter.WithAttemptTimeout(time.Minute))
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Hang: true, Times: -1})
		done := make(chan error, 1)
		go func() { done <- e.Export(context.Background(), whLogs(1, 1)) }()
		require.Eventually(t, func() bool { return len(srv.TelemetryRequests()) == 1 }, 2*time.Second, time.Millisecond)

		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		var err error
		took := timed(func() { err = e.Close(ctx) })
		assert.ErrorIs(t, err, context.DeadlineExceeded, "Close waited its ctx, then cancelled")
		assert.Less(t, took, time.Second)
		select {
		case err := <-done:
			assert.Error(t, err)
		case <-time.After(time.Second):
			t.Fatal("Export still blocked after Close")
		}
		assert.Len(t, srv.TelemetryRequests(), 1, "not retried after Close")
		assert.ErrorIs(t, e.Export(context.Background(), whLogs(2, 1)), exporter.ErrClosed)
	})

	t.Run("Close bounds an export waiting out Retry-After", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		e := whExporter(t, srv)
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: 503, RetryAfter: 4 * time.Second})
		done := make(chan error, 1)
		go func() { done <- e.Export(context.Background(), whLogs(1, 1)) }()
		requireStatuses(t, srv, 503)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		took := timed(func() { _ = e.Close(ctx) })
		assert.Less(t, took, time.Second)
		select {
		case err := <-done:
			assert.Error(t, err)
		case <-time.After(time.Second):
			t.Fatal("Export still blocked after Close")
		}
		assert.Len(t, srv.TelemetryRequests(), 1)
	})

	t.Run("warehouse shutdown during a hang", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		// Retries only once the warehouse has surely stopped listening.
		e := whExporter(t, srv, exporter.WithAttemptTimeout(time.Minute), exporter.WithBackoff(50*time.Millisecond, 50*time.Millisecond, 0))
		srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Hang: true, Times: -1})
		done := make(chan error, 1)
		go func() { done <- e.Export(context.Background(), whLogs(1, 1)) }()
		require.Eventually(t, func() bool { return len(srv.TelemetryRequests()) == 1 }, 2*time.Second, time.Millisecond)
		require.NoError(t, srv.Close())
		select {
		case err := <-done:
			assert.Error(t, err, "connection cut, then refused on every retry")
		case <-time.After(2 * time.Second):
			t.Fatal("Export still blocked after the warehouse closed")
		}
		assert.Equal(t, int64(1), e.ExportStats().BatchesFailed)
	})
}

// --- circuit breaker ------------------------------------------------------------------

func TestWarehouseBreakerTransitions(t *testing.T) {
	srv := startWarehouse(t)
	const delay = 200 * time.Millisecond
	clk := newWHClock() // the flag cache's clock; the breaker's delay runs on real time
	e := whExporter(t, srv, exporter.WithBreaker(5, delay, 2), exporter.WithClock(clk.now))
	ctx := context.Background()

	require.True(t, e.FeatureFlags().Enabled(ctx), "flag known before the storm")
	require.Equal(t, 1, srv.FeatureFlagRequests())

	// Five batches fail after their retries: the fifth opens the breaker.
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: 503, Times: -1})
	for i := range 5 {
		err := e.Export(ctx, whLogs(i, 2))
		require.Error(t, err)
		require.NotErrorIs(t, err, exporter.ErrBreakerOpen)
		want := telemetry.BreakerClosed
		if i == 4 {
			want = telemetry.BreakerOpen
		}
		require.Equal(t, want, e.ExportStats().Breaker, "after batch %d", i)
	}
	requests := len(srv.TelemetryRequests())
	assert.Equal(t, 5*(1+exporter.DefaultMaxRetries), requests)
	trs := e.Transitions()
	require.Len(t, trs, 1)
	assert.Equal(t, telemetry.BreakerClosed, trs[0].From)
	assert.Equal(t, telemetry.BreakerOpen, trs[0].To)
	assert.Equal(t, telemetry.ExportStats{
		Batches: 5, BatchesFailed: 5, Retries: 15, Breaker: telemetry.BreakerOpen, BreakerOpened: 1,
	}, e.ExportStats())

	// Open: batches are dropped at once and the warehouse sees nothing; the flag fetch
	// shares the breaker, so it is refused too and keeps the last value.
	srv.ClearFaults(warehouse.GroupTelemetry) // healthy again, but the breaker does not know
	for i := range 3 {
		var err error
		took := timed(func() { err = e.Export(ctx, whLogs(10+i, 2)) })
		require.ErrorIs(t, err, exporter.ErrBreakerOpen)
		assert.Less(t, took, time.Second, "dropped without waiting (a bound, not a speed)")
	}
	assert.Len(t, srv.TelemetryRequests(), requests, "no request while open")
	clk.advance(time.Hour)
	assert.True(t, e.FeatureFlags().Enabled(ctx), "open breaker: last value kept")
	assert.Equal(t, 1, srv.FeatureFlagRequests(), "no flag request while open")
	assert.Zero(t, srv.FaultsServed(warehouse.GroupFeatureFlag))
	assert.Equal(t, int64(3), e.ExportStats().BatchesRejected)

	// After the delay: half-open; a failed probe reopens.
	time.Sleep(delay + 50*time.Millisecond)
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: 500, Times: 4})
	require.Error(t, e.Export(ctx, whLogs(20, 1)))
	assert.Equal(t, telemetry.BreakerOpen, e.ExportStats().Breaker)
	requests += 4
	assert.Len(t, srv.TelemetryRequests(), requests, "the probe batch ran its retries")

	// After the delay again, with the warehouse healthy: two successes close it.
	time.Sleep(delay + 50*time.Millisecond)
	probes := [][]*telemetry.FrontendLog{whLogs(30, 3), whLogs(31, 4)}
	require.NoError(t, e.Export(ctx, probes[0]))
	assert.Equal(t, telemetry.BreakerHalfOpen, e.ExportStats().Breaker)
	require.NoError(t, e.Export(ctx, probes[1]))
	assert.Equal(t, telemetry.BreakerClosed, e.ExportStats().Breaker)
	assert.Equal(t, append(wire(t, probes[0]), wire(t, probes[1])...), srv.TelemetryLogs(),
		"only the probes reached the ingest")

	trs = e.Transitions()
	var got []string
	for _, tr := range trs {
		got = append(got, string(tr.From)+"→"+string(tr.To))
	}
	assert.Equal(t, []string{
		"closed→open", "open→half-open", "half-open→open", "open→half-open", "half-open→closed",
	}, got)
	st := e.ExportStats()
	assert.Equal(t, int64(2), st.BreakerOpened)
	assert.Equal(t, int64(3), st.BatchesRejected)
	assert.Equal(t, int64(6), st.BatchesFailed)
	assert.Equal(t, int64(7), st.LogsExported)
	assert.Equal(t, int64(5+3+1+2), st.Batches)

	// Closed again: once its failed fetch is a minute old, the flag cache asks again.
	clk.advance(exporter.MinFlagTTL + time.Second)
	assert.True(t, e.FeatureFlags().Enabled(ctx))
	assert.Equal(t, 2, srv.FeatureFlagRequests())
}

func TestWarehouseFlagFailuresCountForTheExportBreaker(t *testing.T) {
	srv := startWarehouse(t)
	clk := newWHClock()
	e := whExporter(t, srv, exporter.WithMaxRetries(0), exporter.WithClock(clk.now), exporter.WithBreaker(5, time.Minute, 2))
	ctx := context.Background()

	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: 503, Times: 4})
	for range 4 {
		require.Error(t, e.Export(ctx, whLogs(1, 1)))
	}
	require.Equal(t, telemetry.BreakerClosed, e.ExportStats().Breaker)
	srv.InjectFaults(warehouse.GroupFeatureFlag, warehouse.Fault{Status: 503})
	assert.False(t, e.FeatureFlags().Enabled(ctx), "503 means off")
	assert.Equal(t, telemetry.BreakerOpen, e.ExportStats().Breaker, "the flag's failure was the fifth in a row")

	require.ErrorIs(t, e.Export(ctx, whLogs(2, 1)), exporter.ErrBreakerOpen)
	assert.Len(t, srv.TelemetryRequests(), 4, "healthy ingest, but not contacted")
}

// --- feature flag ---------------------------------------------------------------------

func TestWarehouseFeatureFlagValues(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		t.Run(fmt.Sprint(enabled), func(t *testing.T) {
			srv := startWarehouse(t, warehouse.WithTelemetryFlag(enabled))
			e := whExporter(t, srv)
			ff := e.FeatureFlags()
			assert.Equal(t, enabled, ff.Enabled(context.Background()))
			assert.Equal(t, enabled, ff.Enabled(context.Background()), "cached")
			assert.Equal(t, 1, srv.FeatureFlagRequests())
			assert.Empty(t, srv.TelemetryRequests(), "the flag is not telemetry")
		})
	}
	t.Run("no credentials: off without asking", func(t *testing.T) {
		srv := startWarehouse(t)
		e := whExporter(t, srv, exporter.WithCredentials(nil))
		assert.False(t, e.FeatureFlags().Enabled(context.Background()))
		assert.Zero(t, srv.FeatureFlagRequests())
		assert.Zero(t, srv.FaultsServed(warehouse.GroupFeatureFlag))
	})
}

func TestWarehouseFeatureFlagChangeSeenAfterTTL(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server time.Duration // what the warehouse says in ttl_seconds
		opt    time.Duration // WithFlagTTL, used when the server gives none
		want   time.Duration
	}{
		{"server ttl_seconds", 2 * time.Minute, 0, 2 * time.Minute},
		{"server ttl below the floor", 10 * time.Second, 0, exporter.MinFlagTTL},
		{"server ttl above the ceiling", 3 * time.Hour, 0, exporter.MaxFlagTTL},
		{"no server ttl: WithFlagTTL", 0, 5 * time.Minute, 5 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startWarehouse(t, warehouse.WithFeatureFlagTTL(tc.server))
			clk := newWHClock()
			opts := []exporter.Option{exporter.WithClock(clk.now)}
			if tc.opt > 0 {
				opts = append(opts, exporter.WithFlagTTL(tc.opt))
			}
			e := whExporter(t, srv, opts...)
			ff := e.FeatureFlags()
			ctx := context.Background()

			require.True(t, ff.Enabled(ctx))
			srv.SetTelemetryFlag(false)
			clk.advance(tc.want - time.Second)
			assert.True(t, ff.Enabled(ctx), "still cached just before the TTL")
			assert.Equal(t, 1, srv.FeatureFlagRequests())
			clk.advance(2 * time.Second)
			assert.False(t, ff.Enabled(ctx), "the change is seen after the TTL")
			assert.Equal(t, 2, srv.FeatureFlagRequests())
		})
	}
}

func TestWarehouseFeatureFlagFaults(t *testing.T) {
	const flagTimeout = 200 * time.Millisecond
	// The flag is known to be on; the warehouse then switches it off and the next fetch
	// meets the fault: "off" is the fault read as an answer, "kept" the last value (on),
	// "fresh" the warehouse's new answer (off).
	for _, tc := range []struct {
		name   string
		fault  warehouse.Fault
		want   bool
		fresh  bool // the warehouse answered with the flag despite the fault
		served int  // requests the fault answered
		slow   bool // takes the flag timeout
	}{
		{"503 is an answer: off", warehouse.Fault{Status: 503}, false, false, 1, false},
		{"429 is an answer, not retried: off", warehouse.Fault{Status: 429, RetryAfter: 2 * time.Second}, false, false, 1, false},
		{"500 is an answer: off", warehouse.Fault{Status: 500}, false, false, 1, false},
		{"garbage 200 is unparsable: off", warehouse.Fault{Garbage: true}, false, false, 1, false},
		{"slow drip body without the flag: off", warehouse.Fault{SlowDrip: time.Millisecond}, false, false, 1, false},
		{"hang: last value kept", warehouse.Fault{Hang: true}, true, false, 1, true},
		{"latency beyond the timeout: last value kept", warehouse.Fault{Latency: 5 * time.Second}, true, false, 1, true},
		{"slow drip beyond the timeout: last value kept",
			warehouse.Fault{Garbage: true, BodyBytes: 1000, SlowDrip: 10 * time.Millisecond}, true, false, 1, true},
		// Each request has a connection of its own (no reused connection that net/http
		// would replay the GET on): one drop fails the fetch.
		{"dropped connection: last value kept", warehouse.Fault{Drop: true}, true, false, 1, false},
		{"latency within the timeout: fresh answer", warehouse.Fault{Latency: 50 * time.Millisecond}, false, true, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startWarehouse(t)
			clk := newWHClock()
			e := whExporter(t, srv, exporter.WithClock(clk.now), exporter.WithFlagTimeout(flagTimeout))
			ff := e.FeatureFlags()
			ctx := context.Background()
			require.True(t, ff.Enabled(ctx))

			srv.SetTelemetryFlag(false)
			clk.advance(exporter.DefaultFlagTTL + time.Second)
			srv.InjectFaults(warehouse.GroupFeatureFlag, tc.fault)
			var got bool
			took := timed(func() { got = ff.Enabled(ctx) })
			assert.Equal(t, tc.want, got)
			answered := 1
			if tc.fresh {
				answered++
			}
			assert.Equal(t, answered, srv.FeatureFlagRequests())
			assert.Equal(t, tc.served, srv.FaultsServed(warehouse.GroupFeatureFlag), "the flag fetch is not retried")
			if tc.slow {
				assert.GreaterOrEqual(t, took, flagTimeout)
			}
			assert.Less(t, took, flagTimeout+time.Second, "bounded by the flag timeout")

			// The result is not asked again for a minute, then the healthy answer comes.
			clk.advance(exporter.MinFlagTTL - time.Second)
			assert.Equal(t, tc.want, ff.Enabled(ctx))
			assert.Equal(t, answered, srv.FeatureFlagRequests())
			assert.Equal(t, tc.served, srv.FaultsServed(warehouse.GroupFeatureFlag))
			clk.advance(exporter.DefaultFlagTTL)
			assert.False(t, ff.Enabled(ctx))
			assert.Equal(t, answered+1, srv.FeatureFlagRequests())
		})
	}

	t.Run("hang with nothing known: off within the timeout", func(t *testing.T) {
		t.Parallel()
		srv := startWarehouse(t)
		e := whExporter(t, srv, exporter.WithFlagTimeout(flagTimeout))
		srv.InjectFaults(warehouse.GroupFeatureFlag, warehouse.Fault{Hang: true})
		var got bool
		took := timed(func() { got = e.FeatureFlags().Enabled(context.Background()) })
		assert.False(t, got)
		assert.GreaterOrEqual(t, took, flagTimeout)
		assert.Less(t, took, flagTimeout+time.Second)
		assert.Zero(t, srv.FeatureFlagRequests())
	})
}

func TestWarehouseFeatureFlagOneFetchInFlight(t *testing.T) {
	srv := startWarehouse(t)
	e := whExporter(t, srv)
	ff := e.FeatureFlags()
	const latency = 300 * time.Millisecond
	srv.InjectFaults(warehouse.GroupFeatureFlag, warehouse.Fault{Latency: latency})

	start := make(chan struct{})
	var wg sync.WaitGroup
	var on atomic.Int64
	for range 50 {
		wg.Go(func() {
			<-start
			if ff.Enabled(context.Background()) {
				on.Add(1)
			}
		})
	}
	// A caller with its own short deadline is not held by the slow fetch.
	var impatient bool
	var took time.Duration
	wg.Go(func() {
		<-start
		// Once the fetch is at the warehouse (the latency fault has been taken).
		for srv.FaultsServed(warehouse.GroupFeatureFlag) == 0 {
			time.Sleep(time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		took = timed(func() { impatient = ff.Enabled(ctx) })
	})
	close(start)
	wg.Wait()

	assert.Equal(t, int64(50), on.Load(), "every caller saw the answer")
	assert.Equal(t, 1, srv.FeatureFlagRequests(), "one fetch for 50 callers")
	assert.Equal(t, 1, srv.FaultsServed(warehouse.GroupFeatureFlag))
	assert.False(t, impatient, "gave up before the answer: nothing known yet, off")
	assert.Less(t, took, latency)
}

// --- registry -------------------------------------------------------------------------

// bufferLayer stands in for the driver's aggregator: it holds logs and exports them on
// Close, the host's final flush.
type bufferLayer struct {
	exp    telemetry.Exporter
	mu     sync.Mutex
	logs   []*telemetry.FrontendLog
	closes atomic.Int64
}

func (b *bufferLayer) add(logs ...*telemetry.FrontendLog) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.logs = append(b.logs, logs...)
}

func (b *bufferLayer) Close(ctx context.Context) error {
	b.closes.Add(1)
	b.mu.Lock()
	logs := b.logs
	b.logs = nil
	b.mu.Unlock()
	return b.exp.Export(ctx, logs)
}

func TestWarehouseRegistryEndToEnd(t *testing.T) {
	srv := startWarehouse(t)
	reg := exporter.NewRegistry(
		exporter.WithBackoff(time.Millisecond, 5*time.Millisecond, 0),
		exporter.WithLayer(func(_ exporter.Target, exp telemetry.Exporter) exporter.Layer {
			return &bufferLayer{exp: exp}
		}))
	t.Cleanup(func() { assert.NoError(t, reg.Close(context.Background())) })
	ctx := context.Background()

	_, err := reg.Acquire(srv.URL(), exporter.WithConnCredentials(exporter.BearerToken(srv.Token())))
	require.ErrorIs(t, err, exporter.ErrForbiddenHost, "loopback only when the DSN is loopback")

	// Two connections to the warehouse, the host spelled two ways; only the first has credentials.
	h1, err := reg.Acquire(srv.URL(), exporter.WithConnCredentials(exporter.BearerToken(srv.Token())), exporter.WithLoopbackDSN())
	require.NoError(t, err)
	h2, err := reg.Acquire(strings.ToUpper(srv.URL())+"/", exporter.WithLoopbackDSN())
	require.NoError(t, err)

	assert.Same(t, h1.Exporter(), h2.Exporter(), "one exporter per host")
	assert.Same(t, h1.FeatureFlags(), h2.FeatureFlags())
	assert.Same(t, h1.Layer(), h2.Layer())
	assert.Equal(t, "http://"+srv.Addr(), h1.Key())
	assert.Equal(t, h1.Key(), h2.Key())
	assert.Equal(t, 1, reg.Len())
	assert.Equal(t, 2, reg.Refs(h1.Key()))

	// The shared flag cache asks once for both connections.
	assert.True(t, h1.FeatureFlags().Enabled(ctx))
	assert.True(t, h2.FeatureFlags().Enabled(ctx))
	assert.Equal(t, 1, srv.FeatureFlagRequests())

	// A batch straight through the shared exporter, and logs of both connections held
	// in the host's layer.
	direct := whLogs(1, 3)
	require.NoError(t, h2.Exporter().Export(ctx, direct))
	layer := h1.Layer().(*bufferLayer)
	held := append(whLogs(2, 4), whLogs(3, 2)...)
	layer.add(held[:4]...)
	layer.add(held[4:]...)

	// The connection with credentials leaves first: no flush yet, and a second release
	// is ignored.
	require.NoError(t, h1.Release(ctx))
	require.NoError(t, h1.Release(ctx))
	assert.Equal(t, 1, reg.Refs(h1.Key()))
	assert.Len(t, srv.TelemetryRequests(), 1)
	assert.Zero(t, layer.closes.Load())

	// The last release flushes the layer to the warehouse, still authenticated.
	require.NoError(t, h2.Release(ctx))
	assert.Equal(t, int64(1), layer.closes.Load())
	assert.Equal(t, 0, reg.Len())
	assert.Equal(t, append(wire(t, direct), wire(t, held)...), srv.TelemetryLogs())
	reqs := srv.TelemetryRequests()
	require.Len(t, reqs, 2)
	for _, r := range reqs {
		assert.Equal(t, "/telemetry-ext", r.Path)
		assert.Equal(t, "Bearer "+srv.Token(), r.Header.Get("Authorization"))
		assert.Equal(t, http.StatusOK, r.Status)
	}
	assert.ErrorIs(t, h2.Exporter().Export(ctx, whLogs(4, 1)), exporter.ErrClosed)
	st := h2.Exporter().ExportStats()
	assert.Equal(t, int64(2), st.Batches)
	assert.Equal(t, int64(9), st.LogsExported)

	// A new connection gets a fresh exporter for the same host.
	h3, err := reg.Acquire(srv.URL(), exporter.WithConnCredentials(exporter.BearerToken(srv.Token())), exporter.WithLoopbackDSN())
	require.NoError(t, err)
	assert.NotSame(t, h2.Exporter(), h3.Exporter())
	h3.Layer().(*bufferLayer).add(whLogs(5, 1)...)
	require.NoError(t, h3.Release(ctx))
	assert.Len(t, srv.TelemetryLogs(), 10)
}
