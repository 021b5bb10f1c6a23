package driver

import (
	"context"
	"database/sql/driver"
	"strings"
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
				// A query's rows were open: its start went on its own (an unknown
				// connection holds none back). An exec completed in the call: its
				// completion carries the start.
				done := events.kinds(telemetry.KindStatementComplete)
				starts := events.kinds(telemetry.KindStatementStart)
				require.Len(t, done, 1)
				if strings.HasPrefix(name, "query") {
					require.Len(t, starts, 1)
				} else {
					require.Empty(t, starts)
					assert.Equal(t, telemetry.OpExecuteStatement, done[0].OperationType)
					assert.Equal(t, telemetry.StatementUpdate, done[0].StatementType)
				}
				evs := append(done, starts...)
				for _, ev := range evs {
					assert.Equal(t, session, ev.SessionID, ev.Kind)
					assert.NotEmpty(t, ev.StatementID, ev.Kind)
				}
				if callerCB {
					assert.Equal(t, session, heard)
				}
			})
		}
	}
}
