// Command benchreport runs the performance benchmarks side by side and prints the
// comparison as tables of ratios, each goal with whether it holds:
//
//	go run ./internal/benchreport              # 3 rounds, about 20 minutes
//	go run ./internal/benchreport -rounds 5 -markdown
//	go run ./internal/benchreport -only hot    # hot path only
//	go run ./internal/benchreport -soak 60s    # the outage test for 60 s instead of 5 s
//	go run ./internal/benchreport -only e2e -warehouse process  # the warehouse in a process of its own
//
// It builds the test binaries of driver/ and aggregator/ once, then runs every benchmark
// group once per round and reports medians over the rounds. Each benchmark function runs
// its variants (raw, telemetry on, off, …) side by side as sub-benchmarks of one run. The
// end-to-end workloads and the hot path's per-query and per-Next benchmarks also run a
// "paired" sub-benchmark, which measures the variants in short turns (for a single SELECT 1
// and for 8 clients' SELECT 1 each, one settling op, then four measured; for the hot path,
// 64 queries or 2048 Rows.Next; see driver/bench_test.go and driver/hotpath_test.go): on
// a machine whose speed drifts (this one is shared) its ratios and differences are the
// ones the goals are judged on. Plain `go test -bench` output works with benchstat as
// well.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jedib0t/go-pretty/v6/table"

	"github.com/dbtelemetry/dbtelemetry/internal/paired"
)

type options struct {
	rounds   int
	markdown bool
	soak     string
	only     map[string]bool
	verbose  bool
	// warehouse is where the end-to-end benchmarks' warehouse runs: "" in the benchmark's
	// process, "process" in one of its own (cmd/warehouse, started here), else the DSN of
	// a running one.
	warehouse string
	long      bool // the big results' paired runs about ten times longer (see benchGroups)
}

// sections are what -only accepts, in the report's order.
var sections = []string{"hot", "e2e", "throughput", "outage"}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line; a value it cannot use is an error naming the flag
// and what it accepts (flag.ErrHelp for -h).
func parseFlags(args []string) (options, error) {
	var o options
	only := ""
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.IntVar(&o.rounds, "rounds", 3, "runs of every benchmark; ratios are the median over rounds")
	fs.BoolVar(&o.markdown, "markdown", false, "print Markdown tables (for the README)")
	fs.StringVar(&o.soak, "soak", "", "run the telemetry-outage test this long (e.g. 60s) instead of 5 s")
	fs.StringVar(&only, "only", "", "comma-separated sections to run: "+strings.Join(sections, ", ")+" (default all)")
	fs.BoolVar(&o.verbose, "v", false, "echo the benchmarks' output to stderr")
	fs.BoolVar(&o.long, "long", false, "run the big results' paired benchmarks about ten times longer (3000 and 600 turns, about 35 min more a round), for ratios within 0.3–0.8 %")
	fs.StringVar(&o.warehouse, "warehouse", "", `where the end-to-end benchmarks' warehouse runs: "" in the benchmark's own process; "process" in a process of its own (cmd/warehouse, started here); else the DSN of a running local warehouse`)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q: benchreport takes flags only (see -h)", fs.Arg(0))
	}
	if o.rounds < 1 {
		return o, fmt.Errorf("-rounds %d: must be at least 1", o.rounds)
	}
	if o.soak != "" {
		d, err := time.ParseDuration(o.soak)
		if err != nil || d <= 0 {
			return o, fmt.Errorf("-soak %q: want a positive duration such as 60s or 2m", o.soak)
		}
		o.soak = d.String()
	}
	if only != "" {
		o.only = map[string]bool{}
		for _, s := range strings.Split(only, ",") {
			s = strings.TrimSpace(s)
			if !slices.Contains(sections, s) {
				return o, fmt.Errorf("-only %q: unknown section %q; want a comma-separated list of %s", only, s, strings.Join(sections, ", "))
			}
			o.only[s] = true
		}
	}
	return o, nil
}

// group is one `go test -bench` invocation of a test binary.
type group struct {
	section   string
	pkg       string // driver or aggregator
	bench     string
	benchtime string
}

