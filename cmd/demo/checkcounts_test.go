package main

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// The per-statement checks count statements, not logs, and compare a DML statement's
// rows with the rows it modified: on a warehouse that ran a CREATE, an INSERT of 5 rows
// and a SELECT of 3, a log delivered twice does not stand in for a statement's missing
// one, and the INSERT's 5 rows agree with the warehouse although its result set is not 5
// rows.
func TestChecksCountStatements(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	db, err := sql.Open("databricks", srv.DSN())
	require.NoError(t, err)
	ctx := context.Background()
	_, err = db.ExecContext(ctx, "CREATE TABLE review_t (x BIGINT)")
	require.NoError(t, err)
	res, err := db.ExecContext(ctx, "INSERT INTO review_t SELECT range FROM range(5)")
	require.NoError(t, err)
	inserted, err := res.RowsAffected()
	require.NoError(t, err)
	require.Equal(t, int64(5), inserted)
	n, _, err := readAll(ctx, db, "SELECT x FROM review_t WHERE x < 3")
	require.NoError(t, err)
	require.Equal(t, int64(3), n)
	waited, _, err := readAll(ctx, db, "SELECT wait_ms(300) AS waited") // answered RUNNING, then polled
	require.NoError(t, err)
	require.NoError(t, db.Close())
	stmts := srv.Statements()
	require.Len(t, stmts, 4)
	create, insert, query, slow := stmts[0], stmts[1], stmts[2], stmts[3]
	require.Positive(t, slow.Polls)

	// The warehouse's side of the report adds up its records.
	w := warehouseReport(srv)
	var rows, polls int64
	for _, st := range stmts {
		rows += st.Rows
		polls += int64(st.Polls)
	}
	require.Equal(t, 4, w.Statements)
	require.Equal(t, rows, w.Rows)
	require.Equal(t, polls, w.Polls)
	// The ingest received nothing (the plain driver sends no telemetry): whatever the
	// client says it exported, the ingest's column counts the ingest's logs.
	byKind := &Report{Telemetry: TelemetryReport{ByKind: []LogKindRow{{Kind: logStatement, Exported: 3}}}}
	receivedByKind(byKind, srv)
	require.NotNil(t, byKind.Telemetry.ByKind[0].Received)
	require.Zero(t, *byKind.Telemetry.ByKind[0].Received)
	require.Equal(t, int64(5), insert.ModifiedRows)
	require.NotEqual(t, insert.ModifiedRows, insert.Rows, "the INSERT's result set is not its 5 rows")

	stmtLog := func(rec warehouse.StatementRecord) telemetry.FrontendLog {
		return telemetry.FrontendLog{Entry: &telemetry.LogEntry{SQLDriverLog: &telemetry.SQLDriverLog{
			SQLStatementID: rec.ID,
			SQLOperation: &telemetry.SQLOperation{
				ExecutionResult: string(rec.Delivery),
				ChunkDetails:    &telemetry.ChunkDetails{TotalChunksIterated: int32(rec.ChunkDownloads)},
				OperationDetail: &telemetry.OperationDetail{NOperationStatusCalls: int32(rec.Polls)},
			},
		}}}
	}
	sessionLog := func(op string) telemetry.FrontendLog {
		return telemetry.FrontendLog{Entry: &telemetry.LogEntry{SQLDriverLog: &telemetry.SQLDriverLog{
			SQLOperation: &telemetry.SQLOperation{OperationDetail: &telemetry.OperationDetail{OperationType: op}},
		}}}
	}
	agreeing := func() (inputs, *Report, []telemetry.FrontendLog) {
		in := inputs{
			srv: srv, enabled: true,
			stats: aggregator.Stats{Received: 6, Queued: 6, Exported: 6},
			mix: []sample{
				{kind: kindInsert, id: insert.ID, rows: inserted}, {kind: kindLookup, id: query.ID, rows: n},
				{kind: kindSlow, id: slow.ID, rows: waited},
			},
			ddl: []sample{{kind: kindDDL, id: create.ID}},
		}
		r := &Report{
			Telemetry: TelemetryReport{DeliveredLogs: 6},
			Warehouse: &WarehouseReport{IngestLogs: 6, Sessions: 1, SessionsClosed: 1},
		}
		logs := []telemetry.FrontendLog{
			sessionLog(telemetry.OpCreateSession), sessionLog(telemetry.OpDeleteSession),
			stmtLog(create), stmtLog(insert), stmtLog(query), stmtLog(slow),
		}
		return in, r, logs
	}
	const logsCheck = "logs: one per session opened, session closed and statement, or its loss counted"
	for _, tc := range []struct {
		name    string
		change  func(logs []telemetry.FrontendLog)
		failing []string
	}{
		{"agreeing", func([]telemetry.FrontendLog) {}, nil},
		{"a statement without its log", func(logs []telemetry.FrontendLog) {
			logs[4].Entry.SQLDriverLog.SQLStatementID = "01ef0000-0000-0000-0000-00000000beef"
		}, []string{logsCheck}},
		{"a statement without its log, another's log twice", func(logs []telemetry.FrontendLog) {
			logs[4] = stmtLog(insert)
		}, []string{logsCheck}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, r, logs := agreeing()
			tc.change(logs)
			var failed []string
			for _, c := range checks(in, r, logs) {
				if !c.OK {
					failed = append(failed, c.Name)
				}
			}
			assert.Equal(t, tc.failing, failed)
		})
	}
}
