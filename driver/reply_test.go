package driver

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/databricks/databricks-sql-go/driverctx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tw writes the strict Thrift binary protocol, enough to build the replies the
// transport reads.
type tw struct{ bytes.Buffer }

func (w *tw) i8(v byte)   { w.WriteByte(v) }
func (w *tw) i16(v int16) { _ = binary.Write(w, binary.BigEndian, v) }
func (w *tw) i32(v int32) { _ = binary.Write(w, binary.BigEndian, v) }
func (w *tw) bin(b []byte) {
	w.i32(int32(len(b)))
	w.Write(b)
}
func (w *tw) field(t byte, id int16) { w.i8(t); w.i16(id) }
func (w *tw) stop()                  { w.i8(thriftStop) }
func (w *tw) reply(method string) {
	w.i32(int32(-0x7ffefffe)) // 0x80010002: version 1, REPLY
	w.bin([]byte(method))
	w.i32(7) // sequence id
	w.field(thriftStruct, 0)
}

// statusOK writes a TStatus field with statusCode SUCCESS.
func (w *tw) statusOK(id int16) {
	w.field(thriftStruct, id)
	w.field(thriftI32, 1)
	w.i32(0)
	w.stop()
}

// handleID writes field id of a handle, a THandleIdentifier: guid and a zero secret.
func (w *tw) handleID(id int16, guid []byte) {
	w.field(thriftStruct, id)
	w.field(thriftString, 1)
	w.bin(guid)
	w.field(thriftString, 2)
	w.bin(make([]byte, 16))
	w.stop()
}

// binStructs writes list field id of structs, each a binary field 1 holding one of items
// and a zero i64 field i64ID.
func (w *tw) binStructs(id int16, items [][]byte, i64ID int16) {
	w.field(thriftList, id)
	w.i8(thriftStruct)
	w.i32(int32(len(items)))
	for _, b := range items {
		w.field(thriftString, 1)
		w.bin(b)
		w.field(thriftI64, i64ID)
		w.Write(make([]byte, 8))
		w.stop()
	}
}

// executeReply is an ExecuteStatement reply with direct results whose row set carries
// the given inline batches and CloudFetch links.
func executeReply(batches [][]byte, links []string) []byte {
	return namedExecuteReply(nil, batches, links)
}

// namedExecuteReply is executeReply with an operation handle whose id is guid (none when
// nil).
func namedExecuteReply(guid []byte, batches [][]byte, links []string) []byte {
	var w tw
	w.reply("ExecuteStatement")
	w.statusOK(1)
	if guid != nil {
		w.field(thriftStruct, 2) // operationHandle
		w.handleID(1, guid)      // operationId
		w.field(thriftI32, 2)    // operationType
		w.i32(0)
		w.field(thriftBool, 3) // hasResultSet
		w.i8(1)
		w.stop()
	}
	w.field(thriftStruct, 1281) // directResults
	w.field(thriftStruct, 2)    // resultSetMetadata, with a schema blob to skip
	w.field(thriftString, 1282)
	w.bin(bytes.Repeat([]byte{'s'}, 300))
	w.stop()
	w.field(thriftStruct, 3) // resultSet
	w.statusOK(1)
	w.field(thriftStruct, 3) // results: TRowSet
	w.field(thriftI64, 1)
	w.Write(make([]byte, 8))
	w.field(thriftList, 2) // rows: empty list of structs
	w.i8(thriftStruct)
	w.i32(0)
	if batches != nil {
		w.binStructs(1281, batches, 2) // TSparkArrowBatch: batch, rowCount
	}
	if links != nil {
		ls := make([][]byte, len(links))
		for i, l := range links {
			ls[i] = []byte(l)
		}
		w.binStructs(1282, ls, 3) // TSparkArrowResultLink: fileLink, …, rowCount
	}
	w.stop() // TRowSet
	w.stop() // resultSet
	w.stop() // directResults
	w.stop() // TExecuteStatementResp
	w.stop() // result struct
	return w.Bytes()
}

