package driver

import (
	"context"
	"os"
	"sync"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// NewBaseTransport is newBaseTransport, for the external tests: the transport that
// mirrors the driver's own pooled one.
var NewBaseTransport = newBaseTransport

// LogCapture is an exporter that keeps the logs exported to it.
type LogCapture struct {
	mu   sync.Mutex
	logs []*telemetry.FrontendLog
}

// Export keeps a copy of logs: the aggregator reuses them once Export returns.
func (l *LogCapture) Export(_ context.Context, logs []*telemetry.FrontendLog) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, log := range logs {
		l.logs = append(l.logs, log.Clone())
	}
	return nil
}

// Close does nothing.
func (*LogCapture) Close(context.Context) error { return nil }

// Logs returns the logs exported so far, in order.
func (l *LogCapture) Logs() []*telemetry.FrontendLog {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*telemetry.FrontendLog(nil), l.logs...)
}

// LinksKept is the number of CloudFetch links c keeps for downloads to come.
func LinksKept(c *Connector) int {
	n := 0
	c.links.Range(func(any, any) bool {
		n++
		return true
	})
	return n
}

// TimesByCounter reports whether c's clock times the statements that start now by the
// CPU's counter (see startClock).
func TimesByCounter(c *Connector) bool {
	b := c.clock.base.Load()
	return b != nil && b.nsPerTick != 0
}

// CounterTrusted reports whether the kernel here times by the CPU's counter, and so
// whether a connector's clock may.
func CounterTrusted() bool { return tscTrusted(os.ReadFile) }

// Outbox returns the Outbox of the one connection c tracks (nil when it has none), and
// whether it is one of c's aggregator; nil and false when c tracks no connection or more
// than one.
func Outbox(c *Connector) (*aggregator.Outbox, bool) {
	c.connsMu.Lock()
	defer c.connsMu.Unlock()
	if len(c.conns) != 1 {
		return nil, false
	}
	for cs := range c.conns {
		return cs.box, cs.box.Of(c.agg.Load())
	}
	return nil, false
}

// FlagSaysOff reports whether the connector's gate holds the server's flag as off, for
// the external tests that must wait for that answer.
func FlagSaysOff(c *Connector) bool { return c.gate.off() }
