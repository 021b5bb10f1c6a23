package driver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// execReplyWithSchema is executeReply with a schema blob of schemaLen bytes in place of
// its 300: a wide result's ExecuteStatement reply.
func execReplyWithSchema(schemaLen int, batches [][]byte, links []string) []byte {
	var narrow, wide tw
	narrow.bin(bytes.Repeat([]byte{'s'}, 300))
	wide.bin(bytes.Repeat([]byte{'s'}, schemaLen))
	b := executeReply(batches, links)
	if !bytes.Contains(b, narrow.Bytes()) {
		panic("executeReply no longer carries a 300-byte schema blob")
	}
	return bytes.Replace(b, narrow.Bytes(), wide.Bytes(), 1)
}

// scriptedBody is a response body that returns its reads in order and records that it
// was closed.
type scriptedBody struct {
	reads  []scriptedRead
	closed bool
}

// scriptedRead is one read of a scriptedBody: b (over as many reads as it takes), then
// err; neither is a read of nothing and no error.
type scriptedRead struct {
	b   []byte
	err error
}

func (s *scriptedBody) Read(p []byte) (int, error) {
	if len(s.reads) == 0 {
		return 0, io.EOF
	}
	r := &s.reads[0]
	n := copy(p, r.b)
	r.b = r.b[n:]
	if len(r.b) > 0 {
		return n, nil
	}
	err := r.err
	s.reads = s.reads[1:]
	return n, err
}

func (s *scriptedBody) Close() error { s.closed = true; return nil }

// callAnswered runs one Thrift call of a statement through the transport, answered 200 with
// body and size as its Content-Length (-1: unknown), and returns the response the driver
// gets.
func callAnswered(t *testing.T, body io.ReadCloser, size int64) *http.Response {
	t.Helper()
	c := &Connector{}
	st := newStmtState(context.Background(), newConnState(c))
	tr := &transport{c: c, thrift: "/sql", base: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, ContentLength: size, Body: body, Request: req}, nil
	})}
	resp, err := tr.RoundTrip(httptest.NewRequestWithContext(st, http.MethodPost, "https://h/sql", strings.NewReader("x")))
	require.NoError(t, err)
	return resp
}

// readUnsizedReply is what the driver reads of a statement's reply without
// Content-Length whose body is body: the bytes, then the error.
func readUnsizedReply(t *testing.T, body io.ReadCloser) ([]byte, error) {
	t.Helper()
	return io.ReadAll(callAnswered(t, body, -1).Body)
}

// downloadFrom downloads link as the driver does (without the statement's context)
// through a transport of c whose network answers with answer.
func downloadFrom(t *testing.T, c *Connector, link string, answer func() *http.Response) *http.Response {
	t.Helper()
	tr := &transport{c: c, thrift: "/sql", base: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return answer(), nil
	})}
	resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, link, nil))
	require.NoError(t, err)
	return resp
}

// statementListing is a new statement of c whose ExecuteStatement reply listed links.
func statementListing(t *testing.T, c *Connector, links ...string) *stmtState {
	t.Helper()
	cs := newConnState(c)
	st := newStmtState(context.Background(), cs)
	readReply(t, c, executeReply(nil, links), 4096, -1, st, cs)
	return st
}

// The error that cut a reply without Content-Length short reaches the driver as the body
// gave it, after the bytes that came: with io.EOF in its place, a reply cut short would
// read as one that ended, and the driver would see a truncated message, not the network
// error.
func TestUnsizedReplyKeepsTheBodysError(t *testing.T) {
	boom := errors.New("stream reset by peer")
	msg := executeReply(nil, []string{"https://f/0?sig=a"})
	got, err := readUnsizedReply(t, &scriptedBody{reads: []scriptedRead{{b: msg[:40]}, {err: boom}}})
	assert.Equal(t, msg[:40], got)
	assert.ErrorIs(t, err, boom)
}

