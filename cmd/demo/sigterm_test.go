//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSigterm stops the run as a service manager does, with SIGTERM caught by the
// same signal.NotifyContext as main's: the demo stops as on Ctrl-C, and its report
// names the signal.
func TestSigterm(t *testing.T) {
	t.Setenv(envDSN, "")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	time.AfterFunc(1500*time.Millisecond, func() { _ = syscall.Kill(syscall.Getpid(), syscall.SIGTERM) })
	var stdout, stderr bytes.Buffer
	code, res := runDemo(ctx, []string{"-duration", "60s"}, &stdout, &stderr, cheaperScan)
	require.Equal(t, exitInterrupted, code, "stderr:\n%s", stderr.String())
	require.NotNil(t, res)
	require.NotNil(t, res.report)
	assert.True(t, res.report.Interrupted)
	assert.Equal(t, "SIGTERM", res.report.InterruptedBy)
	assert.Contains(t, stdout.String(), "interrupted (SIGTERM): the report so far")
	assert.Contains(t, stdout.String(), "interrupted by SIGTERM: statements in flight were cancelled")
}

func TestInterruptedBy(t *testing.T) {
	sigterm, stopTerm := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stopTerm()
	require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGTERM))
	<-sigterm.Done()

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	other, cancelOther := context.WithCancelCause(context.Background())
	cancelOther(errors.New("budget spent"))

	for _, tc := range []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"SIGTERM through signal.NotifyContext", sigterm, "SIGTERM"},
		{"a plain cancel, as the tests' Ctrl-C", cancelled, "Ctrl-C"},
		{"another cause", other, "Ctrl-C"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, interruptedBy(tc.ctx))
		})
	}
}

// A -telemetry-out that cannot be written (a full disk: /dev/full) fails the run, and the
// report's note says the file was not written whole, not that it holds every log.
func TestTelemetryOutWriteFailureIsNoted(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full here")
	}
	t.Setenv(envDSN, "")
	var stdout, stderr bytes.Buffer
	code, res := runDemo(context.Background(), []string{"-queries", "40", "-json", "-telemetry-out", "/dev/full"}, &stdout, &stderr, cheaperScan)
	require.Equal(t, exitFailed, code, "stderr:\n%s", stderr.String())
	assert.Contains(t, stderr.String(), "write -telemetry-out")
	require.NotNil(t, res)
	require.NotNil(t, res.report)
	notes := strings.Join(res.report.Notes, "\n")
	assert.Contains(t, notes, "-telemetry-out /dev/full was not written whole")
	assert.NotContains(t, notes, "every log of every batch")
}
