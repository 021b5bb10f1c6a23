package paired

import (
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
