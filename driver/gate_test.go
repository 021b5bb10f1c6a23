package driver

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
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

// What the gate drops is counted: beyond maxUndecided while the flag is not known, and
// everything waiting or handed over once it is shut; nothing while the flag says off
// (telemetry is off then, nothing is lost).
func TestGateCountsWhatItDrops(t *testing.T) {
	g := newGate()
	for range maxUndecided + 6 {
		g.Handle(telemetry.Event{Kind: telemetry.KindChunk})
	}
	assert.Equal(t, int64(6), g.dropped.Load())
	g.shut()
	g.Handle(telemetry.Event{Kind: telemetry.KindChunk})
	assert.Equal(t, int64(maxUndecided+1), g.shutOut.Load(), "those waiting, then the newcomer")

	off := newGate()
	off.answer(1, false)
	off.Handle(telemetry.Event{Kind: telemetry.KindChunk})
	assert.Zero(t, off.dropped.Load()+off.shutOut.Load())
}
