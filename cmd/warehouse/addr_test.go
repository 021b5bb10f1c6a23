package main

import (
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A flag value the command cannot serve with is refused with an error that names the
// flag (and what it accepts), and exit status 2 (a bad argument) before a server starts:
// not a listener's error at exit status 1, nor a DSN that cannot work. An -addr the
// command cannot serve on, an IPv6 host among them (the driver cannot parse one in a
// DSN); a -token no HTTP header can carry (a blank at an end, as "$(cat file)" keeps of a
// file's "\r\n", or a control character), which the error does not quote.
func TestCommandRefusesBadValues(t *testing.T) {
	for _, tc := range []struct{ name, flag, value, says string }{
		{"no port", "-addr", "localhost", "host:port"},
		{"port out of range", "-addr", "127.0.0.1:99999", "host:port"},
		{"port not a number", "-addr", "127.0.0.1:port", "host:port"},
		{"IPv6 literal", "-addr", "[::1]:0", "host:port"},
		{"a token with a trailing blank", "-token", "dapi-secret ", "warehouse: -token: "},
		{"a token with a carriage return", "-token", "dapi-secret\r", "warehouse: -token: "},
		{"a token with a tab inside", "-token", "dapi\tsecret", "warehouse: -token: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCommand(t, tc.flag, tc.value)
			line, err := c.out.ReadString('\n')
			assert.ErrorIs(t, err, io.EOF, "a server started: %q", line)
			if err == nil {
				return // killed at cleanup
			}
			assert.Equal(t, 2, c.exitCode(t), "stderr: %s", c.stderr.String())
			assert.Contains(t, c.stderr.String(), tc.flag, "the error names the flag")
			assert.Contains(t, c.stderr.String(), tc.says)
			assert.NotContains(t, c.stderr.String(), "secret", "a token is not quoted")
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
