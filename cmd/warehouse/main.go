// Command warehouse runs the local Databricks SQL warehouse standalone and prints its DSN,
// so that any tool speaking the Databricks protocol can point at it. It stops on Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

func main() {
	fs := flag.NewFlagSet("warehouse", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback, random port by default)")
	token := fs.String("token", "", "personal access token to accept (random by default)")
	flagOn := fs.Bool("telemetry-flag", true, "what the connector feature-flag endpoint says about telemetry")
	async := fs.Duration("async-threshold", 200*time.Millisecond, "how long ExecuteStatement waits before the client has to poll")
	cloud := fs.Int64("cloudfetch-threshold", 100_000, "rows above which results are delivered by CloudFetch")
	idle := fs.Duration("session-idle", time.Hour, "close a session after this long without a call (0: never)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: warehouse [flags]\n\nRuns an embedded Databricks SQL endpoint (Thrift over HTTP on DuckDB) and prints its DSN.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		os.Exit(2)
	}
	opts := []warehouse.Option{
		warehouse.WithAddr(*addr), warehouse.WithTelemetryFlag(*flagOn),
		warehouse.WithAsyncThreshold(*async), warehouse.WithCloudFetchThreshold(*cloud),
		// It runs until Ctrl-C: its records must not grow without bound (nothing reads them),
		// nor the sessions of clients that went away without closing them.
		warehouse.WithStatementRecords(keptStatements), warehouse.WithSessionIdleTimeout(*idle),
	}
	if *token != "" {
		opts = append(opts, warehouse.WithToken(*token))
	}
	srv, err := warehouse.NewServer(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "warehouse:", err)
		os.Exit(1)
	}
	fmt.Println(srv.DSN())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	forgetTelemetry(ctx, srv, forgetEvery)
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "warehouse: close:", err)
		os.Exit(1)
	}
}

// What the standalone warehouse keeps of its records: the last keptStatements statements
// and sessions, and the telemetry requests of the last forgetEvery at most.
const (
	keptStatements = 1000
	forgetEvery    = 10 * time.Second
)

// forgetTelemetry drops the telemetry requests srv recorded, every period, until ctx ends:
// the ingest keeps each request whole, and a standalone run has no one to hand them to.
func forgetTelemetry(ctx context.Context, srv *warehouse.Server, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			srv.TakeTelemetryRequests()
		}
	}
}
