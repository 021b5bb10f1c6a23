package driver_test

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A statement running when the server's flag turns telemetry off (a new connection of a
// long-lived pool asked again) is finished by its completion: it is exported once, with
// its own latency. Its completion used to be dropped at the gate, leaving it open in the
// aggregator, to be evicted at Close (or StatementTTL) and exported then, with the time
// until then as its latency.
func TestStatementRunningWhenTheFlagTurnsOff(t *testing.T) {
	srv, c, db, advance := flagRig(t, true) // TTL 15 min
	ctx := context.Background()

	conn1, err := db.Conn(ctx)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var v int
		require.NoError(t, conn1.QueryRowContext(ctx, "SELECT 1").Scan(&v))
		return c.Stats().Received > 0
	}, 5*time.Second, 10*time.Millisecond, "the flag said on")

	began := time.Now()
	rows, err := conn1.QueryContext(ctx, "SELECT range FROM range(10)")
	require.NoError(t, err)
	require.True(t, rows.Next())
	// Its start reaches the aggregator (a flush tick or Stats hands it over).
	require.Eventually(t, func() bool { return c.Stats().OpenStatements == 1 }, 2*time.Second, 10*time.Millisecond)
	var stmtID string
	for _, s := range srv.Statements() {
		if s.SQL == "SELECT range FROM range(10)" {
			stmtID = s.ID
		}
	}
	require.NotEmpty(t, stmtID)

	// The server turns telemetry off; a new connection asks again once the cache expired.
	srv.SetTelemetryFlag(false)
	advance(16 * time.Minute)
	db.SetMaxIdleConns(0)
	require.Eventually(t, func() bool {
		before := c.Stats().Received
		var v int
		require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&v))
		return c.Stats().Received == before
	}, 5*time.Second, 10*time.Millisecond, "the flag said off")

	for rows.Next() {
	}
	require.NoError(t, rows.Close())
	ran := time.Since(began)
	require.NoError(t, conn1.Close())
	st := c.Stats()
	assert.Zero(t, st.OpenStatements, "the statement whose rows closed is still open in the aggregator")

	time.Sleep(300 * time.Millisecond) // Close must not be what exports it
	require.NoError(t, db.Close())
	st = c.Stats()
	assert.Zero(t, st.Evicted.Close, "a statement that completed was evicted at Close")
	assert.Zero(t, st.Dropped.Closed, "its completion is no drop")
	var logged int
	for _, l := range decodeLogs(t, srv) {
		if d := l.Entry.SQLDriverLog; d.SQLStatementID == stmtID && d.SQLOperation != nil && d.SQLOperation.OperationDetail != nil &&
			d.SQLOperation.OperationDetail.OperationType == "EXECUTE_STATEMENT" {
			logged++
			assert.LessOrEqual(t, d.OperationLatencyMs, ran.Milliseconds(), "its latency is its own")
		}
	}
	assert.Equal(t, 1, logged, "the statement's log")
}

// flagRig is a warehouse whose telemetry flag first says flag, and a connector on it
// that flushes every 20 ms, on hosts whose clock the test moves on (advance), for the
// host's cached answer of the flag to expire.
func flagRig(t *testing.T, flag bool) (*warehouse.Server, *driver.Connector, *sql.DB, func(time.Duration)) {
	t.Helper()
	srv, err := warehouse.NewServer(warehouse.WithTelemetryFlag(flag))
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	hosts := driver.NewHosts(exporter.WithClock(func() time.Time { return time.Unix(0, now.Load()) }))
	t.Cleanup(func() { _ = hosts.Close(context.Background()) })
	c, err := driver.NewConnector(driver.WithConnOptions(connOptions(srv)...), driver.WithHosts(hosts),
		driver.WithFlushInterval(20*time.Millisecond))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })
	return srv, c, db, func(d time.Duration) { now.Add(int64(d)) }
}
