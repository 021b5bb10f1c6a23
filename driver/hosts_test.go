package driver

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// Two pools to one host: each keeps the meaning of its own DSN's telemetry settings,
// over the host's one exporter. Pools with the same settings share an aggregator; a pool
// whose flush interval differs gets its own, and its logs go out on its own timer.
func TestHostConnectorsKeepTheirSettings(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	hosts := NewHosts()
	t.Cleanup(func() { _ = hosts.Close(context.Background()) })
	open := func(params string) (*Connector, *sql.DB) {
		c, err := OpenConnector(srv.DSN()+"?enableTelemetry=true"+params, WithHosts(hosts))
		require.NoError(t, err)
		db := sql.OpenDB(c)
		t.Cleanup(func() { _ = db.Close() })
		var one int
		require.NoError(t, db.QueryRow("SELECT 1").Scan(&one))
		return c, db
	}
	slowA, _ := open("&telemetry_flush_interval=1h")
	slowB, _ := open("&telemetry_flush_interval=3600000") // the same setting, in milliseconds
	fast, fastDB := open("&telemetry_flush_interval=50ms&telemetry_retry_count=0")

	assert.Equal(t, 1, hosts.Len(), "one host")
	assert.Equal(t, 3, hosts.Refs(srv.URL()))
	assert.Same(t, slowA.host.Load().agg, slowB.host.Load().agg, "the same settings share an aggregator")
	assert.NotSame(t, slowA.host.Load().agg, fast.host.Load().agg, "other settings get their own")
	assert.Same(t, slowA.host.Load().handle.Exporter(), fast.host.Load().handle.Exporter(), "over the host's one exporter")

	// The fast pool's statement is exported on its own 50 ms timer; the slow pools' two
	// wait for theirs (or a batch of 100).
	require.Eventually(t, func() bool { return fast.Stats().Exported >= 1 }, 5*time.Second, 10*time.Millisecond,
		"the fast pool's statement went out on its 50 ms timer")
	assert.Zero(t, slowA.Stats().Exported, "the slow pools' statements wait for their 1 h timer")

	// Closing the fast pool closes its aggregator, not the others' nor the host's exporter.
	require.NoError(t, fastDB.Close())
	require.Eventually(t, func() bool { return hosts.Refs(srv.URL()) == 2 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, slowB.Flush(context.Background()))
	st := slowA.Stats()
	assert.GreaterOrEqual(t, st.Exported, int64(4), "both slow pools' connection and statement logs, from their shared aggregator")
	assert.Zero(t, st.Dropped.ExportFailed)
}
