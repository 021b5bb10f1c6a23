// Command demo starts the embedded local warehouse, runs a small workload through the
// Databricks SQL driver wrapped with telemetry (sql.Open("databricks-telemetry", dsn)),
// and prints the results, what the warehouse saw and what the telemetry ingest received.
//
// (The full demo — concurrent workload, an outage of the telemetry endpoint and the
// report tables — is issue 5.)
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	dbsqllog "github.com/databricks/databricks-sql-go/logger"

	_ "github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	// The driver logs its own failed feature-flag fetch at error level; keep the demo quiet.
	_ = dbsqllog.SetLogLevel("disabled")
	srv, err := warehouse.NewServer()
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(out, "local warehouse at %s\n\n", srv.URL())

	db, err := sql.Open("databricks-telemetry", srv.DSN()+"?telemetry_flush_interval=1s")
	if err != nil {
		return err
	}
	defer db.Close()

	steps := []struct {
		label string
		query string
	}{
		{"a small lookup", "SELECT 6 * 7 AS answer"},
		{"an aggregate", "SELECT count(*), sum(range) FROM range(100000)"},
		{"an aggregate over 1M rows", "SELECT count(*), sum(x) FROM (SELECT range AS x FROM range(1000000))"},
	}
	for _, s := range steps {
		began := time.Now()
		rows, err := db.QueryContext(ctx, s.query)
		if err != nil {
			return fmt.Errorf("%s: %w", s.label, err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		fmt.Fprintf(out, "%-28s %v = %v  (%s)\n", s.label, cols, vals, time.Since(began).Round(time.Millisecond))
	}

	// A large result read row by row arrives by CloudFetch.
	rows, err := db.QueryContext(ctx, "SELECT range FROM range(1000000)")
	if err != nil {
		return err
	}
	var n, sum int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		n, sum = n+1, sum+v
	}
	if err := rows.Close(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%-28s %d rows, sum %d\n", "a 1M-row read", n, sum)

	if _, err := db.ExecContext(ctx, "SELECT * FROM missing_table"); err != nil {
		fmt.Fprintf(out, "%-28s %v\n", "a failing statement", err)
	}

	// Closing the pool flushes telemetry.
	if err := db.Close(); err != nil {
		return err
	}

	fmt.Fprintf(out, "\nthe warehouse saw %d session(s) and these statements:\n", len(srv.Sessions()))
	for _, st := range srv.Statements() {
		fmt.Fprintf(out, "  %-8s %-15s rows=%-8d chunks=%d  %s\n", st.State, orNone(string(st.Delivery)), st.Rows, st.ChunkDownloads, st.SQL)
	}

	fmt.Fprintf(out, "\ntelemetry received by the ingest (%d request(s)):\n", len(srv.TelemetryRequests()))
	for _, raw := range srv.TelemetryLogs() {
		var l telemetry.FrontendLog
		if err := json.Unmarshal([]byte(raw), &l); err != nil || l.Entry == nil || l.Entry.SQLDriverLog == nil {
			continue
		}
		d := l.Entry.SQLDriverLog
		kind, result, chunks := "", "", int32(0)
		if op := d.SQLOperation; op != nil {
			if op.OperationDetail != nil {
				kind = op.OperationDetail.OperationType
			}
			result = op.ExecutionResult
			if op.ChunkDetails != nil {
				chunks = op.ChunkDetails.TotalChunksIterated
			}
		}
		errName := ""
		if d.ErrorInfo != nil {
			errName = "error=" + d.ErrorInfo.ErrorName
		}
		fmt.Fprintf(out, "  %-17s stmt=%-36s %-15s chunks=%d latency=%dms %s\n",
			orNone(kind), orNone(d.SQLStatementID), orNone(result), chunks, d.OperationLatencyMs, errName)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
