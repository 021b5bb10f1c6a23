package driver_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
)

// A statement that started while the server's flag said off and completed after it
// said on is exported whole, once: its start, which a flush tick would have handed over
// while the flag said off (and the gate dropped), stays with it, so the log is not built
// from the completion alone (no statement type, and its polls lost with the start).
func TestStatementStartedWhileFlagOffCompletedOnE2E(t *testing.T) {
	srv, c, db, advance := flagRig(t, false)
	ctx := context.Background()

	conn1, err := db.Conn(ctx)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return driver.FlagSaysOff(c) }, 5*time.Second, 10*time.Millisecond,
		"the flag said off")

	const q = "SELECT range + (SELECT wait_ms(300)) FROM range(10)" // answered RUNNING: polled
	rows, err := conn1.QueryContext(ctx, q)
	require.NoError(t, err)
	require.True(t, rows.Next())
	time.Sleep(100 * time.Millisecond) // a few flush ticks while the flag says off
	var stmtID string
	var polls int
	for _, s := range srv.Statements() {
		if s.SQL == q {
			stmtID, polls = s.ID, s.Polls
		}
	}
	require.NotEmpty(t, stmtID)
	require.Positive(t, polls, "the driver polled the statement")

	// The server turns telemetry on; a new connection asks again once the cache expired.
	srv.SetTelemetryFlag(true)
	advance(16 * time.Minute)
	db.SetMaxIdleConns(0)
	require.Eventually(t, func() bool {
		var v int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&v))
		return c.Stats().Received > 0
	}, 5*time.Second, 10*time.Millisecond, "the flag said on")

	for rows.Next() {
	}
	require.NoError(t, rows.Close())
	require.NoError(t, conn1.Close())
	require.NoError(t, db.Close())

	found := 0
	for _, l := range decodeLogs(t, srv) {
		d := l.Entry.SQLDriverLog
		if d.SQLStatementID != stmtID {
			continue
		}
		found++
		op := d.SQLOperation
		if assert.NotNil(t, op, "sql_operation") {
			assert.NotEmpty(t, op.StatementType, "statement_type")
			if assert.NotNil(t, op.OperationDetail, "operation_detail") {
				assert.Equal(t, "EXECUTE_STATEMENT", op.OperationDetail.OperationType, "operation_type")
				assert.EqualValues(t, polls, op.OperationDetail.NOperationStatusCalls, "n_operation_status_calls")
			}
		}
	}
	assert.Equal(t, 1, found, "the statement's log, once")
}

// A connector closed while the server's flag says off drops nothing that was telemetry:
// Dropped.Closed counts lost telemetry, and none was ever to be sent.
func TestConnectorClosedWhileFlagOffCountsNoDropE2E(t *testing.T) {
	srv, c, db, _ := flagRig(t, false)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return driver.FlagSaysOff(c) }, 5*time.Second, 10*time.Millisecond,
		"the flag said off")
	var v int
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT 1").Scan(&v))
	before := c.Stats()

	require.NoError(t, db.Close()) // the connection is still in use
	_, err = conn.ExecContext(ctx, "SELECT * FROM no_such_table")
	require.Error(t, err)
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT 2").Scan(&v))
	require.NoError(t, conn.Close())

	st := c.Stats()
	assert.Equal(t, before.Dropped, st.Dropped, "nothing more dropped")
	assert.Zero(t, st.Dropped.Closed, "events of a connector whose telemetry the server's flag had off were counted as dropped telemetry")
	assert.Empty(t, srv.TelemetryLogs())
}
