package telemetry

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// SPEC §4a caps redacted text at 2 KiB. The literal, not MaxRedactedLen, is what the
// output is held to: a larger constant must fail here.
func TestRedactCapsOutputAtTwoKiB(t *testing.T) {
	const cap = 2048
	assert.Equal(t, cap, MaxRedactedLen)

	exact := strings.Repeat("abcd ", 409) + "abc" // 2048 bytes, nothing to redact
	assert.Equal(t, exact, Redact(exact), "a message of exactly 2 KiB stays whole")

	for _, n := range []int{cap + 1, 3000, 4096, 70 << 10} {
		in := strings.Repeat("word ", n/5+1)[:n]
		out := Redact(in)
		assert.LessOrEqual(t, len(out), cap, "input of %d bytes", n)
		assert.Greater(t, len(out), cap-32, "input of %d bytes: cut at the cap, not far below", n)
		assert.True(t, strings.HasSuffix(out, " [truncated]"), "input of %d bytes is marked truncated", n)
	}
}
