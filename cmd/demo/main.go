// Command demo shows what telemetry sees. With no flags it starts the embedded local
// warehouse, runs a mixed workload through the Databricks SQL driver wrapped with
// telemetry (the sql.Open("databricks-telemetry", dsn) path, through
// driver.OpenConnector so that the Connector's Stats stay at hand) on several
// concurrent connections: lookups, aggregates, DML into a table it creates, a
// 1,000,000-row scan delivered by CloudFetch, failing and cancelled statements. Midway
// the warehouse's telemetry endpoint goes down (503s, then a hang) until the circuit
// breaker opens, then recovers and the breaker closes, while the queries keep running.
// At the end it prints a report: statements by kind, the workload by phase, a latency
// histogram, the errors, and the telemetry side (logs exported by kind, batches,
// retries, breaker transitions, drops) cross-checked against what the warehouse and its
// telemetry ingest recorded.
//
// Usage:
//
//	go run ./cmd/demo [-duration 12s] [-queries N] [-concurrency 4] [-json]
//	                  [-telemetry-out FILE] [-dsn DSN]
//
// Run with -h for every flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	dbsqllog "github.com/databricks/databricks-sql-go/logger"
	"golang.org/x/term"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1   // the run failed, or a cross-check disagreed
	exitUsage       = 2   // a bad flag or DSN
	exitInterrupted = 130 // Ctrl-C: the report so far was printed
)

// Defaults of the flags.
const (
	defaultDuration    = 12 * time.Second
	defaultConcurrency = 4
	maxConcurrency     = 64
)

// envDSN names the environment variable that can hold -dsn.
const envDSN = "DATABRICKS_DSN"

func main() {
	// net/http reports, through the standard logger, that the driver's retrying HTTP
	// client returned a response with its error when Ctrl-C cancels a call; the demo
	// prints what matters itself.
	log.SetOutput(io.Discard)
	quietDriver()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A second Ctrl-C kills at once: after the first, the default handling is back.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the parsed flags.
type options struct {
	dsn          string // "": the local warehouse
	dsnSource    string // where dsn came from, for its errors: "-dsn" or "$DATABRICKS_DSN"
	duration     time.Duration
	queries      int64
	concurrency  int
	json         bool
	telemetryOut string

	// Not flags: tests make the run cheaper and sturdier under the race detector.
	scanRows       int64              // 0: defaultScanRows
	warehouseOpts  []warehouse.Option // for the local warehouse
	attemptTimeout time.Duration      // 0: localAttemptTimeout
	drainGrace     time.Duration      // after the budget, and for the pool's close; 0: drainGrace and stopGrace
}

// run is the demo: it parses args, runs the workload, prints the report to stdout and
// progress and diagnostics to stderr (progress goes to stdout unless -json), and
// returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	code, _ := runDemo(ctx, args, stdout, stderr)
	return code
}

