package driver

import (
	"bytes"
	"context"
	"database/sql/driver"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dbsqlrows "github.com/databricks/databricks-sql-go/rows"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// Tests that kill mutations of the outer connection and rows, the held starts and the
// instrumented transport that the rest of the suite (mutation_gaps_test.go included) let
// live. Each names the behaviour it pins.

// poolCheckConn is a driver connection whose pool checks (database/sql's ResetSession
// before reuse, IsValid after use) answer as set.
type poolCheckConn struct {
	driver.Conn
	resetErr error
	valid    bool
}

func (p poolCheckConn) ResetSession(context.Context) error { return p.resetErr }
func (p poolCheckConn) IsValid() bool                      { return p.valid }

// The outer connection answers database/sql's pool checks as the connection below it
// does: a connection the driver says is bad (ResetSession's driver.ErrBadConn) or no
// longer valid (IsValid false, the driver's closed session) is discarded from the pool,
// as unwrapped, not kept and reused.
func TestGap2OuterConnForwardsPoolChecks(t *testing.T) {
	tests := []struct {
		name     string
		resetErr error
		valid    bool
	}{
		{"good", nil, true},
		{"bad connection", driver.ErrBadConn, true},
		{"session no longer valid", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &outerConn{mw: poolCheckConn{resetErr: tt.resetErr, valid: tt.valid}}
			assert.Equal(t, tt.resetErr, c.ResetSession(context.Background()))
			assert.Equal(t, tt.valid, c.IsValid())
		})
	}
}

// nilArrowRows are a driver's rows whose Arrow access returns no iterator and no error.
type nilArrowRows struct{ closeFailRows }

func (nilArrowRows) GetArrowBatches(context.Context) (dbsqlrows.ArrowBatchIterator, error) {
	return nil, nil
}

func (nilArrowRows) GetArrowIPCStreams(context.Context) (dbsqlrows.ArrowIPCStreamIterator, error) {
	return nil, nil
}

// Arrow access through the outer rows returns the driver's iterator as the driver
// returned it: no iterator stays no iterator (a nil interface the caller can test), not
// a wrapper around nil whose first call would panic.
func TestGap2NoArrowIteratorStaysNil(t *testing.T) {
	for _, ipc := range []bool{false, true} {
		t.Run(map[bool]string{false: "batches", true: "ipc streams"}[ipc], func(t *testing.T) {
			c, _ := recordingConnector()
			st := namedStatement(newConnState(c), "q-no-iterator")
			st.inner = nilArrowRows{}
			rows, err := outerRowsOf(st.inner, st, nil)
			require.NoError(t, err)
			if ipc {
				it, err := rows.(dbsqlrows.Rows).GetArrowIPCStreams(context.Background())
				require.NoError(t, err)
				assert.True(t, it == nil, "no iterator: %#v", it)
			} else {
				it, err := rows.(dbsqlrows.Rows).GetArrowBatches(context.Background())
				require.NoError(t, err)
				assert.True(t, it == nil, "no iterator: %#v", it)
			}
		})
	}
}

// A hand-over that saw a statement held, but lost it to that statement's completion,
// leaves alone the connection's next statement, held meanwhile: it takes off held only
// the statement it saw, and emits no start for the completed one. The next statement's
// completion still carries its own start (one event, with what its start would say).
func TestGap2HandOverThatLostLeavesTheNextHeldStatement(t *testing.T) {
	i, first, events := heldQuery(t, "q-first")
	cs := first.conn
	first.mu.Lock() // the hand-over waits here, after it saw the first statement held
	handed := handOverBlocked(t, i, first)
	require.NoError(t, i.RowsClose(first, closeFailRows{})) // the first completes, carrying its start
	second := namedStatement(cs, "q-second")
	i.returned(second, telemetry.StatementQuery, nil, true) // and the next query's rows open
	require.Same(t, second, cs.held.Load())
	first.mu.Unlock()
	<-handed

	assert.Same(t, second, cs.held.Load(), "the next statement's start is still held")
	assert.Empty(t, events.kinds(telemetry.KindStatementStart), "no start after its completion")
	require.NoError(t, i.RowsClose(second, closeFailRows{}))
	done := events.completions()
	require.Len(t, done, 2)
	for _, ev := range done {
		assert.Equal(t, telemetry.OpExecuteStatement, ev.OperationType, "%s carries its start", ev.StatementID)
	}
}