func openSessionReply(guid []byte) []byte {
	var w tw
	w.reply("OpenSession")
	w.statusOK(1)
	w.field(thriftI32, 2)
	w.i32(42248)
	w.field(thriftStruct, 3) // sessionHandle
	w.handleID(1, guid)      // sessionId
	w.stop()
	w.stop()
	w.stop()
	return w.Bytes()
}

func pollReply() []byte {
	var w tw
	w.reply("GetOperationStatus")
	w.statusOK(1)
	w.field(thriftI32, 2)
	w.i32(2) // FINISHED
	w.stop()
	w.stop()
	return w.Bytes()
}

// chunked returns at most n bytes per Read.
type chunked struct {
	r io.Reader
	n int
}

func (c *chunked) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// readReply reads body through a reply as the driver would, n bytes at a time.
func readReply(t *testing.T, c *Connector, body []byte, n int, size int64, st *stmtState, cs *connState) {
	t.Helper()
	r := &reply{rc: io.NopCloser(&chunked{r: bytes.NewReader(body), n: n}), t: &transport{c: c},
		st: st, cs: cs, size: size, latency: 3 * time.Millisecond}
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.Equal(t, body, got, "the driver reads the reply unchanged")
	assert.Nil(t, r.buf, "the kept bytes went back to the pool")
}

// fixedReply answers every request with body, in reads of at most n bytes, announcing
// size as Content-Length (-1: unknown).
type fixedReply struct {
	body []byte
	n    int
	size int64
}

func (f fixedReply) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, ContentLength: f.size,
		Body: io.NopCloser(&chunked{r: bytes.NewReader(f.body), n: f.n})}, nil
}

// callReply runs one Thrift call through the transport in st's (or cs's) context and
// reads the reply as the driver would.
func callReply(t *testing.T, c *Connector, base http.RoundTripper, st *stmtState, cs *connState) []byte {
	t.Helper()
	var ctx context.Context = withConn(context.Background(), cs)
	if st != nil {
		ctx = st
	}
	tr := &transport{base: base, c: c, thrift: "/sql/1.0/warehouses/x"}
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "https://h/sql/1.0/warehouses/x", strings.NewReader("x"))
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return got
}

// lateEnd is a reply body without Content-Length whose end comes only once released:
// the message in reads of at most n bytes, then EOF after release (a chunked body's last
// chunk, or HTTP/2's end of stream, sent late).
type lateEnd struct {
	msg     *chunked
	release chan struct{}
}

func (l *lateEnd) Read(p []byte) (int, error) {
	if n, err := l.msg.Read(p); n > 0 || err != io.EOF {
		return n, err
	}
	<-l.release
	return 0, io.EOF
}

func (l *lateEnd) Close() error { return nil }

type lateEndReply struct{ body *lateEnd }

func (l lateEndReply) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, ContentLength: -1, Body: l.body}, nil
}