// benchGroups are the benchmark runs of a round, in order. The end-to-end workloads run
// their sequential sub-benchmarks and their paired one as two groups, so that each gets
// a fitting -benchtime.
//
// long runs the big results' paired benchmarks about ten times longer (-long): at the
// default turns a big result's ratio has a standard error of 1–3 %, at the long ones
// 0.3 % (100k rows) and 0.8 % (1M rows), enough to tell the goals with no margin
// (no slower than the built-in) from 1.
func benchGroups(long bool) []group {
	seq, paired := "/^(raw|wrapped-on|wrapped-off|builtin-on)$", "/^paired$"
	big := func(normal, longer string) string {
		if long {
			return longer
		}
		return normal
	}
	return []group{
		{"hot", "driver", "^BenchmarkHotPath/^(raw|sqlmw-null|ours-on|ours-off)$", "1s"},
		{"hot", "driver", "^BenchmarkHotPath(Query|Next)$/^paired$", "3s"},
		{"e2e", "driver", "^BenchmarkE2ESmallQuery$" + seq, "1s"},
		// The paired runs of the small queries are long enough that their second raw
		// driver comes within about half a percent of the first: at 12 s the 8 clients'
		// came out at 1.023× (run AB), at 60 s at 1.001×.
		{"e2e", "driver", "^BenchmarkE2ESmallQuery$" + paired, "30s"},
		{"e2e", "driver", "^BenchmarkE2EConcurrent8$" + seq, "1s"},
		{"e2e", "driver", "^BenchmarkE2EConcurrent8$" + paired, "60s"},
		{"e2e", "driver", "^BenchmarkE2EInline100k$" + seq, "1s"},
		// A big result's op varies by 10–20 % from one to the next (the 100k rows' took
		// 28–52 ms, raw alone), whichever way the driver is opened: the ratios' noise falls
		// with the square root of the ops only.
		{"e2e", "driver", "^BenchmarkE2EInline100k$" + paired, big("250x", "3000x")},
		{"e2e", "driver", "^BenchmarkE2ECloudFetch1M$" + seq, "2s"},
		{"e2e", "driver", "^BenchmarkE2ECloudFetch1M$" + paired, big("60x", "600x")},
		{"e2e", "driver", "^BenchmarkE2ERowLoop$", "60x"},
		{"throughput", "aggregator", "^BenchmarkThroughput8Emitters$", "1s"},
		{"throughput", "driver", "^BenchmarkExportToWarehouse$", "1s"},
	}
}

func (o options) wants(section string) bool { return o.only == nil || o.only[section] }