// A body without Content-Length may return nothing, and no error, now and then (as
// io.Reader allows); only maxEmptyReads such reads in a row end the reply
// (io.ErrNoProgress). Counting them over the whole reply would fail a healthy one.
func TestUnsizedReplySurvivesSporadicEmptyReads(t *testing.T) {
	msg := executeReply(nil, []string{"https://f/0?sig=a"})
	require.Greater(t, len(msg), maxEmptyReads)
	var reads []scriptedRead
	for _, b := range msg {
		reads = append(reads, scriptedRead{}, scriptedRead{b: []byte{b}})
	}
	got, err := readUnsizedReply(t, &scriptedBody{reads: reads})
	require.NoError(t, err)
	assert.Equal(t, msg, got)
}

// A big reply without Content-Length that carries no inline data (a wide schema)
// reaches the driver whole: kept up to maxKept, and past it passed on as it comes, rather
// than read on into a buffer with no room left.
func TestUnsizedBigReplyWithoutInlineDataReachesTheDriver(t *testing.T) {
	for _, tc := range []struct {
		name   string
		schema int
	}{
		{"past maxSniff", maxSniff + 1000},
		{"past maxKept", maxKept + 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := execReplyWithSchema(tc.schema, nil, []string{"https://f/0?sig=a"})
			got, err := readUnsizedReply(t, io.NopCloser(&chunked{r: bytes.NewReader(msg), n: 32 << 10}))
			require.NoError(t, err)
			assert.Equal(t, msg, got)
		})
	}
}

// Closing the reply handed to the driver closes the body it came from, whichever way the
// transport read it (at once, cut short, watched, or up to its message's end): an
// unclosed body holds its connection.
func TestReplyCloseClosesTheBody(t *testing.T) {
	small := executeReply(nil, []string{"https://f/0?sig=a"})
	big := executeReply([][]byte{bytes.Repeat([]byte{'a'}, maxSniff)}, nil)
	for _, tc := range []struct {
		name  string
		reads []scriptedRead
		size  int64
	}{
		{"sized small", []scriptedRead{{b: small}}, int64(len(small))},
		{"sized small cut", []scriptedRead{{b: small[:30], err: io.ErrUnexpectedEOF}}, int64(len(small))},
		{"sized big", []scriptedRead{{b: big}}, int64(len(big))},
		{"unsized whole", []scriptedRead{{b: small}}, -1},
		{"unsized cut", []scriptedRead{{b: small[:30]}, {err: errors.New("cut")}}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := &scriptedBody{reads: tc.reads}
			resp := callAnswered(t, body, tc.size)
			_, _ = io.ReadAll(resp.Body)
			require.NoError(t, resp.Body.Close())
			assert.True(t, body.closed, "the original body is closed")
		})
	}
}

// A statement's CloudFetch files are numbered on across its replies, not from 0 in each:
// a chunk event's index says which file of the whole result it was.
func TestChunkIndexRunsOnAcrossReplies(t *testing.T) {
	c := &Connector{}
	st := statementListing(t, c, "https://f/0?sig=a", "https://f/1?sig=b")
	readReply(t, c, executeReply(nil, []string{"https://f/2?sig=c"}), 4096, -1, st, st.conn)
	v, ok := c.links.Load("https://f/2?sig=c")
	require.True(t, ok)
	assert.Equal(t, int32(2), v.(linkOwner).index)
}

// A download still in flight when its statement completes neither keeps its link (cut
// short) nor reports a chunk (read whole): the statement's log is gone, and a late event
// would open a second one.
func TestDownloadEndingAfterCompletionReportsNothing(t *testing.T) {
	for _, whole := range []bool{false, true} {
		t.Run(fmt.Sprintf("whole=%v", whole), func(t *testing.T) {
			const link = "https://f/0?sig=a"
			c, events := recordingConnector()
			st := statementListing(t, c, link)
			resp := downloadFrom(t, c, link, func() *http.Response {
				return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("arrow-file"))}
			})
			c.forgetLinks(st) // the statement completes while the file downloads
			if whole {
				_, _ = io.ReadAll(resp.Body)
			}
			_ = resp.Body.Close()
			assert.Zero(t, LinksKept(c), "no link kept after completion")
			assert.Empty(t, events.kinds(telemetry.KindChunk), "no chunk after completion")
		})
	}
}

