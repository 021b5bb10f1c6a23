package driver

import (
	"context"
	"testing"

	"github.com/databricks/databricks-sql-go/driverctx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The bookkeeping of failed attempts made under the driver's own contexts (detached.go):
// a retry is the next attempt on the same connection, of the same length, while its
// Exec runs; what is remembered is bounded and goes with the Exec.
func TestDetachedRetries(t *testing.T) {
	// exec opens a tracked connection with session id and an Exec running on it.
	exec := func(c *Connector, id string) *stmtState {
		cs := newConnState(c)
		cs.setSession(id)
		c.track(cs)
		st := newStmtState(context.Background(), cs)
		cs.running.Store(st)
		return st
	}
	under := func(id string) context.Context {
		return driverctx.NewContextWithConnId(context.Background(), id)
	}
	const n = 120 // a CloseOperation's length

	tests := []struct {
		name string
		run  func(t *testing.T, c *Connector)
	}{
		{"same connection, same length: a retry", func(t *testing.T, c *Connector) {
			st := exec(c, "s1")
			c.failedDetached(under("s1"), n)
			c.retriedDetached(under("s1"), n)
			assert.Equal(t, int32(1), st.retries.Load())
			assert.Zero(t, c.detachedN.Load(), "forgotten once retried")
			c.retriedDetached(under("s1"), n)
			assert.Equal(t, int32(1), st.retries.Load(), "one failure, one retry")
		}},
		{"another length: another call", func(t *testing.T, c *Connector) {
			st := exec(c, "s1")
			c.failedDetached(under("s1"), n)
			c.retriedDetached(under("s1"), n+1)
			assert.Zero(t, st.retries.Load())
			assert.Zero(t, c.detachedN.Load())
		}},
		{"another connection's call leaves it", func(t *testing.T, c *Connector) {
			st1, st2 := exec(c, "s1"), exec(c, "s2")
			c.failedDetached(under("s1"), n)
			c.retriedDetached(under("s2"), n)
			c.retriedDetached(under(""), n)
			assert.Zero(t, st1.retries.Load()+st2.retries.Load())
			c.retriedDetached(under("s1"), n)
			assert.Equal(t, int32(1), st1.retries.Load())
			assert.Zero(t, st2.retries.Load())
		}},
		{"no Exec running: nothing kept", func(t *testing.T, c *Connector) {
			st := exec(c, "s1")
			st.conn.running.Store(nil)
			c.failedDetached(under("s1"), n)
			c.failedDetached(under("unknown"), n)
			c.failedDetached(context.Background(), n)
			assert.Zero(t, c.detachedN.Load())
		}},
		{"an Exec that completed is not counted", func(t *testing.T, c *Connector) {
			st := exec(c, "s1")
			c.failedDetached(under("s1"), n)
			st.ended.Store(true)
			c.retriedDetached(under("s1"), n)
			assert.Zero(t, st.retries.Load())
		}},
		{"completion forgets it", func(t *testing.T, c *Connector) {
			st, other := exec(c, "s1"), exec(c, "s2")
			c.failedDetached(under("s1"), n)
			c.failedDetached(under("s2"), n)
			require.Equal(t, int32(2), c.detachedN.Load())
			c.complete(st, nil)
			assert.Equal(t, int32(1), c.detachedN.Load())
			c.retriedDetached(under("s2"), n)
			assert.Equal(t, int32(1), other.retries.Load())
		}},
		{"bounded", func(t *testing.T, c *Connector) {
			for i := range maxDetachedFails + 10 {
				id := "s" + string(rune('a'+i%26)) + string(rune('a'+i/26))
				exec(c, id)
				c.failedDetached(under(id), n)
			}
			assert.Equal(t, int32(maxDetachedFails), c.detachedN.Load())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := hotConnector(t, true)
			t.Cleanup(func() { _ = c.agg.Load().Close(context.Background()) })
			tt.run(t, c)
		})
	}
}