// A reply without Content-Length is learnt from once its Thrift message is in, as the
// driver reads it to its last byte and no further: not at the body's end, which comes at
// the driver's next call, after the statement may have completed. The driver gets the
// message unchanged, then the body's end.
func TestUnsizedReplyLearntAtTheMessagesEnd(t *testing.T) {
	guid := []byte{0x01, 0xef, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab}
	for _, n := range []int{1, 7, 4096, 1 << 20} {
		t.Run(fmt.Sprintf("reads of %d bytes", n), func(t *testing.T) {
			c := &Connector{}
			cs := newConnState(c)
			call := func(st *stmtState, body []byte) (finish func()) {
				t.Helper()
				var ctx context.Context = withConn(context.Background(), cs)
				if st != nil {
					ctx = st
				}
				late := &lateEnd{msg: &chunked{r: bytes.NewReader(body), n: n}, release: make(chan struct{})}
				tr := &transport{base: lateEndReply{late}, c: c, thrift: "/sql/1.0/warehouses/x"}
				req := httptest.NewRequestWithContext(ctx, http.MethodPost, "https://h/sql/1.0/warehouses/x", strings.NewReader("x"))
				resp, err := tr.RoundTrip(req)
				require.NoError(t, err)
				got := make([]byte, len(body))
				_, err = io.ReadFull(resp.Body, got)
				require.NoError(t, err)
				require.Equal(t, body, got, "the driver reads the message unchanged")
				return func() {
					close(late.release)
					rest, err := io.ReadAll(resp.Body)
					require.NoError(t, err)
					assert.Empty(t, rest)
					require.NoError(t, resp.Body.Close())
				}
			}

			finish := call(nil, openSessionReply(guid))
			assert.Equal(t, "01ef1234-5678-9abc-def0-0123456789ab", cs.session(), "before the body's end")
			finish()

			st := newStmtState(context.Background(), cs)
			finish = call(st, executeReply(nil, []string{"https://f/0?sig=a", "https://f/1?sig=b"}))
			assert.EqualValues(t, 2, st.linksSeen.Load(), "before the body's end")
			_, ok := c.links.Load("https://f/1?sig=b")
			assert.True(t, ok)
			finish()

			st = newStmtState(context.Background(), cs)
			finish = call(st, pollReply())
			assert.EqualValues(t, 1, st.polls.Load(), "before the body's end")
			finish()

			// Bigger than maxSniff: watched as the driver reads it, from its start.
			st = newStmtState(context.Background(), cs)
			finish = call(st, executeReply([][]byte{bytes.Repeat([]byte{'a'}, maxSniff)}, nil))
			assert.True(t, st.has(flagInline))
			finish()
		})
	}
}

// A reply learnt from after its statement completed (its body's end read at the
// driver's next call) keeps none of its links: the connector would keep them, and the
// statement with them, until it closed.
func TestReplyAfterCompletionKeepsNoLinks(t *testing.T) {
	c := &Connector{}
	cs := newConnState(c)
	st := newStmtState(context.Background(), cs)
	st.claimed, st.done = true, true
	c.forgetLinks(st)
	readReply(t, c, executeReply(nil, []string{"https://f/0?sig=a"}), 4096, -1, st, cs)
	_, ok := c.links.Load("https://f/0?sig=a")
	assert.False(t, ok)
	assert.Empty(t, st.links)
}