// A download whose body read fails is no chunk: its link is kept, marked failed, so that
// the driver's next download of the file counts as a retry.
func TestDownloadReadErrorIsNoChunk(t *testing.T) {
	const link = "https://f/0?sig=a"
	c, events := recordingConnector()
	st := newStmtState(context.Background(), newConnState(c))
	c.links.Store(link, linkOwner{st: st})
	resp := downloadFrom(t, c, link, func() *http.Response {
		return &http.Response{StatusCode: http.StatusOK,
			Body: &scriptedBody{reads: []scriptedRead{{b: []byte("arr")}, {err: io.ErrUnexpectedEOF}}}}
	})
	_, err := io.ReadAll(resp.Body)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	_ = resp.Body.Close()
	assert.Empty(t, events.kinds(telemetry.KindChunk))
	v, ok := c.links.Load(link)
	require.True(t, ok, "kept for the retry")
	assert.True(t, v.(linkOwner).failed)
}

// A download answered 429, whose body the driver drains (io.Copy to io.Discard), is no
// chunk but a failed attempt: the driver's next download of the file is the retry and
// the one chunk. Not only 5xx answers fail a download.
func TestDownload429IsNoChunk(t *testing.T) {
	const link = "https://f/0?sig=a"
	c, events := recordingConnector()
	st := newStmtState(context.Background(), newConnState(c))
	c.links.Store(link, linkOwner{st: st})
	for _, status := range []int{http.StatusTooManyRequests, http.StatusOK} {
		resp := downloadFrom(t, c, link, func() *http.Response {
			return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(http.StatusText(status)))}
		})
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	chunks := events.kinds(telemetry.KindChunk)
	require.Len(t, chunks, 1)
	assert.EqualValues(t, len(http.StatusText(http.StatusOK)), chunks[0].Bytes, "the chunk is the 200's body")
	assert.EqualValues(t, 1, st.retries.Load())
}

// A Thrift call answered 429 and sent again is a retry: the driver retries a 429 for
// every RPC, so not only 5xx answers fail a call.
func TestThrift429IsARetry(t *testing.T) {
	tr := &transport{base: &answers{statuses: []int{http.StatusTooManyRequests, http.StatusOK}}, c: &Connector{}, thrift: "/sql"}
	st := newStmtState(context.Background(), nil)
	for range 2 {
		resp, err := tr.RoundTrip(httptest.NewRequestWithContext(st, http.MethodPost, "http://h/sql", strings.NewReader("GetOperationStatus-body")))
		require.NoError(t, err)
		_ = resp.Body.Close()
	}
	assert.EqualValues(t, 1, st.retries.Load())
}

// A statement whose result is a single CloudFetch file is EXTERNAL_LINKS, with one file,
// and its completion leaves no link behind: one link is as much a CloudFetch result as
// many.
func TestSingleLinkIsExternalLinks(t *testing.T) {
	c := &Connector{}
	st := statementListing(t, c, "https://f/0?sig=a")
	format, n := st.resultFormat()
	assert.Equal(t, telemetry.ResultExternalLinks, format)
	assert.EqualValues(t, 1, n)
	c.forgetLinks(st)
	assert.Zero(t, LinksKept(c))
}

// A CloudFetch reply without Content-Length that passes the 16 KB inline probe, with an
// empty arrowBatches list or none, keeps its links and is not inline: the probe takes
// only a non-empty arrowBatches list for inline data.
func TestUnsizedLinksPastTheProbeAreKept(t *testing.T) {
	var links []string
	for i := range 40 {
		links = append(links, fmt.Sprintf("https://f/%d?sig=%s", i, strings.Repeat("x", 1000)))
	}
	for _, tc := range []struct {
		name    string
		batches [][]byte
	}{
		{"no arrowBatches", nil},
		{"empty arrowBatches", [][]byte{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Connector{}
			cs := newConnState(c)
			st := newStmtState(context.Background(), cs)
			body := executeReply(tc.batches, links)
			require.Greater(t, len(body), probeFrom)
			readReply(t, c, body, 4096, -1, st, cs)
			assert.False(t, st.has(flagInline))
			assert.EqualValues(t, 40, st.linksSeen.Load())
		})
	}
}

