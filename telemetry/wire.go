package telemetry

// This file holds the Databricks telemetry wire format (SPEC §3): the JSON shape of one
// TelemetryFrontendLog, the request envelope that carries a batch of them and the
// service's answer. The aggregator builds FrontendLog values; exporters serialise them.

// Enumerated values of OperationDetail.OperationType.
const (
	OpCreateSession    = "CREATE_SESSION"
	OpDeleteSession    = "DELETE_SESSION"
	OpExecuteStatement = "EXECUTE_STATEMENT"
	OpCloseStatement   = "CLOSE_STATEMENT"
	OpUnspecified      = "TYPE_UNSPECIFIED"
)

// Enumerated values of SQLOperation.ExecutionResult.
const (
	ResultInlineArrow    = "INLINE_ARROW"
	ResultExternalLinks  = "EXTERNAL_LINKS"
	ResultColumnarInline = "COLUMNAR_INLINE"
	ResultInlineJSON     = "INLINE_JSON"
	ResultUnspecified    = "FORMAT_UNSPECIFIED"
)

// Enumerated values of SQLOperation.StatementType.
const (
	StatementQuery    = "QUERY"
	StatementUpdate   = "UPDATE"
	StatementMetadata = "METADATA"
	StatementSQL      = "SQL"
)

// Request is the body POSTed to /telemetry-ext and /telemetry-unauth.
type Request struct {
	// UploadTime is the send time in Unix milliseconds.
	UploadTime int64 `json:"uploadTime"`
	// Items is required by the service and always empty.
	Items []string `json:"items"`
	// ProtoLogs holds one JSON-encoded FrontendLog per element.
	ProtoLogs []string `json:"protoLogs"`
}

// Response is the service's answer to a Request.
type Response struct {
	Errors             []string `json:"errors"`
	NumSuccess         int      `json:"numSuccess"`
	NumProtoSuccess    int      `json:"numProtoSuccess"`
	NumRealtimeSuccess int      `json:"numRealtimeSuccess"`
}

// FrontendLog is one TelemetryFrontendLog.
type FrontendLog struct {
	// WorkspaceID is sent only on the authenticated path and only when the http path names it.
	WorkspaceID        int64       `json:"workspace_id,omitempty"`
	FrontendLogEventID string      `json:"frontend_log_event_id"`
	Context            *LogContext `json:"context,omitempty"`
	Entry              *LogEntry   `json:"entry,omitempty"`
}

// LogContext is FrontendLog.context.
type LogContext struct {
	ClientContext *ClientContext `json:"client_context,omitempty"`
}

// ClientContext names the client that produced the log.
type ClientContext struct {
	ClientType      string `json:"client_type,omitempty"`
	ClientVersion   string `json:"client_version,omitempty"`
	TimestampMillis int64  `json:"timestamp_millis,omitempty"`
	UserAgent       string `json:"user_agent,omitempty"`
}

// LogEntry is FrontendLog.entry.
type LogEntry struct {
	SQLDriverLog *SQLDriverLog `json:"sql_driver_log,omitempty"`
}

// SQLDriverLog is OssSqlDriverTelemetryLog.
type SQLDriverLog struct {
	SessionID              string                  `json:"session_id,omitempty"`
	SQLStatementID         string                  `json:"sql_statement_id,omitempty"`
	AuthType               string                  `json:"auth_type,omitempty"`
	OperationLatencyMs     int64                   `json:"operation_latency_ms"`
	SystemConfiguration    *SystemConfiguration    `json:"system_configuration,omitempty"`
	DriverConnectionParams *DriverConnectionParams `json:"driver_connection_params,omitempty"`
	SQLOperation           *SQLOperation           `json:"sql_operation,omitempty"`
	ErrorInfo              *ErrorInfo              `json:"error_info,omitempty"`
}

// SystemConfiguration describes the client's runtime.
type SystemConfiguration struct {
	DriverVersion   string `json:"driver_version,omitempty"`
	RuntimeName     string `json:"runtime_name,omitempty"`
	RuntimeVersion  string `json:"runtime_version,omitempty"`
	RuntimeVendor   string `json:"runtime_vendor,omitempty"`
	OSName          string `json:"os_name,omitempty"`
	OSVersion       string `json:"os_version,omitempty"`
	OSArch          string `json:"os_arch,omitempty"`
	DriverName      string `json:"driver_name,omitempty"`
	ClientAppName   string `json:"client_app_name,omitempty"`
	LocaleName      string `json:"locale_name,omitempty"`
	CharSetEncoding string `json:"char_set_encoding,omitempty"`
	ProcessName     string `json:"process_name,omitempty"`
}

