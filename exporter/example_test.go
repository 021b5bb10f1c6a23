package exporter_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

func exampleLog(id string) *telemetry.FrontendLog {
	return &telemetry.FrontendLog{
		FrontendLogEventID: id,
		Context:            &telemetry.LogContext{ClientContext: &telemetry.ClientContext{ClientType: "golang", ClientVersion: "1.15.1"}},
		Entry: &telemetry.LogEntry{SQLDriverLog: &telemetry.SQLDriverLog{
			SessionID:          "session-1",
			OperationLatencyMs: 12,
			SQLOperation:       &telemetry.SQLOperation{OperationDetail: &telemetry.OperationDetail{OperationType: telemetry.OpCreateSession}},
		}},
	}
}

// A driver keeps one Registry; every connection acquires its host's shared exporter
// and releases it on close. The last release flushes and closes it.
func ExampleRegistry() {
	// A stand-in for the workspace (a loopback server, so WithLoopbackDSN is needed).
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.Method, r.URL.Path, r.Header.Get("Authorization"))
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"errors":[],"numProtoSuccess":1}`)
	}))
	defer srv.Close()

	reg := exporter.NewRegistry()
	defer reg.Close(context.Background())

	ctx := context.Background()
	h, err := reg.Acquire(srv.URL, exporter.WithLoopbackDSN(), exporter.WithConnCredentials(exporter.BearerToken("dapi-example")))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := h.Exporter().Export(ctx, []*telemetry.FrontendLog{exampleLog("1")}); err != nil {
		fmt.Println(err)
	}
	st := h.Exporter().ExportStats()
	fmt.Println("batches:", st.Batches, "logs:", st.LogsExported, "breaker:", st.Breaker)
	_ = h.Release(ctx)
	fmt.Println("hosts:", reg.Len())
	// Output:
	// POST /telemetry-ext Bearer dapi-example
	// batches: 1 logs: 1 breaker: closed
	// hosts: 0
}

// An HTTPExporter can also be used on its own, e.g. behind an aggregator in a test.
func ExampleNewHTTPExporter() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.URL.Path)
	}))
	defer srv.Close()

	target, err := exporter.ParseTarget(srv.URL, true)
	if err != nil {
		fmt.Println(err)
		return
	}
	exp := exporter.NewHTTPExporter(target) // no credentials: the stripped unauth path
	defer exp.Close(context.Background())
	_ = exp.Export(context.Background(), []*telemetry.FrontendLog{exampleLog("1")})
	// Output:
	// /telemetry-unauth
}

func ExampleParseTarget() {
	for _, host := range []string{"ADB-1.AzureDatabricks.NET.", "http://dbc-1.cloud.databricks.com:8443/", "169.254.169.254", "evil.com@dbc.com"} {
		t, err := exporter.ParseTarget(host, false)
		if err != nil {
			fmt.Println("refused:", err)
			continue
		}
		fmt.Println(t.Key())
	}
	// Output:
	// https://adb-1.azuredatabricks.net:443
	// https://dbc-1.cloud.databricks.com:8443
	// refused: exporter: forbidden telemetry host "169.254.169.254": link-local address
	// refused: exporter: invalid telemetry host "evil.com@dbc.com": userinfo, backslash, query, fragment or escape
}

// The JSON-lines exporter writes one log per line, for local debugging.
func ExampleJSONLinesExporter() {
	exp := exporter.NewJSONLinesExporter(os.Stdout)
	defer exp.Close(context.Background())
	_ = exp.Export(context.Background(), []*telemetry.FrontendLog{exampleLog("a"), exampleLog("b")})
	// Output:
	// {"frontend_log_event_id":"a","context":{"client_context":{"client_type":"golang","client_version":"1.15.1"}},"entry":{"sql_driver_log":{"session_id":"session-1","operation_latency_ms":12,"sql_operation":{"operation_detail":{"operation_type":"CREATE_SESSION"}}}}}
	// {"frontend_log_event_id":"b","context":{"client_context":{"client_type":"golang","client_version":"1.15.1"}},"entry":{"sql_driver_log":{"session_id":"session-1","operation_latency_ms":12,"sql_operation":{"operation_detail":{"operation_type":"CREATE_SESSION"}}}}}
}

// The feature-flag cache decides, with the DSN, whether telemetry runs (SPEC §5).
func ExampleFeatureFlagCache() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"flags":[{"name":"`+exporter.DefaultFlagName+`","value":"true"}],"ttl_seconds":300}`)
	}))
	defer srv.Close()

	reg := exporter.NewRegistry()
	defer reg.Close(context.Background())
	h, _ := reg.Acquire(srv.URL, exporter.WithLoopbackDSN(), exporter.WithConnCredentials(exporter.BearerToken("dapi-example")))
	defer h.Release(context.Background())
	fmt.Println("telemetry enabled:", h.FeatureFlags().Enabled(context.Background()))
	// Output:
	// telemetry enabled: true
}
