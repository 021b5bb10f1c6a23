package driver

import (
	"context"
	"database/sql"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// eventLog keeps the events emitted to it.
type eventLog struct {
	mu  sync.Mutex
	evs []telemetry.Event
}

func (l *eventLog) Handle(ev telemetry.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

// kinds returns the events of kind k, in order.
func (l *eventLog) kinds(k telemetry.Kind) []telemetry.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []telemetry.Event
	for _, ev := range l.evs {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

// completions returns the statement.complete events, in order.
func (l *eventLog) completions() []telemetry.Event { return l.kinds(telemetry.KindStatementComplete) }

// A statement completes, once, when its rows close, through the real driver: read to the
// end or closed early, inline or CloudFetch, prepared or not; with the result's format.
func TestCompletionOnRowsCloseEndToEnd(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	c, err := OpenConnector(srv.DSN()+"?enableTelemetry=true", WithExporter(nopExporter{}))
	require.NoError(t, err)
	events := &eventLog{}
	c.em = telemetry.NewEmitter(events, telemetry.WithLookupEnv(func(string) (string, bool) { return "", false }))
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()

	read := func(query string, limit int) int {
		rows, err := db.QueryContext(ctx, query)
		require.NoError(t, err)
		n := 0
		for n < limit && rows.Next() {
			n++
		}
		require.NoError(t, rows.Close())
		return n
	}
	cases := []struct {
		name   string
		query  string
		limit  int
		want   int64
		format string
	}{
		{"every row, inline", "SELECT range FROM range(2500)", 1 << 30, 2500, telemetry.ResultInlineArrow},
		{"closed after 10 rows", "SELECT range FROM range(2500)", 10, 10, telemetry.ResultInlineArrow},
		{"no rows", "SELECT 1 WHERE false", 1 << 30, 0, telemetry.ResultInlineArrow}, // an empty result, inline (the warehouse says so)
		{"every row, CloudFetch", "SELECT range FROM range(300000)", 1 << 30, 300000, telemetry.ResultExternalLinks},
		{"closed after a row, CloudFetch", "SELECT range FROM range(300000)", 1, 1, telemetry.ResultExternalLinks},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.EqualValues(t, min(tc.want, int64(tc.limit)), read(tc.query, tc.limit))
			done := events.completions()
			require.Len(t, done, i+1)
			assert.Equal(t, tc.format, done[i].ResultFormat)
			assert.NotEmpty(t, done[i].StatementID)
		})
	}

	t.Run("chunks", func(t *testing.T) {
		// Each CloudFetch statement's downloads: one event per file read whole, with its
		// position among the statement's files and its size.
		byStmt := map[string][]telemetry.Event{}
		for _, ev := range events.kinds(telemetry.KindChunk) {
			byStmt[ev.StatementID] = append(byStmt[ev.StatementID], ev)
		}
		whole := cases[3] // every row, CloudFetch
		id := events.completions()[3].StatementID
		require.Equal(t, "every row, CloudFetch", whole.name)
		chunks := byStmt[id]
		require.NotEmpty(t, chunks)
		require.Len(t, chunks, int(events.completions()[3].ChunksPresent), "one event per file listed")
		indexes := map[int32]bool{}
		for _, ev := range chunks {
			assert.Positive(t, ev.Bytes)
			assert.Positive(t, ev.Latency)
			indexes[ev.ChunkIndex] = true
		}
		for i := range int32(len(chunks)) {
			assert.True(t, indexes[i], "file %d of %d", i, len(chunks))
		}
	})

	t.Run("prepared statement", func(t *testing.T) {
		stmt, err := db.PrepareContext(ctx, "SELECT range FROM range(700)")
		require.NoError(t, err)
		defer stmt.Close()
		rows, err := stmt.QueryContext(ctx)
		require.NoError(t, err)
		n := 0
		for rows.Next() {
			n++
		}
		require.NoError(t, rows.Close())
		require.Equal(t, 700, n)
		done := events.completions()
		require.Len(t, done, len(cases)+1)
		assert.Equal(t, telemetry.ResultInlineArrow, done[len(cases)].ResultFormat)
	})
}