// HostInfo is DriverConnectionParams.host_info.
type HostInfo struct {
	HostURL string `json:"host_url,omitempty"`
	Port    int32  `json:"port,omitempty"`
}

// DriverConnectionParams describes how the connection was configured.
type DriverConnectionParams struct {
	HTTPPath            string    `json:"http_path,omitempty"`
	Mode                string    `json:"mode,omitempty"`
	HostInfo            *HostInfo `json:"host_info,omitempty"`
	AuthMech            string    `json:"auth_mech,omitempty"`
	AuthFlow            string    `json:"auth_flow,omitempty"`
	EnableArrow         bool      `json:"enable_arrow,omitempty"`
	EnableDirectResults bool      `json:"enable_direct_results,omitempty"`
	QueryTags           string    `json:"query_tags,omitempty"`
	SocketTimeout       int64     `json:"socket_timeout,omitempty"`
}

// SQLOperation is SqlExecutionEvent.
type SQLOperation struct {
	StatementType   string           `json:"statement_type,omitempty"`
	IsCompressed    bool             `json:"is_compressed,omitempty"`
	ExecutionResult string           `json:"execution_result,omitempty"`
	ChunkID         int64            `json:"chunk_id,omitempty"`
	RetryCount      int64            `json:"retry_count,omitempty"`
	ChunkDetails    *ChunkDetails    `json:"chunk_details,omitempty"`
	ResultLatency   *ResultLatency   `json:"result_latency,omitempty"`
	OperationDetail *OperationDetail `json:"operation_detail,omitempty"`
}

// ChunkDetails summarises a statement's CloudFetch downloads.
type ChunkDetails struct {
	InitialChunkLatencyMillis   int64 `json:"initial_chunk_latency_millis,omitempty"`
	SlowestChunkLatencyMillis   int64 `json:"slowest_chunk_latency_millis,omitempty"`
	TotalChunksPresent          int32 `json:"total_chunks_present,omitempty"`
	TotalChunksIterated         int32 `json:"total_chunks_iterated,omitempty"`
	SumChunksDownloadTimeMillis int64 `json:"sum_chunks_download_time_millis,omitempty"`
}

// ResultLatency splits a statement's latency into waiting for the result and reading it.
type ResultLatency struct {
	ResultSetReadyLatencyMillis       int64 `json:"result_set_ready_latency_millis,omitempty"`
	ResultSetConsumptionLatencyMillis int64 `json:"result_set_consumption_latency_millis,omitempty"`
}

// OperationDetail describes the Thrift operation behind a log.
type OperationDetail struct {
	NOperationStatusCalls        int32  `json:"n_operation_status_calls,omitempty"`
	OperationStatusLatencyMillis int64  `json:"operation_status_latency_millis,omitempty"`
	OperationType                string `json:"operation_type,omitempty"`
	IsInternalCall               bool   `json:"is_internal_call,omitempty"`
}

// ErrorInfo describes a failure; StackTrace is always redacted before it gets here.
type ErrorInfo struct {
	ErrorName  string `json:"error_name,omitempty"`
	StackTrace string `json:"stack_trace,omitempty"`
}

// Clone returns a deep copy of l (nil for nil). An Exporter that keeps logs after Export
// returns keeps clones: the aggregator reuses the logs it hands over for its next batch.
func (l *FrontendLog) Clone() *FrontendLog {
	c := cloned(l)
	if c == nil {
		return nil
	}
	if c.Context = cloned(c.Context); c.Context != nil {
		c.Context.ClientContext = cloned(c.Context.ClientContext)
	}
	if c.Entry = cloned(c.Entry); c.Entry != nil {
		if dl := cloned(c.Entry.SQLDriverLog); dl != nil {
			c.Entry.SQLDriverLog = dl
			dl.SystemConfiguration = cloned(dl.SystemConfiguration)
			dl.ErrorInfo = cloned(dl.ErrorInfo)
			if dl.DriverConnectionParams = cloned(dl.DriverConnectionParams); dl.DriverConnectionParams != nil {
				dl.DriverConnectionParams.HostInfo = cloned(dl.DriverConnectionParams.HostInfo)
			}
			if op := cloned(dl.SQLOperation); op != nil {
				dl.SQLOperation = op
				op.ChunkDetails = cloned(op.ChunkDetails)
				op.ResultLatency = cloned(op.ResultLatency)
				op.OperationDetail = cloned(op.OperationDetail)
			}
		}
	}
	return c
}

// cloned is a shallow copy of *p in a new variable, nil for nil.
func cloned[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}
