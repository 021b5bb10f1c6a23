package driver

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// What the hot path allocates per statement or per Thrift call stays within its size
// class: a field that takes a type past it costs every query the next class's size.
func TestHotPathAllocationSizes(t *testing.T) {
	tests := []struct {
		name      string
		size, max uintptr
	}{
		{"stmtState", unsafe.Sizeof(stmtState{}), 224},
		{"replyBody", unsafe.Sizeof(replyBody{}), 24},
	}
	for _, tt := range tests {
		assert.LessOrEqual(t, tt.size, tt.max, tt.name)
	}
}
