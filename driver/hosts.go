package driver

import (
	"context"
	"sync"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// Hosts holds the telemetry shared by every connection to a host: one exporter (with its
// circuit breaker and feature-flag cache) and one aggregator per host, reference
// counted. The registered driver owns one; tests make their own with NewHosts.
type Hosts struct {
	reg *exporter.Registry

	// acquire serialises Acquire so that the layer built for a new host gets the
	// acquiring connector's settings.
	acquire sync.Mutex
	next    []aggregator.Option
}

// NewHosts returns an empty set of hosts; opts apply to every host's exporter.
func NewHosts(opts ...exporter.Option) *Hosts {
	h := &Hosts{}
	opts = append(opts, exporter.WithLayer(func(_ exporter.Target, exp telemetry.Exporter) exporter.Layer {
		return aggregator.New(exp, h.next...)
	}))
	h.reg = exporter.NewRegistry(opts...)
	return h
}

// hostRef is a connector's reference to its host.
type hostRef struct {
	handle *exporter.Handle
	agg    *aggregator.Aggregator
}

func (h *Hosts) get(host string, aggOpts []aggregator.Option, acq ...exporter.AcquireOption) (*hostRef, error) {
	h.acquire.Lock()
	defer h.acquire.Unlock()
	h.next = aggOpts
	handle, err := h.reg.Acquire(host, acq...)
	h.next = nil
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