// Replies of known size are read at once in the transport; the driver reads them from
// memory, unchanged.
func TestReplyReadAtOnce(t *testing.T) {
	c := &Connector{}
	cs := newConnState(c)
	for _, n := range []int{1, 4096} {
		st := newStmtState(context.Background(), cs)
		body := executeReply(nil, []string{"https://f/0?sig=x", "https://f/1?sig=y"})
		require.Equal(t, body, callReply(t, c, fixedReply{body: body, n: n, size: int64(len(body))}, st, cs))
		assert.EqualValues(t, 2, st.linksSeen.Load())
		assert.False(t, st.has(flagInline))

		st = newStmtState(context.Background(), cs)
		body = executeReply([][]byte{bytes.Repeat([]byte{'a'}, 100<<10)}, nil)
		require.Equal(t, body, callReply(t, c, fixedReply{body: body, n: n, size: int64(len(body))}, st, cs))
		assert.True(t, st.has(flagInline))

		st = newStmtState(context.Background(), cs)
		body = pollReply()
		require.Equal(t, body, callReply(t, c, fixedReply{body: body, n: n, size: int64(len(body))}, st, cs))
		assert.EqualValues(t, 1, st.polls.Load())

		guid := bytes.Repeat([]byte{0xab}, 16)
		body = openSessionReply(guid)
		require.Equal(t, body, callReply(t, c, fixedReply{body: body, n: n, size: int64(len(body))}, nil, cs))
		assert.Equal(t, "abababab-abab-abab-abab-abababababab", cs.session())
	}

	// A reply cut short: the driver reads what came, then the body's own error (net/http's
	// io.ErrUnexpectedEOF), as it would have. A body that ends before its Content-Length
	// with a plain io.EOF (a caller's transport's stale length) ends so for the driver too.
	body := pollReply()
	for _, end := range []error{io.ErrUnexpectedEOF, io.EOF} {
		st := newStmtState(context.Background(), cs)
		base := roundTripFunc(func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: http.StatusOK, ContentLength: int64(len(body)) + 10,
				Body: io.NopCloser(io.MultiReader(&chunked{r: bytes.NewReader(body), n: 7}, errReader{end}))}, nil
		})
		tr := &transport{base: base, c: c, thrift: "/p"}
		req := httptest.NewRequestWithContext(st, http.MethodPost, "https://h/p", strings.NewReader("x"))
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		assert.Equal(t, body, got)
		if end == io.EOF {
			assert.NoError(t, err)
		} else {
			assert.ErrorIs(t, err, end)
		}
		require.NoError(t, resp.Body.Close())
	}
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestReplySniffing(t *testing.T) {
	for _, n := range []int{1, 7, 4096, 1 << 20} {
		t.Run(fmt.Sprintf("reads of %d bytes", n), func(t *testing.T) {
			c := &Connector{}
			cs := newConnState(c)

			st := newStmtState(context.Background(), cs)
			readReply(t, c, executeReply(nil, []string{"https://f/0?sig=a", "https://f/1?sig=b", "https://f/2?sig=c"}), n, -1, st, cs)
			assert.False(t, st.has(flagInline))
			assert.EqualValues(t, 3, st.linksSeen.Load())
			for i := range 3 {
				v, ok := c.links.Load(fmt.Sprintf("https://f/%d?sig=%c", i, 'a'+i))
				require.True(t, ok)
				assert.Equal(t, linkOwner{st: st, index: int32(i)}, v)
			}

			// With Content-Length, the reply is read as soon as it is all in, EOF or not.
			st = newStmtState(context.Background(), cs)
			body := executeReply(nil, []string{"https://f/9?sig=z"})
			r := &reply{rc: io.NopCloser(&chunked{r: bytes.NewReader(body), n: n}), t: &transport{c: c}, st: st, cs: cs, size: int64(len(body))}
			_, err := io.ReadFull(r, make([]byte, len(body)))
			require.NoError(t, err)
			assert.EqualValues(t, 1, st.linksSeen.Load())
			assert.Nil(t, r.buf)

			st = newStmtState(context.Background(), cs)
			readReply(t, c, executeReply([][]byte{[]byte("arrow")}, nil), n, -1, st, cs)
			assert.True(t, st.has(flagInline), "a small inline reply")

			// An inline reply bigger than maxSniff, without Content-Length: known inline
			// from its start (the probe at 16 KB), never kept whole.
			st = newStmtState(context.Background(), cs)
			big := executeReply([][]byte{bytes.Repeat([]byte{'a'}, maxSniff), bytes.Repeat([]byte{'b'}, maxSniff)}, nil)
			readReply(t, c, big, n, -1, st, cs)
			assert.True(t, st.has(flagInline), "a big inline reply")
			st = newStmtState(context.Background(), cs)
			readReply(t, c, big, n, int64(len(big)), st, cs)
			assert.True(t, st.has(flagInline), "a big inline reply with Content-Length")

			// The driver does not name a statement whose context carries the caller's own
			// query id: the reply does, at its start, big as it is.
			guid := []byte{0x01, 0xef, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab}
			named := namedExecuteReply(guid, [][]byte{bytes.Repeat([]byte{'a'}, maxSniff), bytes.Repeat([]byte{'b'}, maxSniff)}, nil)
			for _, size := range []int64{-1, int64(len(named))} {
				st = newStmtState(driverctx.NewContextWithQueryId(context.Background(), "callers"), cs)
				readReply(t, c, named, n, size, st, cs)
				assert.Equal(t, "01ef1234-5678-9abc-def0-0123456789ab", st.statementID(), "Content-Length %d", size)
				assert.True(t, st.has(flagInline))
			}

			st = newStmtState(context.Background(), cs)
			readReply(t, c, pollReply(), n, -1, st, cs)
			assert.EqualValues(t, 1, st.polls.Load())
			assert.Equal(t, int64(3*time.Millisecond), st.pollNanos.Load())

			readReply(t, c, openSessionReply(guid), n, -1, nil, cs)
			assert.Equal(t, "01ef1234-5678-9abc-def0-0123456789ab", cs.session())

			st = newStmtState(context.Background(), cs)
			readReply(t, c, []byte("<html>not thrift</html>"), n, -1, st, cs)
			assert.Zero(t, st.polls.Load())
			assert.False(t, st.has(flagInline))
		})
	}
}

