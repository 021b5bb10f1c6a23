package driver

import (
	"context"
	"database/sql/driver"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// roundTripFunc answers requests with a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// recordingConnector is a connector whose events go to the returned log.
func recordingConnector() (*Connector, *eventLog) {
	events := &eventLog{}
	c := &Connector{}
	c.em = telemetry.NewEmitter(events, telemetry.WithLookupEnv(func(string) (string, bool) { return "", false }))
	return c, events
}

// A CloudFetch download whose body is closed before EOF (a read cut short) is no chunk:
// its link is kept, marked failed, so that the driver's next download of the file counts
// as one retry and, read whole, as the chunk.
func TestDownloadClosedBeforeEOFIsNoChunk(t *testing.T) {
	const link = "http://h/cloudfetch/f3?X-Signature=x"
	file := strings.Repeat("arrow", 1000)
	c, events := recordingConnector()
	tr := &transport{c: c, thrift: "/sql", base: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(file)),
			ContentLength: int64(len(file)), Request: req}, nil
	})}
	st := newStmtState(context.Background(), newConnState(c))
	st.setID("q-cut-download")
	c.links.Store(link, linkOwner{st: st, index: 3})
	download := func(read func(io.Reader)) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, link, nil) // without the statement's context, as the driver's
		require.NoError(t, err)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		read(resp.Body)
		require.NoError(t, resp.Body.Close())
	}

	download(func(r io.Reader) {
		n, err := r.Read(make([]byte, 100))
		require.NoError(t, err)
		require.Equal(t, 100, n)
	})
	assert.Zero(t, st.chunks.Load(), "a body closed before EOF is no chunk")
	assert.Empty(t, events.kinds(telemetry.KindChunk))
	v, ok := c.links.Load(link)
	require.True(t, ok, "the link is kept for a retry")
	assert.Equal(t, linkOwner{st: st, index: 3, failed: true}, v.(linkOwner))
	assert.Zero(t, st.retries.Load())

	download(func(r io.Reader) {
		b, err := io.ReadAll(r)
		require.NoError(t, err)
		require.Equal(t, file, string(b))
	})
	assert.Equal(t, int32(1), st.retries.Load(), "the file downloaded again: one retry")
	assert.Equal(t, int32(1), st.chunks.Load())
	chunks := events.kinds(telemetry.KindChunk)
	require.Len(t, chunks, 1)
	assert.Equal(t, int32(3), chunks[0].ChunkIndex)
	assert.Equal(t, int64(len(file)), chunks[0].Bytes)
	assert.Equal(t, "q-cut-download", chunks[0].StatementID)
	_, ok = c.links.Load(link)
	assert.False(t, ok, "a file read whole leaves no link")
}

// cancelledRows are a driver's rows whose row fetch failed with the caller's
// cancellation, as the rows of a driver that fetches with the query's context do.
type cancelledRows struct{ err error }

func (cancelledRows) Columns() []string           { return []string{"a"} }
func (cancelledRows) Close() error                { return nil }
func (r cancelledRows) Next([]driver.Value) error { return r.err }

// A cancellation that ends the row loop is the caller's outcome, not an error: it does
// not complete the statement by itself. The statement completes when its rows close,
// without error_info, and its latency runs to that Close.
func TestCancelledRowReadCompletesAtClose(t *testing.T) {
	const pause = 200 * time.Millisecond
	for _, cause := range []error{
		context.Canceled,
		fmt.Errorf("databricks: request error: fetch results request error: %w", context.Canceled),
	} {
		t.Run(cause.Error(), func(t *testing.T) {
			c, events := recordingConnector()
			i := &interceptor{c: c}
			st := newStmtState(context.Background(), newConnState(c))
			st.claimed = true
			st.start = time.Now()
			st.setID("q-cancelled-mid-read")
			st.inner = cancelledRows{err: cause}
			i.returned(st, telemetry.StatementQuery, nil, true) // the rows are open
			rows, err := outerRowsOf(st.inner, st, nil)
			require.NoError(t, err)

			require.ErrorIs(t, rows.Next(make([]driver.Value, 1)), context.Canceled)
			assert.False(t, st.done, "the cancellation does not complete the statement")
			assert.Empty(t, events.completions())

			time.Sleep(pause)
			require.NoError(t, i.RowsClose(st, st.inner))
			done := events.completions()
			require.Len(t, done, 1)
			assert.GreaterOrEqual(t, done[0].Latency, pause, "the latency runs to the rows' Close")
			assert.Empty(t, done[0].ErrorName, "no error")
			assert.Empty(t, events.kinds(telemetry.KindError))
		})
	}
}
