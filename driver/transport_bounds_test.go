package driver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// A reply of exactly maxKept bytes (a wide schema and its links) is still kept whole:
// its links are learnt, sized or not, read in small or large pieces. One byte more is
// taken for inline data (see TestWideReplyLinksAreLearnt).
func TestReplyOfExactlyMaxKeptKeepsItsLinks(t *testing.T) {
	links := []string{"https://f/0?sig=a", "https://f/1?sig=b"}
	overhead := len(execReplyWithSchema(1000, nil, links)) - 1000
	msg := execReplyWithSchema(maxKept-overhead, nil, links)
	require.Len(t, msg, maxKept)
	for _, size := range []int64{int64(len(msg)), -1} {
		for _, piece := range []int{32 << 10, 1 << 20} {
			t.Run(fmt.Sprintf("Content-Length %d, reads of %d", size, piece), func(t *testing.T) {
				c := &Connector{}
				cs := newConnState(c)
				st := newStmtState(context.Background(), cs)
				require.Equal(t, msg, callReply(t, c, fixedReply{body: msg, n: piece, size: size}, st, cs))
				format, n := st.resultFormat()
				assert.Equal(t, telemetry.ResultExternalLinks, format)
				assert.EqualValues(t, 2, n)
				_, kept := c.links.Load(links[1])
				assert.True(t, kept, "the link is attributed")
			})
		}
	}
}

// Empty reads come in runs shorter than maxEmptyReads now and then (as io.Reader
// allows): a run of several in a row does not end the reply.
func TestUnsizedReplySurvivesRunsOfEmptyReads(t *testing.T) {
	msg := executeReply(nil, []string{"https://f/0?sig=a"})
	var reads []scriptedRead
	for i, b := range msg {
		if i%7 == 0 {
			for range maxEmptyReads - 1 {
				reads = append(reads, scriptedRead{})
			}
		}
		reads = append(reads, scriptedRead{b: []byte{b}})
	}
	got, err := readUnsizedReply(t, &scriptedBody{reads: reads})
	require.NoError(t, err)
	assert.Equal(t, msg, got)
}

// countingBody counts the bytes read off it.
type countingBody struct {
	io.Reader
	n int
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.Reader.Read(p)
	c.n += n
	return n, err
}

func (*countingBody) Close() error { return nil }

// A reply without Content-Length that carries inline result data is handed to the
// driver as soon as that shows (within the first probe sizes), not read whole into
// telemetry's buffer first: the driver streams it, and it is no longer held in memory
// twice.
func TestUnsizedInlineReplyIsNotBufferedWhole(t *testing.T) {
	msg := executeReply([][]byte{bytes.Repeat([]byte{'a'}, 2<<20)}, nil)
	body := &countingBody{Reader: &chunked{r: bytes.NewReader(msg), n: 32 << 10}}
	resp := callAnswered(t, body, -1)
	assert.Less(t, body.n, 256<<10, "read before the driver got the reply")
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, msg, got)
}
