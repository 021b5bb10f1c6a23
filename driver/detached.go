package driver

import (
	"context"
	"net/http"
	"slices"

	"github.com/databricks/databricks-sql-go/driverctx"
)

// The driver closes an Exec's operation while the Exec runs, and cancels the operation
// of a statement whose caller gave up while its driver call runs, but under a context of
// its own (context.Background with its conn id), which carries no state of ours: the
// transport cannot tell whose call it is. A call it sends again after a failed attempt is
// the statement's retry all the same, as the same close after a Query is (its rows close
// under the query's context). So a failed attempt of such a call is remembered, with the
// statement running on its connection, found by the conn id (connState.running); the
// attempt that follows on that connection is its retry when it is of the same length.
// Calls that never failed cost one atomic load.

// maxDetachedFails bounds the failed attempts remembered at once: one per connection
// whose statement's call failed, dropped when the next attempt comes or the statement
// completes.
const maxDetachedFails = 256

// detachedFail is a failed attempt of a call that carried no state of ours.
type detachedFail struct {
	connID string     // the driver's conn id, the connection's session
	st     *stmtState // the statement running on that connection
	length int64      // the attempt's Content-Length
}

// detachedCall forwards a Thrift call whose context carries no state of ours (see the
// top of this file).
func (t *transport) detachedCall(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if t.c.detachedN.Load() != 0 {
		t.c.retriedDetached(ctx, req.ContentLength)
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		if req.ContentLength > 0 && !followsRedirect(resp, err) {
			t.c.failedDetached(ctx, req.ContentLength)
		}
		return resp, err
	}
	t.c.observeAuth(req)
	return resp, nil
}

// followsRedirect reports whether the driver's client follows the answer: a redirect,
// which sends the call on (the same body again for a 307 or a 308), is no retry.
func followsRedirect(resp *http.Response, err error) bool {
	return err == nil && isRedirect(resp.StatusCode) && resp.Header.Get("Location") != ""
}

// failedDetached remembers a failed attempt of a call under ctx, for the statement
// running on the connection ctx names, if any.
func (c *Connector) failedDetached(ctx context.Context, length int64) {
	id := driverctx.ConnIdFromContext(ctx)
	if id == "" {
		return
	}
	st := c.execOf(id)
	if st == nil {
		return
	}
	c.detachedMu.Lock()
	defer c.detachedMu.Unlock()
	c.detached = slices.DeleteFunc(c.detached, func(f detachedFail) bool {
		return f.connID == id || f.st.ended.Load()
	})
	if len(c.detached) < maxDetachedFails {
		c.detached = append(c.detached, detachedFail{connID: id, st: st, length: length})
	}
	c.detachedN.Store(int32(len(c.detached)))
}

// retriedDetached counts the attempt of a call under ctx, of the given length, as a
// retry of its connection's failed one, if it repeats it; either way the failed one is
// forgotten.
func (c *Connector) retriedDetached(ctx context.Context, length int64) {
	id := driverctx.ConnIdFromContext(ctx)
	c.detachedMu.Lock()
	defer c.detachedMu.Unlock()
	c.detached = slices.DeleteFunc(c.detached, func(f detachedFail) bool {
		if f.connID != id || id == "" {
			return f.st.ended.Load()
		}
		if f.length == length && !f.st.ended.Load() {
			f.st.retries.Add(1)
		}
		return true
	})
	c.detachedN.Store(int32(len(c.detached)))
}

// dropDetached forgets the failed attempts remembered for st, which completes: the
// list would keep its state (and its caller's context) until the next such call.
func (c *Connector) dropDetached(st *stmtState) {
	c.detachedMu.Lock()
	defer c.detachedMu.Unlock()
	c.detached = slices.DeleteFunc(c.detached, func(f detachedFail) bool { return f.st == st })
	c.detachedN.Store(int32(len(c.detached)))
}

// execOf returns the statement whose driver call runs on the connection whose session
// is id, if the connector knows the connection (see track).
func (c *Connector) execOf(id string) *stmtState {
	c.connsMu.Lock()
	defer c.connsMu.Unlock()
	for cs := range c.conns {
		if cs.session() == id {
			if st := cs.running.Load(); st != nil && !st.ended.Load() {
				return st
			}
			return nil
		}
	}
	return nil
}
