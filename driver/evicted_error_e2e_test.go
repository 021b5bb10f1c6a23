package driver_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A statement read for longer than StatementTTL is evicted (its log goes without an
// error); when its next FetchResults then fails, the failure still reaches the ingest,
// on its own, with the statement's id: a terminal one (which the driver reports with the
// statement's completion) as a retryable one (an error event) is.
func TestErrorAfterEvictionIsExported(t *testing.T) {
	for _, tc := range []struct {
		status int
		name   string
	}{
		{http.StatusInternalServerError, telemetry.ErrNameServer}, // retryable
		{http.StatusNotFound, telemetry.ErrNameNotFound},          // terminal
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := warehouse.NewServer()
			require.NoError(t, err)
			defer srv.Close()
			cfg := telemetry.DefaultConfig()
			cfg.FlushInterval = time.Hour
			cfg.StatementTTL = 50 * time.Millisecond
			c, err := driver.OpenConnector(srv.DSN()+"?maxRows=1000&useCloudFetch=false",
				driver.WithTelemetry(true), driver.WithTelemetryConfig(cfg), driver.WithHosts(driver.NewHosts()),
				driver.WithConnOptions(dbsql.WithRetries(1, 10*time.Millisecond, 20*time.Millisecond)))
			require.NoError(t, err)
			db := sql.OpenDB(c)
			defer db.Close()
			ctx := context.Background()
			rows, err := db.QueryContext(ctx, "SELECT range FROM range(5000)")
			require.NoError(t, err)
			require.True(t, rows.Next())
			// The read goes on past StatementTTL: the sweep (at a Flush here, else the
			// timer's) evicts the statement.
			require.Eventually(t, func() bool {
				_ = c.Flush(ctx)
				return c.Stats().Evicted.TTL == 1
			}, 5*time.Second, 20*time.Millisecond)
			srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Status: tc.status, Times: -1}) // the next page's FetchResults
			for rows.Next() {
			}
			require.Error(t, rows.Err())
			_ = rows.Close()
			srv.ClearFaults(warehouse.GroupThrift)
			require.NoError(t, db.Close())

			var id string
			for _, s := range srv.Statements() {
				id = s.ID
			}
			var names []string
			for _, s := range srv.TelemetryLogs() {
				var l telemetry.FrontendLog
				require.NoError(t, json.Unmarshal([]byte(s), &l))
				if d := l.Entry.SQLDriverLog; d.SQLStatementID == id && d.SQLOperation == nil && d.ErrorInfo != nil {
					names = append(names, d.ErrorInfo.ErrorName)
				}
			}
			assert.Equal(t, []string{tc.name}, names, "the failure after the eviction reaches the ingest once, with the statement's id")
		})
	}
}
