package driver

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
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

// A host whose telemetry is closing makes no aggregator: a connector that acquired the
// host just before (its first connection racing Hosts.Close) gets exporter.ErrClosed and
// lets its hold on the host go, instead of an aggregator that nothing would ever close.
func TestClosingHostMakesNoAggregator(t *testing.T) {
	hosts := NewHosts()
	t.Cleanup(func() { _ = hosts.Close(context.Background()) })
	const host = "https://adb-1.azuredatabricks.net:443"
	key := aggKey{cfg: telemetry.DefaultConfig(), authType: "pat"}
	ref, err := hosts.get(host, key, nil)
	require.NoError(t, err)
	// The registry closes the host's layer, as Hosts.Close does, between another
	// connector's acquisition of the host and that of its aggregator.
	require.NoError(t, ref.aggs.Close(context.Background()))
	for _, k := range []aggKey{key, {cfg: telemetry.DefaultConfig(), authType: "oauth-m2m"}} {
		other, err := hosts.get(host, k, nil)
		require.ErrorIs(t, err, exporter.ErrClosed, k.authType)
		require.Nil(t, other)
	}
	assert.Equal(t, 1, hosts.Refs(ref.handle.Key()), "the failed gets released the host")
	assert.Empty(t, ref.aggs.aggs, "no aggregator was made")
	require.NoError(t, ref.release(context.Background()))
}

// hangingExporter never finishes an export before its context ends.
type hangingExporter struct{}

func (hangingExporter) Export(ctx context.Context, _ []*telemetry.FrontendLog) error {
	<-ctx.Done()
	return ctx.Err()
}

func (hangingExporter) Close(context.Context) error { return nil }

// Closing a host's aggregators reports a final flush that its deadline cut short (the
// registry passes it on from Hosts.Close): the caller is not told that what was pending
// went out.
func TestHostAggregatorsCloseReportsTheDeadline(t *testing.T) {
	h := &hostAggs{exp: hangingExporter{}, aggs: map[aggKey]*sharedAgg{}}
	a := h.acquire(aggKey{authType: "pat"}, []aggregator.Option{aggregator.WithSystemConfiguration(&telemetry.SystemConfiguration{})})
	require.NotNil(t, a)
	a.Handle(telemetry.Event{Kind: telemetry.KindConnectionOpen, Time: time.Now(), SessionID: "s-1", Connection: &telemetry.ConnectionInfo{}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := h.Close(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Zero(t, a.Stats().Exported, "the log the deadline cut short")
}

// sessionHangingExporter hangs on the batches that hold a log of the session hang, and
// delivers the others in 50 ms.
type sessionHangingExporter struct {
	hang      string
	delivered atomic.Int64
}

func (e *sessionHangingExporter) Export(ctx context.Context, logs []*telemetry.FrontendLog) error {
	for _, l := range logs {
		if l.Entry.SQLDriverLog.SessionID == e.hang {
			<-ctx.Done()
			return ctx.Err()
		}
	}
	select { // a round trip's time, as an HTTP request takes it
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(50 * time.Millisecond):
	}
	e.delivered.Add(int64(len(logs)))
	return nil
}

func (*sessionHangingExporter) Close(context.Context) error { return nil }

// A host's aggregators (one per telemetry setting) close side by side, each with the
// whole deadline: one whose final flush hangs does not leave the others' logs unsent.
// Every one cut short is reported.
func TestHostAggregatorsCloseSideBySide(t *testing.T) {
	exp := &sessionHangingExporter{hang: "s-hang"}
	h := &hostAggs{exp: exp, aggs: map[aggKey]*sharedAgg{}}
	sessions := []string{"s-hang", "s-1", "s-2", "s-3", "s-4", "s-hang"}
	for i, id := range sessions {
		key := aggKey{authType: "pat", workspaceID: int64(i)}
		a := h.acquire(key, []aggregator.Option{aggregator.WithSystemConfiguration(&telemetry.SystemConfiguration{}), aggregator.WithFlushInterval(time.Hour)})
		require.NotNil(t, a)
		a.Handle(telemetry.Event{Kind: telemetry.KindConnectionOpen, Time: time.Now(), SessionID: id, Connection: &telemetry.ConnectionInfo{}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := h.Close(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, int64(4), exp.delivered.Load(), "the logs of the aggregators that did not hang")
	var joined interface{ Unwrap() []error }
	require.ErrorAs(t, err, &joined)
	assert.Len(t, joined.Unwrap(), 2, "each aggregator cut short")
}

// A connector's release reports its aggregator's final flush that the deadline cut short
// (the last connector of its setting closes the aggregator), even when its hold on the
// host lets go without an error: the host's answer does not replace the aggregator's.
func TestReleaseReportsTheAggregatorsDeadline(t *testing.T) {
	hosts := NewHosts()
	t.Cleanup(func() { _ = hosts.Close(context.Background()) })
	handle, err := hosts.reg.Acquire("https://adb-2.azuredatabricks.net:443")
	require.NoError(t, err)
	h := &hostAggs{exp: hangingExporter{}, aggs: map[aggKey]*sharedAgg{}}
	key := aggKey{authType: "pat"}
	a := h.acquire(key, []aggregator.Option{aggregator.WithSystemConfiguration(&telemetry.SystemConfiguration{})})
	require.NotNil(t, a)
	a.Handle(telemetry.Event{Kind: telemetry.KindConnectionOpen, Time: time.Now(), SessionID: "s-1", Connection: &telemetry.ConnectionInfo{}})
	ref := &hostRef{handle: handle, aggs: h, key: key, agg: a}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, ref.release(ctx), context.DeadlineExceeded)
	assert.Zero(t, hosts.Refs(handle.Key()), "the host was let go all the same")
}

// The exporter's retries and backoff are the host's (its first connector's): two pools
// that differ only in telemetry_retry_count or telemetry_retry_delay share their host's
// aggregator for their settings, as two of the same settings do; a batch size of their
// own gets them their own.
func TestRetrySettingsShareTheHostsAggregator(t *testing.T) {
	hosts := NewHosts()
	t.Cleanup(func() { _ = hosts.Close(context.Background()) })
	// A loopback host: nothing is dialled, attaching only acquires it.
	const dsn = "token:dapi-x@127.0.0.1:1/sql/1.0/warehouses/w?enableTelemetry=true"
	attached := func(params string) *Connector {
		c, err := OpenConnector(dsn+params, WithHosts(hosts))
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		c.attachToDSN()
		require.NotNil(t, c.host.Load(), params)
		return c
	}
	first := attached("")
	for _, params := range []string{"", "&telemetry_retry_count=0", "&telemetry_retry_delay=1s", "&telemetry_retry_count=10&telemetry_retry_delay=5"} {
		assert.Same(t, first.host.Load().agg, attached(params).host.Load().agg, params)
	}
	assert.NotSame(t, first.host.Load().agg, attached("&telemetry_batch_size=7").host.Load().agg)
	assert.Equal(t, 1, hosts.Len())
}
