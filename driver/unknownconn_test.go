package driver

import (
	"context"
	"database/sql/driver"
	"testing"

	"github.com/databricks/databricks-sql-go/driverctx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/internal/fakedb"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// A statement whose context carries no connection of ours (a connection opened before
// telemetry knew it) is logged with the session the driver names, and the caller's own
// conn-id callback still hears it.
func TestStatementOnUnknownConnectionHasItsSession(t *testing.T) {
	conn, err := fakedb.NewConnector().Connect(context.Background())
	require.NoError(t, err)
	var session string
	require.NoError(t, conn.(driver.Pinger).Ping(driverctx.NewContextWithConnIdCallback(context.Background(), func(id string) { session = id })))
	require.NotEmpty(t, session)

	run := map[string]func(i *interceptor, ctx context.Context) error{
		"exec": func(i *interceptor, ctx context.Context) error {
			_, err := i.ConnExecContext(ctx, conn.(driver.ExecerContext), "SELECT 1", nil)
			return err
		},
		"query": func(i *interceptor, ctx context.Context) error {
			sctx, rows, err := i.ConnQueryContext(ctx, conn.(driver.QueryerContext), "SELECT 1", nil)
			if err != nil {
				return err
			}
			return i.RowsClose(sctx, rows)
		},
	}
	for name, f := range run {
		for _, callerCB := range []bool{false, true} {
			if callerCB {
				name += ", caller's callback"
			}
			t.Run(name, func(t *testing.T) {
				c, events := recordingConnector()
				ctx := context.Background()
				var heard string
				if callerCB {
					ctx = driverctx.NewContextWithConnIdCallback(ctx, func(id string) { heard = id })
				}
				require.NoError(t, f(&interceptor{c: c}, ctx))
				for _, k := range []telemetry.Kind{telemetry.KindStatementStart, telemetry.KindStatementComplete} {
					evs := events.kinds(k)
					require.Len(t, evs, 1, k)
					assert.Equal(t, session, evs[0].SessionID, k)
					assert.NotEmpty(t, evs[0].StatementID, k)
				}
				if callerCB {
					assert.Equal(t, session, heard)
				}
			})
		}
	}
}
