package paired

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Every iteration runs every variant once; the orders vary, and one seed repeats them.
func TestTurns(t *testing.T) {
	run := func(seed uint64) [][]int {
		var orders [][]int
		b := &testing.B{N: 50}
		var cur []int
		Turns(b, 4, seed, func(j int) {
			cur = append(cur, j)
			if len(cur) == 4 {
				orders = append(orders, cur)
				cur = nil
			}
		})
		return orders
	}
	orders := run(1)
	if len(orders) != 50 {
		t.Fatalf("%d iterations, want 50", len(orders))
	}
	distinct := map[string]bool{}
	for _, o := range orders {
		s := slices.Sorted(slices.Values(o))
		if !slices.Equal(s, []int{0, 1, 2, 3}) {
			t.Fatalf("iteration ran %v, want each variant once", o)
		}
		distinct[fmtInts(o)] = true
	}
	if len(distinct) < 5 {
		t.Errorf("%d distinct orders in 50 iterations: not shuffled", len(distinct))
	}
	again := run(1)
	for i := range orders {
		if !slices.Equal(orders[i], again[i]) {
			t.Fatalf("iteration %d: %v then %v with one seed", i, orders[i], again[i])
		}
	}
}

func fmtInts(v []int) string {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte('0' + x)
	}
	return string(b)
}

// Seed follows SeedEnv, differs from one value of it to the next, and is random without it.
func TestSeed(t *testing.T) {
	t.Setenv(SeedEnv, "0")
	zero := Seed(5)
	if Seed(5) != zero {
		t.Fatal("one value of the variable, two seeds")
	}
	t.Setenv(SeedEnv, "1")
	if Seed(5) == zero {
		t.Fatal("rounds 0 and 1 have one seed")
	}
	t.Setenv(SeedEnv, "")
	if Seed(5) == Seed(5) {
		t.Fatal("without the variable, two runs have one seed")
	}
}

func TestRatio(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name      string
		a, c      []float64
		ratio, se float64
	}{
		{"identical", []float64{3, 5, 4}, []float64{3, 5, 4}, 1, 0},
		{"twice at every turn", []float64{2, 8, 6}, []float64{1, 4, 3}, 2, 0},
		{"spread around twice", []float64{1, 3}, []float64{1, 1}, 2, 1},
		{"one iteration", []float64{2}, []float64{1}, 2, nan},
		{"no reference time", []float64{1, 2}, []float64{0, 0}, nan, nan},
		{"the shorter decides", []float64{2, 2, 100}, []float64{1, 1}, 2, 0},
	}
	same := func(x, y float64) bool { return math.IsNaN(x) && math.IsNaN(y) || math.Abs(x-y) < 1e-12 }
	for _, tc := range cases {
		r, se := Ratio(tc.a, tc.c)
		if !same(r, tc.ratio) || !same(se, tc.se) {
			t.Errorf("%s: Ratio = %v ± %v, want %v ± %v", tc.name, r, se, tc.ratio, tc.se)
		}
	}
}

// The standard error is what the ratio's own spread is over many runs: 4000 simulated
// paired runs of 60 iterations (a machine whose speed drifts, both variants alike, and
// noise of 15 % per op), whose ratios spread as their mean error says, within 10 %.
func TestRatioErrorMatchesTheSpreadOfRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const runs, n = 4000, 60
	ratios := make([]float64, runs)
	var meanSE float64
	for k := range ratios {
		a, c := make([]float64, n), make([]float64, n)
		for i := range n {
			speed := 1 + 0.5*rng.Float64()
			c[i] = speed * (1 + 0.15*rng.NormFloat64())
			a[i] = 1.01 * speed * (1 + 0.15*rng.NormFloat64())
		}
		var se float64
		ratios[k], se = Ratio(a, c)
		meanSE += se / runs
	}
	var mean, v float64
	for _, r := range ratios {
		mean += r / runs
	}
	for _, r := range ratios {
		v += (r - mean) * (r - mean) / (runs - 1)
	}
	if sd := math.Sqrt(v); math.Abs(meanSE/sd-1) > 0.1 {
		t.Errorf("mean standard error %.4f, spread of the runs' ratios %.4f", meanSE, sd)
	}
	if math.Abs(mean-1.01) > 0.002 {
		t.Errorf("mean ratio %.4f, want 1.01", mean)
	}
}
