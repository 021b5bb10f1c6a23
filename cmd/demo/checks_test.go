package main

import (
	"bytes"
	"context"
	"database/sql"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// Each cross-check can fail: starting from a run where telemetry, the application and
// the warehouse agree, one disagreement fails exactly the check that looks at it.
func TestChecksDisagree(t *testing.T) {
	srv, err := warehouse.NewServer(warehouse.WithCloudFetchThreshold(10), warehouse.WithChunkRows(50), warehouse.WithBatchRows(50))
	require.NoError(t, err)
	defer srv.Close()
	db, err := sql.Open("databricks", srv.DSN())
	require.NoError(t, err)
	var n int64
	rows, err := db.QueryContext(context.Background(), "SELECT range FROM range(200)")
	require.NoError(t, err)
	for rows.Next() {
		n++
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.NoError(t, db.Close())
	stmts := srv.Statements()
	require.Len(t, stmts, 1)
	rec := stmts[0]
	require.Equal(t, warehouse.DeliveryCloudFetch, rec.Delivery)
	require.Positive(t, rec.ChunkDownloads)

	require.Len(t, srv.Sessions(), 1)
	require.False(t, srv.Sessions()[0].ClosedAt.IsZero(), "db.Close closed the session")

	// agreeing is a run whose numbers all agree: one session, opened and closed, one
	// statement, three logs.
	agreeing := func() (inputs, *Report, []telemetry.FrontendLog) {
		in := inputs{
			srv:     srv,
			enabled: true,
			stats:   aggregator.Stats{Received: 3, Queued: 3, Exported: 3},
			mix:     []sample{{kind: kindLookup, id: rec.ID, rows: n}},
		}
		r := &Report{
			Telemetry: TelemetryReport{DeliveredLogs: 3},
			Warehouse: &WarehouseReport{IngestLogs: 3, Sessions: 1, SessionsClosed: 1},
		}
		logs := []telemetry.FrontendLog{
			{Entry: &telemetry.LogEntry{SQLDriverLog: &telemetry.SQLDriverLog{
				SQLOperation: &telemetry.SQLOperation{OperationDetail: &telemetry.OperationDetail{OperationType: telemetry.OpCreateSession}},
			}}},
			{Entry: &telemetry.LogEntry{SQLDriverLog: &telemetry.SQLDriverLog{
				SQLOperation: &telemetry.SQLOperation{OperationDetail: &telemetry.OperationDetail{OperationType: telemetry.OpDeleteSession}},
			}}},
			{Entry: &telemetry.LogEntry{SQLDriverLog: &telemetry.SQLDriverLog{
				SQLStatementID: rec.ID,
				SQLOperation: &telemetry.SQLOperation{
					ExecutionResult: string(rec.Delivery),
					ChunkDetails:    &telemetry.ChunkDetails{TotalChunksIterated: int32(rec.ChunkDownloads)},
					OperationDetail: &telemetry.OperationDetail{NOperationStatusCalls: int32(rec.Polls)},
				},
			}}},
		}
		return in, r, logs
	}
	in, r, logs := agreeing()
	for _, c := range checks(in, r, logs) {
		require.True(t, c.OK, "the agreeing run: %s: %s", c.Name, c.Detail)
	}

	stmtOp := func(logs []telemetry.FrontendLog) *telemetry.SQLOperation {
		return logs[2].Entry.SQLDriverLog.SQLOperation
	}
	for _, tc := range []struct {
		name     string
		disagree func(in *inputs, r *Report, logs []telemetry.FrontendLog)
		failing  []string // the checks that must fail, in the report's order
	}{
		{"fewer logs on the wire", func(_ *inputs, r *Report, _ []telemetry.FrontendLog) { r.Telemetry.DeliveredLogs = 2 },
			[]string{"exported = delivered on the wire"}},
		{"a log unaccounted for", func(in *inputs, _ *Report, _ []telemetry.FrontendLog) { in.stats.Queued = 4 },
			[]string{"every log accounted for"}},
		{"fewer logs at the ingest", func(_ *inputs, r *Report, _ []telemetry.FrontendLog) { r.Warehouse.IngestLogs = 2 },
			[]string{"exported = received by the ingest"}},
		{"a statement the warehouse never saw", func(in *inputs, _ *Report, _ []telemetry.FrontendLog) {
			in.mix = append(in.mix, sample{kind: kindLookup, id: "01ef0000-0000-0000-0000-000000000000", rows: 1})
		}, []string{"statements: application = warehouse"}},
		{"a statement the application never ran", func(in *inputs, _ *Report, _ []telemetry.FrontendLog) { in.mix = nil },
			[]string{"statements: application = warehouse"}},
		{"a session without its log", func(_ *inputs, r *Report, _ []telemetry.FrontendLog) { r.Warehouse.Sessions++ },
			[]string{"logs: one per session opened, session closed and statement, or its loss counted"}},
		{"a session closed without its log", func(_ *inputs, r *Report, _ []telemetry.FrontendLog) {
			r.Warehouse.Sessions++
			r.Warehouse.SessionsClosed++
		}, []string{"logs: one per session opened, session closed and statement, or its loss counted"}},
		{"a closed session without its DELETE_SESSION log", func(_ *inputs, _ *Report, logs []telemetry.FrontendLog) {
			logs[1].Entry.SQLDriverLog.SQLOperation = nil
		}, []string{"logs: one per session opened, session closed and statement, or its loss counted"}},
		{"more session logs than sessions", func(_ *inputs, r *Report, _ []telemetry.FrontendLog) { r.Warehouse.Sessions = 0 },
			[]string{"sessions: CREATE_SESSION logs = warehouse sessions"}},
		{"more DELETE_SESSION logs than sessions closed", func(_ *inputs, r *Report, _ []telemetry.FrontendLog) { r.Warehouse.SessionsClosed = 0 },
			[]string{"sessions: CREATE_SESSION logs = warehouse sessions"}},
		{"a session log while telemetry is off", func(in *inputs, _ *Report, _ []telemetry.FrontendLog) { in.enabled = false },
			[]string{"sessions: no CREATE_SESSION log while telemetry is off", "statements: no statement log while telemetry is off"}},
		{"a session log while the server's flag is off", func(in *inputs, r *Report, _ []telemetry.FrontendLog) {
			// The flag off: the aggregator received nothing, the exporter sent nothing.
			in.stats = aggregator.Stats{}
			r.Telemetry.DeliveredLogs, r.Warehouse.IngestLogs = 0, 0
		}, []string{"sessions: no CREATE_SESSION log while telemetry is off", "statements: no statement log while telemetry is off"}},
		{"chunks", func(_ *inputs, _ *Report, logs []telemetry.FrontendLog) {
			stmtOp(logs).ChunkDetails.TotalChunksIterated++
		},
			[]string{"telemetry = warehouse, statement by statement"}},
		{"polls", func(_ *inputs, _ *Report, logs []telemetry.FrontendLog) {
			stmtOp(logs).OperationDetail.NOperationStatusCalls++
		},
			[]string{"telemetry = warehouse, statement by statement"}},
		{"delivery", func(_ *inputs, _ *Report, logs []telemetry.FrontendLog) {
			stmtOp(logs).ExecutionResult = string(warehouse.DeliveryInline)
		}, []string{"telemetry = warehouse, statement by statement"}},
		{"rows", func(in *inputs, _ *Report, _ []telemetry.FrontendLog) { in.mix[0].rows-- },
			[]string{"rows: application = warehouse"}},
		{"a statement without its log, no drop counted", func(_ *inputs, _ *Report, logs []telemetry.FrontendLog) {
			logs[2].Entry.SQLDriverLog.SQLStatementID = "01ef0000-0000-0000-0000-00000000beef"
		}, []string{"logs: one per session opened, session closed and statement, or its loss counted"}},
		{"a statement whose log is among the drops", func(in *inputs, _ *Report, logs []telemetry.FrontendLog) {
			logs[2].Entry.SQLDriverLog.SQLStatementID = "01ef0000-0000-0000-0000-00000000beef"
			in.stats.Queued, in.stats.Dropped.ExportFailed = 4, 1
		}, nil},
		{"a session whose log is among the drops", func(in *inputs, r *Report, _ []telemetry.FrontendLog) {
			r.Warehouse.Sessions++
			in.stats.Queued, in.stats.Dropped.ExportFailed = 4, 1
		}, nil},
		{"a session opened and closed whose two logs are among the drops", func(in *inputs, r *Report, _ []telemetry.FrontendLog) {
			r.Warehouse.Sessions++
			r.Warehouse.SessionsClosed++
			in.stats.Queued, in.stats.Dropped.ExportFailed = 5, 2
		}, nil},
		{"two sessions without their logs, one drop", func(in *inputs, r *Report, _ []telemetry.FrontendLog) {
			r.Warehouse.Sessions += 2
			in.stats.Queued, in.stats.Dropped.ExportFailed = 4, 1
		}, []string{"logs: one per session opened, session closed and statement, or its loss counted"}},
		{"a session and a statement without their logs, one drop", func(in *inputs, r *Report, logs []telemetry.FrontendLog) {
			r.Warehouse.Sessions++
			logs[2].Entry.SQLDriverLog.SQLStatementID = "01ef0000-0000-0000-0000-00000000beef"
			in.stats.Queued, in.stats.Dropped.ExportFailed = 4, 1
		}, []string{"logs: one per session opened, session closed and statement, or its loss counted"}},
		{"more logs on the wire than exported", func(_ *inputs, r *Report, _ []telemetry.FrontendLog) { r.Telemetry.DeliveredLogs = 4 },
			[]string{"exported = delivered on the wire"}},
		{"a log unfinished at close is accounted for", func(in *inputs, _ *Report, _ []telemetry.FrontendLog) {
			in.stats.Queued, in.stats.Dropped.Unfinished = 4, 1
		}, nil},
		{"a log still pending is accounted for", func(in *inputs, _ *Report, _ []telemetry.FrontendLog) {
			in.stats.Queued, in.stats.Pending = 4, 1
		}, nil},
		{"a log dropped by the full queue is accounted for", func(in *inputs, _ *Report, _ []telemetry.FrontendLog) {
			in.stats.Queued, in.stats.Dropped.QueueFull = 4, 1
		}, nil},
		{"a statement the application ran that the warehouse never named", func(in *inputs, _ *Report, _ []telemetry.FrontendLog) {
			in.mix = append(in.mix, sample{kind: kindCancelled, err: context.DeadlineExceeded})
		}, []string{"statements: application = warehouse"}},
		{"a DELETE_SESSION log while telemetry is off", func(in *inputs, _ *Report, logs []telemetry.FrontendLog) {
			in.enabled = false
			logs[0].Entry.SQLDriverLog.SQLOperation = nil // no CREATE_SESSION log, the DELETE_SESSION one stays
		}, []string{"sessions: no CREATE_SESSION log while telemetry is off", "statements: no statement log while telemetry is off"}},
		{"events received, no log queued, delivered or dropped", func(in *inputs, r *Report, logs []telemetry.FrontendLog) {
			in.stats = aggregator.Stats{Received: 3}
			r.Telemetry.DeliveredLogs, r.Warehouse.IngestLogs = 0, 0
			for i := range logs {
				logs[i].Entry.SQLDriverLog = &telemetry.SQLDriverLog{}
			}
		}, []string{"logs: one per session opened, session closed and statement, or its loss counted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, r, logs := agreeing()
			tc.disagree(&in, r, logs)
			var failed []string
			for _, c := range checks(in, r, logs) {
				if !c.OK {
					failed = append(failed, c.Name)
				}
			}
			assert.Equal(t, tc.failing, failed)
		})
	}

	// The statement-by-statement check names the first statement that disagrees, with
	// what its log and the warehouse say: a reader needs it to tell which side is wrong.
	in, r, logs = agreeing()
	stmtOp(logs).ExecutionResult = string(warehouse.DeliveryInline)
	var detail string
	for _, c := range checks(in, r, logs) {
		if c.Name == "telemetry = warehouse, statement by statement" {
			detail = c.Detail
		}
	}
	assert.Contains(t, detail, `1 disagree (the first, of a lookup statement:`)
	assert.Contains(t, detail, `delivery "`+string(warehouse.DeliveryInline)+`" in its log; the warehouse's: `)
}

// A cross-check that disagrees makes the demo exit 1 and say which: here the ingest
// acknowledges batches with 202, which the exporter counts as delivered but the
// warehouse's TelemetryLogs (the logs answered 200) does not.
func TestCrossCheckFailureExits1(t *testing.T) {
	t.Setenv(envDSN, "")
	t.Setenv(telemetry.DisableEnv, "")
	var stdout, stderr bytes.Buffer
	code, res := runDemo(context.Background(), []string{"-queries", "24", "-concurrency", "2", "-json"}, &stdout, &stderr, cheaperScan,
		func(o *options) {
			o.warehouseOpts = append(o.warehouseOpts, warehouse.WithTelemetryHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusAccepted)
			})))
		})
	require.NotNil(t, res)
	require.NotNil(t, res.report)
	var failed []string
	for _, c := range res.report.Checks {
		if !c.OK {
			failed = append(failed, c.Name)
		}
	}
	require.Equal(t, []string{"exported = received by the ingest"}, failed)
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, stderr.String(), "demo: cross-check failed: exported = received by the ingest")
}

