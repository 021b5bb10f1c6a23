package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
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

// A statement cut by the network fails with the driver's Thrift decoding chain in front
// of the cause. The report's example and the failed check name the cause, which a
// reader needs to tell a flaky gateway from a broken warehouse: it is at the end of a
// long message, past where the report shortens it.
func TestUnexpectedErrorNamesItsCause(t *testing.T) {
	// As the driver reports a reply an HTTP/2 gateway reset halfway.
	err := errors.New("databricks: execution error: failed to execute query: databricks: request error: " +
		"execute statement request error: *cli_service.TExecuteStatementResp error reading struct: " +
		"*cli_service.TSparkDirectResults error reading struct: *cli_service.TFetchResultsResp error reading struct: " +
		"*cli_service.TRowSet error reading struct: *cli_service.TRowSet field 0 read error: " +
		"stream error: stream ID 53; INTERNAL_ERROR; received from peer")
	const cause = "INTERNAL_ERROR; received from peer"
	mix := []sample{
		{kind: kindLookup, id: "a"},
		{kind: kindLookup, err: err, class: telemetry.Classify(err)},
	}
	rows := errorRows(mix, nil, func(int, string) int { return 0 })
	require.Len(t, rows, 1)
	assert.Contains(t, rows[0].Example, cause, "the report's example")

	var found bool
	for _, c := range checks(inputs{mix: mix}, &Report{}, nil) {
		if c.Name == "workload: only the statements meant to fail failed" {
			found = true
			assert.False(t, c.OK)
			assert.Contains(t, c.Detail, cause, "the check printed on stderr")
		}
	}
	require.True(t, found)
}

// Writes of the demo's concurrent workers that lose a conflict with one another, as a
// real warehouse reports them (a Delta commit conflict where the table has no row-level
// concurrency, SQLSTATE 2D521; a serialization failure, 40001), are retryable and fail as
// they may: the run does not fail for them, the errors table marks them expected, and the
// check says how many there were. A lookup rolled back is no write: it stays unexpected.
func TestWriteConflictsAreExpected(t *testing.T) {
	conflict := func(state string) error {
		return &fakeExecError{state: state, msg: "[DELTA_CONCURRENT_APPEND.WITHOUT_HINT] Transaction conflict detected. Please retry the operation. SQLSTATE: " + state}
	}
	const check = "workload: only the statements meant to fail failed"
	for _, tc := range []struct {
		name     string
		mix      []sample
		ok       bool
		detail   string
		expected bool
	}{
		{"a Delta commit conflict of an update", []sample{{kind: kindUpdate, err: conflict("2D521")}}, true, "1 write(s) lost a conflict", true},
		{"a serialization failure of an insert", []sample{{kind: kindInsert, err: conflict("40001")}}, true, "1 write(s) lost a conflict", true},
		{"a lookup rolled back", []sample{{kind: kindLookup, err: conflict("40001")}}, false, "1 statement(s) failed that should not have", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.mix {
				tc.mix[i].class = telemetry.Classify(tc.mix[i].err)
			}
			rows := errorRows(tc.mix, nil, func(int, string) int { return 0 })
			require.Len(t, rows, 1)
			assert.Equal(t, tc.expected, rows[0].Expected)
			for _, c := range checks(inputs{mix: tc.mix}, &Report{}, nil) {
				if c.Name == check {
					assert.Equal(t, tc.ok, c.OK, c.Detail)
					assert.Contains(t, c.Detail, tc.detail)
				}
			}
		})
	}
}

// fakeExecError carries a SQLSTATE as the driver's execution errors do.
type fakeExecError struct{ state, msg string }

func (e *fakeExecError) Error() string    { return e.msg }
func (e *fakeExecError) SQLState() string { return e.state }
