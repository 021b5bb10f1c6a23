// Package ingesttest stands in for a remote telemetry ingest in benchmarks and tests:
// a light HTTP handler that reads each batch and acknowledges it, as the service does
// as far as a client can tell, and a RoundTripper that sends telemetry posts to it.
// Unlike the local warehouse's ingest it neither decodes nor records what it receives,
// so it costs the process running it next to nothing.
package ingesttest

import (
	"io"
	"net/http"
)

// Ack is the answer of a successful ingest.
const Ack = `{"errors":[],"numSuccess":1,"numProtoSuccess":1,"numRealtimeSuccess":1}`

// Handler reads the request body and acknowledges it with Ack.
func Handler(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, Ack)
}

// IsTelemetry reports whether req is a telemetry post (/telemetry-ext or
// /telemetry-unauth), whatever its host.
func IsTelemetry(req *http.Request) bool {
	p := req.URL.Path
	return p == "/telemetry-ext" || p == "/telemetry-unauth"
}

// Redirect is an http.RoundTripper that sends telemetry posts to Host (host:port) over
// plain http, whatever host and scheme they were addressed to, and every other request
// to Base unchanged.
type Redirect struct {
	Host string
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *Redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	if IsTelemetry(req) {
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host, req.Host = "http", t.Host, ""
	}
	return t.Base.RoundTrip(req)
}
