// Command warehouse runs the local Databricks SQL warehouse standalone and prints its DSN,
// so that any tool speaking the Databricks protocol can point at it. It stops on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

func main() {
	fs := flag.NewFlagSet("warehouse", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address, host:port with an IPv4 address or a host name (port 0: a random one)")
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
	if err := checkArgs(fs, *addr, *async, *cloud, *idle); err != nil {
		fmt.Fprintln(fs.Output(), "warehouse:", err)
		fs.Usage()
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
	var bad *warehouse.OptionError
	if errors.As(err, &bad) && optionFlag(bad.Option) != "" {
		// A value the flags' checks let through (a token no header can carry, an -addr
		// whose host name gives an IPv6 address): named by its flag.
		fmt.Fprintf(fs.Output(), "warehouse: %s: %s\n", optionFlag(bad.Option), bad.Reason)
		fs.Usage()
		os.Exit(2)
	}
	if err != nil {
		// A port taken, a host that names no address of this machine: the flag is
		// named. The server's errors say they are the warehouse's already.
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "listen" {
			err = fmt.Errorf("warehouse: -addr %s: %w", *addr, op)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Caught before the DSN goes out: a supervisor that stops it once it has read the
	// DSN must not kill it before it closes the server.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Println(srv.DSN())
	forgetTelemetry(ctx, srv, forgetEvery)
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "warehouse: close:", err)
		os.Exit(1)
	}
}

// checkArgs refuses what flag.Parse lets through: stray arguments (the flags after the
// first are not parsed at all), an -addr that is no host:port or that names an IPv6
// address (NewServer refuses a host name that gives one), and negative durations and row
// counts.
func checkArgs(fs *flag.FlagSet, addr string, async time.Duration, cloud int64, idle time.Duration) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q is not host:port (%s)", addr, addrForms)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("-addr %q: port %q is not a number 0–65535 (%s)", addr, port, addrForms)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := checkIP(ip); err != nil {
			return fmt.Errorf("-addr %q: %w", addr, err)
		}
	}
	switch {
	case async < 0:
		return fmt.Errorf("-async-threshold %v is negative", async)
	case cloud < 0:
		return fmt.Errorf("-cloudfetch-threshold %d is negative", cloud)
	case idle < 0:
		return fmt.Errorf("-session-idle %v is negative (0: never)", idle)
	}
	return nil
}

// optionFlag names the flag of an option whose value NewServer may refuse ("" for none).
func optionFlag(option string) string {
	switch option {
	case "WithToken":
		return "-token"
	case "WithAddr":
		return "-addr"
	}
	return ""
}

// addrForms is what -addr accepts.
const addrForms = "want host:port with an IPv4 address or a host name and a port 0–65535, " +
	"0 for a random one: 127.0.0.1:0, localhost:8080, or :8080 for every address"

// checkIP refuses an IPv6 address other than [::] (every address, named by 127.0.0.1 in
// the DSN): the Databricks driver cannot parse an IPv6 host in a DSN, so the DSN printed
// would not work.
func checkIP(ip netip.Addr) error {
	if ip = ip.Unmap(); ip.Is6() && !ip.IsUnspecified() {
		return fmt.Errorf("the Databricks driver cannot reach IPv6 address %s (%s)", ip, addrForms)
	}
	return nil
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
