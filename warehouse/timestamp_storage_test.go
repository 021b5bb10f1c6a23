package warehouse_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A TIMESTAMPTZ column stores instants: a row reads back as the instant written in every
// session, whatever its zone, and after SET TIME ZONE. A TIMESTAMP column is DuckDB's: it
// stores the wall time in the writing session's zone (see the README's Types), so a
// session of the same zone reads back the instant written, a time.Time parameter (bound
// as an instant) included.
func TestStoredTimestamps(t *testing.T) {
	srv := start(t)
	ctx := context.Background()
	at := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	utc := open(t, srv, "")
	ny := open(t, srv, "timezone=America/New_York")
	_, err := utc.ExecContext(ctx, "CREATE TABLE instants(id INT, ts TIMESTAMPTZ)")
	require.NoError(t, err)
	_, err = utc.ExecContext(ctx, "INSERT INTO instants VALUES (1, TIMESTAMP '2024-01-01 12:00:00'), (2, ?)", at)
	require.NoError(t, err)
	_, err = ny.ExecContext(ctx, "INSERT INTO instants VALUES (3, TIMESTAMP '2024-01-01 07:00:00'), (4, ?)", at)
	require.NoError(t, err)
	tokyo, err := utc.Conn(ctx)
	require.NoError(t, err)
	defer tokyo.Close()
	_, err = tokyo.ExecContext(ctx, "SET TIME ZONE 'Asia/Tokyo'")
	require.NoError(t, err)
	for _, id := range []int{1, 2, 3, 4} {
		for name, q := range map[string]querier{"UTC": utc, "New York": ny, "after SET TIME ZONE to Tokyo": tokyo} {
			var ts time.Time
			require.NoError(t, q.QueryRowContext(ctx, "SELECT ts FROM instants WHERE id = ?", id).Scan(&ts))
			assert.True(t, at.Equal(ts), "TIMESTAMPTZ row %d read in %s: %v, want %v", id, name, ts.UTC(), at)
		}
	}

	_, err = ny.ExecContext(ctx, "CREATE TABLE walls(id INT, ts TIMESTAMP)")
	require.NoError(t, err)
	_, err = ny.ExecContext(ctx, "INSERT INTO walls VALUES (1, TIMESTAMP '2024-01-01 07:00:00'), (2, ?)", at)
	require.NoError(t, err)
	for _, id := range []int{1, 2} {
		var ts time.Time
		require.NoError(t, ny.QueryRowContext(ctx, "SELECT ts FROM walls WHERE id = ?", id).Scan(&ts))
		assert.True(t, at.Equal(ts), "TIMESTAMP row %d read by its writer's zone: %v, want %v", id, ts.UTC(), at)
	}
}

// querier is what a *sql.DB and a *sql.Conn share.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
