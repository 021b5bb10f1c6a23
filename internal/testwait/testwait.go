// Package testwait bounds a test's waits, so that a broken behaviour fails the test with
// what it was waiting for instead of hanging until go test's own timeout.
package testwait

import (
	"testing"
	"time"
)

// Recv waits for ch to deliver (or be closed) for at most d and returns what it got;
// after d it fails the test, saying what it was waiting for.
func Recv[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("still waiting after %v for %s", d, what)
		var zero T
		return zero
	}
}
