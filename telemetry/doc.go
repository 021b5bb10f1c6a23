// Package telemetry holds what every part of dbtelemetry shares: the typed events the
// driver wrapper emits (Event), the Emitter that hands them to a Sink without ever
// hurting the caller, the error classifier (Classify, IsOutcome), redaction of anything
// textual (Redact), the configuration defaults (Config), the system description sent
// with every log (NewSystemConfiguration) and the wire format (FrontendLog and friends)
// an Exporter ships.
//
// Imports point one way: the aggregator and the exporter import this package, never the
// reverse, and nothing here keeps package-level mutable state.
package telemetry

// ClientType is what we send as context.client_context.client_type. The Go driver's own
// built-in telemetry sends "golang"; a distinct value keeps our logs apart from it.
const ClientType = "golang-dbtelemetry"

// ClientVersion is this library's version, sent as context.client_context.client_version.
const ClientVersion = "0.1.0"

// DriverName is the system_configuration.driver_name of the wrapped driver.
const DriverName = "databricks-sql-go"
