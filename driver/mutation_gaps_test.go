package driver

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/databricks/databricks-sql-go/driverctx"
	dbsqlrows "github.com/databricks/databricks-sql-go/rows"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/internal/fakedb"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// Tests that kill mutations of the driver's core that the rest of the suite let live.
// Each names the behaviour it pins; they run on the in-memory fake or on the hooks
// directly, with the events recorded as the emitter hands them to its sink.

// gapDB is a telemetry-on connector over raw whose events go to the returned log, and a
// database/sql pool on it, closed when the test ends.
func gapDB(t *testing.T, raw driver.Connector) (*Connector, *eventLog, *sql.DB) {
	t.Helper()
	on := true
	cfg := defaultConfig()
	cfg.enabled = &on
	cfg.hosts = NewHosts()
	cfg.lookupEnv = func(string) (string, bool) { return "", false }
	c, err := (&Connector{cfg: cfg, gate: newGate()}).wrap(raw)
	require.NoError(t, err)
	events := &eventLog{}
	c.em = telemetry.NewEmitter(events, telemetry.WithLookupEnv(cfg.lookupEnv))
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })
	return c, events, db
}

// heldQuery returns a query on a tracked connection of a recording connector, its rows
// open: its start is held on its connection.
func heldQuery(t *testing.T, id string) (*interceptor, *stmtState, *eventLog) {
	t.Helper()
	c, events := recordingConnector()
	cs := newConnState(c)
	c.track(cs)
	i := &interceptor{c: c}
	st := namedStatement(cs, id)
	i.returned(st, telemetry.StatementQuery, nil, true)
	require.Same(t, st, cs.held.Load(), "its rows are open: the start is held")
	return i, st, events
}

// handOverBlocked starts a hand-over of st's connection and returns once it waits on
// st's lock, which the caller holds; the channel closes when the hand-over ends.
func handOverBlocked(t *testing.T, i *interceptor, st *stmtState) <-chan struct{} {
	t.Helper()
	handed := make(chan struct{})
	go func() {
		defer close(handed)
		i.c.handOver(st.conn)
	}()
	waitBlockedOnLock(t, "(*Connector).handOver")
	return handed
}

// namedStatement is a statement of cs that its hook has begun and the server named id.
func namedStatement(cs *connState, id string) *stmtState {
	st := newStmtState(context.Background(), cs)
	st.claimed = true
	st.start = time.Now()
	st.setID(id)
	return st
}

// namingConnector names each session it opens through the context's conn-id callback
// once the session is open, as the driver's Thrift backend does after its OpenSession
// (driverctx.NewContextWithConnId), with the id the fake's statements name it by.
type namingConnector struct{ driver.Connector }

func (n namingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := n.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	var id string
	if err := conn.(driver.Pinger).Ping(driverctx.NewContextWithConnIdCallback(context.Background(), func(s string) { id = s })); err != nil {
		return nil, err
	}
	driverctx.NewContextWithConnId(ctx, id)
	return conn, nil
}

// connection.open carries the session the driver names while it connects (its conn-id
// callback), which is the session of the connection's statements: the interceptor's
// Connect hook shares the connection's state that Connector.Connect made.
func TestGapConnectionOpenCarriesTheSessionTheDriverNames(t *testing.T) {
	_, events, db := gapDB(t, namingConnector{fakedb.NewConnector()})
	require.NoError(t, fakedb.Query(context.Background(), db, "SELECT 1"))

	opens := events.kinds(telemetry.KindConnectionOpen)
	require.Len(t, opens, 1)
	done := events.completions()
	require.Len(t, done, 1)
	require.NotEmpty(t, done[0].SessionID)
	assert.Equal(t, done[0].SessionID, opens[0].SessionID, "connection.open names the session its statements run in")
}

