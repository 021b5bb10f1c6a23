package driver

import (
	"context"
	"database/sql/driver"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/internal/fakedb"
)

// Statements on a connection the connector does not track (opened before telemetry knew
// it: each statement makes a connection state of its own) take the emitter's way, and
// are logged all the same: nothing would close an Outbox made for them.
func TestUntrackedConnectionMakesNoOutbox(t *testing.T) {
	exp := &LogCapture{}
	c := fakeConnector(t, true, exp)
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	conn, err := fakedb.NewConnector().Connect(ctx)
	require.NoError(t, err)
	i := &interceptor{c: c}
	for range 3 {
		_, err := i.ConnExecContext(ctx, conn.(driver.ExecerContext), "SELECT 1", nil)
		require.NoError(t, err)
	}
	s := c.Stats()
	assert.Zero(t, s.Outboxes)
	assert.EqualValues(t, 3, s.Received)
	require.NoError(t, c.Flush(ctx))
	assert.Len(t, exp.Logs(), 3)
}
