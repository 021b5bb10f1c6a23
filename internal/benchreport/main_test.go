package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The hot path's rows of ours, per query and per Rows.Next, show the paired run's
// difference to sqlmw-null beside the sequential figure, and their goals are judged on
// the paired run: here the sequential sub-benchmarks, run apart, put ours-on 1100 ns over
// sqlmw-null per query and 26 ns per Next, and ours-off 13 % over it per query and 11 %
// per Next, while measured in turns each holds its goal.
func TestHotPathJudgedOnPairedRuns(t *testing.T) {
	res := results{}
	res.parse(0, `
BenchmarkHotPathQuery/raw-2          1000   1000 ns/op   504 B/op   12 allocs/op
BenchmarkHotPathQuery/sqlmw-null-2   1000   1500 ns/op   648 B/op   15 allocs/op
BenchmarkHotPathQuery/ours-on-2      1000   2600 ns/op   932 B/op   17 allocs/op
BenchmarkHotPathQuery/ours-off-2     1000   1700 ns/op   504 B/op   12 allocs/op
BenchmarkHotPathQuery/paired-2        100   500000 ns/op   -0.5 null2-null-ns/query   -30 off-null-ns/query   900 on-null-ns/query   1470 ours-off-ns/query   2400 ours-on-ns/query   1000 raw-ns/query   1500 sqlmw-null-ns/query
BenchmarkHotPathNext/raw-2           1000   43 ns/op   0 B/op   0 allocs/op
BenchmarkHotPathNext/sqlmw-null-2    1000   44 ns/op   0 B/op   0 allocs/op
BenchmarkHotPathNext/ours-on-2       1000   70 ns/op   0 B/op   0 allocs/op
BenchmarkHotPathNext/ours-off-2      1000   49 ns/op   0 B/op   0 allocs/op
BenchmarkHotPathNext/paired-2         100   400000 ns/op   -0.03 null2-null-ns/next   -2.5 off-null-ns/next   -1.8 on-null-ns/next   41 ours-off-ns/next   41.7 ours-on-ns/next   41.1 raw-ns/next   43.5 sqlmw-null-ns/next
`)
	var out bytes.Buffer
	report{res: res, o: options{markdown: true}, out: &out}.hotPath()
	rows := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		for _, prefix := range []string{"| per query | ours-on |", "| per query | ours-off |", "| per Rows.Next | ours-on |", "| per Rows.Next | ours-off |"} {
			if strings.HasPrefix(line, prefix) {
				rows[prefix] = line
			}
		}
	}
	for _, tc := range []struct {
		prefix, shown, holds string
	}{
		{"| per query | ours-on |", "+900 ns (paired", "| yes |"},
		{"| per query | ours-off |", "-30 ns (paired", "| yes |"},
		{"| per Rows.Next | ours-on |", "-2 ns (paired", "| yes |"},
		{"| per Rows.Next | ours-off |", "-2 ns (paired", "| yes |"},
	} {
		row, ok := rows[tc.prefix]
		if !ok {
			t.Errorf("no %q row in\n%s", tc.prefix, out.String())
			continue
		}
		if !strings.Contains(row, tc.shown) {
			t.Errorf("the paired difference %q is not shown: %s", tc.shown, row)
		}
		if !strings.HasSuffix(strings.TrimSpace(row), tc.holds) {
			t.Errorf("want %s, judged on the paired run: %s", tc.holds, row)
		}
	}
	if !strings.Contains(out.String(), "| per Rows.Next | sqlmw-null, 2nd instance |") {
		t.Errorf("no noise-floor row for Rows.Next in\n%s", out.String())
	}
}

// A paired end-to-end goal is judged with the run's standard error: missed by less than
// twice it, the miss is marked as one the run cannot tell from the goal; missed by more,
// it is a plain NO. The errors are shown.
func TestEndToEndGoalsJudgedWithTheirErrors(t *testing.T) {
	res := results{}
	res.parse(0, `
BenchmarkE2EInline100k/raw-2          100   30000000 ns/op   20000000 cpu-ns/op   100 allocs/op
BenchmarkE2EInline100k/wrapped-on-2   100   30300000 ns/op   20100000 cpu-ns/op   101 allocs/op
BenchmarkE2EInline100k/wrapped-off-2  100   30000000 ns/op   20000000 cpu-ns/op   100 allocs/op
BenchmarkE2EInline100k/builtin-on-2   100   30100000 ns/op   20500000 cpu-ns/op   105 allocs/op
BenchmarkE2EInline100k/paired-2        10   200000000 ns/op   1.012 on/builtin   0.007 on/builtin-se   1.010 on/raw   0.008 on/raw-se   1.05 off/raw   0.01 off/raw-se   0.998 builtin/raw   0.01 builtin/raw-se   1.0 null/raw   1.0 raw2/raw
`)
	var out bytes.Buffer
	report{res: res, o: options{markdown: true}, out: &out}.endToEnd()
	var on, off string
	for _, line := range strings.Split(out.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "| 100k rows inline | wrapped-on |"):
			on = line
		case strings.HasPrefix(line, "| 100k rows inline | wrapped-off |"):
			off = line
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(on), "| yes; CPU yes, paired NO, inside 2 SE |") {
		t.Errorf("on: want ≤ 1.02× yes and against the built-in a miss inside 2 SE: %s", on)
	}
	for _, want := range []string{"1.010×, SE 0.8 %", "paired 1.012× (SE 0.7 %)"} {
		if !strings.Contains(on, want) {
			t.Errorf("on: %q not shown: %s", want, on)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(off), "| ≤ 1.01× | NO |") {
		t.Errorf("off: want a plain NO (1.05× is 4 SE over 1.01×): %s", off)
	}
}

