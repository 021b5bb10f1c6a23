package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A workload statement that fails where it is not expected to (here every CloudFetch
// download of the scans answers 500) is a failed workload: the report lists it as
// unexpected ("expected: NO") and the demo exits 1, not 0.
func TestUnexpectedErrorsExit1(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	srv.InjectFaults(warehouse.GroupCloudFetch, warehouse.Fault{Status: 500, Times: -1})
	t.Setenv(envDSN, srv.DSN())
	var stdout, stderr bytes.Buffer
	code, res := runDemo(context.Background(), []string{"-queries", "4", "-concurrency", "2", "-json"}, &stdout, &stderr, cheaperScan)
	require.NotNil(t, res)
	var r Report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &r))
	unexpected := 0
	for _, e := range r.Errors {
		if !e.Expected {
			unexpected += e.Count
		}
	}
	require.Positive(t, unexpected, "the scans failed: %+v", r.Errors)
	require.Equal(t, exitFailed, code, "a workload with unexpected errors is a failed run; stderr:\n%s", stderr.String())
}
