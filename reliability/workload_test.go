package reliability_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
)

// op is one kind of statement of the workload.
type op int

const (
	opSmall      op = iota // a one-row query with a parameter
	opCloudFetch           // a 200,000-row read delivered through CloudFetch
	opDML                  // an INSERT into the worker's own table
	opFailing              // a statement the warehouse rejects (SQLSTATE 22018)
	numOps
)

func (o op) String() string {
	return [...]string{"small", "cloudfetch", "dml", "failing"}[o]
}

// Markers of the workload that must never leave the process through telemetry: they
// are in its SQL text, literals and parameter values.
const (
	cloudFetchRows = 200_000
	literalMark    = "lit-q7zk"  // a literal in the failing statement
	paramMark      = "prm-x9vw"  // a string parameter value
	tablePrefix    = "tbl_rel_w" // the workload's table names
	columnMark     = "col_k3rp"  // a column alias
	failingSQL     = "SELECT CAST('" + literalMark + "' AS INTEGER)"
	smallSQL       = "SELECT ? * 2 AS " + columnMark + ", ? AS tag"
	cloudFetchSQL  = "SELECT range AS " + columnMark + " FROM range(200000)"
	wantFailState  = "22018"
	cloudFetchSum  = int64(cloudFetchRows) * (cloudFetchRows - 1) / 2
	maxFailureText = 5
)

// workloadMarkers are the workload's private strings, for the privacy scans.
func workloadMarkers() []string {
	return []string{literalMark, paramMark, tablePrefix, columnMark, "SELECT", "INSERT", "range(", "CAST("}
}

// workload runs a mix of statements on several goroutines until stopped: worker 0 reads
// 200k rows through CloudFetch again and again, the others run small parameterised
// queries, DML and a failing statement. Every result is checked against what it must be; a statement whose
// result or error differs is a failure.
type workload struct {
	db      *sql.DB
	workers int
	// opTimeout bounds each statement, so that a statement blocked by telemetry shows
	// up as a failure rather than a hung test.
	opTimeout time.Duration
	// stopOnError ends a worker at its first error (the warehouse-killed case, where
	// every later statement would fail the same way).
	stopOnError bool
	// noCloudFetch leaves the 200k-row read out (short tests under -race).
	noCloudFetch bool

	mu       sync.Mutex
	lat      [numOps][]time.Duration
	failed   [numOps]int
	errs     []error // the unexpected errors, in order (at most maxFailureText kept)
	inserted []int   // successful inserts per worker
}

func newWorkload(db *sql.DB, workers int) *workload {
	return &workload{db: db, workers: workers, opTimeout: 30 * time.Second, inserted: make([]int, workers)}
}

// prepare creates the workers' tables.
func (w *workload) prepare(ctx context.Context) error {
	for i := range w.workers {
		if _, err := w.db.ExecContext(ctx, fmt.Sprintf("CREATE TABLE %s%d(a INTEGER, tag VARCHAR)", tablePrefix, i)); err != nil {
			return fmt.Errorf("create table %d: %w", i, err)
		}
	}
	return nil
}