// startWarehouse returns the first line the warehouse prints, and its stop ends the
// process, one that goes on printing and waits for Ctrl-C as cmd/warehouse does; a
// process that prints nothing is an error.
func TestStartWarehouse(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o700))
		return p
	}
	wh := script("wh", `trap 'echo bye; exit 0' INT
echo http://token:x@127.0.0.1:1/sql/1.0/warehouses/local
yes noise | head -c 200000
while :; do sleep 0.05; done
`)
	dsn, stop, err := startWarehouse(context.Background(), wh)
	require.NoError(t, err)
	assert.Equal(t, "http://token:x@127.0.0.1:1/sql/1.0/warehouses/local", dsn)
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not end the warehouse")
	}

	_, _, err = startWarehouse(context.Background(), script("mute", "exit 3\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "printed no DSN")
}

// -long lengthens the big results' paired runs alone: every other group keeps its time.
func TestLongLengthensTheBigResultsPairedRunsAlone(t *testing.T) {
	longer := map[string]string{
		"^BenchmarkE2EInline100k$/^paired$":   "3000x",
		"^BenchmarkE2ECloudFetch1M$/^paired$": "600x",
	}
	normal, long := benchGroups(false), benchGroups(true)
	require.Len(t, long, len(normal))
	seen := 0
	for i, g := range long {
		n := normal[i]
		require.Equal(t, n.bench, g.bench)
		require.Equal(t, n.section, g.section)
		want, ok := longer[g.bench]
		if !ok {
			require.Equal(t, n.benchtime, g.benchtime, g.bench)
			continue
		}
		seen++
		require.Equal(t, want, g.benchtime, g.bench)
		require.NotEqual(t, n.benchtime, g.benchtime, g.bench)
	}
	require.Equal(t, len(longer), seen)
}

// TestParseFlags: a value benchreport cannot use is refused, naming the flag and what it
// accepts, before anything is built; a typo in -only used to run nothing and exit 0.
func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string // "" when accepted
		check   func(t *testing.T, o options)
	}{
		{name: "defaults", check: func(t *testing.T, o options) {
			assert.Equal(t, 3, o.rounds)
			assert.Nil(t, o.only, "every section")
			assert.Empty(t, o.soak)
		}},
		{name: "sections", args: []string{"-only", "hot, outage"}, check: func(t *testing.T, o options) {
			assert.Equal(t, map[string]bool{"hot": true, "outage": true}, o.only)
			assert.True(t, o.wants("hot"))
			assert.False(t, o.wants("e2e"))
		}},
		{name: "soak", args: []string{"-soak", "90s"}, check: func(t *testing.T, o options) {
			assert.Equal(t, "1m30s", o.soak)
		}},
		{name: "unknown section", args: []string{"-only", "hotpath"}, wantErr: `-only "hotpath": unknown section "hotpath"; want a comma-separated list of hot, e2e, throughput, outage`},
		{name: "a plural", args: []string{"-only", "hot,outages"}, wantErr: `unknown section "outages"`},
		{name: "an empty entry", args: []string{"-only", ","}, wantErr: `unknown section ""`},
		{name: "soak without a unit", args: []string{"-soak", "90"}, wantErr: `-soak "90": want a positive duration`},
		{name: "soak negative", args: []string{"-soak", "-1s"}, wantErr: `-soak "-1s": want a positive duration`},
		{name: "no rounds", args: []string{"-rounds", "0"}, wantErr: "-rounds 0: must be at least 1"},
		{name: "a stray argument", args: []string{"hot"}, wantErr: `unexpected argument "hot"`},
		{name: "an unknown flag", args: []string{"-round", "2"}, wantErr: "flag provided but not defined: -round"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, o)
		})
	}
}

// A failed benchmark run loses nothing else: the later rounds run, the tables keep what
// the other runs measured (and what the failed run printed before it failed), and the
// report's error names the failed run. A cancelled report stops between runs.
func TestRunRoundsKeepsRoundsAroundAFailure(t *testing.T) {
	o := options{rounds: 3, only: map[string]bool{"throughput": true}}
	var runs []string
	res, err := runRounds(context.Background(), o, func(r int, g group) (string, error) {
		runs = append(runs, fmt.Sprintf("%d %s", r, g.bench))
		if g.pkg == "aggregator" {
			if r == 1 {
				return "BenchmarkThroughput8Emitters-2   10   100 ns/op\n--- FAIL: boom\n", errors.New("exit status 1")
			}
			return fmt.Sprintf("BenchmarkThroughput8Emitters-2   10   100 ns/op   %d events/s\n", (r+1)*1_000_000), nil
		}
		return fmt.Sprintf("BenchmarkExportToWarehouse-2   10   100 ns/op   %d batches/s\n", 600+r), nil
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "round 2: aggregator ^BenchmarkThroughput8Emitters$")
	assert.Len(t, runs, 6, "every run of every round: %v", runs)
	assert.Equal(t, 2e6, res.median("BenchmarkThroughput8Emitters", "events/s"), "rounds 1 and 3")
	assert.Equal(t, 601.0, res.median("BenchmarkExportToWarehouse", "batches/s"))
	assert.Len(t, res["BenchmarkThroughput8Emitters"], 3, "the failed run's completed benchmark is kept")

	ctx, cancel := context.WithCancel(context.Background())
	runs = nil
	_, err = runRounds(ctx, o, func(r int, g group) (string, error) {
		runs = append(runs, g.bench)
		cancel()
		return "", context.Canceled
	})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Len(t, runs, 1, "no run after the cancellation")
}
