package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// Telemetry settings of the local run: short enough that the breaker opens and closes
// again within a few seconds.
const (
	localFlushInterval = 200 * time.Millisecond
	localRetryCount    = 2
	localRetryDelay    = 50 * time.Millisecond
	// localAttemptTimeout ends each attempt on the hung endpoint. It must stay well above
	// a healthy answer's latency: an answer that arrives after it was accepted by the
	// ingest but counts as failed on the client (and the retry delivers it twice).
	localAttemptTimeout = 500 * time.Millisecond
	localBreakerFails   = 5
	localBreakerDelay   = 2 * time.Second
	localBreakerOK      = 2
	// outage503Batches is how many export batches get 503s before the endpoint hangs:
	// one less than the breaker's threshold, so the hang is what opens it.
	outage503Batches = localBreakerFails - 1
	// outageGiveUp bounds an outage that never opens or never closes the breaker.
	outageGiveUp = 20 * time.Second
	// localQueryTimeout is the server-side bound on every statement (DSN timeout, in
	// seconds). The workload never comes near it. It guards against a lost cancellation:
	// the driver cancels nothing when the context ends before ExecuteStatement has
	// answered, and a server that kept running wait_ms(60000) then would hold its
	// session, and the statements queued behind it, for a minute. The local warehouse
	// interrupts such a statement itself; the bound stays as a second line.
	localQueryTimeout = 20 * time.Second
)

// transitionsFunc reads the host's breaker transitions (Connector.Transitions).
type transitionsFunc func() []exporter.Transition

// outage takes the warehouse's telemetry endpoint down while the workload runs: 503s,
// then a hang, until the circuit breaker opens; then the endpoint recovers and the
// breaker closes again after its delay.
type outage struct {
	srv            *warehouse.Server
	transitions    transitionsFunc
	attempts       int           // per batch: 1 + retries
	attemptTimeout time.Duration // the exporter's, for the narration
	ui             progressUI
	since          func() time.Duration

	mu    sync.Mutex
	stage string
	step  int // of outageSteps, for the progress bar
}

// outageSteps is the number of steps of an outage: 503s, hang, open, half-open, closed.
const outageSteps = 5

// outageResult says when each step happened (offsets since the run began).
type outageResult struct {
	Began     float64 `json:"began_s"`
	Hang      float64 `json:"hang_s,omitempty"`
	Opened    float64 `json:"breaker_opened_s,omitempty"`
	Recovered float64 `json:"endpoint_recovered_s,omitempty"`
	Closed    float64 `json:"breaker_closed_s,omitempty"`
	Ended     float64 `json:"ended_s"`
	Completed bool    `json:"completed"`     // the breaker opened and closed again
	Served    int     `json:"faults_served"` // telemetry requests the faults answered
	Note      string  `json:"note,omitempty"`
}

func (o *outage) setStage(step int, s string) {
	o.mu.Lock()
	o.step, o.stage = step, s
	o.mu.Unlock()
}

// fraction is how far the outage has got, 0…1.
func (o *outage) fraction() float64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return float64(o.step) / outageSteps
}

func (o *outage) currentStage() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stage
}

// run drives the outage until the breaker has closed again, the workload ends (done) or
// ctx is cancelled. The endpoint is always healthy again when run returns.
func (o *outage) run(ctx context.Context, done <-chan struct{}) (res outageResult) {
	defer o.srv.ClearFaults(warehouse.GroupTelemetry) // whichever way the outage ends
	res = outageResult{Began: o.since().Seconds()}
	seen := len(o.transitions())
	served := o.srv.FaultsServed(warehouse.GroupTelemetry)
	defer func() { res.Served = o.srv.FaultsServed(warehouse.GroupTelemetry) - served }()
	n503 := outage503Batches * o.attempts
	o.srv.InjectFaults(warehouse.GroupTelemetry,
		warehouse.Fault{Status: 503, Times: n503},
		warehouse.Fault{Hang: true, Times: -1})
	o.setStage(0, "endpoint answers 503")
	o.ui.event(fmt.Sprintf("telemetry endpoint down: 503 Service Unavailable for %d export batches (%d attempts each)", outage503Batches, o.attempts))

	giveUp := time.NewTimer(outageGiveUp)
	defer giveUp.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	recovered := false
	for {
		select {
		case <-ctx.Done():
			res.Note = "interrupted"
			return o.finish(res)
		case <-done:
			res.Note = "the workload ended before the breaker closed again"
			return o.finish(res)
		case <-giveUp.C:
			res.Note = fmt.Sprintf("gave up after %s", outageGiveUp)
			return o.finish(res)
		case <-tick.C:
		}
		if res.Hang == 0 && o.srv.FaultsServed(warehouse.GroupTelemetry)-served >= n503 {
			res.Hang = o.since().Seconds()
			o.setStage(1, "endpoint hangs")
			o.ui.event(fmt.Sprintf("telemetry endpoint hangs: each attempt times out after %s", o.attemptTimeout))
		}
		trs := o.transitions()
		for _, tr := range trs[min(seen, len(trs)):] {
			switch tr.To {
			case telemetry.BreakerOpen:
				if res.Opened == 0 {
					res.Opened = o.since().Seconds()
				}
				if !recovered {
					// The breaker is open: bring the endpoint back; the breaker notices
					// only after its delay, with a probe.
					o.srv.ClearFaults(warehouse.GroupTelemetry)
					recovered = true
					res.Recovered = o.since().Seconds()
					o.setStage(2, "breaker open, endpoint back")
					o.ui.event("telemetry endpoint recovered (faults cleared); the open breaker drops batches until its delay has passed")
				}
			case telemetry.BreakerHalfOpen:
				o.setStage(3, "breaker half-open: probing")
			case telemetry.BreakerClosed:
				if recovered {
					res.Closed = o.since().Seconds()
					res.Completed = true
					o.setStage(outageSteps, "recovered")
					return o.finish(res)
				}
			}
		}
		seen = len(trs)
	}
}

func (o *outage) finish(res outageResult) outageResult {
	res.Ended = o.since().Seconds()
	if !res.Completed {
		o.mu.Lock()
		o.stage = "cut short"
		o.mu.Unlock()
	}
	return res
}