func run(ctx context.Context, o options, out io.Writer) error {
	if o.rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "benchreport")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	bins := map[string]string{}
	for _, pkg := range []string{"driver", "aggregator"} {
		bins[pkg] = filepath.Join(tmp, pkg+".test")
		progress("building %s tests", pkg)
		cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", bins[pkg], "./"+pkg)
		cmd.Dir, cmd.Stderr = root, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s tests: %w", pkg, err)
		}
	}

	where, dsn := "the benchmark's process", ""
	if o.warehouse != "" && o.wants("e2e") {
		where, dsn = "a process of its own", o.warehouse
		if o.warehouse == "process" {
			bin := filepath.Join(tmp, "warehouse")
			progress("building the warehouse")
			cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/warehouse")
			cmd.Dir, cmd.Stderr = root, os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("build the warehouse: %w", err)
			}
			var stop func()
			if dsn, stop, err = startWarehouse(ctx, bin); err != nil {
				return err
			}
			defer stop()
		}
	}

	res, benchErr := runRounds(ctx, o, func(r int, g group) (string, error) {
		cmd := exec.CommandContext(ctx, bins[g.pkg], "-test.run=^$", "-test.bench="+g.bench,
			"-test.benchtime="+g.benchtime, "-test.benchmem", "-test.count=1")
		cmd.Dir = filepath.Join(root, g.pkg)
		// Turn orders of the round's own (the same in a rerun of the report).
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", paired.SeedEnv, r))
		if dsn != "" && g.section == "e2e" {
			cmd.Env = append(cmd.Env, paired.WarehouseEnv+"="+dsn)
		}
		return output(cmd, o.verbose)
	})
	var outage string
	var outageErr error // reported after the tables, which it does not spoil
	if o.wants("outage") {
		progress("outage test")
		cmd := exec.CommandContext(ctx, bins["driver"], "-test.run=^TestOutageMemory$", "-test.v", "-test.count=1")
		cmd.Dir = filepath.Join(root, "driver")
		if o.soak != "" {
			cmd.Env = append(os.Environ(), "DBTELEMETRY_SOAK="+o.soak)
		}
		text, err := output(cmd, o.verbose)
		if i := strings.Index(text, "outage: "); i >= 0 {
			outage = strings.TrimSpace(strings.SplitN(text[i:], "\n", 2)[0])
		}
		if err != nil {
			outage += fmt.Sprintf(" — FAILED (%v)", err)
			outageErr = fmt.Errorf("outage test: %w", err)
		}
	}

	fmt.Fprintf(out, "%s, %s, %d CPUs, %s, %s/%s; %d round(s), medians\n\n",
		time.Now().Format("2006-01-02"), cpuModel(), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, o.rounds)
	if o.wants("e2e") {
		fmt.Fprintf(out, "End to end, the warehouse ran in %s.\n\n", where)
	}
	r := report{res: res, o: o, out: out}
	if o.wants("hot") {
		r.hotPath()
	}
	if o.wants("e2e") {
		r.endToEnd()
		r.rowLoop()
	}
	if o.wants("throughput") {
		r.throughput()
	}
	if outage != "" {
		fmt.Fprintf(out, "Telemetry outage (ingest hanging, full query rate): %s\n", outage)
	}
	return errors.Join(benchErr, outageErr)
}

// runRounds runs the benchmark groups o wants, round after round, through runOne, which
// returns a run's output. A run that fails does not end the report: its error is
// returned (joined with the others') after every run, and the tables show what the other
// runs, and the failed run's benchmarks that completed, measured. Only the context's end
// stops the rounds early.
func runRounds(ctx context.Context, o options, runOne func(round int, g group) (string, error)) (results, error) {
	res := results{}
	var failed []error
	for r := range o.rounds {
		for _, g := range benchGroups(o.long) {
			if !o.wants(g.section) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return res, errors.Join(append(failed, err)...)
			}
			progress("round %d/%d: %s %s", r+1, o.rounds, g.pkg, g.bench)
			text, err := runOne(r, g)
			res.parse(r, text)
			if err != nil {
				progress("round %d/%d: %s %s failed: %v", r+1, o.rounds, g.pkg, g.bench, err)
				failed = append(failed, fmt.Errorf("round %d: %s %s: %w", r+1, g.pkg, g.bench, err))
			}
		}
	}
	return res, errors.Join(failed...)
}

// startWarehouse starts the warehouse binary bin and returns the DSN it prints, and
// a stop that ends it (Ctrl-C, then a kill after 10 s) and waits for it.
func startWarehouse(ctx context.Context, bin string) (dsn string, stop func(), err error) {
	cmd := exec.CommandContext(ctx, bin)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, fmt.Errorf("warehouse: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start the warehouse: %w", err)
	}
	rd := bufio.NewReader(out)
	line, readErr := rd.ReadString('\n')
	// What it prints after the DSN is read on, until it exits, so that it never blocks
	// on a full pipe.
	drained := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, rd)
		close(drained)
	}()
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-drained:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-drained
		}
		_ = cmd.Wait()
	}
	if dsn = strings.TrimSpace(line); readErr != nil || dsn == "" {
		stop()
		return "", nil, fmt.Errorf("the warehouse printed no DSN (%q): %v", line, readErr)
	}
	return dsn, stop, nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchreport: "+format+"\n", args...)
}