// A query that fails with a retryable execution error (the server named the statement)
// completes at once: its error is held for it and its statement.complete goes, and the
// connection does not keep the statement. Left open, as a query whose rows were returned,
// its start would wait in the connection's held and no completion would ever come.
func TestGapFailedQueryCompletesAtOnce(t *testing.T) {
	const query = "SELECT flaky"
	c, events, db := gapDB(t, fakedb.NewConnector(fakedb.WithQueryError(query,
		&fakedb.ExecutionError{Msg: "connection to the cluster lost", State: "08S01"})))
	conn, err := db.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()

	_, err = conn.QueryContext(context.Background(), query) //nolint:rowserrcheck,sqlclosecheck // it fails
	require.Error(t, err)
	require.False(t, telemetry.Classify(err).Terminal, "the error is a retryable one")

	errs := events.kinds(telemetry.KindError)
	require.Len(t, errs, 1)
	done := events.completions()
	require.Len(t, done, 1, "the failed query completed")
	assert.Equal(t, errs[0].StatementID, done[0].StatementID)
	assert.NotEmpty(t, done[0].StatementID)
	assert.Equal(t, telemetry.StatementQuery, done[0].StatementType, "its completion carries its start")
	assert.Empty(t, events.kinds(telemetry.KindStatementStart))
	c.connsMu.Lock()
	defer c.connsMu.Unlock()
	for cs := range c.conns {
		assert.Nil(t, cs.held.Load(), "no start held")
		assert.Nil(t, cs.asking.Load(), "the statement is not kept")
	}
}

// failingExecer is a driver connection whose Exec fails with err and names no statement
// through the context's callbacks.
type failingExecer struct{ err error }

func (f failingExecer) ExecContext(context.Context, string, []driver.NamedValue) (driver.Result, error) {
	return nil, f.err
}

// An execution error names its statement (its QueryId) when the driver's callbacks did
// not: the statement is the error's, and its completion carries the error.
func TestGapExecutionErrorNamesItsStatement(t *testing.T) {
	c, events := recordingConnector()
	i := &interceptor{c: c}
	failure := &fakedb.ExecutionError{Msg: "[TABLE_OR_VIEW_NOT_FOUND] t", State: "42P01", StatementID: "q-named-by-its-error"}
	_, err := i.ConnExecContext(context.Background(), failingExecer{err: failure}, "DELETE FROM t", nil)
	require.Same(t, failure, err)

	done := events.completions()
	require.Len(t, done, 1)
	assert.Equal(t, "q-named-by-its-error", done[0].StatementID)
	assert.Equal(t, telemetry.StatementUpdate, done[0].StatementType)
	assert.NotEmpty(t, done[0].ErrorName, "the terminal error completes it")
	assert.Empty(t, events.kinds(telemetry.KindError), "the error went with its statement's log")
}

// A terminal error of a statement that has completed (its rows' Close fails after a
// terminal error on Next completed it) stands alone, as a retryable one does: it is not
// lost by trying to complete the statement again.
func TestGapTerminalErrorAfterCompletionStandsAlone(t *testing.T) {
	c, events := recordingConnector()
	i := &interceptor{c: c}
	st := namedStatement(newConnState(c), "q-terminal-twice")
	i.returned(st, telemetry.StatementQuery, nil, true) // the rows are open
	c.rowFailed(st, &fakedb.ExecutionError{Msg: "[DIVIDE_BY_ZERO]", State: "22012", StatementID: "q-terminal-twice"})
	require.True(t, st.done)
	require.Len(t, events.completions(), 1)

	late := &fakedb.ExecutionError{Msg: "[INVALID_HANDLE] the operation is gone", State: "42601", StatementID: "q-terminal-twice"}
	require.True(t, telemetry.Classify(late).Terminal)
	_ = i.RowsClose(st, closeFailRows{err: late})
	errs := events.kinds(telemetry.KindError)
	require.Len(t, errs, 1, "the late terminal error is logged on its own")
	assert.Equal(t, "q-terminal-twice", errs[0].StatementID)
	assert.True(t, errs[0].Standalone)
	assert.Len(t, events.completions(), 1)
}

