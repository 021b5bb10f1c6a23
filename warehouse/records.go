package warehouse

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Delivery says how a statement's result reached the client. Its values are the names
// the telemetry wire format uses for execution_result.
type Delivery string

// Deliveries.
const (
	DeliveryNone       Delivery = ""               // no result set (DDL) or the statement failed
	DeliveryInline     Delivery = "INLINE_ARROW"   // Arrow batches in the Thrift responses
	DeliveryCloudFetch Delivery = "EXTERNAL_LINKS" // CloudFetch links
)

// Statement states, as TOperationState names them without the _STATE suffix.
const (
	StateRunning  = "RUNNING"
	StateFinished = "FINISHED"
	StateError    = "ERROR"
	StateCanceled = "CANCELED"
	StateTimedOut = "TIMEDOUT" // the DSN's timeout (queryTimeout) or the session's STATEMENT_TIMEOUT ended it
	// StateClosed is Thrift's CLOSED_STATE. A StatementRecord never holds it: it keeps
	// how its statement ended, and says in Closed whether the client closed it.
	StateClosed = "CLOSED"
)

// Namespace is a session's initial catalog and schema.
type Namespace struct {
	Catalog string
	Schema  string
}

// SessionRecord is what the server saw of one session.
type SessionRecord struct {
	ID               string            // the session GUID as the driver prints it
	Configuration    map[string]string // OpenSession configuration (session parameters)
	InitialNamespace Namespace
	ClientProtocol   int64
	Header           http.Header // headers of the OpenSession request (User-Agent, …)
	OpenedAt         time.Time
	ClosedAt         time.Time // zero while open
	Expired          bool      // the server closed it after WithSessionIdleTimeout
}

// StatementRecord is what the server saw of one statement.
type StatementRecord struct {
	ID             string // the operation GUID as the driver prints it (the query id)
	SessionID      string // the session it ran in (SessionRecord.ID)
	SQL            string // the statement's text as received
	Parameters     int    // the parameters bound to it
	State          string // one of the State constants but StateClosed (see Closed)
	SQLState       string // set when State is StateError or StateTimedOut
	Message        string // the error message sent, if any
	Delivery       Delivery
	Rows           int64     // rows in the result set
	ModifiedRows   int64     // rows inserted, updated or deleted
	Chunks         int       // CloudFetch files in the result
	ChunkDownloads int       // CloudFetch files served successfully
	Polls          int       // GetOperationStatus calls
	Fetches        int       // FetchResults calls
	Async          bool      // answered RUNNING from ExecuteStatement, so the client polled
	Compressed     bool      // the result was LZ4-compressed
	Closed         bool      // CloseOperation arrived or direct results closed it
	StartedAt      time.Time // when ExecuteStatement arrived
	FinishedAt     time.Time // when its run ended (zero while it runs)
}

// TelemetryRequest is one request received on a telemetry path.
type TelemetryRequest struct {
	Path   string      // /telemetry-ext or /telemetry-unauth
	Header http.Header // the request's headers (Authorization included)
	Body   []byte      // the request's body, up to the server's body limit (and one byte)
	// Received is when the request reached the handler, before its body was read.
	Received time.Time
	// Status is the HTTP status answered (0 when none was, e.g. a hang or dropped connection).
	Status int

	done bool // its handler has returned (see TakeTelemetryRequests)
}

// ProtoLogs returns the protoLogs of the request body, or nil if it is not a telemetry request.
func (r TelemetryRequest) ProtoLogs() []string {
	var body struct {
		ProtoLogs []string `json:"protoLogs"`
	}
	if json.Unmarshal(r.Body, &body) != nil {
		return nil
	}
	return body.ProtoLogs
}

type recorder struct {
	mu         sync.Mutex
	sessions   []*SessionRecord
	statements []*StatementRecord
	byStmt     map[string]*StatementRecord
	bySess     map[string]*SessionRecord
	telemetry  []*TelemetryRequest
	flags      int
	rpcs       map[string]int
	keepStmts  int // statements kept (0: all)
}

func (r *recorder) init(keepStmts int) {
	r.keepStmts = keepStmts
	r.byStmt = map[string]*StatementRecord{}
	r.bySess = map[string]*SessionRecord{}
	r.rpcs = map[string]int{}
}

// update runs f on the statement's record under the recorder's lock.
func (r *recorder) statement(id string, f func(*StatementRecord)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.byStmt[id]; ok {
		f(st)
	}
}

func (r *recorder) session(id string, f func(*SessionRecord)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ss, ok := r.bySess[id]; ok {
		f(ss)
	}
}

func (r *recorder) addSession(rec *SessionRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keepStmts > 0 && len(r.sessions) >= r.keepStmts {
		delete(r.bySess, r.sessions[0].ID)
		r.sessions[0] = nil
		r.sessions = r.sessions[1:] // append moves the rest to a new array in time
	}
	r.sessions = append(r.sessions, rec)
	r.bySess[rec.ID] = rec
}

