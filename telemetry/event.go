package telemetry

import "time"

// Kind says which of the telemetry events an Event is.
type Kind uint8

// Event kinds (SPEC §1). The zero Kind is invalid, so a forgotten field is caught.
const (
	// KindConnectionOpen: a connection (Thrift session) was opened, successfully or not.
	KindConnectionOpen Kind = iota + 1
	// KindConnectionClose: a connection was closed; it becomes a DELETE_SESSION log.
	KindConnectionClose
	// KindStatementStart: a statement was sent and the server named it.
	KindStatementStart
	// KindStatementComplete: the statement's work is over (Exec returned, Rows closed or read).
	// It may also carry the statement's start (OperationType, StatementType) instead of a
	// KindStatementStart before it: the driver sends one event for a statement that
	// completes while its start is held back, and the aggregator logs it the same.
	KindStatementComplete
	// KindChunk: one CloudFetch file was downloaded.
	KindChunk
	// KindError: a driver call returned an error that is not an outcome (see IsOutcome).
	KindError
)

// String returns the event name used in SPEC §1 ("connection.open", ...).
func (k Kind) String() string {
	switch k {
	case KindConnectionOpen:
		return "connection.open"
	case KindConnectionClose:
		return "connection.close"
	case KindStatementStart:
		return "statement.start"
	case KindStatementComplete:
		return "statement.complete"
	case KindChunk:
		return "cloudfetch.chunk"
	case KindError:
		return "error"
	default:
		return "invalid"
	}
}

// Event is one telemetry event. It is a flat value so that emitting costs a copy and no
// allocation; each kind uses the fields its comment names and leaves the others zero.
//
// Errors: set Err on a KindError event (or on a KindConnectionOpen whose open failed) and
// the Emitter fills ErrorName, SQLState, HTTPStatus, Terminal and Message (redacted) and
// clears Err, so a Sink never holds an error value nor unredacted text. A Sink handed an
// Event directly must treat a non-empty ErrorName as "this event carries an error".
type Event struct {
	// Kind selects the event; the zero Kind is rejected.
	Kind Kind
	// Time is when the event happened (for statement.start: the start time; for
	// statement.complete: the completion, which stamps the statement's log). Optional:
	// the aggregator reads its clock for an event without it.
	Time time.Time
	// SessionID is the Thrift session id (all kinds, when known).
	SessionID string
	// StatementID is the server's statement (query) id: statement.*, cloudfetch.chunk,
	// and error when the failure belongs to a statement.
	StatementID string
	// Latency is the open latency (connection.open), close latency (connection.close),
	// how long the driver call that ran the statement took (statement.start: Time plus
	// Latency is when the server answered, which is when the start is reported),
	// end-to-end statement latency (statement.complete) or download time (cloudfetch.chunk).
	Latency time.Duration

	// Connection describes the connection (connection.open only). The sink keeps the
	// pointer until the log is exported: do not modify the value after emitting it.
	Connection *ConnectionInfo

	// OperationType is one of the Op* constants (statement.start, or a statement.complete
	// that carries its start; EXECUTE_STATEMENT when empty).
	OperationType string
	// StatementType is one of the Statement* constants (statement.start, or a
	// statement.complete that carries its start).
	StatementType string
	// ResultFormat is one of the Result* constants (statement.start, when the first reply
	// said it, and statement.complete).
	ResultFormat string
	// PollCount and PollLatency are GetOperationStatus calls and the time spent in them.
	// They add up across a statement's events, so report each poll once.
	PollCount   int32
	PollLatency time.Duration
	// ResultReadyLatency is the time until the result was ready (statement.complete, and
	// statement.start once it is known); ConsumptionLatency the time the caller spent
	// reading it (statement.complete).
	ResultReadyLatency time.Duration
	ConsumptionLatency time.Duration
	// ChunksPresent is the number of CloudFetch chunks the result has (statement.complete).
	ChunksPresent int32
	// RetryCount is the number of retries the driver made for the statement, when known.
	RetryCount int32

	// ChunkIndex, Bytes and Compressed describe one CloudFetch download (cloudfetch.chunk).
	// Compressed may also be set on statement.complete for an inline compressed result.
	ChunkIndex int32
	Bytes      int64
	Compressed bool

	// Err is the failure to record; the Emitter turns it into the fields below.
	Err error
	// ErrorName is the classifier's name for the failure ("" = no error).
	ErrorName string
	// SQLState is the failure's SQLSTATE, when it has one.
	SQLState string
	// HTTPStatus is the failure's HTTP status, when it has one.
	HTTPStatus int
	// Terminal says retrying will not help (see Classify).
	Terminal bool
	// Standalone marks a KindError of a statement that has completed already (its log
	// is gone): the error is logged on its own rather than waiting for the statement.
	Standalone bool
	// Message is the failure's text, already passed through Redact.
	Message string
}

// HasError reports whether the event carries a failure.
func (e *Event) HasError() bool { return e.ErrorName != "" || e.Err != nil }

// ConnectionInfo is what a connection.open event says about the connection. It carries
// no credentials; Host is the DSN's host only.
type ConnectionInfo struct {
	Host     string // the DSN's host
	Port     int    // the DSN's port
	HTTPPath string // the HTTP path the driver uses, without its query (?o=<workspace>)
	// AuthType is one of pat, oauth-m2m, external-browser, token-provider,
	// external-token, static-token, custom, unknown.
	AuthType            string
	AuthMech            string        // the wire format's auth_mech: the driver sets it to AuthType
	AuthFlow            string        // the wire format's auth_flow; "" (omitted) from the driver
	Mode                string        // the connection's protocol: THRIFT from the driver
	EnableArrow         bool          // results are asked for as Arrow
	EnableDirectResults bool          // results may come with the statement's first reply
	UseCloudFetch       bool          // big results may come as CloudFetch files
	QueryTags           string        // the wire format's query_tags; "" (omitted) from the driver
	SocketTimeout       time.Duration // the driver's query timeout (the DSN's timeout), 0 for none
}

// Sink receives events from an Emitter. Handle must be cheap and must not block: it is
// called on the application's goroutine, in the middle of a database call. The
// aggregator implements it.
type Sink interface {
	Handle(Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event)

// Handle calls f(ev).
func (f SinkFunc) Handle(ev Event) { f(ev) }
