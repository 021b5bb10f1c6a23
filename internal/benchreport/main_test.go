package main

import (
	"bytes"
	"strings"
	"testing"
)

// The hot path's per-query row of ours-off shows the paired run's difference to
// sqlmw-null beside the sequential ratio, and its goal is judged on the paired run, as
// ours-on's is: here the sequential sub-benchmarks, run apart, put it 13 % over
// sqlmw-null, while measured in turns it is 2 % under.
func TestHotPathOffPerQueryPaired(t *testing.T) {
	res := results{}
	res.parse(0, `
BenchmarkHotPathQuery/raw-2          1000   1000 ns/op   504 B/op   12 allocs/op
BenchmarkHotPathQuery/sqlmw-null-2   1000   1500 ns/op   648 B/op   15 allocs/op
BenchmarkHotPathQuery/ours-on-2      1000   2500 ns/op   932 B/op   17 allocs/op
BenchmarkHotPathQuery/ours-off-2     1000   1700 ns/op   504 B/op   12 allocs/op
BenchmarkHotPathQuery/paired-2        100   500000 ns/op   -0.5 null2-null-ns/query   -30 off-null-ns/query   900 on-null-ns/query   1470 ours-off-ns/query   2400 ours-on-ns/query   1000 raw-ns/query   1500 sqlmw-null-ns/query
`)
	var out bytes.Buffer
	report{res: res, o: options{markdown: true}, out: &out}.hotPath()
	var row string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "| per query | ours-off |") {
			row = line
		}
	}
	if row == "" {
		t.Fatalf("no per-query ours-off row in\n%s", out.String())
	}
	if !strings.Contains(row, "-30 ns (paired") {
		t.Errorf("the paired difference is not shown: %s", row)
	}
	if !strings.HasSuffix(strings.TrimSpace(row), "| yes |") {
		t.Errorf("the goal is not judged on the paired run: %s", row)
	}
}
