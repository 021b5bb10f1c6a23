// Package exporter ships telemetry batches (SPEC §3–§5).
//
// It holds two telemetry.Exporter implementations and the per-host machinery the
// driver shares between connections:
//
//   - HTTPExporter POSTs batches to the DSN host's /telemetry-ext (or /telemetry-unauth
//     when no credentials are usable), with a failsafe-go retry policy inside a
//     failsafe-go circuit breaker that is kept per host.
//   - FeatureFlagCache reads the server-side telemetry switch through the same breaker.
//   - Registry hands out one reference-counted HTTPExporter (with its flag cache and an
//     optional Layer, e.g. an aggregator) per normalised host, and one of its own to an
//     owner that needs one (WithOwner).
//   - JSONLinesExporter writes one log per line to an io.Writer, for local debugging.
//
// The telemetry target is only ever the DSN's own host, validated by ParseTarget
// (SPEC §4a): nothing in a server response can redirect it.
package exporter
