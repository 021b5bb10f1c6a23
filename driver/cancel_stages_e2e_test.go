package driver

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// trackedCounts returns what c tracks: connections, CloudFetch links and failed attempts.
func trackedCounts(c *Connector) (conns, links, detached int) {
	c.connsMu.Lock()
	conns = len(c.conns)
	c.connsMu.Unlock()
	c.links.Range(func(any, any) bool { links++; return true })
	c.detachedMu.Lock()
	detached = len(c.detached)
	c.detachedMu.Unlock()
	return
}

// Statements cancelled at every stage, and rows left behind: each statement logged
// exactly once, the connector keeps no connection, link or failed attempt of them, and
// every log is accounted for.
func TestCancelledAtEveryStageLogsOnce(t *testing.T) {
	srv, err := warehouse.NewServer(warehouse.WithCloudFetchThreshold(10000),
		warehouse.WithChunkRows(10000), warehouse.WithBatchRows(5000))
	require.NoError(t, err)
	defer srv.Close()
	hosts := NewHosts(exporter.WithAttemptTimeout(time.Second))
	c, err := OpenConnector(srv.DSN()+"?enableTelemetry=true&telemetry_flush_interval=20ms", WithHosts(hosts))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	db.SetMaxIdleConns(2)
	bg := context.Background()

	for round := range 3 {
		// Cancelled before execute.
		ctx, cancel := context.WithCancel(bg)
		cancel()
		_, err := db.QueryContext(ctx, "SELECT 1")
		require.Error(t, err)

		// Cancelled while polling.
		ctx, cancel = context.WithTimeout(bg, 400*time.Millisecond)
		_, err = db.ExecContext(ctx, "SELECT wait_ms(3000)")
		cancel()
		require.Error(t, err)
		ctx, cancel = context.WithCancel(bg)
		time.AfterFunc(350*time.Millisecond, cancel)
		_, err = db.QueryContext(ctx, "SELECT wait_ms(3000)")
		require.Error(t, err)
		cancel()

		// Cancelled while CloudFetch downloads are slow.
		srv.InjectFaults(warehouse.GroupCloudFetch, warehouse.Fault{Latency: 300 * time.Millisecond, Times: -1})
		ctx, cancel = context.WithCancel(bg)
		rows, err := db.QueryContext(ctx, "SELECT range FROM range(60000)")
		require.NoError(t, err)
		time.AfterFunc(100*time.Millisecond, cancel)
		for rows.Next() {
		}
		_ = rows.Close()
		cancel()
		srv.ClearFaults(warehouse.GroupCloudFetch)

		// Cancelled while reading (inline and CloudFetch).
		for _, q := range []string{"SELECT range FROM range(9000)", "SELECT range FROM range(60000)"} {
			ctx, cancel = context.WithCancel(bg)
			rows, err = db.QueryContext(ctx, q)
			require.NoError(t, err)
			for i := 0; rows.Next(); i++ {
				if i == 10 {
					cancel()
				}
			}
			require.True(t, errors.Is(rows.Err(), context.Canceled) || rows.Err() == nil, "%v", rows.Err())
			_ = rows.Close()
			cancel()
		}

		// A sql.Conn given back with its rows open.
		conn, err := db.Conn(bg)
		require.NoError(t, err)
		rows, err = conn.QueryContext(bg, "SELECT range FROM range(60000)")
		require.NoError(t, err)
		require.True(t, rows.Next())
		closed := make(chan error, 1)
		go func() { closed <- conn.Close() }() // database/sql waits for the rows
		time.Sleep(20 * time.Millisecond)
		_ = rows.Close()
		require.NoError(t, <-closed)
		t.Logf("round %d: %+v", round, c.Stats())
	}
	// Everything closed: the pool's idle connections stay; the connector tracks no more.
	require.Eventually(t, func() bool { _, l, d := trackedCounts(c); return l == 0 && d == 0 }, 5*time.Second, 20*time.Millisecond)
	conns, links, det := trackedCounts(c)
	t.Logf("tracked: %d conns, %d links, %d failed attempts; open: %+v", conns, links, det, db.Stats())
	require.LessOrEqual(t, conns, db.Stats().OpenConnections)
	require.NoError(t, db.Close())
	conns, links, det = trackedCounts(c)
	require.Zero(t, conns+links+det, "tracked after close: %d conns, %d links, %d failed attempts", conns, links, det)
	st := c.Stats()
	require.Zero(t, st.Pending, "%+v", st)
	require.Equal(t, st.Queued, st.Exported+st.Dropped.QueueFull+st.Dropped.ExportFailed+st.Dropped.Unfinished, "%+v", st)
	t.Logf("final: %+v", st)

	stmts := map[string]int{}
	for _, s := range srv.TelemetryLogs() {
		var l telemetry.FrontendLog
		require.NoError(t, json.Unmarshal([]byte(s), &l))
		if op := l.Entry.SQLDriverLog.SQLOperation; op != nil && op.OperationDetail != nil && op.OperationDetail.OperationType == "EXECUTE_STATEMENT" {
			stmts[l.Entry.SQLDriverLog.SQLStatementID]++
		}
	}
	for _, s := range srv.Statements() {
		require.Equal(t, 1, stmts[s.ID], "logs of %q (%s)", s.SQL, s.ID)
	}
}
