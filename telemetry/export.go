package telemetry

import "context"

// Exporter ships batches of finished logs somewhere. An aggregator calls Export from its
// own goroutine, one call at a time; an exporter shared by several aggregators (one
// exporter given to several connectors) is called concurrently, and must be safe for it.
// Implementations must honour ctx and must not retain the slice, or the logs in it, after
// returning: like io.Writer's buffer, they are the caller's again, and the aggregator
// reuses them for its next batch. An exporter that keeps logs keeps clones
// (FrontendLog.Clone).
type Exporter interface {
	// Export sends one batch. An error means the batch was not delivered (after any
	// retries the implementation performs); the caller counts it and never retries it.
	Export(ctx context.Context, logs []*FrontendLog) error
	// Close releases what the exporter holds; it is bounded by ctx and idempotent.
	Close(ctx context.Context) error
}

// BreakerState is the state of an exporter's circuit breaker, as reported in stats.
type BreakerState string

// Circuit breaker states.
const (
	BreakerClosed   BreakerState = "closed"
	BreakerOpen     BreakerState = "open"
	BreakerHalfOpen BreakerState = "half-open"
)

// ExportStats are an exporter's counters, read by the aggregator's Stats.
type ExportStats struct {
	Batches         int64 // batches handed to Export
	BatchesFailed   int64 // batches not delivered after retries
	BatchesRejected int64 // batches dropped at once because the breaker was open
	// LogsExported counts the logs delivered. For the HTTP exporter, those of the
	// batches the ingest acknowledged with a 2xx answer: the answer's own count
	// (numProtoSuccess) is logged at debug level, not checked, as the driver's built-in
	// telemetry does not read it either.
	LogsExported  int64
	Retries       int64        // extra attempts made after a failed one
	Breaker       BreakerState // current breaker state ("" when the exporter has none)
	BreakerOpened int64        // transitions into open
}

// StatsReporter is implemented by exporters that keep ExportStats.
type StatsReporter interface {
	ExportStats() ExportStats
}
