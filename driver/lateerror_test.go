package driver

import (
	"context"
	"database/sql/driver"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/internal/fakedb"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// An error of a statement that has completed stands alone: it does not reopen the
// statement in the aggregator (an entry nothing would complete, holding a place among
// MaxOpenStatements for StatementTTL and exported then as a second statement log).
//
// Path: a terminal error on Rows.Next completes the statement (rowFailed → stmtFailed →
// complete); database/sql then closes the rows, and the driver's Close fails with a
// retryable error (its CloseOperation gets a 503 or a dropped connection).
func TestErrorAfterCompletionStandsAlone(t *testing.T) {
	c := hotConnector(t, true)
	a := c.agg.Load()
	t.Cleanup(func() { _ = a.Close(context.Background()) })
	i := &interceptor{c: c}

	st := newStmtState(context.Background(), newConnState(c))
	st.claimed = true
	st.start = time.Now()
	st.setID("q-terminal-then-close-fails")
	i.returned(st, telemetry.StatementQuery, nil, true) // statement.start; the rows are open
	require.Equal(t, 1, a.Stats().OpenStatements)

	// Rows.Next fails terminally (22012): the statement completes with its error.
	c.rowFailed(st, &fakedb.ExecutionError{Msg: "[DIVIDE_BY_ZERO] Division by zero", State: "22012",
		StatementID: "q-terminal-then-close-fails"})
	require.True(t, st.done)
	require.Zero(t, a.Stats().OpenStatements, "completed")

	// database/sql closes the rows; the driver's Close fails with a retryable error.
	_ = i.RowsClose(st, closeFailRows{err: driver.ErrBadConn})

	assert.Zero(t, a.Stats().OpenStatements,
		"an error of a completed statement must stand alone, not reopen the statement")
	require.NoError(t, a.Flush(context.Background()))
	st2 := a.Stats()
	assert.Equal(t, int64(2), st2.Queued, "the statement's log, with its terminal error, then the late error's own")
}

type closeFailRows struct{ err error }

func (closeFailRows) Columns() []string         { return nil }
func (r closeFailRows) Close() error            { return r.err }
func (closeFailRows) Next([]driver.Value) error { return nil }
