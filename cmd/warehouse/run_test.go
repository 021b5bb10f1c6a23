package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runMainArgs, set in the environment, makes the test binary run main with these
// arguments (a JSON list) instead of the tests: a test runs the command as a process.
const runMainArgs = "WAREHOUSE_TEST_MAIN_ARGS"

func TestMain(m *testing.M) {
	if encoded, ok := os.LookupEnv(runMainArgs); ok {
		var args []string
		if err := json.Unmarshal([]byte(encoded), &args); err != nil {
			panic(err)
		}
		os.Args = append([]string{"warehouse"}, args...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// command is the warehouse command run with args, started, with its standard output
// read line by line; the process is killed at the end of the test if still running.
type command struct {
	cmd    *exec.Cmd
	out    *bufio.Reader
	stderr strings.Builder
}

func startCommand(t *testing.T, args ...string) *command {
	t.Helper()
	a, err := json.Marshal(args)
	require.NoError(t, err)
	c := &command{cmd: exec.Command(os.Args[0])}
	c.cmd.Env = append(os.Environ(), runMainArgs+"="+string(a))
	c.cmd.Stderr = &c.stderr
	stdout, err := c.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, c.cmd.Start())
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	})
	c.out = bufio.NewReader(stdout)
	return c
}

// exitCode waits for the command to end and returns its exit status.
func (c *command) exitCode(t *testing.T) int {
	t.Helper()
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

// The command passes its flags to the server and prints a DSN that works: the real
// driver reads a result there by CloudFetch at the address, token and threshold given,
// in one ExecuteStatement with no status poll within the async threshold given;
// the feature-flag endpoint says what -telemetry-flag set. On SIGTERM it closes the
// server and exits 0: it runs until stopped.
func TestCommandServesAndStops(t *testing.T) {
	// A port free a moment ago: the command listens where -addr says, not on a random one.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	c := startCommand(t, "-addr", addr, "-token", "dapi-test", "-telemetry-flag=false",
		"-cloudfetch-threshold", "10", "-async-threshold", "1m", "-session-idle", "0")
	line, err := c.out.ReadString('\n')
	require.NoError(t, err, "stderr: %s", c.stderr.String())
	dsn, err := url.Parse(strings.TrimSpace(line))
	require.NoError(t, err)
	pass, _ := dsn.User.Password()
	assert.Equal(t, "dapi-test", pass)
	require.Equal(t, addr, dsn.Host)

	port, err := strconv.Atoi(dsn.Port())
	require.NoError(t, err)
	calls := &countCalls{}
	connector, err := dbsql.NewConnector(dbsql.WithServerHostname("http://"+dsn.Hostname()), dbsql.WithPort(port),
		dbsql.WithHTTPPath(dsn.Path), dbsql.WithAccessToken(pass), dbsql.WithTransport(calls))
	require.NoError(t, err)
	db := sql.OpenDB(connector)
	rows, err := db.Query("SELECT range FROM range(100)")
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		n++
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.NoError(t, db.Close())
	assert.Equal(t, 100, n)
	assert.Positive(t, calls.downloads.Load(), "100 rows, over the threshold of 10: CloudFetch")
	assert.Zero(t, calls.polls.Load(), "finished within the async threshold: no GetOperationStatus")

	req, err := http.NewRequest(http.MethodGet, "http://"+dsn.Host+"/api/2.0/connector-service/feature-flags/GOLANG/1.15.1", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer dapi-test")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), `"value":"false"`)

	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, c.exitCode(t), "stderr: %s", c.stderr.String())
}

// countCalls counts the CloudFetch downloads and the GetOperationStatus calls it carries.
type countCalls struct{ downloads, polls atomic.Int32 }

func (c *countCalls) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/cloudfetch/") {
		c.downloads.Add(1)
	}
	if r.Body != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		_ = r.Body.Close()
		if bytes.Contains(body, []byte("GetOperationStatus")) {
			c.polls.Add(1)
		}
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	return http.DefaultTransport.RoundTrip(r)
}

// Arguments the command cannot use are refused with exit status 2 before a server starts
// (no DSN printed): a bad flag value, a stray argument (after which the flag package
// stops, so the flags that follow it would be dropped silently) and negative durations
// and row counts. -h exits 0.
func TestCommandRefusesBadArguments(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"help", []string{"-h"}, 0},
		{"bad duration", []string{"-async-threshold", "soon"}, 2},
		{"unknown flag", []string{"-port", "8080"}, 2},
		{"stray argument", []string{"127.0.0.1:8080"}, 2},
		{"flags after a stray argument", []string{"serve", "-token", "dapi-test"}, 2},
		{"negative async threshold", []string{"-async-threshold", "-1s"}, 2},
		{"negative cloudfetch threshold", []string{"-cloudfetch-threshold", "-1"}, 2},
		{"negative session idle", []string{"-session-idle", "-1h"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCommand(t, tc.args...)
			line, err := c.out.ReadString('\n')
			assert.ErrorIs(t, err, io.EOF, "a server started: %q", line)
			assert.Empty(t, line, "no DSN")
			if err == nil {
				return // killed at cleanup
			}
			assert.Equal(t, tc.code, c.exitCode(t), "stderr: %s", c.stderr.String())
		})
	}
}