// sameBody checks that the request reaches the network with the body it was given: an
// in-memory reader that net/http writes in one go with the headers (a replaced body
// would make it flush the headers first, one more packet per call).
type sameBody struct {
	want io.ReadCloser
	ok   bool
}

func (s *sameBody) RoundTrip(req *http.Request) (*http.Response, error) {
	s.ok = req.Body == s.want
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(bytes.NewReader(pollReply())), ContentLength: -1}, nil
}

func TestThriftCallLeavesTheRequestBody(t *testing.T) {
	base := &sameBody{}
	c := &Connector{}
	tr := &transport{base: base, c: c, thrift: "/sql/1.0/warehouses/x"}
	st := newStmtState(context.Background(), newConnState(c))
	req := httptest.NewRequestWithContext(st, http.MethodPost, "https://h/sql/1.0/warehouses/x", strings.NewReader("\x80\x01\x00\x01"))
	req.Body = io.NopCloser(bytes.NewReader([]byte("\x80\x01\x00\x01")))
	base.want = req.Body
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	_, _ = io.ReadAll(resp.Body)
	assert.True(t, base.ok)
	assert.EqualValues(t, 1, st.polls.Load())
}

// emptyReads is a body that returns nothing, and no error, forever.
type emptyReads struct{}

func (emptyReads) Read([]byte) (int, error) { return 0, nil }
func (emptyReads) Close() error             { return nil }

type emptyReadsReply struct{}

func (emptyReadsReply) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, ContentLength: -1, Body: emptyReads{}}, nil
}

// A reply body without Content-Length that returns nothing and no error, read after read,
// ends as bufio ends such a reader (io.ErrNoProgress) instead of holding the call forever.
func TestUnsizedReplyWithoutProgress(t *testing.T) {
	c := &Connector{}
	cs := newConnState(c)
	tr := &transport{base: emptyReadsReply{}, c: c, thrift: "/sql/1.0/warehouses/x"}
	req := httptest.NewRequestWithContext(withConn(context.Background(), cs), http.MethodPost, "https://h/sql/1.0/warehouses/x", strings.NewReader("x"))
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	assert.ErrorIs(t, err, io.ErrNoProgress)
	require.NoError(t, resp.Body.Close())
}

// BenchmarkUnsizedInlineReply reads a 4 MiB inline reply of an ExecuteStatement through
// the transport in 16 KiB reads, with and without Content-Length: without it, the reply
// is found to carry inline data at its start and watched from there, not read ahead.
func BenchmarkUnsizedInlineReply(b *testing.B) {
	body := executeReply([][]byte{bytes.Repeat([]byte{'a'}, 4<<20)}, nil)
	for _, size := range []int64{int64(len(body)), -1} {
		b.Run(fmt.Sprintf("Content-Length %d", size), func(b *testing.B) {
			c := &Connector{}
			st := newStmtState(context.Background(), newConnState(c))
			tr := &transport{base: fixedReply{body: body, n: 16 << 10, size: size}, c: c, thrift: "/sql/1.0/warehouses/x"}
			p := make([]byte, 16<<10)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				req := httptest.NewRequestWithContext(st, http.MethodPost, "https://h/sql/1.0/warehouses/x", strings.NewReader("x"))
				resp, err := tr.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := resp.Body.Read(p); err != nil {
						break
					}
				}
				_ = resp.Body.Close()
			}
		})
	}
}
