package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// cutProxy forwards TCP connections to a warehouse; cut closes every connection it
// carries, as a network gone does.
type cutProxy struct {
	ln    net.Listener
	to    string
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newCutProxy(t *testing.T, to string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln, to: to}
	p.wg.Go(p.serve)
	t.Cleanup(func() { _ = ln.Close(); p.cut(); p.wg.Wait() })
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.to)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Go(func() { pipe(s, c) })
		p.wg.Go(func() { pipe(c, s) })
	}
}

func pipe(to, from net.Conn) {
	_, _ = io.Copy(to, from)
	_ = to.Close()
	_ = from.Close()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// Ctrl-C after the warehouse stopped answering (a network gone quiet, a gateway that
// holds the calls) still ends the run promptly with the report so far, and exits 130:
// closing the pool must not wait for CloseSession calls that the driver bounds only by
// its 15-minute HTTP client timeout, and retries.
func TestInterruptWithHungWarehouse(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	p := newCutProxy(t, srv.Addr())
	before := goleak.IgnoreCurrent() // the warehouse's and the proxy's
	t.Setenv(envDSN, strings.Replace(srv.DSN(), srv.Addr(), p.ln.Addr().String(), 1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelled := make(chan time.Time, 1)
	go func() {
		// Once the workload runs, the warehouse stops answering; then Ctrl-C.
		for len(srv.Statements()) < 10 {
			time.Sleep(20 * time.Millisecond)
		}
		srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Hang: true, Times: -1})
		time.Sleep(300 * time.Millisecond)
		cancelled <- time.Now()
		cancel()
	}()
	var stdout, stderr bytes.Buffer
	done := make(chan struct{})
	var code int
	var res *outcome
	go func() {
		defer close(done)
		code, res = runDemo(ctx, []string{"-duration", "60s", "-concurrency", "2"}, &stdout, &stderr, cheaperScan)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		// The network comes back: the driver's retries of the hung calls get through.
		srv.ClearFaults(warehouse.GroupThrift)
		p.cut()
		<-done
		t.Fatalf("the run did not end within a minute; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	// The table's DROP has 10 s of its own; closing the pool and the telemetry a few more.
	assert.Less(t, time.Since(<-cancelled), 25*time.Second, "ends promptly after Ctrl-C")
	assert.Equal(t, exitInterrupted, code, "stderr:\n%s", stderr.String())
	require.NotNil(t, res)
	require.NotNil(t, res.report)
	assert.True(t, res.report.Interrupted)
	assert.Contains(t, stdout.String(), "interrupted (Ctrl-C): the report so far")
	assert.Contains(t, strings.Join(res.report.Notes, "\n"), "closing the pool")

	// The network comes back: what the demo stopped waiting for (the pool's close, the
	// statements in flight) ends, before the next test and the leak check.
	srv.ClearFaults(warehouse.GroupThrift)
	p.cut()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := goleak.Find(append(httpGoroutines, before,
			// The warehouse's handlers (hung ones too) and the proxy's pipes, closed afterwards.
			goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
			goleak.IgnoreAnyFunction("github.com/dbtelemetry/dbtelemetry/cmd/demo.pipe"))...)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("what the demo left behind never ended: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// httpGoroutines are those TestMain's leak check ignores.
var httpGoroutines = []goleak.Option{
	goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreTopFunction("net/http.setRequestCancel.func4"),
	goleak.IgnoreTopFunction("net/http.awaitLegacyCancel"),
}
