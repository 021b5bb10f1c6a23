package driver

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// Hosts holds the telemetry shared by the connections to a host: one exporter (with its
// circuit breaker, retry policy and feature-flag cache, as in the reference drivers) per host
// (and one of its own for a connector with its own transport or TLS settings), and over it
// one aggregator per distinct setting of the host's connectors (their telemetry_*
// parameters, auth type and workspace), everything reference counted. The host's first
// connector sets the exporter's retries, backoff and logger (see WithLogger); a later
// one's batch size and flush interval apply to its own statements. The registered driver owns one; tests make their
// own with NewHosts. The zero value holds no host and takes none: a connector given one
// (WithHosts(&Hosts{})) exports nothing, every event counted in Stats().Dropped.Closed, and
// its Close, Len and Refs answer as an empty set's.
type Hosts struct {
	reg *exporter.Registry
}

// NewHosts returns an empty set of hosts; opts apply to every host's exporter. Its
// exporter.WithFlagTimeout (default 10 s) is also how long a connector waits for the
// server's feature flag before its events are dropped as undecided.
func NewHosts(opts ...exporter.Option) *Hosts {
	layer := exporter.WithLayer(func(_ exporter.Target, exp telemetry.Exporter) exporter.Layer {
		return &hostAggs{exp: exp, aggs: map[aggKey]*sharedAgg{}}
	})
	return &Hosts{reg: exporter.NewRegistry(append(opts[:len(opts):len(opts)], layer)...)}
}

// hostRef is a connector's reference to its host and to the aggregator of its settings.
type hostRef struct {
	handle *exporter.Handle
	aggs   *hostAggs
	key    aggKey
	agg    *aggregator.Aggregator
}

// get acquires the host (acq's WithHostOptions configure it if this creates it) and the
// host's aggregator for key, made with opts if new.
func (h *Hosts) get(host string, key aggKey, opts []aggregator.Option, acq ...exporter.AcquireOption) (*hostRef, error) {
	if h.reg == nil {
		// The zero Hosts (not made by NewHosts) has no registry: the connector joins no
		// host, as for a host that cannot receive telemetry, and counts what it drops.
		return nil, fmt.Errorf("dbtelemetry: Hosts not made by NewHosts: %w", exporter.ErrClosed)
	}
	handle, err := h.reg.Acquire(host, acq...)
	if err != nil {
		return nil, err
	}
	aggs := handle.Layer().(*hostAggs) // NewHosts' layer
	agg := aggs.acquire(key, opts)
	if agg == nil { // the host is closing
		_ = handle.Release(context.Background())
		return nil, exporter.ErrClosed
	}
	return &hostRef{handle: handle, aggs: aggs, key: key, agg: agg}, nil
}

// release drops the connector's aggregator (closing it, with a final flush, when it was
// the last connector of its setting) and then its host, bounded by ctx.
func (r *hostRef) release(ctx context.Context) error {
	err := r.aggs.release(ctx, r.key)
	if herr := r.handle.Release(ctx); err == nil {
		err = herr
	}
	return err
}

// Close flushes and closes every host's telemetry, bounded by ctx.
func (h *Hosts) Close(ctx context.Context) error {
	if h.reg == nil {
		return nil
	}
	return h.reg.Close(ctx)
}

// Len returns the number of host exporters with live connectors: a host's shared one and
// those of connectors with their own transport.
func (h *Hosts) Len() int {
	if h.reg == nil {
		return 0
	}
	return h.reg.Len()
}

// Refs returns the live references to the host key (scheme://host:port).
func (h *Hosts) Refs(key string) int {
	if h.reg == nil {
		return 0
	}
	return h.reg.Refs(key)
}

// aggKey is what makes two connectors' statements aggregate and export alike: their
// aggregator settings and what each log says of its connection. The exporter's own
// settings (retries, backoff) are zero in it: they are the host's.
type aggKey struct {
	cfg         telemetry.Config
	authType    string
	workspaceID int64
}

// hostAggs is a host's exporter.Layer: the aggregators of its connectors, one per aggKey,
// reference counted. The registry closes it (every aggregator, each with a final flush)
// before the host's exporter.
type hostAggs struct {
	exp    telemetry.Exporter
	mu     sync.Mutex
	aggs   map[aggKey]*sharedAgg
	closed bool
}

type sharedAgg struct {
	agg  *aggregator.Aggregator
	refs int
}

// acquire returns the aggregator of key, made with opts over the host's exporter if it
// is the first of its setting; nil once the host is closing.
func (h *hostAggs) acquire(key aggKey, opts []aggregator.Option) *aggregator.Aggregator {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	s := h.aggs[key]
	if s == nil {
		s = &sharedAgg{agg: aggregator.New(h.exp, opts...)}
		h.aggs[key] = s
	}
	s.refs++
	return s.agg
}

// release drops one reference to the aggregator of key; the last one closes it, bounded
// by ctx. After Close (which closed them all) there is none left to drop.
func (h *hostAggs) release(ctx context.Context, key aggKey) error {
	h.mu.Lock()
	s := h.aggs[key]
	if s == nil {
		h.mu.Unlock()
		return nil
	}
	if s.refs--; s.refs > 0 {
		h.mu.Unlock()
		return nil
	}
	delete(h.aggs, key)
	h.mu.Unlock()
	return s.agg.Close(ctx)
}

// Close closes every aggregator of the host, side by side, bounded by ctx: the registry
// calls it when the host's last connector left, or when Hosts.Close shuts every host
// down. The error joins those of the aggregators cut short.
func (h *hostAggs) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	aggs := make([]*aggregator.Aggregator, 0, len(h.aggs))
	for k, s := range h.aggs {
		aggs = append(aggs, s.agg)
		delete(h.aggs, k)
	}
	h.mu.Unlock()
	// Side by side, each with the whole deadline: one whose final flush hangs must not
	// spend the time of the others. Every one cut short is reported.
	errs := make([]error, len(aggs))
	var wg sync.WaitGroup
	for i, a := range aggs {
		wg.Go(func() { errs[i] = a.Close(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