// runDemo is run, also returning what the run produced (nil on a usage error), so that
// tests can compare the report with the warehouse's own records; tweaks adjust the
// options after the flags.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer, tweaks ...func(*options)) (int, *outcome) {
	o, err := parseFlags(args, stdout)
	for _, t := range tweaks {
		t(&o)
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK, nil
	}
	if err != nil {
		fmt.Fprintf(stderr, "demo: %s (run with -h for the flags)\n", oneLine(err.Error()))
		return exitUsage, nil
	}
	if o.dsn != "" {
		// OpenConnector parses the DSN exactly as sql.Open would; nothing connects yet.
		c, err := driver.OpenConnector(o.dsn)
		if err != nil {
			fmt.Fprintf(stderr, "demo: invalid %s: %s (want token:<pat>@<host>:<port>/<http-path>[?params])\n",
				o.dsnSource, oneLine(redactDSN(err.Error(), o.dsn)))
			return exitUsage, nil
		}
		_ = c.Close()
		if dsnHostname(o.dsn) == "" {
			// The driver says so only when it first connects, as a failure (exit 1).
			fmt.Fprintf(stderr, "demo: invalid %s: it names no host (want token:<pat>@<host>:<port>/<http-path>[?params])\n", o.dsnSource)
			return exitUsage, nil
		}
	}
	var teeFile *os.File
	var teeOut io.Writer // nil: no -telemetry-out
	if o.telemetryOut != "" {
		f, err := os.Create(o.telemetryOut)
		if err != nil {
			fmt.Fprintf(stderr, "demo: -telemetry-out: %s\n", oneLine(err.Error()))
			return exitUsage, nil
		}
		teeFile, teeOut = f, f
	}

	progressOut := stdout
	if o.json {
		progressOut = stderr
	}
	res, err := execute(ctx, o, progressOut, isTerminal(progressOut), teeOut)
	if teeFile != nil {
		if cerr := teeFile.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("-telemetry-out: %w", cerr)
		}
	}
	if res != nil && res.report != nil {
		if o.json {
			if jerr := writeJSON(stdout, res.report); jerr != nil && err == nil {
				err = jerr
			}
		} else {
			writeText(stdout, res.report)
		}
	}
	switch {
	case err != nil:
		// The user's own terminal: the DSN's secrets and any Databricks token go, the
		// host, port, path and counts that explain the failure stay (telemetry.Redact,
		// made for export, would take them too).
		fmt.Fprintf(stderr, "demo: %s\n", oneLine(redactDSN(err.Error(), o.dsn)))
		return exitFailed, res
	case res.report.Interrupted:
		return exitInterrupted, res
	}
	for _, c := range res.report.Checks {
		if !c.OK {
			fmt.Fprintf(stderr, "demo: cross-check failed: %s: %s\n", c.Name, c.Detail)
			return exitFailed, res
		}
	}
	return exitOK, res
}

func parseFlags(args []string, stdout io.Writer) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported on one line by the caller
	fs.StringVar(&o.dsn, "dsn", "", "run against a real warehouse at `DSN` (default $"+envDSN+"; when both are empty, the\nembedded local warehouse). Then there is no outage and no ingest to cross-check.")
	fs.DurationVar(&o.duration, "duration", defaultDuration, "stop handing out statements after this long (the workload's wall-clock bound; the\nstatements still running "+drainGrace.String()+" after it are cancelled)")
	fs.Int64Var(&o.queries, "queries", 0, "stop after this many workload statements (0: no limit; the first to be reached of\n-duration and -queries ends the workload)")
	fs.IntVar(&o.concurrency, "concurrency", defaultConcurrency, fmt.Sprintf("concurrent connections running the workload (1-%d)", maxConcurrency))
	fs.BoolVar(&o.json, "json", false, "print the report as JSON on stdout (progress goes to stderr)")
	fs.StringVar(&o.telemetryOut, "telemetry-out", "", "also write every exported telemetry log to `FILE`, one JSON object per line (the\nprotoLogs of each batch the telemetry endpoint acknowledged, teed from the\nexporter's HTTP client)")
	fs.Usage = func() {} // -h prints below; errors are one line, printed by the caller
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(fs, stdout)
		}
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.dsnSource = "-dsn"
	if o.dsn == "" {
		o.dsn, o.dsnSource = strings.TrimSpace(os.Getenv(envDSN)), "$"+envDSN
	}
	switch {
	case o.duration <= 0:
		return o, fmt.Errorf("-duration must be positive, got %s", o.duration)
	case o.queries < 0:
		return o, fmt.Errorf("-queries must be 0 (no limit) or more, got %d", o.queries)
	case o.concurrency < 1 || o.concurrency > maxConcurrency:
		return o, fmt.Errorf("-concurrency must be 1-%d, got %d", maxConcurrency, o.concurrency)
	}
	return o, nil
}

