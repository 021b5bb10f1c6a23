package exporter

import (
	"fmt"
	"testing"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// telemetry.StatusCoder's doc says the exporter's errors know their HTTP status for
// Classify: an export error classified must carry its status, and its name must be the
// status's (a 400 is an invalid request whatever its text says).
func TestClassifyReadsTheStatusOfAnExportError(t *testing.T) {
	for _, tt := range []struct {
		status   int
		name     string
		terminal bool
	}{
		{400, telemetry.ErrNameInvalidRequest, true},
		{401, telemetry.ErrNameAuth, true},
		{403, telemetry.ErrNamePermission, true},
		{404, telemetry.ErrNameNotFound, true},
		{429, telemetry.ErrNameRateLimit, false},
		{503, telemetry.ErrNameServer, false},
	} {
		err := fmt.Errorf("export: %w", &StatusError{StatusCode: tt.status})
		c := telemetry.Classify(err)
		if c.HTTPStatus != tt.status || c.Name != tt.name || c.Terminal != tt.terminal {
			t.Errorf("Classify(%v) = status %d, %s, terminal %v; want %d, %s, %v",
				err, c.HTTPStatus, c.Name, c.Terminal, tt.status, tt.name, tt.terminal)
		}
	}
}
