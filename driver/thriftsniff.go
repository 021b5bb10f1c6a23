package driver

import (
	"encoding/binary"
	"fmt"
)

// Minimal readers for the strict Thrift binary protocol, enough to learn which RPC a
// request carries and the session id an OpenSession response returns. They never
// allocate more than the id itself and give up (ok=false) on anything unexpected.

const (
	thriftStop   = 0
	thriftBool   = 2
	thriftByte   = 3
	thriftDouble = 4
	thriftI16    = 6
	thriftI32    = 8
	thriftI64    = 10
	thriftString = 11
	thriftStruct = 12
	thriftMap    = 13
	thriftSet    = 14
	thriftList   = 15
)

// rpcMethod returns the method name of a Thrift message header, without allocating for
// the methods telemetry cares about.
func rpcMethod(b []byte) (string, int, bool) {
	if len(b) < 8 || binary.BigEndian.Uint32(b[0:4])&0xffff0000 != 0x80010000 {
		return "", 0, false
	}
	n := int(binary.BigEndian.Uint32(b[4:8]))
	if n <= 0 || n > 64 || len(b) < 8+n+4 {
		return "", 0, false
	}
	name := b[8 : 8+n]
	end := 8 + n + 4 // name, then the sequence id
	for _, m := range knownMethods {
		if string(name) == m {
			return m, end, true
		}
	}
	return "other", end, true
}

// messageComplete reports whether b holds a whole Thrift reply, its header and its
// result struct, by walking its fields (strings, binaries and lists of fixed-width
// values are stepped over by their sizes). A message nested deeper than skip goes is
// never found complete.
func messageComplete(b []byte) bool {
	_, end, ok := rpcMethod(b)
	if !ok {
		return false
	}
	r := thriftReader{b: b, off: end}
	r.skip(thriftStruct, 0)
	return !r.bad
}

// headerPossible reports whether b may be the start of a strict binary-protocol message
// header (more bytes may make it one).
func headerPossible(b []byte) bool {
	if len(b) >= 4 && binary.BigEndian.Uint32(b[0:4])&0xffff0000 != 0x80010000 {
		return false
	}
	if len(b) >= 8 {
		if n := binary.BigEndian.Uint32(b[4:8]); n == 0 || n > 64 {
			return false
		}
	}
	return true
}

var knownMethods = [...]string{
	"OpenSession", "CloseSession", "ExecuteStatement", "GetOperationStatus",
	"FetchResults", "GetResultSetMetadata", "CancelOperation", "CloseOperation",
}

// thriftReader walks binary-protocol fields.
type thriftReader struct {
	b   []byte
	off int
	bad bool
}

func (r *thriftReader) need(n int) bool {
	if r.bad || n < 0 || r.off+n > len(r.b) {
		r.bad = true
		return false
	}
	return true
}