// start runs the workers until stop is closed; the returned channel is closed when
// every worker has finished its statement in flight.
func (w *workload) start(stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range w.workers {
		wg.Go(func() { w.worker(i, stop) })
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// schedule is each worker's cycle of statements.
var schedule = [...]op{opSmall, opSmall, opDML, opSmall, opFailing, opSmall}

func (w *workload) worker(i int, stop <-chan struct{}) {
	for k := 0; ; k++ {
		select {
		case <-stop:
			return
		default:
		}
		o := schedule[k%len(schedule)]
		if i == 0 && !w.noCloudFetch {
			// One worker reads through CloudFetch all the time, so that every case runs
			// the same mix however long it lasts.
			o = opCloudFetch
		}
		began := time.Now()
		err := w.run(i, k, o, stop)
		if errors.Is(err, errAbandoned) {
			return
		}
		w.record(o, time.Since(began), err)
		if err != nil && w.stopOnError {
			return
		}
	}
}

// errAbandoned: the workload was stopped in the middle of a CloudFetch read, which was
// closed early (as a program may do) and is not counted.
var errAbandoned = errors.New("read abandoned: the workload stopped")

// run executes one statement and checks its result.
func (w *workload) run(worker, k int, o op, stop <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.opTimeout)
	defer cancel()
	switch o {
	case opSmall:
		var got int64
		var tag string
		tagWant := fmt.Sprintf("%s-%d-%d", paramMark, worker, k)
		if err := w.db.QueryRowContext(ctx, smallSQL, k, tagWant).Scan(&got, &tag); err != nil {
			return fmt.Errorf("small query: %w", err)
		}
		if got != int64(2*k) || tag != tagWant {
			return mismatchf("small query: got %d, %q; want %d, %q", got, tag, 2*k, tagWant)
		}
	case opCloudFetch:
		rows, err := w.db.QueryContext(ctx, cloudFetchSQL)
		if err != nil {
			return fmt.Errorf("cloudfetch query: %w", err)
		}
		var n, sum int64
		for rows.Next() {
			var v int64
			if err := rows.Scan(&v); err != nil {
				_ = rows.Close()
				return fmt.Errorf("cloudfetch scan: %w", err)
			}
			n++
			sum += v
			if n%4096 == 0 {
				select {
				case <-stop:
					if err := rows.Close(); err != nil {
						return fmt.Errorf("cloudfetch close early: %w", err)
					}
					return errAbandoned
				default:
				}
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("cloudfetch rows: %w", err)
		}
		if n != cloudFetchRows || sum != cloudFetchSum {
			return mismatchf("cloudfetch: got %d rows summing to %d; want %d, %d", n, sum, cloudFetchRows, cloudFetchSum)
		}
	case opDML:
		res, err := w.db.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s%d VALUES (?, ?)", tablePrefix, worker), k, paramMark)
		if err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return mismatchf("insert: %d rows affected, %v; want 1", n, err)
		}
		w.mu.Lock()
		w.inserted[worker]++
		w.mu.Unlock()
	case opFailing:
		_, err := w.db.ExecContext(ctx, failingSQL)
		var ee dbsqlerr.DBExecutionError
		switch {
		case err == nil:
			return mismatchf("failing statement: succeeded; want SQLSTATE %s", wantFailState)
		case errors.As(err, &ee) && ee.SqlState() == wantFailState:
		case errors.As(err, &ee) && ee.SqlState() != "":
			return mismatchf("failing statement: SQLSTATE %s; want %s", ee.SqlState(), wantFailState)
		default:
			return fmt.Errorf("failing statement: %w", err)
		}
	}
	return nil
}

func (w *workload) record(o op, d time.Duration, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lat[o] = append(w.lat[o], d)
	if err != nil {
		w.failed[o]++
		w.errs = append(w.errs, err)
	}
}

// completed returns how many statements of kind o have finished without error.
func (w *workload) completed(o op) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.lat[o]) - w.failed[o]
}

// verifyTables checks that every successful insert is in its table (and nothing else).
func (w *workload) verifyTables(ctx context.Context) error {
	for i := range w.workers {
		var n int
		if err := w.db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM %s%d", tablePrefix, i)).Scan(&n); err != nil {
			return fmt.Errorf("count table %d: %w", i, err)
		}
		w.mu.Lock()
		want := w.inserted[i]
		w.mu.Unlock()
		if n != want {
			return fmt.Errorf("table %d holds %d rows; %d inserts succeeded", i, n, want)
		}
	}
	return nil
}

// ran returns how many statements ran, and how many of them failed.
func (w *workload) ran() (runs, failed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for o := range numOps {
		runs += len(w.lat[o])
		failed += w.failed[o]
	}
	return runs, failed
}

// p50 returns the median latency of the statements of kind o (0 when none ran).
func (w *workload) p50(o op) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return median(w.lat[o])
}

// failures returns the first unexpected errors, as text.
func (w *workload) failures() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, err := range w.errs[:min(len(w.errs), maxFailureText)] {
		out = append(out, err.Error())
	}
	return out
}

// runFor prepares the tables, runs the workload for d and checks its tables.
func (w *workload) runFor(ctx context.Context, d time.Duration) error {
	if err := w.prepare(ctx); err != nil {
		return err
	}
	stop := make(chan struct{})
	done := w.start(stop)
	time.Sleep(d)
	close(stop)
	<-done
	return w.verifyTables(ctx)
}

// errors returns every unexpected error.
func (w *workload) errors() []error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.errs)
}

// mismatch is a statement that returned, but not what it must.
type mismatch struct{ what string }

func (m *mismatch) Error() string { return m.what }

func mismatchf(format string, args ...any) error { return &mismatch{fmt.Sprintf(format, args...)} }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