// Malformed replies yield no facts: a row set that does not parse lists no link, and a
// handle whose guid is not 16 bytes names no statement. A fact read off garbage would be
// reported as true.
func TestMalformedRepliesYieldNoFacts(t *testing.T) {
	t.Run("row set", func(t *testing.T) {
		msg := executeReply(nil, []string{"https://f/0?sig=a"})
		// In place of the five stops that end it: a field of an unknown type.
		bad := append(msg[:len(msg)-5:len(msg)-5], 99, 0, 1)
		links, _, _ := rowSetFacts(bad)
		assert.Empty(t, links)
	})
	t.Run("guid", func(t *testing.T) {
		_, ok := executeStatementID(namedExecuteReply(make([]byte, 12), nil, nil))
		assert.False(t, ok)
	})
}

// A download that fails after its statement completed (Rows closed while it was in
// flight) keeps no link: the connector would hold the link, and the statement with it,
// until it closed.
func TestFailedDownloadAfterCompletionKeepsNoLink(t *testing.T) {
	const link = "https://f/0?sig=a"
	c := &Connector{}
	st := statementListing(t, c, link)
	resp := downloadFrom(t, c, link, func() *http.Response {
		c.forgetLinks(st) // the rows close while the download is in flight
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Body: io.NopCloser(strings.NewReader(""))}
	})
	_ = resp.Body.Close()
	assert.Zero(t, LinksKept(c))
}

// A CloudFetch reply whose schema alone passes maxSniff (a wide table) still lists its
// links, with a Content-Length or without: they are learnt and attributed. One past
// maxKept (4 MiB) without inline data is taken for inline data, so that what is kept stays
// bounded; the driver gets every reply byte for byte.
func TestWideReplyLinksAreLearnt(t *testing.T) {
	links := []string{"https://f/0?sig=a", "https://f/1?sig=b"}
	for _, tc := range []struct {
		name   string
		schema int
		want   string
	}{
		{"schema past maxSniff", maxSniff + 1000, telemetry.ResultExternalLinks},
		{"schema past 4 MiB (maxKept)", 4<<20 + 1000, telemetry.ResultInlineArrow}, // the bound spelled out: a larger one fails
	} {
		msg := execReplyWithSchema(tc.schema, nil, links)
		for _, size := range []int64{int64(len(msg)), -1} {
			t.Run(fmt.Sprintf("%s, Content-Length %d", tc.name, size), func(t *testing.T) {
				c := &Connector{}
				cs := newConnState(c)
				st := newStmtState(context.Background(), cs)
				require.Equal(t, msg, callReply(t, c, fixedReply{body: msg, n: 32 << 10, size: size}, st, cs))
				format, n := st.resultFormat()
				assert.Equal(t, tc.want, format)
				_, kept := c.links.Load(links[1])
				if tc.want == telemetry.ResultExternalLinks {
					assert.EqualValues(t, 2, n)
					assert.True(t, kept, "the link is attributed")
				} else {
					assert.Zero(t, n)
					assert.False(t, kept)
				}
			})
		}
	}
}

// A download that a caller's transport answers 200 with no body is handed on as it came:
// http.Client makes the body empty for the driver, as unwrapped. Wrapped in a chunk's
// body, it made the driver's read panic on its download goroutine, which ends the process.
func TestDownloadWithoutBodyIsPassedOn(t *testing.T) {
	const link = "https://f/0?sig=a"
	c, events := recordingConnector()
	st := newStmtState(context.Background(), newConnState(c))
	c.links.Store(link, linkOwner{st: st})
	resp := downloadFrom(t, c, link, func() *http.Response {
		return &http.Response{StatusCode: http.StatusOK}
	})
	assert.Nil(t, resp.Body, "passed on untouched, for http.Client to fill")
	assert.Empty(t, events.kinds(telemetry.KindChunk))
}
