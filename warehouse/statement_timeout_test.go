package warehouse_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// Databricks SQL's configuration parameters can be SET in a session: STATEMENT_TIMEOUT
// is applied (a statement running longer times out, as with the driver's own timeout),
// the others (a result cache, Photon, …) are taken; a value Databricks refuses is its
// INVALID_CONF_VALUE.
func TestSetConfigurationParameters(t *testing.T) {
	srv := start(t)
	conn, ctx := sessionConn(t, open(t, srv, ""))
	var err error
	for _, set := range []string{
		"SET use_cached_result = false", "SET USE_CACHED_RESULT = TRUE;", "SET enable_photon = 'true'",
		"SET legacy_time_parser_policy = corrected", "SET query_tags = 'team:etl,env:dev'",
		"SET max_file_partition_bytes = 64m", "SET statement_timeout = 172800",
	} {
		_, err := conn.ExecContext(ctx, set)
		assert.NoError(t, err, set)
	}
	for _, set := range []string{
		"SET use_cached_result = maybe", "SET statement_timeout = -1", "SET statement_timeout = 172801",
		"SET statement_timeout = 1.5", "SET legacy_time_parser_policy = strict",
	} {
		_, err := conn.ExecContext(ctx, set)
		require.Error(t, err, set)
		sqlState("22022")(t, err)
		assert.Contains(t, err.Error(), "[INVALID_CONF_VALUE]", set)
	}

	_, err = conn.ExecContext(ctx, "SET statement_timeout = 1")
	require.NoError(t, err)
	started := time.Now()
	_, err = conn.ExecContext(ctx, "SELECT wait_ms(5000)")
	require.Error(t, err)
	sqlState("HYT00")(t, err)
	assert.Less(t, time.Since(started), 4*time.Second, "ended by the session's timeout")
	assert.Equal(t, warehouse.StateTimedOut, findStatement(t, srv, "SELECT wait_ms(5000)").State)

	_, err = conn.ExecContext(ctx, "SET statement_timeout = 0") // none
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, "SELECT wait_ms(1500)")
	assert.NoError(t, err)

	// RESET restores the session's own (none here); RESET of another is taken.
	_, err = conn.ExecContext(ctx, "SET statement_timeout = 1")
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, "RESET statement_timeout")
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, "SELECT wait_ms(1500)")
	assert.NoError(t, err)
	_, err = conn.ExecContext(ctx, "RESET use_cached_result;")
	assert.NoError(t, err)
}

// STATEMENT_TIMEOUT given as a session parameter in the DSN applies from the session's
// start; a value Databricks refuses fails the session.
func TestStatementTimeoutSessionParameter(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "statement_timeout=1")
	_, err := db.ExecContext(ctxTimeout(t, 30*time.Second), "SELECT wait_ms(5000)")
	require.Error(t, err)
	sqlState("HYT00")(t, err)
	// RESET restores the session parameter's, not none.
	conn, ctx := sessionConn(t, db)
	for _, stmt := range []string{"SET statement_timeout = 0", "RESET statement_timeout"} {
		_, err = conn.ExecContext(ctx, stmt)
		require.NoError(t, err)
	}
	_, err = conn.ExecContext(ctx, "SELECT wait_ms(5000)")
	require.Error(t, err)
	sqlState("HYT00")(t, err)

	bad := open(t, srv, "statement_timeout=forever")
	err = bad.PingContext(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"STATEMENT_TIMEOUT" is invalid`)
}

// RESET without a name restores all that the session's configuration set: its time
// zone, its ANSI mode and its STATEMENT_TIMEOUT (none here); RESET of the time zone or
// of ANSI mode, under Databricks' or Spark's name, restores that one. A ROLLBACK undoes
// none of it; a name Spark does not know resets nothing.
func TestResetRestoresTheSessionConfiguration(t *testing.T) {
	conn, ctx := sessionConn(t, open(t, start(t), "timezone=America/New_York&ansi_mode=false"))
	exec := func(q string) {
		t.Helper()
		_, err := conn.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	// wallHour is the UTC hour of the session's 10:00 on 2024-01-01; ansi reports
	// whether 1/0 fails, as it does in ANSI mode (NULL without).
	wallHour := func() int {
		var ts time.Time
		require.NoError(t, conn.QueryRowContext(ctx, "SELECT TIMESTAMP '2024-01-01 10:00:00'").Scan(&ts))
		return ts.UTC().Hour()
	}
	ansi := func() bool {
		var v sql.NullFloat64
		return conn.QueryRowContext(ctx, "SELECT 1/0").Scan(&v) != nil
	}
	require.Equal(t, 15, wallHour())
	require.False(t, ansi())

	exec("SET TIME ZONE 'Asia/Tokyo'")
	exec("SET ansi_mode = true")
	exec("SET statement_timeout = 1")
	require.Equal(t, 1, wallHour())
	require.True(t, ansi())
	exec("RESET")
	assert.Equal(t, 15, wallHour(), "the session's time zone")
	assert.False(t, ansi(), "the session's ANSI mode")
	exec("SELECT wait_ms(1500)") // no STATEMENT_TIMEOUT

	exec("SET spark.sql.session.timeZone = UTC")
	exec("SET spark.sql.ansi.enabled = true")
	exec("RESET timezone")
	assert.Equal(t, 15, wallHour())
	assert.True(t, ansi(), "only the time zone was reset")
	exec("RESET spark.sql.ansi.enabled;")
	assert.False(t, ansi())

	// Session parameters are not transactional: a RESET (or a SET) in a transaction
	// rolled back stays whole, ANSI mode too (DuckDB keeps it in its catalog).
	exec("SET TIME ZONE 'Asia/Tokyo'")
	exec("SET ansi_mode = true")
	exec("BEGIN TRANSACTION")
	exec("RESET")
	exec("ROLLBACK")
	assert.Equal(t, 15, wallHour(), "the time zone RESET restored")
	assert.False(t, ansi(), "the ANSI mode RESET restored")
	exec("BEGIN TRANSACTION")
	exec("SET ansi_mode = true")
	exec("ROLLBACK")
	assert.True(t, ansi(), "the ANSI mode SET in the transaction")
	// A COMMIT of a transaction a failed statement aborted rolls it back (DuckDB answers
	// it without an error): the SET in it stays all the same.
	exec("SET ansi_mode = false")
	exec("BEGIN TRANSACTION")
	exec("SET ansi_mode = true")
	_, err := conn.ExecContext(ctx, "SELECT CAST('x' AS INT)")
	require.Error(t, err)
	_, _ = conn.ExecContext(ctx, "COMMIT")
	assert.True(t, ansi(), "the ANSI mode SET in the aborted transaction")

	// Spark takes what follows RESET as a name: one it does not know resets nothing.
	exec("SET TIME ZONE 'Asia/Tokyo'")
	exec("RESET TIME ZONE")
	exec("RESET no_such_parameter")
	assert.Equal(t, 1, wallHour(), "still Tokyo")
	var h int
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT hour(CAST('2024-01-01 10:00:00+02:00' AS TIMESTAMP))").Scan(&h))
	assert.Equal(t, 17, h, "DuckDB's zone is the session's too")
}

// sessionConn holds one connection of db for the test, so that what the test SETs stays
// in one session, and a context bounding its statements.
func sessionConn(t *testing.T, db *sql.DB) (*sql.Conn, context.Context) {
	t.Helper()
	ctx := ctxTimeout(t, 30*time.Second)
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn, ctx
}