func (r *recorder) addStatement(rec *StatementRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keepStmts > 0 && len(r.statements) >= r.keepStmts {
		delete(r.byStmt, r.statements[0].ID)
		r.statements[0] = nil
		r.statements = r.statements[1:] // append moves the rest to a new array in time
	}
	r.statements = append(r.statements, rec)
	r.byStmt[rec.ID] = rec
}

func (r *recorder) rpc(method string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rpcs[method]++
}

// Sessions returns a copy of every session opened so far, in order.
func (s *Server) Sessions() []SessionRecord {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	out := make([]SessionRecord, len(s.rec.sessions))
	for i, ss := range s.rec.sessions {
		out[i] = *ss
		out[i].Configuration = maps.Clone(ss.Configuration)
		out[i].Header = ss.Header.Clone()
	}
	return out
}

// Statements returns a copy of every statement executed so far, in order.
func (s *Server) Statements() []StatementRecord {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	out := make([]StatementRecord, len(s.rec.statements))
	for i, st := range s.rec.statements {
		out[i] = *st
	}
	return out
}

// Statement returns the record of the statement with the given id.
func (s *Server) Statement(id string) (StatementRecord, bool) {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	st, ok := s.rec.byStmt[id]
	if !ok {
		return StatementRecord{}, false
	}
	return *st, true
}

// TelemetryRequests returns every request received on the telemetry paths, in the order
// their bodies were read: a request shows once its whole body is in (until then it is not
// listed), so one whose body came slowly follows those read meanwhile although its
// Received is earlier.
func (s *Server) TelemetryRequests() []TelemetryRequest {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	out := make([]TelemetryRequest, len(s.rec.telemetry))
	for i, t := range s.rec.telemetry {
		out[i] = *t
		out[i].Header = t.Header.Clone()
		out[i].Body = slices.Clone(t.Body)
	}
	return out
}

// TakeTelemetryRequests returns the telemetry requests answered so far, in the order of
// TelemetryRequests, and forgets them: they leave TelemetryRequests and TelemetryLogs. A
// long run takes them as it goes, so that its records do not grow without bound.
// Requests still being answered stay until they are.
func (s *Server) TakeTelemetryRequests() []TelemetryRequest {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	var out []TelemetryRequest
	kept := s.rec.telemetry[:0]
	for _, t := range s.rec.telemetry {
		if !t.done {
			kept = append(kept, t)
			continue
		}
		out = append(out, *t) // no one else holds t any more: no copy needed
	}
	clear(s.rec.telemetry[len(kept):])
	s.rec.telemetry = kept
	return out
}

// TelemetryLogs returns the protoLogs of every telemetry request answered 200, in the
// order of TelemetryRequests: what the ingest accepted.
func (s *Server) TelemetryLogs() []string {
	var logs []string
	for _, r := range s.TelemetryRequests() {
		if r.Status == http.StatusOK {
			logs = append(logs, r.ProtoLogs()...)
		}
	}
	return logs
}

// FeatureFlagRequests returns how many feature-flag requests were answered with the flag.
func (s *Server) FeatureFlagRequests() int {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return s.rec.flags
}

// UnknownRPC is the key under which RPCs counts the calls of methods the server does not
// serve: the client names them, so that they count under one key, whatever the names.
const UnknownRPC = "(unknown)"

// RPCs returns how many Thrift calls of each method the server served (a call answered by
// an injected fault instead is not counted: see FaultsServed); calls of a method it does
// not serve count under UnknownRPC.
func (s *Server) RPCs() map[string]int {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return maps.Clone(s.rec.rpcs)
}

// statusRecorder remembers the status a handler answered, and whether it took the
// connection (a dropped connection answers nothing).
type statusRecorder struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (w *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hijacked = true
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// recordTelemetry records each telemetry request (capped body) and the status answered.
func (s *Server) recordTelemetry(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received := time.Now()
		body, err := readCapped(r.Body, s.cfg.maxBodyBytes)
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		rec := &TelemetryRequest{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Received: received}
		s.rec.mu.Lock()
		s.rec.telemetry = append(s.rec.telemetry, rec)
		s.rec.mu.Unlock()
		if int64(len(body)) > s.cfg.maxBodyBytes {
			s.setTelemetryStatus(rec, http.StatusRequestEntityTooLarge)
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sw := &statusRecorder{ResponseWriter: w}
		panicked := true
		defer func() {
			if panicked {
				// net/http cuts the connection of a handler that panics (an abort, a
				// cut at Close, a telemetry handler's bug): nothing was answered.
				s.setTelemetryStatus(rec, 0)
			}
		}()
		h.ServeHTTP(sw, r)
		panicked = false
		if sw.status == 0 && !sw.hijacked && r.Context().Err() == nil {
			// The handler wrote nothing: net/http answers 200 for it. A hang or a drop
			// answered nothing (the client went away, or the connection was taken).
			sw.status = http.StatusOK
		}
		s.setTelemetryStatus(rec, sw.status)
	})
}

// setTelemetryStatus records what rec was answered (0: nothing, the client went away)
// and that its handler is done with it.
func (s *Server) setTelemetryStatus(rec *TelemetryRequest, status int) {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	rec.Status = status
	rec.done = true
}