// A statement whose start goes before its completion (it was not held: here its
// connection is one telemetry did not know) reports each of its polls once: the start
// takes those made so far, the completion only the later ones.
func TestGapPollsBeforeTheStartAreNotReportedTwice(t *testing.T) {
	c, events := recordingConnector()
	i := &interceptor{c: c}
	st := namedStatement(newConnState(c), "q-polled")
	poll := pollReply()
	for range 2 { // the driver polls before it returns the rows
		require.Equal(t, poll, callReply(t, c, fixedReply{body: poll, n: len(poll), size: int64(len(poll))}, st, st.conn))
	}
	i.returned(st, telemetry.StatementQuery, nil, true)
	starts := events.kinds(telemetry.KindStatementStart)
	require.Len(t, starts, 1, "an untracked connection holds no start")
	assert.EqualValues(t, 2, starts[0].PollCount)

	require.Equal(t, poll, callReply(t, c, fixedReply{body: poll, n: len(poll), size: int64(len(poll))}, st, st.conn)) // one more, while the rows are read
	require.NoError(t, i.RowsClose(st, closeFailRows{}))
	done := events.completions()
	require.Len(t, done, 1)
	assert.EqualValues(t, 1, done[0].PollCount, "only the poll after the start")
}

// nextFailRows are rows whose Next fails with err.
type nextFailRows struct{ err error }

func (nextFailRows) Columns() []string           { return []string{"a"} }
func (nextFailRows) Close() error                { return nil }
func (r nextFailRows) Next([]driver.Value) error { return r.err }

// The interceptor's RowsNext records what ended rows read through sqlmw's layer, as the
// outer rows do for their own: a terminal error completes the statement with it; the end
// of the rows is no error.
func TestGapRowsNextRecordsTheRowsError(t *testing.T) {
	c, events := recordingConnector()
	i := &interceptor{c: c}
	st := namedStatement(newConnState(c), "q-read-through-sqlmw")
	i.returned(st, telemetry.StatementQuery, nil, true)

	dest := make([]driver.Value, 1)
	require.ErrorIs(t, i.RowsNext(st, nextFailRows{err: io.EOF}, dest), io.EOF)
	assert.Empty(t, events.completions(), "the end of the rows is no error")
	failure := &fakedb.ExecutionError{Msg: "[DIVIDE_BY_ZERO]", State: "22012", StatementID: "q-read-through-sqlmw"}
	require.Same(t, failure, i.RowsNext(st, nextFailRows{err: failure}, dest))
	done := events.completions()
	require.Len(t, done, 1, "the terminal error completed the statement")
	assert.NotEmpty(t, done[0].ErrorName)
}

// panickyErr is a driver error whose Is and As panic (a buggy error type of a driver or
// of a caller's transport).
type panickyErr struct{}

func (panickyErr) Error() string { return "boom" }
func (panickyErr) Is(error) bool { panic("Is boom") }
func (panickyErr) As(any) bool   { panic("As boom") }

// failingQueryer is a driver connection whose Query fails with err.
type failingQueryer struct{ err error }

func (f failingQueryer) QueryContext(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	return nil, f.err
}

// A panic in the hooks' own bookkeeping (here an error whose Is and As panic when the
// hook classifies it) never reaches the caller, who gets the driver's result and error
// untouched: every hook guards its bookkeeping.
func TestGapBookkeepingPanicsStayInside(t *testing.T) {
	c, _ := recordingConnector()
	i := &interceptor{c: c}
	boom := panickyErr{}
	opened := func() *stmtState {
		st := namedStatement(newConnState(c), "q-panicky")
		i.returned(st, telemetry.StatementQuery, nil, true)
		return st
	}

	t.Run("query", func(t *testing.T) {
		assert.NotPanics(t, func() {
			_, rows, err := i.ConnQueryContext(context.Background(), failingQueryer{err: boom}, "SELECT 1", nil)
			assert.Nil(t, rows)
			assert.Equal(t, boom, err)
		})
	})
	t.Run("rows next", func(t *testing.T) {
		st := opened()
		st.inner = nextFailRows{err: boom} // the driver's rows, read by the outer rows
		rows, err := outerRowsOf(st.inner, st, nil)
		require.NoError(t, err)
		assert.NotPanics(t, func() { assert.Equal(t, boom, rows.Next(make([]driver.Value, 1))) })
	})
	t.Run("rows close", func(t *testing.T) {
		st := opened()
		assert.NotPanics(t, func() { assert.Equal(t, boom, i.RowsClose(st, closeFailRows{err: boom})) })
	})
}

