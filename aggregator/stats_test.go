package aggregator

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
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