// A prepared statement's Exec through ours with telemetry on allocates at most one
// object more than through sqlmw with NullInterceptor, as an unprepared one does
// (TestGapExecAllocations): the outer statement makes the statement's state, the call's
// one context layer, which the interceptor takes as it is.
func TestGap2PreparedExecAllocations(t *testing.T) {
	allocs := map[string]float64{}
	for _, v := range hotVariants()[1:3] { // sqlmw-null, ours-on
		db, _ := v.open(t)
		stmt, err := db.PrepareContext(context.Background(), "DELETE FROM t")
		require.NoError(t, err)
		exec := func() {
			if _, err := stmt.ExecContext(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		exec() // the pool's connection, the aggregator's shard
		allocs[v.name] = testing.AllocsPerRun(500, exec)
		require.NoError(t, stmt.Close())
	}
	assert.LessOrEqual(t, allocs["ours-on"], allocs["sqlmw-null"]+1, "allocations per prepared exec: %v", allocs)
}

// Only the driver's Thrift calls (POSTs to the DSN's http path or with the Thrift
// client's Content-Type) are observed as such: another POST in a statement's context (an
// OAuth token request through the same transport) that fails is no failed Thrift call,
// so the statement's next Thrift call of the same size is not counted as its retry.
func TestGap2OtherPostsAreNoThriftCalls(t *testing.T) {
	c, _ := recordingConnector()
	st := newStmtState(context.Background(), newConnState(c))
	poll := pollReply()
	tr := &transport{c: c, thrift: "/sql", base: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.URL.Path != "/sql" {
			return &http.Response{StatusCode: http.StatusServiceUnavailable, Body: http.NoBody, Request: req}, nil
		}
		return &http.Response{StatusCode: http.StatusOK, ContentLength: int64(len(poll)), Body: io.NopCloser(bytes.NewReader(poll)), Request: req}, nil
	})}
	send := func(path, contentType string) {
		req := httptest.NewRequestWithContext(st, http.MethodPost, "https://h"+path, strings.NewReader("x"))
		req.Header.Set("Content-Type", contentType)
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		require.NoError(t, resp.Body.Close())
	}
	send("/oidc/v1/token", "application/x-www-form-urlencoded") // fails: no Thrift call
	send("/sql", thriftContentType)
	assert.Zero(t, st.retries.Load(), "no Thrift call failed before")
	assert.EqualValues(t, 1, st.polls.Load())
}

// A download redirected after its statement completed (the rows closed while it was in
// flight) keeps no link for the redirect's target: the connector would keep the link,
// and with it the statement, until its Close.
func TestGap2RedirectAfterCompletionKeepsNoLink(t *testing.T) {
	const link, moved = "https://f/0?sig=a", "https://mirror/f/0?sig=a"
	c := &Connector{}
	st := statementListing(t, c, link)
	resp := downloadFrom(t, c, link, func() *http.Response {
		c.forgetLinks(st) // the rows close while the download is in flight
		h := http.Header{}
		h.Set("Location", moved)
		return &http.Response{StatusCode: http.StatusFound, Header: h, Body: io.NopCloser(strings.NewReader(""))}
	})
	_ = resp.Body.Close()
	assert.Zero(t, LinksKept(c))
	assert.Empty(t, st.links)
}

// A CloudFetch link is read off a result link's field 1 only when that field is a
// string, as the Thrift IDL types it: a field 1 of another type (a corrupt reply) is
// skipped, not read as a string's length and bytes, and yields no link.
func TestGap2LinkFieldOfAnotherTypeIsNoLink(t *testing.T) {
	var w tw
	w.fetchResultsRowSet()
	w.field(thriftList, 1282) // resultLinks: one link
	w.i8(thriftStruct)
	w.i32(1)
	w.field(thriftI64, 1) // its field 1, an i64 instead of the fileLink string
	w.Write(make([]byte, 8))
	w.stop() // the link
	w.stop() // TRowSet
	w.stop() // TFetchResultsResp
	w.stop() // result struct
	links, batches, _ := rowSetFacts(w.Bytes())
	assert.Empty(t, links)
	assert.Zero(t, batches)
}

// The last connector of a setting to leave a host closes that setting's aggregator (a
// final flush of its statements), while the host and its other settings' aggregators
// stay: a connector that leaves before the last one drops only its reference.
func TestGap2LastConnectorOfASettingClosesItsAggregator(t *testing.T) {
	ctx := context.Background()
	h := &hostAggs{exp: nopExporter{}, aggs: map[aggKey]*sharedAgg{}}
	t.Cleanup(func() { _ = h.Close(ctx) })
	shared, other := aggKey{authType: "pat"}, aggKey{authType: "oauth"}
	a := h.acquire(shared, nil)
	require.Same(t, a, h.acquire(shared, nil), "the same setting shares its aggregator")
	b := h.acquire(other, nil)

	require.NoError(t, h.release(ctx, shared))
	assert.NoError(t, a.Flush(ctx), "one connector of the setting is left: its aggregator stays open")
	require.NoError(t, h.release(ctx, shared))
	assert.ErrorIs(t, a.Flush(ctx), aggregator.ErrClosed, "the setting's last connector closed its aggregator")
	assert.NotContains(t, h.aggs, shared)
	assert.NoError(t, b.Flush(ctx), "another setting's aggregator stays open")
}
