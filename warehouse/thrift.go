package warehouse

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/dbtelemetry/dbtelemetry/warehouse/internal/tcli"
)

type headerKey struct{}

// hostKey keys the Thrift call's Host (what its client dialled) in its context.
type hostKey struct{}

// thriftHandler serves one Thrift call per POST, as the driver's THttpClient sends them.
type thriftHandler struct {
	s         *Server
	processor *tcli.TCLIServiceProcessor
	conf      *thrift.TConfiguration
}

func newThriftHandler(s *Server) *thriftHandler {
	return &thriftHandler{
		s:         s,
		processor: tcli.NewTCLIServiceProcessor(&service{s: s}),
		conf: &thrift.TConfiguration{
			MaxMessageSize:     int32(min(s.cfg.maxBodyBytes, 1<<30)),
			TBinaryStrictRead:  thrift.BoolPtr(true),
			TBinaryStrictWrite: thrift.BoolPtr(true),
		},
	}
}

func (h *thriftHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		// A request the handlers did not expect must not take the server down.
		if p := recover(); p != nil {
			msg := fmt.Sprintf("internal error: %v", p)
			w.Header().Set("X-Thriftserver-Error-Message", msg)
			http.Error(w, msg, http.StatusInternalServerError)
		}
	}()
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-thrift" {
		http.Error(w, "Content-Type must be application/x-thrift", http.StatusUnsupportedMediaType)
		return
	}
	body, err := readCapped(r.Body, h.s.cfg.maxBodyBytes)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if int64(len(body)) > h.s.cfg.maxBodyBytes {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	method, ok := sniffMethod(body)
	if !ok {
		w.Header().Set("X-Thriftserver-Error-Message", "malformed Thrift message")
		http.Error(w, "malformed Thrift message", http.StatusBadRequest)
		return
	}
	if _, known := h.processor.ProcessorMap()[method]; known {
		h.s.rec.rpc(method)
	} else {
		h.s.rec.rpc(UnknownRPC) // a name of the client's: one key for them all
	}

	in := thrift.NewTMemoryBufferLen(len(body))
	_, _ = in.Write(body)
	out := thrift.NewTMemoryBuffer()
	ctx := context.WithValue(context.WithValue(r.Context(), headerKey{}, r.Header), hostKey{}, r.Host)
	_, perr := h.processor.Process(ctx, thrift.NewTBinaryProtocolConf(in, h.conf), thrift.NewTBinaryProtocolConf(out, h.conf))
	if out.Len() == 0 {
		msg := "Thrift call failed"
		if perr != nil {
			msg = perr.Error()
		}
		w.Header().Set("X-Thriftserver-Error-Message", msg)
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	// A call that failed after its reply started (bad arguments, unknown method) has
	// written a Thrift exception: that is the answer the client understands.
	w.Header().Set("Content-Type", "application/x-thrift")
	_, _ = w.Write(out.Bytes())
}

// readCapped reads r up to one byte past limit, so that a body over the limit is seen
// to be: the caller refuses one longer than limit. A limit of math.MaxInt64 does not
// overflow into a reader that reads nothing.
func readCapped(r io.Reader, limit int64) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, min(limit, math.MaxInt64-1)+1))
}

// sniffMethod reads the method name of a strict binary-protocol message header.
func sniffMethod(b []byte) (string, bool) {
	if len(b) < 8 || binary.BigEndian.Uint32(b[0:4])&0xffff0000 != 0x80010000 {
		return "", false
	}
	n := binary.BigEndian.Uint32(b[4:8])
	if n == 0 || n > 64 || uint32(len(b)-8) < n {
		return "", false
	}
	return string(b[8 : 8+n]), true
}

func requestHeader(ctx context.Context) http.Header {
	h, _ := ctx.Value(headerKey{}).(http.Header)
	return h
}
