package exporter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// eventIDs decodes a recorded request body and returns its logs' event ids.
func eventIDs(t *testing.T, body []byte) []string {
	t.Helper()
	var req telemetry.Request
	require.NoError(t, json.Unmarshal(body, &req), "body %q", body)
	ids := make([]string, len(req.ProtoLogs))
	for i, pl := range req.ProtoLogs {
		var l telemetry.FrontendLog
		require.NoError(t, json.Unmarshal([]byte(pl), &l))
		ids[i] = l.FrontendLogEventID
	}
	return ids
}

func batchIDs(logs []*telemetry.FrontendLog) []string {
	ids := make([]string, len(logs))
	for i, l := range logs {
		ids[i] = l.FrontendLogEventID
	}
	return ids
}

// Request bodies are reused from batch to batch: every attempt of a batch must send the
// whole of it, and a smaller batch after a bigger one nothing of the bigger one.
func TestReusedBodiesSendEachBatchWhole(t *testing.T) {
	srv, rc := newServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first batch's first two attempts
		}
	})
	e := newTestExporter(t, srv, WithCredentials(BearerToken("t")))
	big, small := batch(50), batch(3)
	for i, l := range small {
		l.FrontendLogEventID = fmt.Sprintf("small-%d", i)
	}
	require.NoError(t, e.Export(context.Background(), big))
	require.NoError(t, e.Export(context.Background(), small))
	require.NoError(t, e.Export(context.Background(), big))

	reqs := rc.requests()
	require.Len(t, reqs, 5)
	for i, want := range [][]string{batchIDs(big), batchIDs(big), batchIDs(big), batchIDs(small), batchIDs(big)} {
		assert.Equal(t, want, eventIDs(t, reqs[i].Body), "request %d", i+1)
		assert.Equal(t, fmt.Sprint(len(reqs[i].Body)), reqs[i].Header.Get("Content-Length"), "request %d", i+1)
	}
}

// Concurrent exports (the exporter is shared by a host's connectors) never share a body.
func TestConcurrentExportsSendTheirOwnBodies(t *testing.T) {
	srv, rc := newServer(t, nil)
	e := newTestExporter(t, srv, WithCredentials(BearerToken("t")))
	const n = 16
	batches := make([][]*telemetry.FrontendLog, n)
	for i := range batches {
		batches[i] = batch(1 + i%5*10)
		for j, l := range batches[i] {
			l.FrontendLogEventID = fmt.Sprintf("b%02d-%03d", i, j)
		}
	}
	var wg sync.WaitGroup
	for i := range batches {
		wg.Go(func() {
			for range 5 {
				assert.NoError(t, e.Export(context.Background(), batches[i]))
			}
		})
	}
	wg.Wait()
	reqs := rc.requests()
	require.Len(t, reqs, n*5)
	for _, r := range reqs {
		ids := eventIDs(t, r.Body)
		require.NotEmpty(t, ids)
		var b int
		_, err := fmt.Sscanf(ids[0], "b%02d-", &b)
		require.NoError(t, err)
		assert.Equal(t, batchIDs(batches[b]), ids)
	}
}

func TestSharedBodyGoesBackOnlyWhenEveryReaderIsClosed(t *testing.T) {
	var pool bodyPool
	s := newSharedBody([]byte("the body"), &pool)
	r1, r2 := s.reader(), s.reader()
	s.release() // the export is done; both readers are not
	got, err := io.ReadAll(r1)
	require.NoError(t, err)
	assert.Equal(t, "the body", string(got))
	require.NoError(t, r1.Close())
	require.NoError(t, r1.Close()) // idempotent: releases once
	assert.NotNil(t, s.b, "r2 still reads it")
	got, err = io.ReadAll(io.LimitReader(r2, 3))
	require.NoError(t, err)
	assert.Equal(t, "the", string(got))
	require.NoError(t, r2.Close())
	assert.Nil(t, s.b, "returned to the pool")
	assert.Equal(t, int32(0), s.refs.Load())
	_, err = r2.Read(make([]byte, 4))
	assert.ErrorIs(t, err, errBodyClosed)
}

func TestBigBodiesAreNotPooled(t *testing.T) {
	var pool bodyPool
	s := newSharedBody(make([]byte, maxPooledBody+1), &pool)
	s.release()
	assert.NotNil(t, s.b, "left to the GC")
	assert.Zero(t, cap(pool.get()))
}

// net/http may close a request body from one goroutine while another reads it.
func TestBodyReaderCloseDuringRead(t *testing.T) {
	var pool bodyPool
	for range 100 {
		s := newSharedBody([]byte(strings.Repeat("x", 4096)), &pool)
		r := s.reader()
		s.release()
		var wg sync.WaitGroup
		wg.Go(func() {
			p := make([]byte, 7)
			for {
				if _, err := r.Read(p); err != nil {
					return
				}
			}
		})
		_ = r.Close()
		wg.Wait()
		assert.Nil(t, s.b)
	}
}

// A GC between two batches must not cost the next one its buffer (as a sync.Pool would),
// and the pool keeps no more than maxFreeBodies buffers.
func TestBodyPoolKeepsBuffersAcrossGCsAndNoMore(t *testing.T) {
	var pool bodyPool
	bufs := make([][]byte, maxFreeBodies+1)
	for i := range bufs {
		bufs[i] = append(pool.get(), strings.Repeat("x", 1000+i)...)
	}
	for _, b := range bufs {
		newSharedBody(b, &pool).release()
	}
	runtime.GC()
	runtime.GC()
	for range maxFreeBodies {
		b := pool.get()
		assert.Empty(t, b)
		assert.GreaterOrEqual(t, cap(b), 1000, "a kept buffer")
	}
	// The pool is empty now: a new buffer is sized for the last body released.
	b := pool.get()
	assert.Empty(t, b)
	assert.GreaterOrEqual(t, cap(b), 1000+maxFreeBodies)
	assert.Less(t, cap(b), 2*(1000+maxFreeBodies))
}
