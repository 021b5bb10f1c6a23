package exporter

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
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
//
// The breaker is driven through its own permit and record methods rather than composed
// into the failsafe executor: a composed breaker records every execution as a success or
// a failure, and a call whose caller gave up (its context ended, or the exporter closed)
// before any attempt failed is neither. Such a call is not recorded at all (see run).
type hostPolicy struct {
	cb     circuitbreaker.CircuitBreaker[*reply]
	export failsafe.Executor[*reply] // Retry(attempt): the breaker records the batch once, after its retries
	fetch  failsafe.Executor[*reply] // no policy: the flag fetch is not retried
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
		OnRetry(p.onRetry).
		Build()

	p.export = failsafe.With[*reply](retries)
	p.fetch = failsafe.With[*reply]()
	return p
}

// retryDelay is the retry policy's delay function: see delayFor.
func retryDelay(base, maxDelay, jitter, retryAfterCap time.Duration) failsafe.DelayFunc[*reply] {
	return func(exec failsafe.ExecutionAttempt[*reply]) time.Duration {
		return delayFor(base, maxDelay, jitter, retryAfterCap, exec.Retries(), exec.LastError(), rand.N[time.Duration])
	}
}

// delayFor is the delay before the next attempt after retries retries, the last attempt
// having failed with lastErr: its Retry-After (429/503) within retryAfterCap, else
// min(base×2^retries, maxDelay) plus randN(jitter+1), a random 0…jitter. Durations too
// long for a time.Duration (options are not bounded above) stop at the longest one.
func delayFor(base, maxDelay, jitter, retryAfterCap time.Duration, retries int, lastErr error,
	randN func(time.Duration) time.Duration) time.Duration {
	var se *StatusError
	if retryAfterCap > 0 && errors.As(lastErr, &se) && se.RetryAfter > 0 {
		return min(se.RetryAfter, retryAfterCap)
	}
	d := base
	for i := 0; i < retries && d < maxDelay; i++ {
		if d > maxDelay/2 {
			d = maxDelay
			break
		}
		d *= 2
	}
	d = min(d, maxDelay)
	if jitter > 0 {
		r := randN(min(jitter, math.MaxInt64-1) + 1)
		if d > math.MaxInt64-r {
			return math.MaxInt64
		}
		d += r
	}
	return d
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

// run executes fn through exec inside the host's circuit breaker. Outside the closed
// state it first takes the probe gate; a second caller meanwhile is rejected like the
// open breaker would.
//
// The breaker hears of the outcome once: a success, or a failure (a status, a transport
// error, an attempt timeout, a panic), also when the caller's ctx ended after an attempt
// had failed so (the export's deadline cutting the retries of a host that never
// answers). A call whose ctx is already done sends nothing and leaves the breaker alone,
// and one whose ctx ends while it runs before any attempt failed (callerGaveUp) is not
// recorded either: the caller giving up says nothing about the server, and counting it
// let callers that cancel open the breaker against a healthy host, or reopen it from
// half-open. Not recording it is failsafe's only neutral choice (a success would count
// towards closing a half-open breaker), but in half-open the unrecorded call keeps the
// permit it took, which failsafe only gives back when a result is recorded. So under the
// gate, a half-open breaker without a permit left means such calls kept them, and the
// next probe goes ahead without one: the gate, not failsafe's count, admits one probe
// at a time, and that probe's result gives a permit back.
func (p *hostPolicy) run(ctx context.Context, exec failsafe.Executor[*reply], fn func(context.Context) (*reply, error)) (*reply, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("exporter: not sent, the caller gave up: %w", err)
	}
	if p.cb.State() != circuitbreaker.ClosedState {
		if !p.probe.TryLock() {
			return nil, ErrBreakerOpen
		}
		defer p.probe.Unlock()
		if !p.cb.TryAcquirePermit() && !p.cb.IsHalfOpen() {
			return nil, ErrBreakerOpen
		}
	} else if !p.cb.TryAcquirePermit() {
		return nil, ErrBreakerOpen // opened since State
	}
	// failed: an attempt failed on the server's side (a status, a transport error, its
	// own timeout or a panic), before or without the caller giving up. Every error run
	// returns comes from an attempt, or is the caller's ctx ending after one.
	// succeeded: the reply of an attempt that succeeded. failsafe returns ctx.Err() when
	// ctx ended during the attempt, even one that succeeded (a 2xx whose body was still
	// being read): the server's acknowledgement stands, and the batch was delivered.
	var (
		failed    atomic.Bool
		succeeded atomic.Pointer[reply]
	)
	r, err := exec.WithContext(ctx).Get(func() (r *reply, err error) {
		defer func() {
			if err == nil {
				succeeded.Store(r)
			} else if ctx.Err() == nil || !callerGaveUp(ctx, err) {
				failed.Store(true)
			}
		}()
		// failsafe does not recover panics: one escaping here (a caller's RoundTripper
		// or clock) would leave Export and skip the breaker's bookkeeping. It becomes a
		// failed attempt that is not retried.
		defer func() {
			if v := recover(); v != nil {
				r, err = nil, fmt.Errorf("%w: %v", errPanicked, v)
			}
		}()
		return fn(ctx)
	})
	if ok := succeeded.Load(); err != nil && ok != nil {
		r, err = ok, nil
	}
	switch {
	case err == nil:
		p.cb.RecordSuccess()
	case failed.Load():
		// Failed, even if the caller's deadline then cut the retries short: a host that
		// never answers times out attempt after attempt until the export's own bound
		// (DefaultExportTimeout) ends the batch, and must still open the breaker.
		p.cb.RecordFailure()
	default:
		// Nothing the server did: the caller left before any attempt failed.
	}
	return r, err
}

// callerGaveUp reports whether err is the call's own context ending (the caller
// cancelled or its deadline passed, or the exporter closed) rather than something the
// server did. A status the server sent, an attempt that exceeded its own timeout and a
// panic are the server's or the attempt's, even when ctx ended meanwhile. failsafe's
// retry policy returns ctx.Err() as soon as ctx is done after an attempt, whatever the
// attempt produced: run remembers whether an attempt failed before.
func callerGaveUp(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() == nil {
		return false
	}
	var se *StatusError
	return !errors.As(err, &se) && !errors.Is(err, ErrAttemptTimeout) && !errors.Is(err, errPanicked)
}

// errPanicked marks an attempt that panicked; it is not retried.
var errPanicked = errors.New("exporter: attempt panicked")

// onStateChanged is the breaker's listener. failsafe calls it with the breaker's lock
// released and takes the lock back afterwards, so a panic escaping it (a caller's clock
// or logger) would make failsafe unlock an unlocked mutex: a fatal error that no
// recover can stop. Nothing leaves this function.
// onRetry counts a retry and writes at debug level the attempt that failed and why (a
// caller's logger that panics costs the line only).
func (p *hostPolicy) onRetry(ev failsafe.ExecutionEvent[*reply]) {
	p.stats.retries.Add(1)
	defer func() { _ = recover() }()
	p.log.Debug().Int("retry", ev.Retries()).Err(ev.LastError()).
		Msg("telemetry batch attempt failed; retrying")
}

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
