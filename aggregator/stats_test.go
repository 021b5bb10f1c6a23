package aggregator

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// Total sums every reason of Dropped and of Evicted, one added later included: each field
// is set to a distinct power of two, so any reason left out shows in the sum (SPEC §2:
// every drop and eviction is counted and visible).
func TestTotalsSumEveryReason(t *testing.T) {
	for _, counts := range []interface{ Total() int64 }{&Dropped{}, &Evicted{}} {
		v := reflect.ValueOf(counts).Elem()
		var want int64
		for i := range v.NumField() {
			v.Field(i).SetInt(1 << i)
			want += 1 << i
		}
		assert.Equal(t, want, counts.Total(), "%T", counts)
	}
}

// panickyStats is an exporter whose ExportStats panics.
type panickyStats struct{ fakeExporter }

func (*panickyStats) ExportStats() telemetry.ExportStats { panic("stats") }

// A caller's exporter whose ExportStats panics leaves Stats' exporter figures zero and the
// panic counted: Stats itself never panics.
func TestStatsSurviveAPanickingExporter(t *testing.T) {
	a := newTest(t, &panickyStats{})
	var s Stats
	require.NotPanics(t, func() { s = a.Stats() })
	require.Equal(t, telemetry.ExportStats{}, s.Exporter)
	require.Equal(t, int64(1), s.Panics)
}
