package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A statement whose ExecuteStatement the caller's context cuts while the warehouse runs
// it (the warehouse answers only when it ends): the driver never learns its id, yet it
// ran, so it has one log. A cancel is an outcome, no error: the statement's log, without
// an id. A deadline records a timeout, which without an id stands alone (SPEC §2).
func TestStatementCutBeforeItsAnswerIsLogged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		exec   bool
		cancel bool
	}{
		{"exec cancelled", true, true},
		{"query cancelled", false, true},
		{"exec past its deadline", true, false},
		{"query past its deadline", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := warehouse.NewServer(warehouse.WithAsyncThreshold(10 * time.Second))
			require.NoError(t, err)
			defer srv.Close()
			c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithHosts(driver.NewHosts()))
			require.NoError(t, err)
			db := sql.OpenDB(c)
			db.SetMaxOpenConns(1)
			var one int
			require.NoError(t, db.QueryRow("SELECT 1").Scan(&one)) // the session opens
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if tc.cancel {
				ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				time.AfterFunc(100*time.Millisecond, cancel)
			}
			if tc.exec {
				_, err = db.ExecContext(ctx, "SELECT wait_ms(2000)")
			} else {
				_, err = db.QueryContext(ctx, "SELECT wait_ms(2000)")
			}
			require.Error(t, err)
			assert.Equal(t, tc.cancel, errors.Is(err, context.Canceled), "%v", err)
			require.NoError(t, db.Close())

			var cut int
			var errs []string
			for _, l := range decodeLogs(t, srv) {
				d := l.Entry.SQLDriverLog
				switch op := opType(l); {
				case op == "EXECUTE_STATEMENT" && d.SQLStatementID == "":
					cut++
					assert.Nil(t, d.ErrorInfo)
					require.NotNil(t, d.SQLOperation)
					assert.Equal(t, map[bool]string{true: "UPDATE", false: "QUERY"}[tc.exec], d.SQLOperation.StatementType)
				case op == "" && d.ErrorInfo != nil:
					errs = append(errs, d.ErrorInfo.ErrorName)
				}
			}
			if tc.cancel {
				assert.Equal(t, 1, cut, "the statement cancelled before its answer has its log")
				assert.Empty(t, errs, "and no error log")
			} else {
				assert.Zero(t, cut)
				assert.Equal(t, []string{"timeout"}, errs, "the deadline's error, on its own")
			}
			st := c.Stats()
			assert.Equal(t, st.Received, st.Exported)
		})
	}
}