func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, `Usage: go run ./cmd/demo [flags]

Runs a mixed SQL workload through the Databricks SQL driver wrapped with telemetry
(databricks-telemetry) and reports what the application measured and what telemetry
exported. Without -dsn it starts the embedded local warehouse and, midway, takes its
telemetry endpoint down (503s, then a hang) until the circuit breaker opens, then
brings it back, and cross-checks the telemetry against the warehouse's records.

Flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	fmt.Fprintf(w, `
Exit status: 0 done and every cross-check agrees; 1 the run failed or a cross-check
disagreed; 2 a bad flag or DSN; 130 interrupted (Ctrl-C or SIGTERM), after the report so far.
`)
}

// dsnSecretRe finds the secrets a DSN may carry: the userinfo's password (the PAT of
// token:<pat>@host) and the values of credential parameters.
var dsnSecretRe = regexp.MustCompile(`(?i)[^:/@?\s]*:([^@/?\s]+)@|(?:accessToken|clientSecret|token|secret|password)=([^&\s]+)`)

// redactDSN removes the DSN's secrets from msg, an error about that DSN. It keeps the
// rest, quoted values included, so the reason stays readable (telemetry.Redact would
// also blank every quoted value). Databricks-looking tokens go too, wherever they are.
func redactDSN(msg, dsn string) string {
	for _, secret := range userinfoSecrets(dsn) {
		msg = replaceWhole(msg, secret, telemetry.Redacted)
	}
	for _, m := range dsnSecretRe.FindAllStringSubmatch(dsn, -1) {
		for _, secret := range m[1:] {
			if secret != "" {
				msg = replaceWhole(msg, secret, telemetry.Redacted)
			}
		}
	}
	return dbTokenRe.ReplaceAllString(msg, telemetry.Redacted)
}

// userinfoSecrets returns the password of the DSN's userinfo, read as people write it
// (the regexp stops at '/', '?' or a space, which an unescaped secret may hold): what
// lies between the first ':' and the last '@' before the query. And its part before
// the first '/', '?' or '#', which URL parsers quote alone (they read it as a port, and
// the rest as the path, query or fragment).
func userinfoSecrets(dsn string) []string {
	rest := dsn
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 && strings.LastIndexByte(rest[:q], '@') >= 0 {
		rest = rest[:q]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return nil
	}
	_, pass, ok := strings.Cut(rest[:at], ":")
	if !ok || pass == "" {
		return nil
	}
	out := []string{pass}
	if i := strings.IndexAny(pass, "/?#"); i > 0 {
		out = append(out, pass[:i])
	}
	return out
}

// replaceWhole replaces secret in msg: everywhere when it is long enough to be a real
// secret (8 bytes), else only where no letter, digit, '_' or '-' extends it, so that a
// short one (a test token "x") leaves the words that contain it alone.
func replaceWhole(msg, secret, with string) string {
	if len(secret) >= 8 {
		return strings.ReplaceAll(msg, secret, with)
	}
	var b strings.Builder
	for {
		i := strings.Index(msg, secret)
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		end := i + len(secret)
		if (i > 0 && isTokenByte(msg[i-1])) || (end < len(msg) && isTokenByte(msg[end])) {
			b.WriteString(msg[:i+1])
			msg = msg[i+1:]
			continue
		}
		b.WriteString(msg[:i])
		b.WriteString(with)
		msg = msg[end:]
	}
}

func isTokenByte(c byte) bool {
	return c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// dbTokenRe matches Databricks personal access tokens and OAuth secrets.
var dbTokenRe = regexp.MustCompile(`(?:dapi|dkea|dose|dsapi)[A-Za-z0-9]{16,}(?:-\d+)?`)

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// isTerminal reports whether w is a terminal, where progress bars can redraw.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) //nolint:gosec // a file descriptor fits in an int
}

// quietDriver turns the driver's own logging off: it logs failed statements at error
// level, and the demo fails statements on purpose. Set once, before any run: the level
// is the process's, and the calls a run interrupted by Ctrl-C left behind may still read
// it while another run starts (in tests).
func quietDriver() { _ = dbsqllog.SetLogLevel("disabled") }
