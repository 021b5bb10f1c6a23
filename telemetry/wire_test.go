package telemetry

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fullLog is a log with every pointer set.
func fullLog() *FrontendLog {
	return &FrontendLog{
		WorkspaceID:        7,
		FrontendLogEventID: "id-1",
		Context:            &LogContext{ClientContext: &ClientContext{ClientType: ClientType, TimestampMillis: 5}},
		Entry: &LogEntry{SQLDriverLog: &SQLDriverLog{
			SessionID:              "s",
			SystemConfiguration:    &SystemConfiguration{DriverVersion: "1"},
			DriverConnectionParams: &DriverConnectionParams{HTTPPath: "/p", HostInfo: &HostInfo{HostURL: "h", Port: 443}},
			SQLOperation: &SQLOperation{
				StatementType:   StatementQuery,
				ChunkDetails:    &ChunkDetails{TotalChunksPresent: 2},
				ResultLatency:   &ResultLatency{ResultSetReadyLatencyMillis: 3},
				OperationDetail: &OperationDetail{OperationType: OpExecuteStatement},
			},
			ErrorInfo: &ErrorInfo{ErrorName: ErrNameGeneric},
		}},
	}
}

// overwrite changes every value l points to, in place, as a reused log would be.
func overwrite(l *FrontendLog) {
	l.FrontendLogEventID = "changed"
	if l.Context != nil {
		if cc := l.Context.ClientContext; cc != nil {
			*cc = ClientContext{ClientType: "changed"}
		}
		*l.Context = LogContext{}
	}
	if l.Entry == nil || l.Entry.SQLDriverLog == nil {
		return
	}
	dl := l.Entry.SQLDriverLog
	if dl.SystemConfiguration != nil {
		*dl.SystemConfiguration = SystemConfiguration{DriverVersion: "changed"}
	}
	if p := dl.DriverConnectionParams; p != nil {
		if p.HostInfo != nil {
			*p.HostInfo = HostInfo{HostURL: "changed"}
		}
		*p = DriverConnectionParams{HTTPPath: "changed"}
	}
	if op := dl.SQLOperation; op != nil {
		if op.ChunkDetails != nil {
			*op.ChunkDetails = ChunkDetails{}
		}
		if op.ResultLatency != nil {
			*op.ResultLatency = ResultLatency{}
		}
		if op.OperationDetail != nil {
			*op.OperationDetail = OperationDetail{OperationType: "changed"}
		}
		*op = SQLOperation{StatementType: "changed"}
	}
	if dl.ErrorInfo != nil {
		*dl.ErrorInfo = ErrorInfo{}
	}
	*dl = SQLDriverLog{SessionID: "changed"}
	*l.Entry = LogEntry{}
}

func TestCloneIsDeep(t *testing.T) {
	tests := []struct {
		name string
		log  func() *FrontendLog
	}{
		{"every part set", fullLog},
		{"no entry", func() *FrontendLog { l := fullLog(); l.Entry = nil; return l }},
		{"no context", func() *FrontendLog { l := fullLog(); l.Context = nil; return l }},
		{"driver log only", func() *FrontendLog {
			l := fullLog()
			*l.Entry.SQLDriverLog = SQLDriverLog{SessionID: "s"}
			return l
		}},
		{"operation without details", func() *FrontendLog {
			l := fullLog()
			*l.Entry.SQLDriverLog.SQLOperation = SQLOperation{StatementType: StatementUpdate}
			l.Entry.SQLDriverLog.DriverConnectionParams.HostInfo = nil
			return l
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := tt.log()
			before, err := json.Marshal(orig)
			require.NoError(t, err)
			c := orig.Clone()
			require.Equal(t, orig, c)
			overwrite(orig)
			after, err := json.Marshal(c)
			require.NoError(t, err)
			assert.JSONEq(t, string(before), string(after), "the clone shares nothing with the original")
		})
	}
	assert.Nil(t, (*FrontendLog)(nil).Clone())
}
