package driver_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// Connector.Stats sampled while four clients query through the real driver, with an
// exporter of the caller's that answers at once: the documented identity (Queued =
// Exported + drops + Pending + the export in flight) never leaves a negative count in
// flight. Exported was read after the queue's lock, and ran ahead of Queued.
func TestConnectorStatsAddUpMidFlight(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&telemetry_flush_interval=10ms&telemetry_batch_size=1",
		driver.WithExporter(instantExporter{}))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(4)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var n int
				_ = db.QueryRow("SELECT 1").Scan(&n)
			}
		})
	}
	var bad []string
	samples := 0
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end) && len(bad) < 5; samples++ {
		s := c.Stats()
		if f := s.Queued - s.Exported - s.Dropped.QueueFull - s.Dropped.ExportFailed - s.Dropped.Unfinished - int64(s.Pending); f < 0 {
			bad = append(bad, fmt.Sprintf("in flight %d: Queued %d Exported %d QueueFull %d ExportFailed %d Unfinished %d Pending %d",
				f, s.Queued, s.Exported, s.Dropped.QueueFull, s.Dropped.ExportFailed, s.Dropped.Unfinished, s.Pending))
		}
	}
	close(stop)
	wg.Wait()
	require.NoError(t, db.Close())
	s := c.Stats()
	require.Positive(t, s.Exported)
	t.Logf("%d samples; final %+v", samples, s)
	for _, b := range bad {
		t.Error(b)
	}
}

// instantExporter takes every batch at once.
type instantExporter struct{}

func (instantExporter) Export(context.Context, []*telemetry.FrontendLog) error { return nil }
func (instantExporter) Close(context.Context) error                            { return nil }