func output(cmd *exec.Cmd, verbose bool) (string, error) {
	var buf bytes.Buffer
	var w io.Writer = &buf
	if verbose {
		w = io.MultiWriter(&buf, os.Stderr)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err := cmd.Run()
	if err != nil && !verbose {
		os.Stderr.Write(buf.Bytes())
	}
	return buf.String(), err
}

func moduleRoot(ctx context.Context) (string, error) {
	b, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run it inside the module: go run ./internal/benchreport")
	}
	return filepath.Dir(mod), nil
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// results holds, per benchmark name (without the -GOMAXPROCS suffix), per round, its
// metrics by unit (ns/op, allocs/op, events/s, …).
type results map[string]map[int]map[string]float64

func (res results) parse(round int, text string) {
	benchLine := regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)
	for _, line := range strings.Split(text, "\n") {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		metrics := map[string]float64{}
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				metrics[f[i+1]] = v
			}
		}
		if res[m[1]] == nil {
			res[m[1]] = map[int]map[string]float64{}
		}
		res[m[1]][round] = metrics
	}
}

// median of a metric of a benchmark over the rounds; NaN when it never ran.
func (res results) median(name, unit string) float64 {
	var v []float64
	for _, m := range res[name] {
		if x, ok := m[unit]; ok {
			v = append(v, x)
		}
	}
	return median(v)
}

// ratio is the median over rounds of name's unit divided by base's, in the same round.
func (res results) ratio(name, base, unit string) float64 {
	var v []float64
	for r, m := range res[name] {
		if b, ok := res[base][r][unit]; ok && b > 0 {
			v = append(v, m[unit]/b)
		}
	}
	return median(v)
}

// diff is the median over rounds of name's unit minus base's, in the same round.
func (res results) diff(name, base, unit string) float64 {
	var v []float64
	for r, m := range res[name] {
		if b, ok := res[base][r][unit]; ok {
			v = append(v, m[unit]-b)
		}
	}
	return median(v)
}

// unitDiff is the median over rounds of name's unit a minus its unit b, in the same round.
func (res results) unitDiff(name, a, b string) float64 {
	var v []float64
	for _, m := range res[name] {
		x, okA := m[a]
		y, okB := m[b]
		if okA && okB {
			v = append(v, x-y)
		}
	}
	return median(v)
}

// unitRatio is the median over rounds of name's unit a divided by its unit b, in the same round.
func (res results) unitRatio(name, a, b string) float64 {
	var v []float64
	for _, m := range res[name] {
		x, okA := m[a]
		y, okB := m[b]
		if okA && okB && y > 0 {
			v = append(v, x/y)
		}
	}
	return median(v)
}

