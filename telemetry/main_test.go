package telemetry

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The driver's HTTP client (real-driver classification tests) leaves its request
		// timers running after a failed open-session call; they are the driver's, not ours.
		goleak.IgnoreTopFunction("net/http.setRequestCancel.func4"),
	)
}
