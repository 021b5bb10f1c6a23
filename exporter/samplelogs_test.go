package exporter

import "github.com/dbtelemetry/dbtelemetry/telemetry"

// Sample logs for the exporter's tests, with most fields set (the encoder writes each of
// them). They are not what the aggregator builds: the golden files in testdata/ are
// (TestGoldenWireFormat).

func baseLog(id string) *telemetry.FrontendLog {
	return &telemetry.FrontendLog{
		WorkspaceID:        1234567890123456,
		FrontendLogEventID: id,
		Context: &telemetry.LogContext{ClientContext: &telemetry.ClientContext{
			ClientType: telemetry.ClientType, ClientVersion: "1.15.1",
			TimestampMillis: 1732539999000, UserAgent: "dbtelemetry-go/0.1 databricks-sql-go/1.15.1",
		}},
		Entry: &telemetry.LogEntry{SQLDriverLog: &telemetry.SQLDriverLog{
			SessionID: "01ef-session-0001",
			AuthType:  "pat",
			SystemConfiguration: &telemetry.SystemConfiguration{
				DriverVersion: "1.15.1", RuntimeName: "go", RuntimeVersion: "go1.26", RuntimeVendor: "Google",
				OSName: "linux", OSVersion: "6.8", OSArch: "amd64", DriverName: "databricks-sql-go",
				ClientAppName: "", LocaleName: "en_US", CharSetEncoding: "UTF-8", ProcessName: "app",
			},
			DriverConnectionParams: &telemetry.DriverConnectionParams{
				HTTPPath: "/sql/1.0/warehouses/abc", Mode: "THRIFT",
				HostInfo: &telemetry.HostInfo{HostURL: "https://adb-1.azuredatabricks.net", Port: 443},
				AuthMech: "PAT", AuthFlow: "TOKEN_PASSTHROUGH", EnableArrow: true, EnableDirectResults: true,
				SocketTimeout: 900,
			},
		}},
	}
}

func connectionLog() *telemetry.FrontendLog {
	l := baseLog("00000000-0000-4000-8000-000000000001")
	d := l.Entry.SQLDriverLog
	d.OperationLatencyMs = 412
	d.SQLOperation = &telemetry.SQLOperation{OperationDetail: &telemetry.OperationDetail{OperationType: telemetry.OpCreateSession}}
	return l
}

func inlineStatementLog() *telemetry.FrontendLog {
	l := baseLog("00000000-0000-4000-8000-000000000002")
	d := l.Entry.SQLDriverLog
	d.SQLStatementID = "01ef-statement-0002"
	d.OperationLatencyMs = 87
	d.SQLOperation = &telemetry.SQLOperation{
		StatementType: telemetry.StatementQuery, ExecutionResult: telemetry.ResultInlineArrow,
		IsCompressed:  true,
		ResultLatency: &telemetry.ResultLatency{ResultSetReadyLatencyMillis: 61, ResultSetConsumptionLatencyMillis: 26},
		OperationDetail: &telemetry.OperationDetail{
			NOperationStatusCalls: 2, OperationStatusLatencyMillis: 40, OperationType: telemetry.OpExecuteStatement,
		},
	}
	return l
}

func cloudFetchLog() *telemetry.FrontendLog {
	l := baseLog("00000000-0000-4000-8000-000000000003")
	d := l.Entry.SQLDriverLog
	d.SQLStatementID = "01ef-statement-0003"
	d.OperationLatencyMs = 5230
	d.SQLOperation = &telemetry.SQLOperation{
		StatementType: telemetry.StatementQuery, ExecutionResult: telemetry.ResultExternalLinks,
		IsCompressed: true,
		ChunkDetails: &telemetry.ChunkDetails{
			InitialChunkLatencyMillis: 120, SlowestChunkLatencyMillis: 410,
			TotalChunksPresent: 12, TotalChunksIterated: 12, SumChunksDownloadTimeMillis: 2900,
		},
		ResultLatency: &telemetry.ResultLatency{ResultSetReadyLatencyMillis: 1800, ResultSetConsumptionLatencyMillis: 3430},
		OperationDetail: &telemetry.OperationDetail{
			NOperationStatusCalls: 6, OperationStatusLatencyMillis: 1750, OperationType: telemetry.OpExecuteStatement,
		},
	}
	return l
}

func terminalErrorLog() *telemetry.FrontendLog {
	l := baseLog("00000000-0000-4000-8000-000000000004")
	d := l.Entry.SQLDriverLog
	d.SQLStatementID = "01ef-statement-0004"
	d.OperationLatencyMs = 35
	d.SQLOperation = &telemetry.SQLOperation{
		StatementType:   telemetry.StatementQuery,
		ExecutionResult: telemetry.ResultUnspecified,
		OperationDetail: &telemetry.OperationDetail{NOperationStatusCalls: 1, OperationType: telemetry.OpExecuteStatement},
	}
	d.ErrorInfo = &telemetry.ErrorInfo{
		ErrorName:  "DBExecutionError",
		StackTrace: "[TABLE_OR_VIEW_NOT_FOUND] The table or view cannot be found. SQLSTATE: 42P01",
	}
	return l
}
