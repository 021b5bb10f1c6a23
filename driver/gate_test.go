package driver

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The gate follows the latest ask of the server's flag: an answer to an earlier ask that
// arrives later does not stand; a shut gate stays shut.
func TestGateFollowsTheLatestAnswer(t *testing.T) {
	type answer struct {
		seq uint64
		on  bool
	}
	for _, tc := range []struct {
		name    string
		answers []answer
		shut    bool
		want    int32
	}{
		{"one answer, on", []answer{{1, true}}, false, gateOn},
		{"in order", []answer{{1, true}, {2, false}}, false, gateOff},
		{"off, then on again", []answer{{1, false}, {2, true}}, false, gateOn},
		{"an older answer arrives last", []answer{{2, false}, {1, true}}, false, gateOff},
		{"shut stays shut", []answer{{1, true}}, true, gateShut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate()
			if tc.shut {
				g.shut()
			}
			for _, a := range tc.answers {
				g.answer(a.seq, a.on)
			}
			assert.Equal(t, tc.want, g.state.Load())
		})
	}
}
