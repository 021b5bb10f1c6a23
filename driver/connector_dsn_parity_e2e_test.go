package driver_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

func connectorRunLogs(t *testing.T, srv *warehouse.Server, c *driver.Connector) []telemetry.FrontendLog {
	t.Helper()
	db := sql.OpenDB(c)
	ctx := context.Background()
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&n))
	_, err := db.ExecContext(ctx, "SELECT * FROM missing_table")
	require.Error(t, err)
	require.NoError(t, db.Close())
	logs := decodeLogs(t, srv)
	srv.TakeTelemetryRequests()
	return logs
}

func logShape(l telemetry.FrontendLog) string {
	c := l.Clone()
	c.FrontendLogEventID = ""
	c.Context.ClientContext.TimestampMillis = 0
	d := c.Entry.SQLDriverLog
	d.SessionID, d.SQLStatementID, d.OperationLatencyMs = "", "", 0
	if op := d.SQLOperation; op != nil {
		op.ResultLatency = nil
		if op.OperationDetail != nil {
			op.OperationDetail.OperationStatusLatencyMillis = 0
		}
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// sql.OpenDB(NewConnector(options)) and the DSN spelling of the same settings produce the
// same telemetry: the same logs, each saying the same of its connection.
func TestNewConnectorMatchesTheDSN(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()

	byDSN, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&telemetry_batch_size=7&telemetry_flush_interval=20ms&timeout=30&catalog=main&schema=default",
		driver.WithHosts(driver.NewHosts()))
	require.NoError(t, err)
	dsnLogs := connectorRunLogs(t, srv, byDSN)

	byOpts, err := driver.NewConnector(driver.WithConnOptions(append(connOptions(srv),
		dbsql.WithTimeout(30*time.Second), dbsql.WithInitialNamespace("main", "default"))...),
		driver.WithTelemetry(true), driver.WithBatchSize(7), driver.WithFlushInterval(20*time.Millisecond),
		driver.WithHosts(driver.NewHosts()))
	require.NoError(t, err)
	optLogs := connectorRunLogs(t, srv, byOpts)

	var a, b []string
	for _, l := range dsnLogs {
		a = append(a, logShape(l))
	}
	for _, l := range optLogs {
		b = append(b, logShape(l))
	}
	t.Logf("%d and %d logs", len(a), len(b))
	assert.NotEmpty(t, a)
	assert.ElementsMatch(t, a, b, "the same logs by either spelling")
}
