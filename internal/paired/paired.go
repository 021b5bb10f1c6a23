// Package paired runs the variants of a benchmark in turns, in one process, so that their
// ratios come from the same moments on a machine whose speed drifts.
package paired

import (
	"math/rand/v2"
	"testing"
)

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