// The SQL text of a statement never leaves with its events, a failed query's included
// (the end-to-end privacy test fails only Execs): the error is the driver's, as it
// returned it, and nothing the hooks add to it names the statement's text.
func TestGapSQLTextOfAFailedQueryStaysOut(t *testing.T) {
	const query = "SELECT secret_column_xq7 FROM secret_table_xq7"
	failure := &fakedb.ExecutionError{Msg: "[UNRESOLVED_COLUMN] a column cannot be resolved", State: "42703"}
	_, events, db := gapDB(t, fakedb.NewConnector(fakedb.WithQueryError(query, failure)))
	rows, err := db.QueryContext(context.Background(), query)
	if err == nil {
		_ = rows.Close()
	}
	require.ErrorContains(t, err, "UNRESOLVED_COLUMN")
	stmt, err := db.PrepareContext(context.Background(), query)
	require.NoError(t, err)
	defer stmt.Close()
	rows, err = stmt.QueryContext(context.Background())
	if err == nil {
		_ = rows.Close()
	}
	require.Error(t, err)

	events.mu.Lock()
	defer events.mu.Unlock()
	withErr := 0
	for _, ev := range events.evs {
		if ev.ErrorName != "" {
			withErr++
			assert.Contains(t, ev.Message, "UNRESOLVED_COLUMN", "the driver's error is recorded")
		}
		for _, s := range []string{ev.Message, ev.ErrorName, ev.StatementType, ev.ResultFormat} {
			assert.NotContains(t, s, "xq7", ev.Kind)
		}
	}
	assert.Equal(t, 2, withErr, "each failed query's error is recorded once")
}

// waitBlockedOnLock waits until a goroutine running fn waits for a mutex.
func waitBlockedOnLock(t *testing.T, fn string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); runtime.Gosched() {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, fn) && (strings.Contains(g, "sync.(*Mutex).Lock") || strings.Contains(g, "sync.(*Mutex).lockSlow")) {
				return
			}
		}
	}
	t.Fatalf("no goroutine of %s waits for a mutex", fn)
}

// A hand-over that saw the statement held, but lost it to the statement's completion
// (which took the start off the connection's held first, and carried it), says nothing:
// a start after its statement's completion would open an entry that nothing completes.
func TestGapHandOverThatLostTheStartSaysNothing(t *testing.T) {
	i, st, events := heldQuery(t, "q-lost-hand-over")
	st.mu.Lock() // the hand-over waits here, after it saw the statement held
	handed := handOverBlocked(t, i, st)
	require.NoError(t, i.RowsClose(st, closeFailRows{})) // the rows close meanwhile: the completion takes the start
	st.mu.Unlock()
	<-handed

	assert.Empty(t, events.kinds(telemetry.KindStatementStart), "the completion carried the start")
	done := events.completions()
	require.Len(t, done, 1)
	assert.Equal(t, telemetry.OpExecuteStatement, done[0].OperationType)
}

// A prepared query read and closed at once is one event, its completion (which carries
// its start), as an unprepared one is: its statement runs on its connection's state, which
// holds the start back.
func TestGapPreparedQueryStartIsCarried(t *testing.T) {
	_, events, db := gapDB(t, fakedb.NewConnector())
	stmt, err := db.PrepareContext(context.Background(), "SELECT 1")
	require.NoError(t, err)
	defer stmt.Close()
	for range 2 {
		var n int64
		require.NoError(t, stmt.QueryRowContext(context.Background()).Scan(&n))
	}
	assert.Empty(t, events.kinds(telemetry.KindStatementStart), "held back, then carried")
	done := events.completions()
	require.Len(t, done, 2)
	opens := events.kinds(telemetry.KindConnectionOpen)
	require.Len(t, opens, 1)
	for _, ev := range done {
		assert.Equal(t, telemetry.StatementQuery, ev.StatementType)
		assert.Equal(t, telemetry.OpExecuteStatement, ev.OperationType)
	}
}

// arrowFailRows are a driver's rows whose Arrow access fails with err.
type arrowFailRows struct {
	closeFailRows
	err error
}

func (r arrowFailRows) GetArrowBatches(context.Context) (dbsqlrows.ArrowBatchIterator, error) {
	return nil, r.err
}

