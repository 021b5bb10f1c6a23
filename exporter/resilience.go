package exporter

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/rs/zerolog"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// reply is what one attempt produced: a 2xx status and the (capped) body.
type reply struct {
	status   int
	body     []byte
	tooLarge bool  // the body exceeded the cap and was discarded
	bodyErr  error // the body could not be read (e.g. the attempt timed out in it)
}

// Transition is one change of a host's circuit breaker state.
type Transition struct {
	From telemetry.BreakerState `json:"from"`
	To   telemetry.BreakerState `json:"to"`
	At   time.Time              `json:"at"`
}

// counters are an exporter's statistics; atomics because exports, flag fetches and the
// breaker's listeners run on different goroutines.
type counters struct {
	batches, failed, rejected, logs, retries, opened atomic.Int64
}

// hostPolicy is the per-host resilience: one circuit breaker shared by telemetry export
// and feature-flag fetch, and the retry policy for export.
type hostPolicy struct {
	cb     circuitbreaker.CircuitBreaker[*reply]
	export failsafe.Executor[*reply] // Breaker(Retry(attempt)): a batch counts once, after its retries
	fetch  failsafe.Executor[*reply] // Breaker(attempt): the flag fetch is not retried
	// probe narrows half-open to one call at a time: failsafe admits as many concurrent
	// trials as the success threshold (2).
	probe sync.Mutex

	stats *counters
	now   func() time.Time
	log   zerolog.Logger
	host  string

	mu      sync.Mutex
	history []Transition
	keep    int
}

func newHostPolicy(cfg *config, host string, stats *counters) *hostPolicy {
	p := &hostPolicy{stats: stats, now: cfg.now, log: cfg.logger, host: host, keep: cfg.transitionLog}

	p.cb = circuitbreaker.NewBuilder[*reply]().
		WithFailureThreshold(cfg.breakerFailures).
		WithDelay(cfg.breakerDelay).
		WithSuccessThreshold(cfg.breakerSuccesses).
		OnStateChanged(p.onStateChanged).
		Build()

	retries := retrypolicy.NewBuilder[*reply]().
		HandleIf(func(_ *reply, err error) bool { return err != nil }).
		AbortIf(func(_ *reply, err error) bool { return err != nil && !isRetryable(err) }).
		WithMaxRetries(cfg.maxRetries).
		WithDelayFunc(retryDelay(cfg.backoffBase, cfg.backoffMax, cfg.jitter, cfg.retryAfterCap)).
		ReturnLastFailure().
		OnRetry(func(failsafe.ExecutionEvent[*reply]) { stats.retries.Add(1) }).
		Build()

	// failsafe.With(outer, inner): the first policy is the outermost.
	p.export = failsafe.With[*reply](p.cb, retries)
	p.fetch = failsafe.With[*reply](p.cb)
	return p
}

// retryDelay is the retry policy's delay function: Retry-After (429/503) within its
// cap, else min(base×2^retry, maxDelay) plus 0…jitter.
func retryDelay(base, maxDelay, jitter, retryAfterCap time.Duration) failsafe.DelayFunc[*reply] {
	return func(exec failsafe.ExecutionAttempt[*reply]) time.Duration {
		var se *StatusError
		if retryAfterCap > 0 && errors.As(exec.LastError(), &se) && se.RetryAfter > 0 {
			return min(se.RetryAfter, retryAfterCap)
		}
		d := base
		for i := 0; i < exec.Retries() && d < maxDelay; i++ {
			d *= 2
		}
		d = min(d, maxDelay)
		if jitter > 0 {
			d += rand.N(jitter + 1)
		}
		return d
	}
}

// isRetryable: 429 and 5xx, transport errors and attempt timeouts are worth another
// attempt; other statuses and certificate failures are not.
func isRetryable(err error) bool {
	if errors.Is(err, errPanicked) {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Retryable()
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verify           *tls.CertificateVerificationError
	)
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &verify) {
		return false
	}
	return true
}

// run executes fn through exec. Outside the closed state it first takes the probe gate;
// a second caller meanwhile is rejected like the open breaker would.
func (p *hostPolicy) run(ctx context.Context, exec failsafe.Executor[*reply], fn func(context.Context) (*reply, error)) (*reply, error) {
	if p.cb.State() != circuitbreaker.ClosedState {
		if !p.probe.TryLock() {
			return nil, ErrBreakerOpen
		}
		defer p.probe.Unlock()
	}
	r, err := exec.WithContext(ctx).Get(func() (r *reply, err error) {
		// failsafe does not recover panics: one escaping here (a caller's RoundTripper
		// or clock) would skip the breaker's bookkeeping and, in half-open, leak its
		// permit for good. It becomes a failed attempt that is not retried.
		defer func() {
			if v := recover(); v != nil {
				r, err = nil, fmt.Errorf("%w: %v", errPanicked, v)
			}
		}()
		return fn(ctx)
	})
	if errors.Is(err, circuitbreaker.ErrOpen) {
		return nil, ErrBreakerOpen
	}
	return r, err
}

// errPanicked marks an attempt that panicked; it is not retried.
var errPanicked = errors.New("exporter: attempt panicked")

// onStateChanged is the breaker's listener. failsafe calls it with the breaker's lock
// released and takes the lock back afterwards, so a panic escaping it (a caller's clock
// or logger) would make failsafe unlock an unlocked mutex: a fatal error that no
// recover can stop. Nothing leaves this function.
func (p *hostPolicy) onStateChanged(ev circuitbreaker.StateChangedEvent) {
	defer func() { _ = recover() }()
	tr := Transition{From: breakerState(ev.OldState), To: breakerState(ev.NewState), At: p.now()}
	if ev.NewState == circuitbreaker.OpenState {
		p.stats.opened.Add(1)
	}
	p.mu.Lock()
	if p.keep > 0 {
		if len(p.history) == p.keep {
			copy(p.history, p.history[1:])
			p.history = p.history[:p.keep-1]
		}
		p.history = append(p.history, tr)
	}
	p.mu.Unlock()
	p.log.Debug().Str("host", p.host).Str("from", string(tr.From)).Str("to", string(tr.To)).
		Msg("telemetry circuit breaker state changed")
}

func (p *hostPolicy) transitions() []Transition {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Transition(nil), p.history...)
}

func breakerState(s circuitbreaker.State) telemetry.BreakerState {
	switch s {
	case circuitbreaker.OpenState:
		return telemetry.BreakerOpen
	case circuitbreaker.HalfOpenState:
		return telemetry.BreakerHalfOpen
	default:
		return telemetry.BreakerClosed
	}
}