// spread is (max-min)/median of a metric over the rounds: the noise of the machine.
func (res results) spread(name, unit string) float64 {
	var v []float64
	for _, m := range res[name] {
		v = append(v, m[unit])
	}
	if len(v) < 2 {
		return math.NaN()
	}
	return (slices.Max(v) - slices.Min(v)) / median(v)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

type report struct {
	res results
	o   options
	out io.Writer
}

func (r report) render(title string, t table.Writer) {
	if r.o.markdown {
		fmt.Fprintf(r.out, "**%s**\n\n%s\n\n", title, t.RenderMarkdown())
		return
	}
	t.SetTitle(title)
	t.SetStyle(table.StyleLight)
	fmt.Fprintf(r.out, "%s\n\n", t.Render())
}

func holds(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

// against judges a paired ratio v, whose standard error is se, by its goal: "yes" when
// v is within it; "NO, inside 2 SE" when v is over it by no more than twice its error,
// which the run cannot tell from the goal; else "NO".
func against(v, goal, se float64) string {
	switch {
	case v <= goal:
		return "yes"
	case v-goal <= 2*se:
		return "NO, inside 2 SE"
	}
	return "NO"
}

func ns(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case math.Abs(v) >= 1e6:
		return fmt.Sprintf("%.2f ms", v/1e6)
	case math.Abs(v) >= 1e4:
		return fmt.Sprintf("%.1f µs", v/1e3)
	}
	return fmt.Sprintf("%.1f ns", v)
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func ratio(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.3f×", v)
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("±%.0f%%", 100*v/2)
}

// hotPairedUnit is the unit of the paired hot-path run's difference to sqlmw-null of each
// variant of ours, per step of the benchmark (a query, a Next): "" for the others.
func hotPairedUnit(variant, step string) string {
	switch variant {
	case "ours-on":
		return "on-null-ns/" + step
	case "ours-off":
		return "off-null-ns/" + step
	}
	return ""
}

// hotBenches are the hot path's benchmarks, in report order; step names the unit of their
// paired run ("" for none).
var hotBenches = []struct{ name, label, step string }{
	{"BenchmarkHotPathQuery", "per query", "query"},
	{"BenchmarkHotPathNext", "per Rows.Next", "next"},
	{"BenchmarkHotPathQueryParallel", "per query, all CPUs", ""},
}

// hotPath: the in-memory fake, four ways; ours against sqlmw's NullInterceptor.
func (r report) hotPath() {
	t := table.NewWriter()
	t.AppendHeader(table.Row{"benchmark", "variant", "time/op", "allocs/op", "B/op", "× raw", "over sqlmw-null", "goal", "holds"})
	for _, b := range hotBenches {
		raw, null := b.name+"/raw", b.name+"/sqlmw-null"
		for _, v := range []string{"raw", "sqlmw-null", "ours-on", "ours-off"} {
			name := b.name + "/" + v
			row := table.Row{b.label, v, ns(r.res.median(name, "ns/op")), num(r.res.median(name, "allocs/op")),
				num(r.res.median(name, "B/op")), ratio(r.res.ratio(name, raw, "ns/op"))}
			dns, dal := r.res.diff(name, null, "ns/op"), r.res.diff(name, null, "allocs/op")
			over, goal, ok := fmt.Sprintf("%+.0f ns, %+.0f allocs", dns, dal), "", ""
			// Per query and per Next the goals are judged on the paired run (the variants
			// in turns, at the same moments): ours-on's difference, ours-off's ratio to
			// sqlmw-null; the sub-benchmarks' figures are shown beside them.
			p := r.res.median(b.name+"/paired", hotPairedUnit(v, b.step))
			if !math.IsNaN(p) {
				over = fmt.Sprintf("%+.0f ns (paired; sequential %+.0f ns), %+.0f allocs", p, dns, dal)
				if v == "ours-on" {
					dns = p
				}
			}
			switch {
			case v == "raw" || v == "sqlmw-null":
				over = ""
			case v == "ours-on" && b.name == "BenchmarkHotPathNext":
				goal, ok = "≤ +20 ns, 0 allocs", holds(dns <= 20 && r.res.median(name, "allocs/op") == 0)
			case v == "ours-on" && b.step == "":
				// Wall time per query with every CPU busy: a CPU cost of up to NumCPU times
				// that. Shown, not judged: the goal is per query.
				over = fmt.Sprintf("%+.0f ns of wall time (up to %+.0f ns of CPU over %d CPUs), %+.0f allocs", dns, dns*float64(runtime.NumCPU()), runtime.NumCPU(), dal)
			case v == "ours-on":
				goal, ok = "≤ +1 µs, ≤ +8 allocs", holds(dns <= 1000 && dal <= 8)
			case v == "ours-off":
				q := r.res.ratio(name, null, "ns/op")
				over = fmt.Sprintf("%s, %+.0f allocs", ratio(q), dal)
				if pq := r.res.unitRatio(b.name+"/paired", "ours-off-ns/"+b.step, "sqlmw-null-ns/"+b.step); !math.IsNaN(p) && !math.IsNaN(pq) {
					over = fmt.Sprintf("%s, %+.0f ns (paired; sequential %s), %+.0f allocs", ratio(pq), p, ratio(q), dal)
					q = pq
				}
				goal, ok = "≈ sqlmw-null (≤ 1.05×)", holds(q <= 1.05 && dal <= 0)
			}
			row = append(row, over, goal, ok)
			t.AppendRow(row)
		}
		t.AppendSeparator()
	}
	for _, f := range hotBenches {
		if n := r.res.median(f.name+"/paired", "null2-null-ns/"+f.step); f.step != "" && !math.IsNaN(n) {
			t.AppendRow(table.Row{f.label, "sqlmw-null, 2nd instance", "", "", "", "", fmt.Sprintf("%+.1f ns (paired: the noise floor)", n), "", ""})
		}
	}
	r.render("Hot path: in-memory driver fake, no network (sqlmw-null: sqlmw with NullInterceptor)", t)
}

// endToEnd: the local warehouse, four ways; ratios against the raw driver. The goals
// against the raw driver are judged on the paired ratios (the four variants measured in
// turns, at the same moments), shown with their spread over the rounds, and with the
// ratio of a second raw instance to the first as the noise floor (and, paired only too,
// the raw driver under sqlmw's NullInterceptor: the floor of any sqlmw interceptor); the sequential sub-benchmarks' ratios of
// time (with the spread of the raw driver's time over the rounds) and of the process's
// CPU time per op (client and warehouse together) are shown beside them. "No slower than
// the built-in telemetry" is judged both ways: in CPU per op, which counts the work each
// does in the background (a paired run spreads that over every variant alike), and in
// the paired ratio, which counts the work on the query's own path. A paired ratio is
// shown in time, with its standard error over the run's turns, and in the process's CPU
// time during the variant's ops; a paired goal missed by no more than twice that error
// is marked so (see against).
func (r report) endToEnd() {
	t := table.NewWriter()
	t.AppendHeader(table.Row{"workload", "variant", "time/op", "allocs/op", "× raw sequential", "CPU × raw sequential", "× raw paired", "goal", "holds"})
	for _, w := range []struct {
		name, label string
		perOp       float64 // queries per op
		onGoal      float64
	}{
		{"BenchmarkE2ESmallQuery", "SELECT 1", 1, 1.03},
		{"BenchmarkE2EConcurrent8", "SELECT 1, 8 clients (per query)", 8, 1.03},
		{"BenchmarkE2EInline100k", "100k rows inline", 1, 1.02},
		{"BenchmarkE2ECloudFetch1M", "1M rows CloudFetch", 1, 1.02},
	} {
		raw, paired := w.name+"/raw", w.name+"/paired"
		for _, v := range []struct{ name, unit string }{
			{"raw", ""}, {"wrapped-on", "on/raw"}, {"wrapped-off", "off/raw"}, {"builtin-on", "builtin/raw"},
			{"sqlmw-null", "null/raw"}, {"raw, 2nd instance", "raw2/raw"},
		} {
			name := w.name + "/" + v.name
			seq := ratio(r.res.ratio(name, raw, "ns/op"))
			cpu := ratio(r.res.ratio(name, raw, "cpu-ns/op"))
			switch v.name {
			case "raw":
				seq = "1 " + pct(r.res.spread(name, "ns/op")) + " noise"
				cpu = ns(r.res.median(name, "cpu-ns/op")/w.perOp) + " CPU"
			case "sqlmw-null", "raw, 2nd instance": // paired only: the floor of any sqlmw interceptor; the run's noise floor
				seq, cpu = "", ""
			}
			pq, pairedCell := 1.0, "1"
			if v.unit != "" {
				pq = r.res.median(paired, v.unit)
				pairedCell = ratio(pq)
				if sp := r.res.spread(paired, v.unit); !math.IsNaN(sp) {
					pairedCell += " " + pct(sp)
				}
				if se := r.res.median(paired, v.unit+"-se"); !math.IsNaN(se) {
					pairedCell += fmt.Sprintf(", SE %.1f %%", 100*se)
				}
				if c := r.res.median(paired, v.unit+"-cpu"); !math.IsNaN(c) && c > 0 {
					pairedCell += ", CPU " + ratio(c)
				}
			}
			row := table.Row{w.label, v.name, ns(r.res.median(name, "ns/op") / w.perOp),
				num(math.Round(r.res.median(name, "allocs/op") / w.perOp)), seq, cpu, pairedCell}
			goal, ok := "", ""
			switch v.name {
			case "wrapped-on":
				// Against the built-in telemetry: what each costs the process in all
				// (the sequential runs' CPU time per op, client and warehouse, background
				// aggregation and export included) and per query while it runs (paired).
				cpuVs := r.res.ratio(name, w.name+"/builtin-on", "cpu-ns/op")
				vs, vsSE := r.res.median(paired, "on/builtin"), r.res.median(paired, "on/builtin-se")
				goal = fmt.Sprintf("≤ %.2f×; ≤ builtin-on: CPU %s, paired %s", w.onGoal, ratio(cpuVs), ratio(vs))
				if !math.IsNaN(vsSE) {
					goal += fmt.Sprintf(" (SE %.1f %%)", 100*vsSE)
				}
				ok = against(pq, w.onGoal, r.res.median(paired, v.unit+"-se")) + "; CPU " + holds(cpuVs <= 1) +
					", paired " + against(vs, 1, vsSE)
			case "wrapped-off":
				goal, ok = "≤ 1.01×", against(pq, 1.01, r.res.median(paired, v.unit+"-se"))
			}
			t.AppendRow(append(row, goal, ok))
		}
		t.AppendSeparator()
	}
	r.render("End to end: real driver, local warehouse over HTTP (builtin-on: the driver's own telemetry, enableTelemetry=true)", t)
}

// rowLoop: the time per row of reading a result through the real driver (Next and Scan),
// each variant against the raw driver, and a wrapper that only forwards: the floor of any
// layer between database/sql and the driver's rows.
func (r report) rowLoop() {
	const name = "BenchmarkE2ERowLoop"
	if r.res[name] == nil {
		return
	}
	t := table.NewWriter()
	t.AppendHeader(table.Row{"variant", "time/row", "over raw", "over forward"})
	for _, v := range []string{"raw", "wrapped-on", "wrapped-off", "builtin-on", "sqlmw-null", "forward", "raw2"} {
		over, fwd := "", ""
		if v != "raw" {
			over = fmt.Sprintf("%+.2f ns", r.res.median(name, v+"-raw-ns/row"))
		}
		if v != "raw" && v != "raw2" && v != "forward" {
			fwd = fmt.Sprintf("%+.2f ns", r.res.unitDiff(name, v+"-raw-ns/row", "forward-raw-ns/row"))
		}
		t.AppendRow(table.Row{v, ns(r.res.median(name, v+"-ns/row")), over, fwd})
	}
	r.render("Row loop: 100k inline rows read through the real driver, per row (forward: a layer that only passes Next on; raw2: a second raw driver, the noise floor)", t)
}

func (r report) throughput() {
	t := table.NewWriter()
	t.AppendHeader(table.Row{"benchmark", "rate", "time/op", "allocs/op", "goal", "holds"})
	ev := r.res.median("BenchmarkThroughput8Emitters", "events/s")
	// Events taken, not logs exported: with every CPU emitting, the one export goroutine
	// falls behind, and the logs a full queue drops are counted (shown beside the rate).
	dropped, exported := r.res.median("BenchmarkThroughput8Emitters", "dropped"), r.res.median("BenchmarkThroughput8Emitters", "logs-exported")
	rate := fmt.Sprintf("%.2f M events/s", ev/1e6)
	if dropped+exported > 0 {
		rate += fmt.Sprintf(" (logs: %.1f %% dropped for a full queue, the rest exported)", 100*dropped/(dropped+exported))
	}
	t.AppendRow(table.Row{"aggregator, 8 emitters", rate,
		ns(r.res.median("BenchmarkThroughput8Emitters", "ns/op")), num(r.res.median("BenchmarkThroughput8Emitters", "allocs/op")),
		"≥ 2 M events/s", holds(ev >= 2e6)})
	name := "BenchmarkExportToWarehouse"
	t.AppendRow(table.Row{"exporter → warehouse ingest, 100-log batches",
		fmt.Sprintf("%.0f batches/s (%.0f logs/s)", r.res.median(name, "batches/s"), r.res.median(name, "logs/s")),
		ns(r.res.median(name, "ns/op")), num(r.res.median(name, "allocs/op")), "", ""})
	r.render("Throughput", t)
}
