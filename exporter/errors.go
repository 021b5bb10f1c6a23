package exporter

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinel errors callers may test with errors.Is.
var (
	// ErrInvalidHost reports a host that is malformed or that URL parsing would rewrite.
	ErrInvalidHost = errors.New("exporter: invalid telemetry host")
	// ErrForbiddenHost reports a well-formed host that telemetry must not reach: a private,
	// link-local or metadata address, or loopback when the DSN does not target loopback.
	ErrForbiddenHost = errors.New("exporter: forbidden telemetry host")
	// ErrClosed is returned by an exporter or registry used after Close.
	ErrClosed = errors.New("exporter: closed")
	// ErrBreakerOpen is returned when the host's circuit breaker rejected the call.
	ErrBreakerOpen = errors.New("exporter: circuit breaker open")
	// ErrAttemptTimeout reports one attempt that exceeded the per-attempt timeout.
	ErrAttemptTimeout = errors.New("exporter: attempt timed out")
	// ErrResponseTooLarge reports a response body beyond the configured cap.
	ErrResponseTooLarge = errors.New("exporter: response body too large")
)

// StatusError reports a non-2xx answer from the telemetry or feature-flag endpoint.
type StatusError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// RetryAfter is the server's Retry-After on 429 and 503, at most 24 h (the retry policy
	// caps its wait further); 0 when absent or not in the future.
	RetryAfter time.Duration
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("exporter: unexpected status %d %s", e.StatusCode, http.StatusText(e.StatusCode))
}

// HTTPStatusCode returns StatusCode: telemetry.Classify reads it, so that an export
// error classified carries its status.
func (e *StatusError) HTTPStatusCode() int { return e.StatusCode }

// Retryable reports whether another attempt may succeed: 429 and every 5xx. Every other
// status (400, 401, 403, 404, other 4xx, and the 3xx a redirect we did not follow) is terminal.
func (e *StatusError) Retryable() bool {
	return e.StatusCode == http.StatusTooManyRequests || (e.StatusCode >= 500 && e.StatusCode <= 599)
}
