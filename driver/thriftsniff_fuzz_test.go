package driver

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fuzzWriter writes the strict Thrift binary protocol, enough to build the replies
// the sniffers read (and junk around them).
type fuzzWriter struct{ b []byte }

func (w *fuzzWriter) i16(v int16) { w.b = binary.BigEndian.AppendUint16(w.b, uint16(v)) }
func (w *fuzzWriter) i32(v int32) { w.b = binary.BigEndian.AppendUint32(w.b, uint32(v)) }
func (w *fuzzWriter) i64(v int64) { w.b = binary.BigEndian.AppendUint64(w.b, uint64(v)) }
func (w *fuzzWriter) bin(v []byte) {
	w.i32(int32(len(v)))
	w.b = append(w.b, v...)
}
func (w *fuzzWriter) field(t byte, id int16) { w.b = append(w.b, t); w.i16(id) }
func (w *fuzzWriter) stop()                  { w.b = append(w.b, thriftStop) }

// reply starts a REPLY message for method.
func (w *fuzzWriter) reply(method string) {
	w.i32(int32(-0x7fff0000 + 2)) // 0x80010002: version 1, REPLY
	w.bin([]byte(method))
	w.i32(7) // sequence id
}

// junk writes a field the sniffers must skip: its type comes from kind, its content
// from data.
func (w *fuzzWriter) junk(id int16, kind byte, data []byte) {
	switch kind % 7 {
	case 0:
		w.field(thriftString, id)
		w.bin(data)
	case 1:
		w.field(thriftI32, id)
		w.i32(int32(len(data)))
	case 2:
		w.field(thriftI64, id)
		w.i64(int64(len(data)))
	case 3:
		w.field(thriftBool, id)
		w.b = append(w.b, 1)
	case 4:
		w.field(thriftList, id)
		w.b = append(w.b, thriftByte)
		w.i32(int32(len(data)))
		w.b = append(w.b, data...)
	case 5:
		w.field(thriftMap, id)
		w.b = append(w.b, thriftString, thriftI16)
		w.i32(1)
		w.bin(data)
		w.i16(3)
	case 6:
		w.field(thriftStruct, id)
		w.field(thriftString, 1)
		w.bin(data)
		w.field(thriftStruct, 2)
		w.stop()
		w.stop()
	}
}

// fuzzOpenSessionReply is an OpenSession REPLY carrying guid, with a junk field before the
// session handle.
func fuzzOpenSessionReply(guid []byte, kind byte, junk []byte) []byte {
	var w fuzzWriter
	w.reply("OpenSession")
	w.field(thriftStruct, 0) // success: TOpenSessionResp
	w.field(thriftStruct, 1) // status
	w.field(thriftI32, 1)
	w.i32(0)
	w.stop()
	w.field(thriftI32, 2) // serverProtocolVersion
	w.i32(0xa508)
	w.junk(99, kind, junk)
	w.field(thriftStruct, 3) // sessionHandle
	w.field(thriftStruct, 1) // sessionId: THandleIdentifier
	w.field(thriftString, 1) // guid
	w.bin(guid)
	w.field(thriftString, 2) // secret
	w.bin([]byte("secret"))
	w.stop()
	w.stop()
	w.stop()
	w.stop() // result
	return w.b
}

// fuzzRowSetReply is an ExecuteStatement (with direct results) or FetchResults REPLY whose
// row set holds batches inline Arrow batches and the given CloudFetch links, with a junk
// field before them.
func fuzzRowSetReply(execute bool, batches int, links []string, kind byte, junk []byte) []byte {
	var w fuzzWriter
	if execute {
		w.reply("ExecuteStatement")
		w.field(thriftStruct, 0)    // success: TExecuteStatementResp
		w.field(thriftStruct, 1281) // directResults
		w.field(thriftStruct, 3)    // resultSet: TFetchResultsResp
	} else {
		w.reply("FetchResults")
		w.field(thriftStruct, 0) // success: TFetchResultsResp
	}
	w.field(thriftBool, 2) // hasMoreRows
	w.b = append(w.b, 0)
	w.field(thriftStruct, 3) // results: TRowSet
	w.field(thriftI64, 1)    // startRowOffset
	w.i64(0)
	w.junk(77, kind, junk)
	if batches > 0 {
		w.field(thriftList, 1281) // arrowBatches
		w.b = append(w.b, thriftStruct)
		w.i32(int32(batches))
		for i := range batches {
			w.field(thriftString, 1)
			w.bin([]byte{byte(i), 0xff})
			w.field(thriftI64, 2)
			w.i64(int64(i))
			w.stop()
		}
	}
	if len(links) > 0 {
		w.field(thriftList, 1282) // resultLinks
		w.b = append(w.b, thriftStruct)
		w.i32(int32(len(links)))
		for _, l := range links {
			w.field(thriftString, 1) // fileLink
			w.bin([]byte(l))
			w.field(thriftI64, 2) // expiryTime
			w.i64(1 << 40)
			w.field(thriftMap, 6) // httpHeaders
			w.b = append(w.b, thriftString, thriftString)
			w.i32(1)
			w.bin([]byte("x-h"))
			w.bin([]byte("v"))
			w.stop()
		}
	}
	w.stop() // TRowSet
	w.stop() // TFetchResultsResp
	if execute {
		w.stop() // directResults
		w.stop() // TExecuteStatementResp
	}
	w.stop() // result
	return w.b
}

var fuzzGUIDRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// fuzzCheckSniffers runs every sniffer on b and checks what holds for any input: no panic,
// and nothing in the answers that b does not hold.
func fuzzCheckSniffers(t *testing.T, b []byte) {
	t.Helper()
	if m, end, ok := rpcMethod(b); ok {
		if end > len(b) || end < 13 {
			t.Fatalf("rpcMethod end %d outside the %d-byte message", end, len(b))
		}
		name := string(b[8 : end-4])
		if m != "other" && m != name || m == "other" && slices.Contains(knownMethods[:], name) {
			t.Fatalf("rpcMethod says %q for a message named %q", m, name)
		}
	}
	if id, ok := openSessionID(b); ok && !fuzzGUIDRe.MatchString(id) {
		t.Fatalf("openSessionID returned %q", id)
	}
	links, batches, _ := rowSetFacts(b)
	if batches < 0 || batches > len(b) || len(links) > 1<<16 {
		t.Fatalf("rowSetFacts: %d links, %d batches from %d bytes", len(links), batches, len(b))
	}
	for _, l := range links {
		if !strings.Contains(string(b), l) {
			t.Fatalf("rowSetFacts invented the link %q", l)
		}
	}
	if announcesResultSet(b) && !bytes.Contains(b, []byte("ExecuteStatement")) {
		t.Fatalf("announcesResultSet holds for a message that is no ExecuteStatement reply")
	}
}

// FuzzThriftSniffers feeds arbitrary bytes, as a hostile or broken server could send,
// to the readers that sniff Thrift traffic on the driver's path: they never panic, never
// read past the input, and never report anything the input does not hold.
func FuzzThriftSniffers(f *testing.F) {
	guid := []byte{0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	seeds := [][]byte{
		fuzzOpenSessionReply(guid, 0, []byte("x")),
		fuzzRowSetReply(true, 2, nil, 1, nil),
		fuzzRowSetReply(false, 0, []string{"http://h/cloudfetch/a?X-Signature=s", "http://h/b"}, 5, []byte("junk")),
		fuzzRowSetReply(true, 1, []string{"l"}, 6, []byte{0xff}),
		{0x80, 0x01, 0x00, 0x02, 0, 0, 0, 4, 'o', 'p', 'e', 'n'},
		{0x80, 0x01, 0x00, 0x02, 0x7f, 0xff, 0xff, 0xff},
		{},
		// A negative list size, once counted as -1 inline batches.
		[]byte("\x80\x0100\x00\x00\x00\x10ExecuteStatement0000\f\x00\x00\f\x05\x01\f\x00\x03\f\x00\x03\x0f\x05\x010\xff000\x000"),
	}
	for _, s := range seeds {
		f.Add(s)
		for _, cut := range []int{1, len(s) / 2, len(s) - 1} {
			if cut > 0 && cut < len(s) {
				f.Add(s[:cut])
			}
		}
	}
	// A list claiming 2^31-1 elements of a zero-width-looking type, and deep nesting.
	deep := fuzzRowSetReply(false, 0, nil, 0, nil)
	deep = append(deep[:len(deep)-3], append([]byte{thriftList, 0, 9, thriftStop, 0x7f, 0xff, 0xff, 0xff}, deep[len(deep)-3:]...)...)
	f.Add(deep)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzCheckSniffers(t, b) })
}

// FuzzThriftSniffRoundTrip builds well-formed replies around fuzzed content — any
// session GUID, any number of inline batches, any CloudFetch links, junk fields of any
// type the readers must skip — and checks the sniffers read back exactly what was put
// in.
func FuzzThriftSniffRoundTrip(f *testing.F) {
	f.Add([]byte("0123456789abcdef"), uint8(3), "https://h/cloudfetch/t?X-Expires=1&X-Signature=s\nhttps://h/2", uint8(0), []byte("junk"), true)
	f.Add([]byte{}, uint8(0), "", uint8(6), []byte{}, false)
	f.Add([]byte("short"), uint8(200), "a", uint8(4), []byte{0, 1, 2}, true)
	f.Fuzz(func(t *testing.T, guidIn []byte, nBatches uint8, linkText string, kind uint8, junk []byte, execute bool) {
		guid := make([]byte, 16)
		copy(guid, guidIn)
		b := fuzzOpenSessionReply(guid, kind, junk)
		fuzzCheckSniffers(t, b)
		want := fmt.Sprintf("%x-%x-%x-%x-%x", guid[0:4], guid[4:6], guid[6:8], guid[8:10], guid[10:16])
		if id, ok := openSessionID(b); !ok || id != want {
			t.Fatalf("openSessionID = %q, %v; want %q", id, ok, want)
		}

		var links []string
		if linkText != "" {
			links = strings.Split(linkText, "\n")
		}
		batches := int(nBatches % 64)
		b = fuzzRowSetReply(execute, batches, links, kind, junk)
		fuzzCheckSniffers(t, b)
		gotLinks, gotBatches, _ := rowSetFacts(b)
		if gotBatches != batches || !slices.Equal(gotLinks, links) {
			t.Fatalf("rowSetFacts = %q, %d; want %q, %d", gotLinks, gotBatches, links, batches)
		}
		if m, _, ok := rpcMethod(b); !ok || (m != "ExecuteStatement" && m != "FetchResults") {
			t.Fatalf("rpcMethod = %q, %v", m, ok)
		}
	})
}
