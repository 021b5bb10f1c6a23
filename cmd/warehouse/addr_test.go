package main

import (
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An -addr the command cannot serve on is refused with an error that names the flag and
// what it accepts, and exit status 2 (a bad argument) before a server starts: not a
// listener's error at exit status 1, nor, for an IPv6 host, a DSN the driver cannot parse.
func TestCommandRefusesABadAddr(t *testing.T) {
	for _, tc := range []struct{ name, addr string }{
		{"no port", "localhost"},
		{"port out of range", "127.0.0.1:99999"},
		{"port not a number", "127.0.0.1:port"},
		{"IPv6 literal", "[::1]:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCommand(t, "-addr", tc.addr)
			line, err := c.out.ReadString('\n')
			assert.ErrorIs(t, err, io.EOF, "a server started: %q", line)
			if err == nil {
				return // killed at cleanup
			}
			assert.Equal(t, 2, c.exitCode(t), "stderr: %s", c.stderr.String())
			assert.Contains(t, c.stderr.String(), "-addr", "the error names the flag")
			assert.Contains(t, c.stderr.String(), "host:port", "the error says what the flag accepts")
		})
	}
}

// An -addr whose port is taken fails (exit 1: the value is well formed) with an error
// that names the flag, and once only says it comes from the warehouse.
func TestCommandAddrInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	c := startCommand(t, "-addr", ln.Addr().String())
	line, err := c.out.ReadString('\n')
	require.ErrorIs(t, err, io.EOF, "a server started: %q", line)
	assert.Equal(t, 1, c.exitCode(t), "stderr: %s", c.stderr.String())
	assert.Contains(t, c.stderr.String(), "-addr "+ln.Addr().String())
	assert.NotContains(t, c.stderr.String(), "warehouse: warehouse:")
}
