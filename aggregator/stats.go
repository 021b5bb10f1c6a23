package aggregator

import "github.com/dbtelemetry/dbtelemetry/telemetry"

// Stats is a snapshot of the aggregator's counters. Every log built is accounted for:
// Queued = Exported + Dropped.QueueFull + Dropped.ExportFailed + Dropped.Unfinished +
// Pending + the logs of the export in flight.
type Stats struct {
	// Received counts the events handed to Handle, including those then dropped.
	Received int64
	// Queued counts the logs built from events and put in the export queue.
	Queued int64
	// Exported counts the logs the exporter accepted.
	Exported int64
	// Dropped counts what was lost, by reason.
	Dropped Dropped
	// Evicted counts statements finished without their statement.complete; each still
	// produced its log.
	Evicted Evicted
	// Batches counts Export calls; BatchesFailed those that returned an error.
	Batches       int64
	BatchesFailed int64
	// Retried is the exporter's count of extra attempts (0 unless it reports stats).
	Retried int64
	// Breaker is the exporter's circuit breaker state ("" unless it reports stats).
	Breaker telemetry.BreakerState
	// Exporter holds the exporter's own counters when it implements telemetry.StatsReporter.
	Exporter telemetry.ExportStats
	// Pending is the number of logs awaiting export now.
	Pending int
	// OpenStatements is the number of statements being aggregated now.
	OpenStatements int
	// Outboxes is the number of open Outboxes (the driver keeps one per open connection
	// that has run a statement whose completion was its only event).
	Outboxes int
	// Panics counts recovered panics of what the caller supplied: the exporter (the batch
	// counts as failed), the logger, and the clock of WithClock (time.Now answers instead).
	Panics int64
}

// Dropped counts lost events and logs by reason.
type Dropped struct {
	// QueueFull: logs dropped because MaxPendingLogs was reached (oldest non-error first).
	QueueFull int64
	// ErrorLimit: retryable errors beyond MaxErrorsPerStatement on one statement.
	ErrorLimit int64
	// ExportFailed: logs in batches the exporter did not deliver (breaker open included).
	ExportFailed int64
	// Closed: events handed to Handle once Close stopped accepting them, after the
	// hand-over it begins with (see AddHandOver: what that hands over is still taken), and
	// logs of events racing with Close that arrived after the final flush; the driver's
	// Connector.Stats adds the events its connector dropped once closed (a connection
	// still in use at db.Close), and all those of a connector that can send none: its
	// driver calls another endpoint than its DSN's, or its host is one telemetry is never
	// sent to (a private address).
	Closed int64
	// Unfinished: logs still queued when Close's deadline cut the final flush short.
	Unfinished int64
	// Invalid: events with an unknown kind, or a statement.start or cloudfetch.chunk
	// without a statement id. (A statement.complete without one is still logged, alone:
	// it has nothing to aggregate with, and is no invalid event.)
	Invalid int64
	// Late: events of a statement whose log has gone: one evicted (its log went at the
	// eviction), such as the chunks and completion of Rows read for longer than
	// StatementTTL, or one a terminal error event finished, such as its completion when
	// its Rows close afterwards.
	Late int64
	// Undecided: events a connector dropped while it waited for the server's feature flag:
	// those beyond the 1024 it keeps meanwhile, and those it kept when the answer was off
	// or the fetch failed (the flag timeout passed, the endpoint could not be reached: the
	// host's last known answer, off when there is none, then stands). Those still waiting
	// when the connector closed, its fetch cut short, are Closed. The driver's
	// Connector.Stats fills it in.
	Undecided int64
}

// Total returns the sum of every reason.
func (d Dropped) Total() int64 {
	return d.QueueFull + d.ErrorLimit + d.ExportFailed + d.Closed + d.Unfinished + d.Invalid + d.Late + d.Undecided
}

// Evicted counts statements finished early, by reason.
type Evicted struct {
	// Capacity: the oldest statement, evicted because MaxOpenStatements was reached.
	Capacity int64
	// TTL: statements open longer than StatementTTL.
	TTL int64
	// Close: statements still open when Close was called.
	Close int64
}

// Total returns the sum of every reason.
func (e Evicted) Total() int64 { return e.Capacity + e.TTL + e.Close }
