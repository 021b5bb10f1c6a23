package telemetry

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSafeClock(t *testing.T) {
	fixed := time.Unix(1700000000, 0)
	tests := []struct {
		name   string
		now    func() time.Time
		panics int
		fixed  bool
	}{
		{"answers the clock", func() time.Time { return fixed }, 0, true},
		{"a panic answers time.Now", func() time.Time { panic("boom") }, 1, false},
		{"a nil-error panic too", func() time.Time { var m map[string]int; m["x"]++; return fixed }, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			before := time.Now()
			got := SafeClock(tt.now, func() { n++ })()
			assert.Equal(t, tt.panics, n)
			if tt.fixed {
				assert.True(t, got.Equal(fixed))
			} else {
				assert.False(t, got.Before(before), "time.Now, not the zero time")
			}
		})
	}
	assert.NotPanics(t, func() { SafeClock(func() time.Time { panic("boom") }, nil)() })
}
