package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/databricks/databricks-sql-go/driverctx"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// Statement kinds of the workload, in the order the report lists them.
const (
	kindLookup = iota
	kindAggregate
	kindInsert
	kindUpdate
	kindSlow
	kindScan
	kindMissing
	kindDivZero
	kindCancelled
	kindDDL // setup and teardown (a count, and DDL and DML), outside the mix
	numKinds
)

// Classes of a failed statement, as telemetry.Classify decides.
const (
	classTerminal  = "terminal"
	classRetryable = "retryable"
)

// cancelAfter is how long the cancelled kind's context lives. It must outlast the
// ExecuteStatement call (the local warehouse answers RUNNING after 200 ms): a context
// that ends before the driver has the operation handle leaves the driver nothing to
// cancel, and the statement runs on, holding its session.
const cancelAfter = time.Second

// seedRows is the number of rows the demo table starts with.
const seedRows = 1000

// defaultScanRows is the size of the large scan: well above the local warehouse's
// CloudFetch threshold (100,000 rows), so it comes back as 4 CloudFetch files.
const defaultScanRows = 1_000_000

// kindInfo describes one statement kind of the mix.
type kindInfo struct {
	name   string
	desc   string
	weight int  // statements of this kind in every 100 of the mix
	exec   bool // ExecContext (rows affected) rather than QueryContext (rows read)
	fails  bool // expected to fail
}

// kinds is read-only: the catalogue of statement kinds.
var kinds = [numKinds]kindInfo{
	kindLookup:    {name: "lookup", desc: "point lookup by key, parameterised", weight: 45},
	kindAggregate: {name: "aggregate", desc: "GROUP BY over the demo table", weight: 15},
	kindInsert:    {name: "insert", desc: "INSERT one row (DML)", weight: 20, exec: true},
	kindUpdate:    {name: "update", desc: "UPDATE one row (DML)", weight: 8, exec: true},
	kindSlow:      {name: "slow", desc: "slow query: answered RUNNING, then polled", weight: 2},
	kindScan:      {name: "scan", desc: "large scan ({rows} rows), delivered by CloudFetch", weight: 3},
	kindMissing:   {name: "missing-table", desc: "missing table: 42P01, terminal", weight: 3, fails: true},
	kindDivZero:   {name: "div-by-zero", desc: "division by zero: 22012 data error, terminal", weight: 3, fails: true},
	kindCancelled: {name: "cancelled", desc: "long query cut by a 1 s context: timeout, retryable", weight: 1, fails: true},
	kindDDL:       {name: "setup", desc: "CREATE, seed, count and DROP of the demo table", exec: true},
}

// dialect holds the SQL of each kind for one kind of warehouse. The local warehouse is
// DuckDB; a real one speaks Databricks SQL.
type dialect struct {
	name      string
	create    string // {table}: the demo table
	seed      string // {table}: the demo table
	drop      string // {table}: the demo table
	count     string // {table}: the demo table
	lookup    string
	aggregate string
	insert    string
	update    string
	slow      string
	scan      string // {rows}: the scan's row count
	missing   string
	divZero   string
	cancelled string
}

// duckDB (read-only) is the local warehouse's dialect: wait_ms(n) is its interruptible sleep.
var duckDB = dialect{
	name:      "DuckDB",
	create:    "CREATE TABLE {table} (id BIGINT, region VARCHAR, amount DOUBLE)",
	seed:      "INSERT INTO {table} SELECT range, 'region-' || CAST(range % 8 AS VARCHAR), (range % 1000) / 10.0 FROM range(1000)",
	drop:      "DROP TABLE IF EXISTS {table}",
	count:     "SELECT count(*) AS n FROM {table}",
	lookup:    "SELECT id, region, amount FROM {table} WHERE id = ?",
	aggregate: "SELECT region, count(*) AS n, sum(amount) AS total, avg(amount) AS mean FROM {table} GROUP BY region ORDER BY region",
	insert:    "INSERT INTO {table} (id, region, amount) VALUES (?, ?, ?)",
	update:    "UPDATE {table} SET amount = amount + 1 WHERE id = ?",
	slow:      "SELECT wait_ms(300) AS waited",
	scan:      "SELECT range FROM range({rows})",
	missing:   "SELECT * FROM dbtelemetry_demo_no_such_table",
	divZero:   "SELECT 100 / (SELECT count(*) FROM range(0)) AS ratio",
	cancelled: "SELECT wait_ms(60000)",
}

