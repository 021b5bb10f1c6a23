package telemetry_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

func ExampleEmitter() {
	// The aggregator is the real sink; a function will do to show what arrives.
	sink := telemetry.SinkFunc(func(ev telemetry.Event) {
		fmt.Printf("%s stmt=%s error=%q terminal=%v message=%q\n", ev.Kind, ev.StatementID, ev.ErrorName, ev.Terminal, ev.Message)
	})
	noEnv := func(string) (string, bool) { return "", false } // tests inject the environment
	em := telemetry.NewEmitter(sink, telemetry.WithLookupEnv(noEnv))

	em.Emit(&telemetry.Event{Kind: telemetry.KindStatementStart, SessionID: "s1", StatementID: "q1",
		StatementType: telemetry.StatementQuery, Time: time.Now()})
	em.EmitError("s1", "q1", sql.ErrNoRows) // an outcome: nothing is emitted
	em.EmitError("s1", "q1", fmt.Errorf("poll: %w", context.DeadlineExceeded))
	em.EmitError("s1", "q1", errors.New("login failed for token=dapi0123456789abcdef0123456789abcdef: unauthorized"))
	em.Emit(&telemetry.Event{Kind: telemetry.KindStatementComplete, SessionID: "s1", StatementID: "q1",
		ResultFormat: telemetry.ResultInlineArrow, Latency: 120 * time.Millisecond})

	disabled := telemetry.NewEmitter(sink, telemetry.WithEnabled(false))
	disabled.Emit(&telemetry.Event{Kind: telemetry.KindStatementStart, StatementID: "q2"}) // returns at once
	// Output:
	// statement.start stmt=q1 error="" terminal=false message=""
	// error stmt=q1 error="timeout" terminal=false message="poll: context deadline exceeded"
	// error stmt=q1 error="auth_error" terminal=true message="login failed for token=[REDACTED] unauthorized"
	// statement.complete stmt=q1 error="" terminal=false message=""
}

func ExampleClassify() {
	c := telemetry.Classify(fmt.Errorf("export: %w", errors.New("unexpected HTTP status 503 Service Unavailable")))
	fmt.Println(c.Name, c.HTTPStatus, c.Terminal, c.Retryable())
	// Output: server_error 503 false true
}

func ExampleRedact() {
	fmt.Println(telemetry.Redact(`Post "https://h/sql?o=1": Authorization: Bearer dapi0123456789abcdef0123456789abcdef; where name = 'alice' at /home/alice/app/main.go:12`))
	// Output: Post "?": Authorization: Bearer [REDACTED]; where name = '?' at [PATH]/main.go:12
}

// An exporter that keeps logs after Export returns keeps clones: the aggregator reuses
// the logs it hands over for its next batch.
func ExampleFrontendLog_Clone() {
	var kept []*telemetry.FrontendLog
	export := func(logs []*telemetry.FrontendLog) {
		for _, l := range logs {
			kept = append(kept, l.Clone())
		}
	}
	batch := []*telemetry.FrontendLog{{FrontendLogEventID: "id-1", Entry: &telemetry.LogEntry{
		SQLDriverLog: &telemetry.SQLDriverLog{SQLStatementID: "q1", OperationLatencyMs: 120}}}}
	export(batch)
	*batch[0].Entry.SQLDriverLog = telemetry.SQLDriverLog{SQLStatementID: "q2"} // the next batch
	fmt.Println(kept[0].Entry.SQLDriverLog.SQLStatementID, kept[0].Entry.SQLDriverLog.OperationLatencyMs)
	// Output: q1 120
}