func (r *thriftReader) u8() byte {
	if !r.need(1) {
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *thriftReader) i16() int16 {
	if !r.need(2) {
		return 0
	}
	v := int16(binary.BigEndian.Uint16(r.b[r.off:]))
	r.off += 2
	return v
}

func (r *thriftReader) i32() int32 {
	if !r.need(4) {
		return 0
	}
	v := int32(binary.BigEndian.Uint32(r.b[r.off:]))
	r.off += 4
	return v
}

// size reads a container size; a negative one makes the message bad.
func (r *thriftReader) size() int {
	n := int(r.i32())
	if n < 0 {
		r.bad = true
		return 0
	}
	return n
}

func (r *thriftReader) bytes() []byte {
	n := int(r.i32())
	if !r.need(n) {
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

// field reads a field header: its type and id (type 0 = end of struct).
func (r *thriftReader) field() (byte, int16) {
	t := r.u8()
	if t == thriftStop || r.bad {
		return thriftStop, 0
	}
	return t, r.i16()
}

// fixedWidth is the encoded size of the fixed-width types (0 for the others).
var fixedWidth = [16]uint8{thriftBool: 1, thriftByte: 1, thriftDouble: 8, thriftI16: 2, thriftI32: 4, thriftI64: 8}

// advance moves past n bytes; past the end, the message is bad.
func (r *thriftReader) advance(n int) {
	if r.need(n) {
		r.off += n
	}
}

// skip skips a value of type t, up to a nesting depth. A struct's fields of fixed
// width, which are most of them, are stepped over in its own loop, and so are lists
// and sets of them, in one step.
func (r *thriftReader) skip(t byte, depth int) {
	if depth > 16 {
		r.bad = true
		return
	}
	if t < 16 && fixedWidth[t] != 0 {
		r.advance(int(fixedWidth[t]))
		return
	}
	switch t {
	case thriftString:
		r.advance(int(r.i32()))
	case thriftStruct:
		for !r.bad {
			// A field header: its type, then (unless it is the stop) its 2-byte id.
			if r.off >= len(r.b) {
				r.bad = true
				return
			}
			ft := r.b[r.off]
			if ft == thriftStop {
				r.off++
				return
			}
			if ft < 16 && fixedWidth[ft] != 0 {
				r.advance(3 + int(fixedWidth[ft]))
				continue
			}
			r.advance(3)
			r.skip(ft, depth+1)
		}
	case thriftMap:
		kt, vt, n := r.u8(), r.u8(), r.size()
		if kt < 16 && vt < 16 && fixedWidth[kt] != 0 && fixedWidth[vt] != 0 {
			r.advanceN(n, int(fixedWidth[kt])+int(fixedWidth[vt]))
			return
		}
		for i := 0; i < n && !r.bad; i++ {
			r.skip(kt, depth+1)
			r.skip(vt, depth+1)
		}
	case thriftSet, thriftList:
		et, n := r.u8(), r.size()
		if et < 16 && fixedWidth[et] != 0 {
			r.advanceN(n, int(fixedWidth[et]))
			return
		}
		for i := 0; i < n && !r.bad; i++ {
			r.skip(et, depth+1)
		}
	default:
		r.bad = true
	}
}

// advanceN moves past n elements of width bytes each.
func (r *thriftReader) advanceN(n, width int) {
	if r.bad || n > (len(r.b)-r.off)/width {
		r.bad = true
		return
	}
	r.off += n * width
}

// enter finds field id of type struct in the current struct and positions the reader
// inside it.
func (r *thriftReader) enter(id int16) bool {
	for !r.bad {
		t, fid := r.field()
		if t == thriftStop {
			return false
		}
		if fid == id && t == thriftStruct {
			return true
		}
		r.skip(t, 0)
	}
	return false
}

// openSessionID extracts the session GUID from an OpenSession REPLY:
// result.success(0).sessionHandle(3).sessionId(1).guid(1).
func openSessionID(b []byte) (string, bool) { return replyGUID(b, 3) }

// executeStatementID extracts the statement GUID from an ExecuteStatement REPLY:
// result.success(0).operationHandle(2).operationId(1).guid(1).
func executeStatementID(b []byte) (string, bool) { return replyGUID(b, 2) }

// replyGUID reads result.success(0).<handle>.<id>(1).guid(1) off a reply, as the driver
// prints it.
func replyGUID(b []byte, handle int16) (string, bool) {
	_, end, ok := rpcMethod(b)
	if !ok {
		return "", false
	}
	r := &thriftReader{b: b, off: end}
	if !r.enter(0) || !r.enter(handle) || !r.enter(1) {
		return "", false
	}
	for !r.bad {
		t, fid := r.field()
		if t == thriftStop {
			return "", false
		}
		if fid == 1 && t == thriftString {
			g := r.bytes()
			if r.bad || len(g) != 16 {
				return "", false
			}
			return fmt.Sprintf("%x-%x-%x-%x-%x", g[0:4], g[4:6], g[6:8], g[8:10], g[10:16]), true
		}
		r.skip(t, 0)
	}
	return "", false
}

// rowSet positions r at the fields of the row set of an ExecuteStatement or FetchResults
// reply.
func rowSet(b []byte) (thriftReader, bool) {
	method, end, ok := rpcMethod(b)
	if !ok {
		return thriftReader{}, false
	}
	r := thriftReader{b: b, off: end}
	if !r.enter(0) {
		return r, false
	}
	switch method {
	case "ExecuteStatement":
		ok = r.enter(1281) && r.enter(3) && r.enter(3)
	case "FetchResults":
		ok = r.enter(3)
	default:
		ok = false
	}
	return r, ok
}

// inlineAhead reports whether the start b of an ExecuteStatement or FetchResults reply
// already shows inline Arrow batches (they come before any CloudFetch link): the rest of
// the reply need not be kept. False when b ends before that is known.
func inlineAhead(b []byte) bool {
	r, ok := rowSet(b)
	for ok && !r.bad {
		t, fid := r.field()
		if t == thriftStop {
			return false
		}
		if fid == 1281 && t == thriftList {
			r.u8()
			return r.i32() > 0 && !r.bad
		}
		r.skip(t, 0)
	}
	return false
}

// rowSetFacts says how an ExecuteStatement or FetchResults reply delivers rows: the
// CloudFetch file links it lists, how many inline Arrow batches it carries, and whether
// it has a list of Arrow batches at all (an empty one is an empty inline result's, see
// announcesResultSet).
func rowSetFacts(b []byte) (links []string, batches int, arrowList bool) {
	r, ok := rowSet(b)
	if !ok {
		return nil, 0, false
	}
	for !r.bad {
		t, fid := r.field()
		if t == thriftStop {
			break
		}
		switch {
		case fid == 1281 && t == thriftList:
			et, n := r.u8(), r.size()
			for i := 0; i < n && !r.bad; i++ {
				r.skip(et, 0)
			}
			batches, arrowList = n, true
		case fid == 1282 && t == thriftList:
			links = readLinks(&r)
		default:
			r.skip(t, 0)
		}
	}
	if r.bad {
		return nil, 0, false
	}
	return links, batches, arrowList
}

// readLinks reads a list<TSparkArrowResultLink> and returns the fileLinks.
func readLinks(r *thriftReader) []string {
	et, n := r.u8(), int(r.i32())
	if et != thriftStruct || n < 0 || n > 1<<16 {
		r.bad = true
		return nil
	}
	links := make([]string, 0, n)
	for i := 0; i < n && !r.bad; i++ {
		for !r.bad {
			ft, lid := r.field()
			if ft == thriftStop {
				break
			}
			if lid == 1 && ft == thriftString {
				links = append(links, string(r.bytes()))
				continue
			}
			r.skip(ft, 0)
		}
	}
	return links
}

// announcesResultSet reports whether an ExecuteStatement reply's direct results say that
// the statement has a result set: a query that returns no rows has one (an empty inline
// Arrow result), a statement such as DDL has none.
func announcesResultSet(b []byte) bool {
	method, end, ok := rpcMethod(b)
	if !ok || method != "ExecuteStatement" {
		return false
	}
	r := thriftReader{b: b, off: end}
	if !r.enter(0) || !r.enter(1281) || !r.enter(1) {
		return false
	}
	has := false
	for !r.bad {
		t, fid := r.field()
		if t == thriftStop {
			break
		}
		if fid == 9 && t == thriftBool {
			has = r.u8() != 0
			continue
		}
		r.skip(t, 0)
	}
	return has && !r.bad
}