// databricksSQL (read-only) is the dialect of a real warehouse (-dsn). It has no sleep
// function: the slow and cancelled kinds are large aggregates instead. range(n) AS r(id)
// names the column the same way in Databricks SQL and DuckDB, so the tests can run this
// dialect against the local warehouse too.
var databricksSQL = dialect{
	name:      "Databricks SQL",
	create:    "CREATE TABLE {table} (id BIGINT, region STRING, amount DOUBLE)",
	seed:      "INSERT INTO {table} SELECT id, concat('region-', CAST(id % 8 AS STRING)), (id % 1000) / 10.0 FROM range(1000) AS r(id)",
	drop:      "DROP TABLE IF EXISTS {table}",
	count:     "SELECT count(*) AS n FROM {table}",
	lookup:    "SELECT id, region, amount FROM {table} WHERE id = ?",
	aggregate: "SELECT region, count(*) AS n, sum(amount) AS total, avg(amount) AS mean FROM {table} GROUP BY region ORDER BY region",
	insert:    "INSERT INTO {table} (id, region, amount) VALUES (?, ?, ?)",
	update:    "UPDATE {table} SET amount = amount + 1 WHERE id = ?",
	slow:      "SELECT count(*) AS n FROM range(200000000) AS r(id)",
	scan:      "SELECT id FROM range({rows}) AS r(id)",
	missing:   "SELECT * FROM dbtelemetry_demo_no_such_table",
	divZero:   "SELECT 100 / (SELECT count(*) FROM range(0)) AS ratio",
	cancelled: "SELECT sum(id) AS total FROM range(100000000000) AS r(id)",
}

// sample is what the application measured of one statement.
type sample struct {
	kind        int
	phase       int
	seq         int64
	id          string        // statement (query) id, from the driver's callback
	at          time.Duration // start, since the run began
	latency     time.Duration // call to Rows.Close (or Exec's return)
	rows        int64         // rows read, or rows affected for DML
	bytes       int64         // bytes of the values read, as decoded
	err         error
	class       telemetry.Class
	interrupted bool // stopped by Ctrl-C: an outcome, not a failure
}

func (s *sample) failed() bool { return s.err != nil && !s.interrupted }

// expectedFailure reports whether s failed as it may: a kind meant to fail, or a write
// (insert, update) that lost a conflict with another of the demo's writers, which a
// real warehouse reports as a retryable transaction rollback (a Delta commit conflict,
// SQLSTATE 2D521, where the table has no row-level concurrency; a serialization failure,
// 40001).
func (s *sample) expectedFailure() bool {
	if kinds[s.kind].fails {
		return true
	}
	return (s.kind == kindInsert || s.kind == kindUpdate) && s.class.Name == telemetry.ErrNameTransaction
}

// budget bounds the workload: statements are handed out until the duration has passed
// or the query count is reached, whichever comes first.
type budget struct {
	start    time.Time
	duration time.Duration
	queries  int64 // 0: no limit
	taken    atomic.Int64
	done     atomic.Int64
}

// spent reports whether no statement is handed out any more: the duration has passed,
// or every one of the queries was taken.
func (b *budget) spent() bool {
	return time.Since(b.start) >= b.duration || b.queries > 0 && b.taken.Load() >= b.queries
}

// take reserves the next statement; false once the budget is spent.
func (b *budget) take() (int64, bool) {
	if time.Since(b.start) >= b.duration {
		return 0, false
	}
	n := b.taken.Add(1)
	if b.queries > 0 && n > b.queries {
		return 0, false
	}
	return n - 1, true
}

// fraction is how much of the budget is spent, 0…1.
func (b *budget) fraction() float64 {
	f := float64(time.Since(b.start)) / float64(b.duration)
	if b.queries > 0 {
		f = max(f, float64(b.done.Load())/float64(b.queries))
	}
	return min(f, 1)
}

// workload runs the mix on a pool with concurrent workers.
type workload struct {
	db       *sql.DB
	d        dialect
	table    string
	scanRows int64
	workers  int
	deck     []int // kinds, in the order they are handed out
	start    time.Time
	budget   *budget
	phase    atomic.Int32
	running  atomic.Int64 // workload statements in flight
	// onBegin, when set before run, hears of each workload statement as it begins, with
	// its phase.
	onBegin func(phase int)

	created bool // setup's CREATE may have created the table (see setup)

	mu      sync.Mutex
	samples []sample
	ddl     []sample
}

