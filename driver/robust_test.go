package driver_test

import (
	"context"
	"database/sql"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/internal/testlog"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

type panicExporter struct{}

func (panicExporter) Export(context.Context, []*telemetry.FrontendLog) error { panic("exporter boom") }
func (panicExporter) Close(context.Context) error                            { panic("exporter close boom") }

type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) { panic("logger boom") }

// workload runs statements of every kind and returns what the caller saw.
func workload(t *testing.T, db *sql.DB) []string {
	t.Helper()
	ctx := context.Background()
	var seen []string
	var v int64
	err := db.QueryRowContext(ctx, "SELECT ? * 2", 21).Scan(&v)
	seen = append(seen, errText(err), strings.Repeat("x", int(v)))
	rows, err := db.QueryContext(ctx, "SELECT range FROM range(200000)")
	require.NoError(t, err)
	var n int64
	for rows.Next() {
		n++
	}
	seen = append(seen, errText(rows.Close()), strings.Repeat("r", int(n%97)))
	_, err = db.ExecContext(ctx, "SELECT * FROM nowhere")
	seen = append(seen, scrubIDs(errText(err)))
	_, err = db.BeginTx(ctx, nil)
	seen = append(seen, errText(err))
	return seen
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// A panicking exporter or logger inside telemetry never reaches the caller, who sees
// exactly what the unwrapped driver gives.
func TestPanicsStayInside(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	raw, err := sql.Open("databricks", srv.DSN())
	require.NoError(t, err)
	want := workload(t, raw)
	require.NoError(t, raw.Close())

	c, err := driver.NewConnector(
		driver.WithConnOptions(connOptions(srv)...),
		driver.WithTelemetry(true),
		driver.WithExporter(panicExporter{}),
		driver.WithFlushInterval(10*time.Millisecond),
		driver.WithLogger(zerolog.New(panicWriter{}).Level(zerolog.DebugLevel)),
	)
	require.NoError(t, err)
	db := sql.OpenDB(c)
	assert.Equal(t, want, workload(t, db))
	time.Sleep(50 * time.Millisecond) // let exports (and their panics) happen
	assert.NotPanics(t, func() { require.NoError(t, db.Close()) })
	assert.Positive(t, c.Stats().Dropped.ExportFailed+c.Stats().Panics, "the failures are counted")
}

// Telemetry's own debug log lines carry no token, SQL text, value or CloudFetch URL
// either, and nothing is logged above debug level.
func TestDebugLogsArePrivate(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Status: 503}, warehouse.Fault{Garbage: true})
	var logs testlog.Buffer
	c, err := driver.NewConnector(
		driver.WithConnOptions(connOptions(srv)...),
		driver.WithTelemetry(true),
		driver.WithFlushInterval(10*time.Millisecond),
		driver.WithLogger(zerolog.New(&logs).Level(zerolog.TraceLevel)),
	)
	require.NoError(t, err)
	db := sql.OpenDB(c)
	workload(t, db)
	require.NoError(t, db.Close())
	out := logs.String()
	require.NotEmpty(t, strings.TrimSpace(out), "the failing exports are logged at debug level")
	for _, f := range []string{srv.Token(), "SELECT", "nowhere", "/cloudfetch/", "X-Signature"} {
		assert.NotContains(t, out, f)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" {
			assert.Contains(t, line, `"level":"debug"`, line)
		}
	}
}

// Stats polled (by a metrics scraper, say) while the first connection opens, which is
// when a connector with its own exporter (WithExporter) makes its aggregator (meant for
// -race).
func TestStatsWhileTheFirstConnectionOpens(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	c, err := driver.NewConnector(driver.WithConnOptions(connOptions(srv)...),
		driver.WithExporter(exporter.NewJSONLinesExporter(io.Discard)), driver.WithTelemetry(true))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			_ = c.Stats()
			_ = c.Flush(context.Background())
		}
	}()
	require.NoError(t, db.PingContext(context.Background()))
	stop.Store(true)
	<-done
	assert.Positive(t, c.Stats().Received, "the connection's open reached the aggregator")
}
