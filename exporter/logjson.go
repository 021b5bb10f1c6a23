package exporter

import (
	"strconv"
	"unicode/utf8"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// appendLog appends the JSON encoding of l to dst: byte for byte what json.Marshal
// writes for it (field order, omitempty, HTML-safe string escaping), without reflection.
// With quoted, it appends that encoding as it reads inside a JSON string (without the
// surrounding quotes), as json.Marshal writes a string holding it: the form of a log in
// a request's protoLogs, written in one pass. TestLogJSONMatchesEncodingJSON and
// FuzzLogJSON hold both to encoding/json.
func appendLog(dst []byte, l *telemetry.FrontendLog, quoted bool) []byte {
	w := jsonWriter{b: dst, quoted: quoted}
	w.log(l)
	return w.b
}

// log appends l's JSON (see appendLog).
func (w *jsonWriter) log(l *telemetry.FrontendLog) {
	w.open()
	w.int("workspace_id", l.WorkspaceID)
	w.key("frontend_log_event_id")
	w.text(l.FrontendLogEventID)
	if c := l.Context; c != nil {
		w.key("context")
		w.open()
		if cc := c.ClientContext; cc != nil {
			w.key("client_context")
			w.open()
			w.str("client_type", cc.ClientType)
			w.str("client_version", cc.ClientVersion)
			w.int("timestamp_millis", cc.TimestampMillis)
			w.str("user_agent", cc.UserAgent)
			w.close()
		}
		w.close()
	}
	if e := l.Entry; e != nil {
		w.key("entry")
		w.open()
		if d := e.SQLDriverLog; d != nil {
			w.key("sql_driver_log")
			w.driverLog(d)
		}
		w.close()
	}
	w.close()
}

func (w *jsonWriter) driverLog(d *telemetry.SQLDriverLog) {
	w.open()
	w.str("session_id", d.SessionID)
	w.str("sql_statement_id", d.SQLStatementID)
	w.str("auth_type", d.AuthType)
	w.key("operation_latency_ms")
	w.b = strconv.AppendInt(w.b, d.OperationLatencyMs, 10)
	if s := d.SystemConfiguration; s != nil {
		w.key("system_configuration")
		w.sysConfig(s)
	}
	if p := d.DriverConnectionParams; p != nil {
		w.key("driver_connection_params")
		w.open()
		w.str("http_path", p.HTTPPath)
		w.str("mode", p.Mode)
		if h := p.HostInfo; h != nil {
			w.key("host_info")
			w.open()
			w.str("host_url", h.HostURL)
			w.int("port", int64(h.Port))
			w.close()
		}
		w.str("auth_mech", p.AuthMech)
		w.str("auth_flow", p.AuthFlow)
		w.bool("enable_arrow", p.EnableArrow)
		w.bool("enable_direct_results", p.EnableDirectResults)
		w.str("query_tags", p.QueryTags)
		w.int("socket_timeout", p.SocketTimeout)
		w.close()
	}
	if op := d.SQLOperation; op != nil {
		w.key("sql_operation")
		w.operation(op)
	}
	if e := d.ErrorInfo; e != nil {
		w.key("error_info")
		w.open()
		w.str("error_name", e.ErrorName)
		w.str("stack_trace", e.StackTrace)
		w.close()
	}
	w.close()
}

// sysConfig writes s. Every log of an aggregator points to one SystemConfiguration, so
// with a memo its encoding is written once per request and copied after.
func (w *jsonWriter) sysConfig(s *telemetry.SystemConfiguration) {
	if m := w.memo; m != nil && m.sc == s {
		w.b, w.first = append(w.b, m.enc...), false
		return
	}
	start := len(w.b)
	w.open()
	w.str("driver_version", s.DriverVersion)
	w.str("runtime_name", s.RuntimeName)
	w.str("runtime_version", s.RuntimeVersion)
	w.str("runtime_vendor", s.RuntimeVendor)
	w.str("os_name", s.OSName)
	w.str("os_version", s.OSVersion)
	w.str("os_arch", s.OSArch)
	w.str("driver_name", s.DriverName)
	w.str("client_app_name", s.ClientAppName)
	w.str("locale_name", s.LocaleName)
	w.str("char_set_encoding", s.CharSetEncoding)
	w.str("process_name", s.ProcessName)
	w.close()
	if m := w.memo; m != nil {
		m.sc, m.enc = s, append(m.enc[:0], w.b[start:]...)
	}
}

// encodeMemo holds the encoding of the system configuration a writer wrote last, by
// pointer: valid for one request, during which the configuration does not change.
type encodeMemo struct {
	sc  *telemetry.SystemConfiguration
	enc []byte
}

func (w *jsonWriter) operation(op *telemetry.SQLOperation) {
	w.open()
	w.str("statement_type", op.StatementType)
	w.bool("is_compressed", op.IsCompressed)
	w.str("execution_result", op.ExecutionResult)
	w.int("chunk_id", op.ChunkID)
	w.int("retry_count", op.RetryCount)
	if c := op.ChunkDetails; c != nil {
		w.key("chunk_details")
		w.open()
		w.int("initial_chunk_latency_millis", c.InitialChunkLatencyMillis)
		w.int("slowest_chunk_latency_millis", c.SlowestChunkLatencyMillis)
		w.int("total_chunks_present", int64(c.TotalChunksPresent))
		w.int("total_chunks_iterated", int64(c.TotalChunksIterated))
		w.int("sum_chunks_download_time_millis", c.SumChunksDownloadTimeMillis)
		w.close()
	}
	if r := op.ResultLatency; r != nil {
		w.key("result_latency")
		w.open()
		w.int("result_set_ready_latency_millis", r.ResultSetReadyLatencyMillis)
		w.int("result_set_consumption_latency_millis", r.ResultSetConsumptionLatencyMillis)
		w.close()
	}
	if o := op.OperationDetail; o != nil {
		w.key("operation_detail")
		w.open()
		w.int("n_operation_status_calls", int64(o.NOperationStatusCalls))
		w.int("operation_status_latency_millis", o.OperationStatusLatencyMillis)
		w.str("operation_type", o.OperationType)
		w.bool("is_internal_call", o.IsInternalCall)
		w.close()
	}
	w.close()
}

// jsonWriter writes one JSON object at a time. first says that the object being written
// has no field yet; a nested object's close leaves it false, as its key was a field.
// quoted writes the JSON as it reads inside a JSON string (see appendLog).
type jsonWriter struct {
	b      []byte
	first  bool
	quoted bool
	memo   *encodeMemo // nil: nothing remembered
}

func (w *jsonWriter) open() { w.b, w.first = append(w.b, '{'), true }

func (w *jsonWriter) close() { w.b, w.first = append(w.b, '}'), false }

// key writes a field's name (names are plain ASCII: no escaping).
func (w *jsonWriter) key(k string) {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	if w.quoted {
		w.b = append(w.b, '\\', '"')
		w.b = append(w.b, k...)
		w.b = append(w.b, '\\', '"', ':')
		return
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

// str writes a string field, omitted when empty.
func (w *jsonWriter) str(k, v string) {
	if v != "" {
		w.key(k)
		w.text(v)
	}
}

// text writes a string value.
func (w *jsonWriter) text(v string) { w.b = appendJSONText(w.b, v, w.quoted) }

// int writes an integer field, omitted when zero.
func (w *jsonWriter) int(k string, v int64) {
	if v != 0 {
		w.key(k)
		w.b = strconv.AppendInt(w.b, v, 10)
	}
}

// bool writes a boolean field, omitted when false.
func (w *jsonWriter) bool(k string, v bool) {
	if v {
		w.key(k)
		w.b = append(w.b, "true"...)
	}
}

// needsEscape marks the bytes encoding/json escapes inside a string.
var needsEscape = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = true
	}
	return t
}()

// appendJSONText appends s as a JSON string the way encoding/json does: quotes,
// backslashes and control characters escaped (\b, \f, \n, \r, \t short), '<', '>' and
// '&' as \u00XX, U+2028 and U+2029 escaped, and each invalid UTF-8 byte replaced by
// \ufffd. With quoted, it appends that string as it reads inside another JSON string:
// its quotes and backslashes escaped once more (nothing else in it needs escaping).
func appendJSONText(dst []byte, s string, quoted bool) []byte {
	const hex = "0123456789abcdef"
	esc, quote := `\`, `"`
	if quoted {
		esc, quote = `\\`, `\"`
	}
	dst = append(dst, quote...)
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !needsEscape[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, esc...)
			switch c {
			case '"', '\\':
				if quoted {
					dst = append(dst, '\\')
				}
				dst = append(dst, c)
			case '\b':
				dst = append(dst, 'b')
			case '\f':
				dst = append(dst, 'f')
			case '\n':
				dst = append(dst, 'n')
			case '\r':
				dst = append(dst, 'r')
			case '\t':
				dst = append(dst, 't')
			default:
				dst = append(dst, 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, esc...)
			dst = append(dst, "ufffd"...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, esc...)
			dst = append(dst, 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, quote...)
}
