package driver

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// slowFlagRT answers the host's telemetry POSTs after 50 ms (a healthy ingest) and its
// feature-flag GETs: the first at once with "on", every later one never (a slow flag
// endpoint), until the request's context ends.
type slowFlagRT struct {
	flagGets atomic.Int32
	posts    atomic.Int32
}

func (rt *slowFlagRT) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	body := `{"errors":[],"numSuccess":1,"numProtoSuccess":1,"numRealtimeSuccess":0}`
	if strings.HasPrefix(req.URL.Path, featureFlagPathPrefix) {
		if rt.flagGets.Add(1) > 1 {
			<-req.Context().Done()
			return nil, req.Context().Err()
		}
		body = `{"flags":[{"name":"` + exporter.DefaultFlagName + `","value":"true"}],"ttl_seconds":900}`
	} else {
		select {
		case <-time.After(50 * time.Millisecond):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
		rt.posts.Add(1)
	}
	return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: req}, nil
}

// Connector.Close does not spend its 2 s waiting for a feature-flag re-ask in flight when
// the gate is decided (it holds nothing back for the answer): the final flush keeps the
// deadline and delivers what the aggregator holds.
func TestCloseDoesNotWaitForAReaskWhenDecided(t *testing.T) {
	rt := &slowFlagRT{}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }

	c := attachedConnector(t, func(cfg *config) {
		cfg.tel.FlushInterval = time.Hour // only the final flush exports
	}, exporter.WithHTTPClient(&http.Client{Transport: rt}), exporter.WithClock(clock))

	c.flagOnce.Do(c.askFlag) // the first accepted Thrift call: the server says on
	require.Eventually(t, func() bool { return c.gate.state.Load() == gateOn }, 5*time.Second, time.Millisecond)

	start := time.Now()
	c.emit(&telemetry.Event{Kind: telemetry.KindStatementStart, Time: start, SessionID: "s", StatementID: "q1",
		OperationType: telemetry.OpExecuteStatement, StatementType: telemetry.StatementQuery})
	c.emit(&telemetry.Event{Kind: telemetry.KindStatementComplete, Time: start.Add(time.Millisecond), SessionID: "s",
		StatementID: "q1", Latency: time.Millisecond})

	// 16 minutes later a new connection asks the server again (Connect → askFlag); the
	// flag endpoint is slow.
	mu.Lock()
	now = now.Add(16 * time.Minute)
	mu.Unlock()
	c.askFlag()
	require.Eventually(t, func() bool { return rt.flagGets.Load() == 2 }, 5*time.Second, time.Millisecond)

	began := time.Now()
	require.NoError(t, c.Close())
	t.Logf("Close took %v", time.Since(began))
	st := c.Stats()
	t.Logf("stats: %+v posts=%d", st, rt.posts.Load())
	assert.Equal(t, int64(1), st.Exported, "the final flush had a healthy ingest and should have delivered q1's log")
	assert.Zero(t, st.Dropped.Unfinished)
}
