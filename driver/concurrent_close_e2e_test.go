package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// Connector.Close, Hosts.Close, db.Close, Flush and Stats called together, twice each:
// no panic, no race, Close returns nil, Flush after Close returns aggregator.ErrClosed.
func TestConcurrentCloses(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	for round := range 5 {
		h := driver.NewHosts()
		c1, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithHosts(h))
		require.NoError(t, err)
		c2, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithHosts(h))
		require.NoError(t, err)
		db1, db2 := sql.OpenDB(c1), sql.OpenDB(c2)
		var n int
		require.NoError(t, db1.QueryRow("SELECT 1").Scan(&n))
		require.NoError(t, db2.QueryRow("SELECT 1").Scan(&n))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				switch i % 6 {
				case 0:
					assert.NoError(t, c1.Close())
				case 1:
					_ = h.Close(ctx)
				case 2:
					_ = db1.Close()
				case 3:
					_ = db2.Close()
				case 4:
					_ = c2.Flush(ctx)
				case 5:
					_ = c1.Stats()
					_ = c2.Stats()
				}
			}()
		}
		close(start)
		wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = c1.Flush(ctx)
		cancel()
		assert.True(t, errors.Is(err, aggregator.ErrClosed), "round %d: Flush after Close: %v", round, err)
		assert.Zero(t, h.Len(), "round %d", round)
	}
}