// The warehouse's report counts the sessions closed apart from those opened: a session
// still open has no DELETE_SESSION log to miss.
func TestWarehouseReportCountsClosedSessions(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	db, err := sql.Open("databricks", srv.DSN())
	require.NoError(t, err)
	conn, err := db.Conn(context.Background())
	require.NoError(t, err)
	require.NoError(t, conn.PingContext(context.Background()))
	w := warehouseReport(srv)
	assert.Equal(t, 1, w.Sessions)
	assert.Zero(t, w.SessionsClosed, "the session is open")
	require.NoError(t, conn.Close())
	require.NoError(t, db.Close())
	w = warehouseReport(srv)
	assert.Equal(t, 1, w.Sessions)
	assert.Equal(t, 1, w.SessionsClosed)
}

// The delivery of a statement's result is compared where the result reached the client.
// The driver fetches no result of an Exec it polled to its end (the warehouse prepared
// one all the same, and records its delivery): its log can say none. A query polled to
// its end fetches its rows, and one answered at once gets them with the reply.
func TestServedDelivery(t *testing.T) {
	srv, err := warehouse.NewServer(warehouse.WithAsyncThreshold(time.Nanosecond))
	require.NoError(t, err)
	defer srv.Close()
	db, err := sql.Open("databricks", srv.DSN())
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	_, err = db.ExecContext(ctx, "CREATE TABLE served_t (id BIGINT)")
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "INSERT INTO served_t VALUES (1)")
	require.NoError(t, err)
	var n int64
	require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM served_t").Scan(&n))

	byText := map[string]warehouse.StatementRecord{}
	for _, st := range srv.Statements() {
		byText[st.SQL] = st
	}
	insert, query := byText["INSERT INTO served_t VALUES (1)"], byText["SELECT count(*) FROM served_t"]
	require.True(t, insert.Async, "the premise: the INSERT was polled")
	require.Equal(t, warehouse.DeliveryInline, insert.Delivery, "the premise: the warehouse records a delivery it never made")
	require.Zero(t, insert.Fetches, "the premise: the driver fetched nothing")
	assert.False(t, served(insert))
	require.True(t, query.Async)
	assert.True(t, served(query))
	answered := insert
	answered.Async = false // answered at once: the result came with the reply
	assert.True(t, served(answered))
	failed := query
	failed.State = warehouse.StateError
	assert.False(t, served(failed))
}