func (r arrowFailRows) GetArrowIPCStreams(context.Context) (dbsqlrows.ArrowIPCStreamIterator, error) {
	return nil, r.err
}

// An error of GetArrowBatches or GetArrowIPCStreams themselves (not of their iterators)
// is the statement's, as one of Next is: a terminal one completes the statement with it.
func TestGapArrowAccessErrorIsTheStatements(t *testing.T) {
	for _, ipc := range []bool{false, true} {
		t.Run(map[bool]string{false: "batches", true: "ipc streams"}[ipc], func(t *testing.T) {
			c, events := recordingConnector()
			i := &interceptor{c: c}
			st := namedStatement(newConnState(c), "q-arrow-refused")
			failure := &fakedb.ExecutionError{Msg: "[INVALID_HANDLE]", State: "42601", StatementID: "q-arrow-refused"}
			st.inner = arrowFailRows{err: failure}
			i.returned(st, telemetry.StatementQuery, nil, true)
			rows, err := outerRowsOf(st.inner, st, nil)
			require.NoError(t, err)

			if ipc {
				_, err = rows.(dbsqlrows.Rows).GetArrowIPCStreams(context.Background())
			} else {
				_, err = rows.(dbsqlrows.Rows).GetArrowBatches(context.Background())
			}
			require.Same(t, failure, err)
			done := events.completions()
			require.Len(t, done, 1, "the terminal error completed the statement")
			assert.NotEmpty(t, done[0].ErrorName)
		})
	}
}

// An Exec through ours with telemetry on allocates at most one object more than through
// sqlmw with NullInterceptor, as a query does (TestHotPathAllocations): the statement's
// state is its call's one context layer.
func TestGapExecAllocations(t *testing.T) {
	allocs := map[string]float64{}
	for _, v := range hotVariants()[1:3] { // sqlmw-null, ours-on
		db, _ := v.open(t)
		exec := func() {
			if _, err := db.ExecContext(context.Background(), "DELETE FROM t"); err != nil {
				t.Fatal(err)
			}
		}
		exec() // the pool's connection, the aggregator's shard
		allocs[v.name] = testing.AllocsPerRun(500, exec)
	}
	assert.LessOrEqual(t, allocs["ours-on"], allocs["sqlmw-null"]+1, "allocations per exec: %v", allocs)
}

// With telemetry off the transport observes nothing: a statement's Thrift reply reaches
// the driver as the network gave it (its very body, not read ahead into a buffer), and
// nothing is learnt from it.
func TestGapTransportOffLeavesRepliesUntouched(t *testing.T) {
	c := &Connector{}
	cs := newConnState(c)
	st := newStmtState(context.Background(), cs)
	body := &scriptedBody{reads: []scriptedRead{{b: pollReply(), err: io.EOF}}}
	tr := &transport{off: true, c: c, thrift: "/sql", base: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, ContentLength: int64(len(pollReply())), Body: body, Request: req}, nil
	})}
	resp, err := tr.RoundTrip(httptest.NewRequestWithContext(st, http.MethodPost, "https://h/sql", strings.NewReader("x")))
	require.NoError(t, err)
	assert.Same(t, body, resp.Body, "the network's own body")
	_, _ = io.ReadAll(resp.Body)
	assert.Zero(t, st.polls.Load(), "nothing observed")
}

