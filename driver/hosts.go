package driver

import (
	"context"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/exporter"
)

// Hosts holds the telemetry shared by every connection to a host: one exporter (with its
// circuit breaker and feature-flag cache) and one aggregator per host, reference
// counted. The first connector of a host configures both. The registered driver owns
// one; tests make their own with NewHosts.
type Hosts struct {
	reg *exporter.Registry
}

// NewHosts returns an empty set of hosts; opts apply to every host's exporter.
func NewHosts(opts ...exporter.Option) *Hosts {
	return &Hosts{reg: exporter.NewRegistry(opts...)}
}

// hostRef is a connector's reference to its host.
type hostRef struct {
	handle *exporter.Handle
	agg    *aggregator.Aggregator
}

// get acquires the host; acq's WithHostOptions configure it if this creates it.
func (h *Hosts) get(host string, acq ...exporter.AcquireOption) (*hostRef, error) {
	handle, err := h.reg.Acquire(host, acq...)
	if err != nil {
		return nil, err
	}
	agg, _ := handle.Layer().(*aggregator.Aggregator)
	return &hostRef{handle: handle, agg: agg}, nil
}

// Close flushes and closes every host's telemetry, bounded by ctx.
func (h *Hosts) Close(ctx context.Context) error { return h.reg.Close(ctx) }

// Len returns the number of hosts with live connectors.
func (h *Hosts) Len() int { return h.reg.Len() }

// Refs returns the live references to the host key (scheme://host:port).
func (h *Hosts) Refs(key string) int { return h.reg.Refs(key) }