func newWorkload(db *sql.DB, d dialect, workers int, scanRows int64, start time.Time, b *budget) *workload {
	return &workload{
		db: db, d: d, workers: workers, scanRows: scanRows, start: start, budget: b,
		table: "dbtelemetry_demo_" + randomHex(4),
		deck:  newDeck(),
	}
}

// newDeck lays out 100 statements by weight: one of each kind first, so that even a
// short run (-queries 20) sees every kind, then the rest in a fixed shuffled order.
func newDeck() []int {
	first := []int{kindLookup, kindAggregate, kindInsert, kindScan, kindMissing, kindUpdate, kindDivZero, kindSlow, kindCancelled}
	var rest []int
	for k := range kindDDL {
		for range kinds[k].weight - 1 {
			rest = append(rest, k)
		}
	}
	r := mrand.New(mrand.NewPCG(5, 2026))
	r.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	return append(first, rest...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// sql puts the demo table's name and the scan's row count into a dialect's statement.
func (w *workload) sql(q string) string {
	return strings.NewReplacer("{table}", w.table, "{rows}", strconv.FormatInt(w.scanRows, 10)).Replace(q)
}

// setup creates and seeds the demo table, and counts its rows.
//
// The count is also the first query of the process, made before the workers start:
// the driver's first row scanner caches a time zone in a type the arrow library shares
// process-wide (arrow.FixedWidthTypes.Timestamp_us), and two first queries at once race
// on that cache.
func (w *workload) setup(ctx context.Context) (int64, error) {
	for _, q := range []string{w.d.create, w.d.seed} {
		s := w.exec(ctx, kindDDL, -1, w.sql(q))
		w.ddl = append(w.ddl, s)
		if q == w.d.create {
			// The table may exist: the CREATE succeeded, or its answer never came back
			// (Ctrl-C, a reply a gateway or the network cut) once the pool had a session
			// to send it on. A CREATE that failed before any session (no connection, a
			// wrong token) or that the warehouse refused with a SQL error (no
			// permission, no such schema) left nothing to drop.
			w.created = s.err == nil ||
				w.db.Stats().OpenConnections > 0 && (s.interrupted || s.class.SQLState == "")
		}
		if s.err != nil {
			return 0, fmt.Errorf("set up the demo table: %w", s.err)
		}
	}
	ctx, s, cell := w.begin(ctx, kindDDL, -1)
	began := time.Now()
	var n int64
	err := w.db.QueryRowContext(ctx, w.sql(w.d.count)).Scan(&n)
	if err == nil {
		s.rows = 1
	}
	w.ddl = append(w.ddl, w.finish(ctx, s, cell, began, err))
	if err != nil {
		return 0, fmt.Errorf("count the demo table: %w", err)
	}
	return n, nil
}

// teardown drops the demo table, within 10 s and until ctx ends: after Ctrl-C too. It
// does nothing when setup never created it. It returns the DROP's error: the table may
// then be left on the warehouse.
func (w *workload) teardown(ctx context.Context) error {
	if !w.created {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s := w.exec(ctx, kindDDL, -1, w.sql(w.d.drop))
	w.ddl = append(w.ddl, s)
	return s.err
}

// run starts the workers and returns when the budget is spent or ctx is cancelled.
// onSample is called after each statement (progress).
func (w *workload) run(ctx context.Context, onSample func(sample)) {
	var wg sync.WaitGroup
	for i := range w.workers {
		wg.Go(func() { w.worker(ctx, i, onSample) })
	}
	wg.Wait()
}

func (w *workload) worker(ctx context.Context, idx int, onSample func(sample)) {
	rng := mrand.New(mrand.NewPCG(uint64(idx)+1, 7))
	for ctx.Err() == nil {
		seq, ok := w.budget.take()
		if !ok {
			return
		}
		k := w.deck[seq%int64(len(w.deck))]
		w.running.Add(1)
		s := w.statement(ctx, k, seq, idx, rng)
		w.running.Add(-1)
		w.budget.done.Add(1)
		w.mu.Lock()
		w.samples = append(w.samples, s)
		w.mu.Unlock()
		if onSample != nil {
			onSample(s)
		}
	}
}

// statement runs one statement of kind k.
func (w *workload) statement(ctx context.Context, k int, seq int64, worker int, rng *mrand.Rand) sample {
	switch k {
	case kindLookup:
		return w.query(ctx, k, seq, w.sql(w.d.lookup), rng.Int64N(seedRows))
	case kindAggregate:
		return w.query(ctx, k, seq, w.sql(w.d.aggregate))
	case kindInsert:
		return w.exec(ctx, k, seq, w.sql(w.d.insert),
			1_000_000+seq, fmt.Sprintf("region-%d", rng.IntN(8)), float64(rng.IntN(100000))/100)
	case kindUpdate:
		// Each worker updates its own rows, so concurrent updates never conflict.
		n := int64(seedRows / w.workers)
		return w.exec(ctx, k, seq, w.sql(w.d.update), int64(worker)+int64(w.workers)*rng.Int64N(max(n, 1)))
	case kindSlow:
		return w.query(ctx, k, seq, w.d.slow)
	case kindScan:
		return w.query(ctx, k, seq, w.sql(w.d.scan))
	case kindMissing:
		return w.query(ctx, k, seq, w.d.missing)
	case kindDivZero:
		return w.query(ctx, k, seq, w.d.divZero)
	case kindCancelled:
		// The statement's own deadline ends it (DeadlineExceeded): the failure this kind
		// is about, unlike Ctrl-C (Canceled), which finish counts as an interruption.
		cctx, cancel := context.WithTimeout(ctx, cancelAfter)
		defer cancel()
		return w.query(cctx, k, seq, w.d.cancelled)
	}
	panic(fmt.Sprintf("demo: unknown statement kind %d", k))
}

// begin prepares a statement's sample and a context that learns its statement id.
func (w *workload) begin(ctx context.Context, k int, seq int64) (context.Context, *sample, *idCell) {
	cell := &idCell{}
	ctx = driverctx.NewContextWithQueryIdCallback(ctx, cell.set)
	phase := int(w.phase.Load())
	if k != kindDDL && w.onBegin != nil {
		w.onBegin(phase)
	}
	return ctx, &sample{kind: k, seq: seq, phase: phase, at: time.Since(w.start)}, cell
}

// finish records the outcome of a statement.
func (w *workload) finish(ctx context.Context, s *sample, cell *idCell, began time.Time, err error) sample {
	s.latency = time.Since(began)
	s.id = cell.get()
	if err != nil {
		s.err = err
		// A statement stopped because the user pressed Ctrl-C is an outcome, not an error.
		s.interrupted = ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled)
		s.class = telemetry.Classify(err)
	}
	return *s
}

func (w *workload) exec(ctx context.Context, k int, seq int64, q string, args ...any) sample {
	ctx, s, cell := w.begin(ctx, k, seq)
	began := time.Now()
	res, err := w.db.ExecContext(ctx, q, args...)
	if err == nil {
		s.rows, _ = res.RowsAffected()
	}
	return w.finish(ctx, s, cell, began, err)
}

func (w *workload) query(ctx context.Context, k int, seq int64, q string, args ...any) sample {
	ctx, s, cell := w.begin(ctx, k, seq)
	began := time.Now()
	rows, bytes, err := readAll(ctx, w.db, q, args...)
	s.rows, s.bytes = rows, bytes
	return w.finish(ctx, s, cell, began, err)
}

// readAll runs a query and reads every row, counting rows and the bytes of the values
// as the application receives them.
func readAll(ctx context.Context, db *sql.DB, q string, args ...any) (n, size int64, err error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
	}()
	cols, err := rows.Columns()
	if err != nil {
		return 0, 0, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, size, err
		}
		n++
		for _, v := range vals {
			size += valueBytes(v)
		}
	}
	return n, size, rows.Err()
}

// valueBytes is the size of a scanned value: fixed-width types by their width,
// strings and byte slices by their length.
func valueBytes(v any) int64 {
	switch x := v.(type) {
	case nil:
		return 0
	case string:
		return int64(len(x))
	case []byte:
		return int64(len(x))
	case bool, int8, uint8:
		return 1
	case int16, uint16:
		return 2
	case int32, uint32, float32:
		return 4
	default: // int64, float64, time.Time, …
		return 8
	}
}

// idCell receives a statement's id from the driver's callback.
type idCell struct{ v atomic.Pointer[string] }

func (c *idCell) set(id string) { c.v.Store(&id) }

func (c *idCell) get() string {
	if p := c.v.Load(); p != nil {
		return *p
	}
	return ""
}

// results returns every workload sample and the DDL samples.
func (w *workload) results() (mix, ddl []sample) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]sample(nil), w.samples...), append([]sample(nil), w.ddl...)
}
