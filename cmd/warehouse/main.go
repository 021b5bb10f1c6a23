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
	<-ctx.Done()
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "warehouse: close:", err)
		os.Exit(1)
	}
}
