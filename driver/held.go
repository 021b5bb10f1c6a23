package driver

// A query's statement.start and statement.complete come microseconds apart when its rows
// are read at once, which is the common case, and each costs the aggregator a step under
// a shard lock: the start opens the statement's entry, the completion closes it. So the
// driver holds a query's start back, in its connection's held (database/sql runs one
// statement at a time on a connection, so one place per connection is enough), and the
// completion carries it: one step, no entry. A statement whose rows stay open must still
// be known to the aggregator, for StatementTTL, MaxOpenStatements and Close: the
// aggregator asks for held starts (aggregator.AddHandOver) at every sweep, at Flush and
// at Close, and the connector hands them over at its own Close, when a connection closes,
// and at Stats. A hand-over and the completion each try to take the statement off its
// connection's held (a compare-and-swap), so exactly one of them says the start; the
// hand-over emits it under the statement's lock, which a completion that lost takes
// before it emits (see takeStart), so that it never overtakes the start.

// hold keeps st's start back in its connection's held; it reports false, and holds
// nothing, when the connection is not tracked or holds another statement (a second query
// whose rows are open at once, in a transaction): that start is emitted now.
func (c *Connector) hold(st *stmtState) bool {
	cs := st.conn
	if !cs.tracked {
		return false
	}
	st.carried, st.held = true, true // before st is published in held
	if cs.held.CompareAndSwap(nil, st) {
		return true
	}
	st.carried, st.held = false, false
	return false
}

// handOver emits the start of the statement that cs holds back, if any. Not while the
// server's flag says off: the start would be dropped, and the completion, if the flag
// says on by then, would go alone, with neither the statement's type nor its polls; held,
// the start goes with the completion, whole.
func (c *Connector) handOver(cs *connState) {
	st := cs.held.Load()
	if st == nil || c.gate.off() {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if cs.held.CompareAndSwap(st, nil) {
		c.emitStart(st)
	}
}

// handOverAll hands over the held starts of every connection the connector tracks.
func (c *Connector) handOverAll() {
	defer func() { _ = recover() }() // the aggregator's goroutine, or the caller's Close
	c.clock.reset()                  // the aggregator's sweep: see startClock
	c.connsMu.Lock()
	held := make([]*connState, 0, len(c.conns))
	for cs := range c.conns {
		if cs.held.Load() != nil {
			held = append(held, cs)
		}
	}
	c.connsMu.Unlock()
	for _, cs := range held {
		c.handOver(cs)
	}
}

// track makes cs known to the connector, which hands over its held start from then on.
func (c *Connector) track(cs *connState) {
	cs.tracked = true
	c.connsMu.Lock()
	if c.conns == nil {
		c.conns = make(map[*connState]struct{})
	}
	c.conns[cs] = struct{}{}
	c.connsMu.Unlock()
}

// untrack forgets cs, a connection that closes, after handing over its held start: a
// statement whose rows outlive their connection stays known to the aggregator.
//
// Its Outbox closes, its logs going to the queue before the connection's close log. A
// connection is closed after its last statement (database/sql), so the statement
// goroutines that read tracked and box are done with them.
func (c *Connector) untrack(cs *connState) {
	c.handOver(cs)
	cs.tracked = false // nothing is held, nor made an Outbox, from now on
	if cs.box != nil {
		cs.box.Close()
		cs.box = nil
	}
	c.connsMu.Lock()
	delete(c.conns, cs)
	c.connsMu.Unlock()
}
