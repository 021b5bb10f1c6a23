// Package paired runs the variants of a benchmark in turns, in one process, so that their
// ratios come from the same moments on a machine whose speed drifts.
package paired

import (
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// SeedEnv names the environment variable that picks the turn orders of a run (see
// Seed): benchreport sets it to the round's number, so that every round has orders of
// its own and a report can be replayed.
const SeedEnv = "DBTELEMETRY_PAIRED_SEED"

// Seed is the seed of a benchmark's turns: base mixed with SeedEnv when it is set (an
// unsigned integer), else with a random number, so that runs do not replay the same
// orders and an order effect is averaged over them rather than repeated.
func Seed(base uint64) uint64 {
	if v, err := strconv.ParseUint(os.Getenv(SeedEnv), 10, 64); err == nil {
		return base ^ (v+1)*0x9e3779b97f4a7c15
	}
	return base ^ rand.Uint64()
}

// Turns calls each(j) once for every variant j per iteration, b.N iterations, in a new
// random order each time (so that no variant always follows the same one): the same
// orders in every run of one seed.
func Turns(b *testing.B, variants int, seed uint64, each func(j int)) {
	order := make([]int, variants)
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(seed, seed+1))
	for range b.N {
		rng.Shuffle(len(order), func(x, y int) { order[x], order[y] = order[y], order[x] })
		for _, j := range order {
			each(j)
		}
	}
}

// Ratio returns the ratio of the sums of a and c, a variant's and its reference's times
// per iteration of one paired run (the same iterations, so a[i] and c[i] were measured
// at the same moments), and its standard error: by the delta method, from the spread of
// a[i] − ratio·c[i] over the iterations. The error is NaN with fewer than two
// iterations, and the ratio too when c sums to 0.
func Ratio(a, c []float64) (ratio, se float64) {
	n := min(len(a), len(c))
	var sa, sc float64
	for i := range n {
		sa += a[i]
		sc += c[i]
	}
	if sc == 0 {
		return math.NaN(), math.NaN()
	}
	ratio = sa / sc
	if n < 2 {
		return ratio, math.NaN()
	}
	var ss float64
	for i := range n {
		d := a[i] - ratio*c[i]
		ss += d * d
	}
	mean := sc / float64(n)
	return ratio, math.Sqrt(ss/float64(n-1)/float64(n)) / mean
}

// WarehouseEnv names the environment variable that points the end-to-end benchmarks at
// a warehouse outside their process (its DSN): benchreport -warehouse sets it. Unset,
// each benchmark starts a local warehouse in its own process.
const WarehouseEnv = "DBTELEMETRY_BENCH_WAREHOUSE"