// A download that failed, then is redirected on its retry, is one retry: the redirect's
// target, which the client follows at once, is the same attempt, not another retry.
func TestGapRedirectedRetryIsOneRetry(t *testing.T) {
	const link, moved = "https://f/0?sig=a", "https://mirror/f/0?sig=a"
	c, events := recordingConnector()
	st := statementListing(t, c, link)
	for _, answer := range []struct {
		url    string
		status int
	}{
		{link, http.StatusServiceUnavailable}, // fails: the driver downloads the file again
		{link, http.StatusFound},              // the retry is redirected
		{moved, http.StatusOK},                // and the client follows it
	} {
		resp := downloadFrom(t, c, answer.url, func() *http.Response {
			h := http.Header{}
			if answer.status == http.StatusFound {
				h.Set("Location", moved)
			}
			return &http.Response{StatusCode: answer.status, Header: h, Body: io.NopCloser(strings.NewReader("arrow-file"))}
		})
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	assert.EqualValues(t, 1, st.retries.Load())
	require.Len(t, events.kinds(telemetry.KindChunk), 1)
}

// A CloudFetch chunk's event carries no text at all: the signed link it was downloaded
// from (kept to recognise a retry) is never recorded, not even as an error.
func TestGapChunkEventCarriesNoLink(t *testing.T) {
	const link = "https://f/0?X-Signature=sig-xq7&X-Expires=1"
	c, events := recordingConnector()
	statementListing(t, c, link)
	resp := downloadFrom(t, c, link, func() *http.Response {
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("arrow-file"))}
	})
	_, _ = io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	chunks := events.kinds(telemetry.KindChunk)
	require.Len(t, chunks, 1)
	ev := chunks[0]
	assert.Empty(t, ev.Message)
	assert.Empty(t, ev.ErrorName)
	assert.NotContains(t, fmt.Sprintf("%+v", ev), "xq7")
}

// Only the strict binary protocol's version word (0x8001) starts a message the transport
// reads: any other first word, even before a known method's name, is no Thrift reply it
// knows, and nothing is learnt from it (no poll counted).
func TestGapOnlyStrictBinaryRepliesAreRead(t *testing.T) {
	poll := pollReply()
	require.True(t, func() bool { _, _, ok := rpcMethod(poll); return ok }())
	for _, word := range []uint32{0x80020002, 0x00010002, 0x00000000, 0x7fff0002} {
		b := bytes.Clone(poll)
		binary.BigEndian.PutUint32(b[0:4], word)
		_, _, ok := rpcMethod(b)
		assert.False(t, ok, "version word %#x", word)
		assert.False(t, headerPossible(b[:8]), "version word %#x", word)

		c := &Connector{}
		st := newStmtState(context.Background(), newConnState(c))
		require.Equal(t, b, callReply(t, c, fixedReply{body: b, n: len(b), size: int64(len(b))}, st, st.conn))
		assert.Zero(t, st.polls.Load(), "version word %#x", word)
	}
}

// A handle's GUID is read only when it is 16 bytes, the one length the driver prints as a
// dashed UUID: the driver prints any other as plain hex, so a session or statement id
// read off a GUID of another length would not be the one the driver names.
func TestGapOnlySixteenByteGUIDsAreRead(t *testing.T) {
	for _, n := range []int{15, 16, 17, 32} {
		guid := bytes.Repeat([]byte{0xab}, n)
		id, ok := openSessionID(openSessionReply(guid))
		assert.Equal(t, n == 16, ok, "a GUID of %d bytes", n)
		id2, ok2 := executeStatementID(namedExecuteReply(guid, nil, nil))
		assert.Equal(t, n == 16, ok2, "a GUID of %d bytes", n)
		if n == 16 {
			assert.Equal(t, "abababab-abab-abab-abab-abababababab", id)
			assert.Equal(t, id, id2)
		}
	}
}

// A reply whose list of CloudFetch links claims more links than any reply lists (a
// corrupt or hostile count) is given up before anything is allocated for them: the count
// is bounded (1<<16), not trusted up to the 2^31 a list can claim.
func TestGapLinkCountIsBoundedBeforeAllocating(t *testing.T) {
	var w tw
	w.fetchResultsRowSet()
	w.field(thriftList, 1282) // resultLinks: a huge count, and no links
	w.i8(thriftStruct)
	w.i32(1 << 22)
	b := w.Bytes()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	links, batches, _ := rowSetFacts(b)
	runtime.ReadMemStats(&after)
	assert.Empty(t, links)
	assert.Zero(t, batches)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20), "bytes allocated reading the reply")
}

// fetchResultsRowSet writes a FetchResults reply up to its TRowSet's startRowOffset: the
// row set's further fields, and the ends of the structs, are the caller's.
func (w *tw) fetchResultsRowSet() {
	w.reply("FetchResults")
	w.statusOK(1)
	w.field(thriftBool, 2) // hasMoreRows
	w.i8(0)
	w.field(thriftStruct, 3) // results: TRowSet
	w.field(thriftI64, 1)
	w.Write(make([]byte, 8))
}
