package exporter

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// fullLog sets every field of a log to s (strings) or to non-zero values.
func fullLog(s string, n int64) *telemetry.FrontendLog {
	return &telemetry.FrontendLog{
		WorkspaceID:        n,
		FrontendLogEventID: s,
		Context: &telemetry.LogContext{ClientContext: &telemetry.ClientContext{
			ClientType: s, ClientVersion: s, TimestampMillis: n, UserAgent: s,
		}},
		Entry: &telemetry.LogEntry{SQLDriverLog: &telemetry.SQLDriverLog{
			SessionID: s, SQLStatementID: s, AuthType: s, OperationLatencyMs: n,
			SystemConfiguration: &telemetry.SystemConfiguration{
				DriverVersion: s, RuntimeName: s, RuntimeVersion: s, RuntimeVendor: s, OSName: s, OSVersion: s,
				OSArch: s, DriverName: s, ClientAppName: s, LocaleName: s, CharSetEncoding: s, ProcessName: s,
			},
			DriverConnectionParams: &telemetry.DriverConnectionParams{
				HTTPPath: s, Mode: s, HostInfo: &telemetry.HostInfo{HostURL: s, Port: int32(n)},
				AuthMech: s, AuthFlow: s, EnableArrow: n != 0, EnableDirectResults: n != 0, QueryTags: s, SocketTimeout: n,
			},
			SQLOperation: &telemetry.SQLOperation{
				StatementType: s, IsCompressed: n != 0, ExecutionResult: s, ChunkID: n, RetryCount: n,
				ChunkDetails: &telemetry.ChunkDetails{InitialChunkLatencyMillis: n, SlowestChunkLatencyMillis: n,
					TotalChunksPresent: int32(n), TotalChunksIterated: int32(n), SumChunksDownloadTimeMillis: n},
				ResultLatency:   &telemetry.ResultLatency{ResultSetReadyLatencyMillis: n, ResultSetConsumptionLatencyMillis: n},
				OperationDetail: &telemetry.OperationDetail{NOperationStatusCalls: int32(n), OperationStatusLatencyMillis: n, OperationType: s, IsInternalCall: n != 0},
			},
			ErrorInfo: &telemetry.ErrorInfo{ErrorName: s, StackTrace: s},
		}},
	}
}

// checkLogJSON holds both forms of appendLog to encoding/json: the log's JSON, and that
// JSON as a JSON string (what protoLogs carries).
func checkLogJSON(t *testing.T, l *telemetry.FrontendLog) {
	t.Helper()
	want, err := json.Marshal(l)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(appendLog(nil, l, false)))
	wantQuoted, err := json.Marshal(string(want))
	require.NoError(t, err)
	got := append(append([]byte{'"'}, appendLog(nil, l, true)...), '"')
	assert.Equal(t, string(wantQuoted), string(got))
}

func TestLogJSONMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		log  *telemetry.FrontendLog
	}{
		{"empty", &telemetry.FrontendLog{}},
		{"empty parts", &telemetry.FrontendLog{Context: &telemetry.LogContext{}, Entry: &telemetry.LogEntry{}}},
		{"empty driver log", &telemetry.FrontendLog{Entry: &telemetry.LogEntry{SQLDriverLog: &telemetry.SQLDriverLog{
			SQLOperation: &telemetry.SQLOperation{ChunkDetails: &telemetry.ChunkDetails{}, ResultLatency: &telemetry.ResultLatency{},
				OperationDetail: &telemetry.OperationDetail{}},
			DriverConnectionParams: &telemetry.DriverConnectionParams{HostInfo: &telemetry.HostInfo{}},
			SystemConfiguration:    &telemetry.SystemConfiguration{}, ErrorInfo: &telemetry.ErrorInfo{},
		}}}},
		{"every field", fullLog("x", 42)},
		{"negative numbers", fullLog("y", -7)},
		{"escapes", fullLog("a\"b\\c\n\r\t\b\f\x00\x1f\x7f<script>&amp;", 1)},
		{"unicode", fullLog("héllo, 世界 \u2028\u2029 😀", 1)},
		{"invalid UTF-8", fullLog("a\xffb\xc3(\xed\xa0\x80", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkLogJSON(t, tt.log) })
	}
	for _, l := range batch(12) { // the exporter tests' realistic logs
		checkLogJSON(t, l)
	}
}

func FuzzLogJSON(f *testing.F) {
	for _, s := range []string{"", "x", "a\"b\\c\n<>&", "\u2028é\xff", "\x00\x7f\xed\xa0\x80"} {
		f.Add(s, int64(1))
	}
	f.Fuzz(func(t *testing.T, s string, n int64) {
		checkLogJSON(t, fullLog(s, n))
	})
}

func BenchmarkLogJSON(b *testing.B) {
	logs := batch(100)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range logs {
			buf = appendLog(buf[:0], l, true)
		}
	}
}

// TestRequestJSONMatchesEncodingJSON holds a whole request body to encoding/json's, for a
// batch whose logs share one system configuration (written once, then copied: see
// jsonWriter.sysConfig), have their own, or have none, in every order.
func TestRequestJSONMatchesEncodingJSON(t *testing.T) {
	shared := fullLog("shared", 1).Entry.SQLDriverLog.SystemConfiguration
	withConfig := func(s string, sc *telemetry.SystemConfiguration) *telemetry.FrontendLog {
		l := fullLog(s, 2)
		l.Entry.SQLDriverLog.SystemConfiguration = sc
		return l
	}
	tests := []struct {
		name string
		logs []*telemetry.FrontendLog
	}{
		{"one shared", []*telemetry.FrontendLog{withConfig("a", shared), withConfig("b", shared), withConfig("c", shared)}},
		{"shared, own, shared", []*telemetry.FrontendLog{
			withConfig("a", shared), withConfig("b", fullLog("own\"<", 3).Entry.SQLDriverLog.SystemConfiguration), withConfig("c", shared),
		}},
		{"none between", []*telemetry.FrontendLog{withConfig("a", shared), withConfig("b", nil), nil, withConfig("c", shared)}},
		{"empty config", []*telemetry.FrontendLog{
			withConfig("a", &telemetry.SystemConfiguration{}), withConfig("b", shared), withConfig("c", &telemetry.SystemConfiguration{}),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkRequestJSON(t, tt.logs) })
	}
}

// checkRequestJSON holds encodeRequest's body for logs to encoding/json's encoding of
// the request they make.
func checkRequestJSON(t *testing.T, logs []*telemetry.FrontendLog) {
	t.Helper()
	now := goldenClock()
	want := telemetry.Request{UploadTime: now.UnixMilli(), Items: []string{}}
	for _, l := range logs {
		if l != nil {
			b, err := json.Marshal(l)
			require.NoError(t, err)
			want.ProtoLogs = append(want.ProtoLogs, string(b))
		}
	}
	wantBody, err := json.Marshal(want)
	require.NoError(t, err)
	got, n := encodeRequest(nil, logs, now, false)
	assert.Equal(t, len(want.ProtoLogs), n)
	assert.Equal(t, string(wantBody), string(got))
}
