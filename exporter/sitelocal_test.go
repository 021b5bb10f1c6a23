package exporter

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The whole site-local prefix fec0::/10 (fec0:: to feff::) is refused as private, not
// only its first addresses; fe80::/10 just below it stays link-local.
func TestParseTargetRefusesAllOfSiteLocal(t *testing.T) {
	for _, host := range []string{"[fec0::1]", "[fed0::1]", "[feff:ffff::1]"} {
		_, err := ParseTarget(host, false)
		assert.ErrorIs(t, err, ErrForbiddenHost, host)
		assert.ErrorContains(t, err, "private address", host)
	}
	_, err := ParseTarget("[febf::1]", false)
	assert.ErrorContains(t, err, "link-local", "fe80::/10 ends at febf")
}
