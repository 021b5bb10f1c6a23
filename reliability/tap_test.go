package reliability_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// tapEvery is how often an ingestTap takes what the ingest answered.
const tapEvery = 250 * time.Millisecond

// ingestTap takes the requests the warehouse's ingest has answered while a case runs,
// every tapEvery and once more at the end, so that a soak's records do not pile up in
// the process whose memory the case measures (a minute without faults delivers some
// 80,000 logs). It checks each request as scanTelemetry does and keeps only what the
// case's checks read: counts, and the operations of CloudFetch statements.
type ingestTap struct {
	t         *testing.T
	srv       *warehouse.Server
	forbidden []string

	mu         sync.Mutex
	requests   int // requests taken
	redirected int // of which answered with a redirect
	logs       int // logs in requests answered 200: what the ingest accepted
	cloudFetch []*telemetry.SQLOperation

	stop     chan struct{}
	done     chan struct{}
	finished sync.Once
}

func startTap(t *testing.T, srv *warehouse.Server, forbidden []string) *ingestTap {
	p := &ingestTap{t: t, srv: srv, forbidden: forbidden, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(tapEvery)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				p.take()
			}
		}
	}()
	return p
}

// finish stops the tap and takes what is left; later calls do nothing.
func (p *ingestTap) finish() {
	p.finished.Do(func() {
		close(p.stop)
		<-p.done
		p.take()
	})
}

func (p *ingestTap) take() {
	reqs := p.srv.TakeTelemetryRequests()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range reqs {
		checkTelemetryRequest(p.t, p.requests, r, p.srv.Token(), p.forbidden)
		p.requests++
		switch r.Status {
		case http.StatusTemporaryRedirect:
			p.redirected++
		case http.StatusOK:
			for _, s := range r.ProtoLogs() {
				p.logs++
				if strings.Contains(s, telemetry.ResultExternalLinks) {
					p.keepCloudFetch(s)
				}
			}
		}
	}
}

func (p *ingestTap) keepCloudFetch(s string) {
	var l telemetry.FrontendLog
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		p.t.Errorf("the ingest received an undecodable log: %v", err)
		return
	}
	if d := l.Entry.SQLDriverLog; d != nil && d.SQLOperation != nil && d.SQLOperation.ExecutionResult == telemetry.ResultExternalLinks {
		p.cloudFetch = append(p.cloudFetch, d.SQLOperation)
	}
}

// counts returns what was taken: requests, redirects, accepted logs.
func (p *ingestTap) counts() (requests, redirected, logs int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests, p.redirected, p.logs
}

// cloudFetchLogs returns the sql_operation of every log of the workload's CloudFetch
// statements that reached the ingest (its only statements delivered as EXTERNAL_LINKS).
func (p *ingestTap) cloudFetchLogs(t *testing.T) []*telemetry.SQLOperation {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.cloudFetch) == 0 {
		t.Error("no log of a CloudFetch statement reached the ingest")
	}
	return p.cloudFetch
}
