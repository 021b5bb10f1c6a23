package main

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dbtelemetry/dbtelemetry/aggregator"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// Report is everything the demo measured: what the application saw, what telemetry
// exported and, against the local warehouse, what the server and its ingest recorded.
// -json prints it as is.
type Report struct {
	Target        string           `json:"target"`
	Local         bool             `json:"local"`
	Dialect       string           `json:"dialect"`
	Concurrency   int              `json:"concurrency"`
	Budget        BudgetReport     `json:"budget"`
	ElapsedS      float64          `json:"elapsed_s"` // the workload, setup excluded
	Interrupted   bool             `json:"interrupted"`
	InterruptedBy string           `json:"interrupted_by,omitempty"` // Ctrl-C or SIGTERM
	Statements    int              `json:"statements"`               // workload statements (DDL excluded)
	Setup         int              `json:"setup_statements"`         // the DDL that made, seeded and dropped the table
	Interrupts    int              `json:"interrupted_statements"`
	Kinds         []KindReport     `json:"kinds"`
	Phases        []PhaseReport    `json:"phases"`
	Histogram     []Bucket         `json:"latency_histogram"`
	Errors        []ErrorReport    `json:"errors"`
	Outage        *outageResult    `json:"outage,omitempty"`
	Telemetry     TelemetryReport  `json:"telemetry"`
	Warehouse     *WarehouseReport `json:"warehouse,omitempty"`
	Checks        []Check          `json:"checks"`
	Notes         []string         `json:"notes,omitempty"`
	TelemetryOut  string           `json:"telemetry_out,omitempty"`
}

// BudgetReport is what bounded the workload.
type BudgetReport struct {
	DurationS float64 `json:"duration_s"`
	Queries   int64   `json:"queries"` // 0: no limit
}

// KindReport is one statement kind: the application's measurements, then what the
// delivered telemetry logs say about the same statements.
type KindReport struct {
	Kind            string  `json:"kind"`
	Description     string  `json:"description"`
	Count           int     `json:"count"`
	P50Ms           float64 `json:"p50_ms"`
	P95Ms           float64 `json:"p95_ms"`
	P99Ms           float64 `json:"p99_ms"`
	Rows            int64   `json:"rows"`  // read, or affected by DML
	Bytes           int64   `json:"bytes"` // bytes of the values read
	ErrorsTerminal  int     `json:"errors_terminal"`
	ErrorsRetryable int     `json:"errors_retryable"`
	Interrupted     int     `json:"interrupted,omitempty"`
	// From the telemetry logs delivered for these statements.
	Logs      int            `json:"telemetry_logs"` // statement logs
	ErrorLogs int            `json:"telemetry_error_logs"`
	Delivery  map[string]int `json:"delivery,omitempty"` // execution_result → logs
	Chunks    int64          `json:"chunks"`             // CloudFetch chunks downloaded
	Polls     int64          `json:"polls"`              // status polls
}

// PhaseReport is the workload during one phase: its pace shows whether telemetry's
// trouble reached the application.
type PhaseReport struct {
	Name       string  `json:"name"`
	StartS     float64 `json:"start_s"`
	EndS       float64 `json:"end_s"`
	Statements int     `json:"statements"`
	PerSecond  float64 `json:"per_second"`
	// Latency of the quick statements (lookups, aggregates, DML), where a slowdown
	// would show first.
	QuickP50Ms float64 `json:"quick_p50_ms"`
	QuickP95Ms float64 `json:"quick_p95_ms"`
	QuickP99Ms float64 `json:"quick_p99_ms"`
	Errors     int     `json:"errors"`
	// Logs counts the phase's statements whose statement log was delivered.
	Logs int `json:"telemetry_logs"`
}

// Bucket is one bar of the latency histogram: latencies in [FromMs, ToMs).
type Bucket struct {
	Label  string  `json:"label"`
	FromMs float64 `json:"from_ms"`
	ToMs   float64 `json:"to_ms"` // 0: no upper bound
	Count  int     `json:"count"`
}

// ErrorReport counts the errors the application got, by kind and classification, next
// to the error logs telemetry delivered for them.
type ErrorReport struct {
	Kind          string `json:"kind"`
	Name          string `json:"name"` // telemetry.Classify's name
	SQLState      string `json:"sqlstate,omitempty"`
	Class         string `json:"class"` // terminal or retryable
	Count         int    `json:"count"`
	TelemetryLogs int    `json:"telemetry_logs"` // delivered logs carrying this error name
	Expected      bool   `json:"expected"`
	Example       string `json:"example"` // redacted, shortened
}

// TelemetryReport is the telemetry side, from the Connector's Stats and Transitions and
// from the exporter's HTTP traffic.
type TelemetryReport struct {
	Enabled       bool              `json:"enabled"`
	Settings      map[string]string `json:"settings"`
	Received      int64             `json:"events_received"`
	Queued        int64             `json:"logs_queued"`
	Exported      int64             `json:"logs_exported"`
	Pending       int               `json:"logs_pending"`
	Batches       int64             `json:"batches"`
	Delivered     int64             `json:"batches_delivered"`
	BatchesFailed int64             `json:"batches_failed"` // not delivered after retries
	Rejected      int64             `json:"batches_rejected_by_breaker"`
	Retries       int64             `json:"retries"`
	BreakerOpened int64             `json:"breaker_opened"`
	Breaker       string            `json:"breaker_state"`
	Transitions   []TransitionRow   `json:"breaker_transitions"`
	Dropped       DroppedReport     `json:"dropped"`
	DroppedTotal  int64             `json:"dropped_total"`
	Evicted       int64             `json:"statements_evicted"` // finished without statement.complete
	Panics        int64             `json:"panics"`
	ByKind        []LogKindRow      `json:"logs_by_kind"`
	Answers       map[string]int    `json:"endpoint_answers"` // HTTP status → telemetry POSTs (0: no answer)
	DeliveredLogs int               `json:"delivered_logs"`   // seen acknowledged on the wire
	Undecodable   int               `json:"undecodable_logs"`
}

// DroppedReport is aggregator.Dropped: what telemetry lost, by reason.
type DroppedReport struct {
	QueueFull    int64 `json:"queue_full"`
	ErrorLimit   int64 `json:"error_limit"`
	ExportFailed int64 `json:"export_failed"`
	Closed       int64 `json:"closed"`
	Unfinished   int64 `json:"unfinished"`
	Invalid      int64 `json:"invalid"`
	Undecided    int64 `json:"undecided"` // while the server's feature flag was not known yet (beyond the 1024 kept), or kept until it said off
	Late         int64 `json:"late"`      // events of a statement already evicted
}

// TransitionRow is one change of the breaker.
type TransitionRow struct {
	From string    `json:"from"`
	To   string    `json:"to"`
	At   time.Time `json:"at"`
	AtS  float64   `json:"at_s"` // since the workload began
}

// LogKindRow counts logs of one kind: delivered per the client, received per the ingest.
type LogKindRow struct {
	Kind     string `json:"kind"`
	Exported int    `json:"exported"`
	Received *int   `json:"received,omitempty"` // local warehouse only
}

// WarehouseReport is what the local warehouse recorded.
type WarehouseReport struct {
	Statements      int            `json:"statements"`
	ByState         map[string]int `json:"by_state"`
	ByDelivery      map[string]int `json:"by_delivery"`
	Sessions        int            `json:"sessions"`
	SessionsClosed  int            `json:"sessions_closed"`
	ChunkDownloads  int64          `json:"chunk_downloads"`
	Polls           int64          `json:"polls"`
	Rows            int64          `json:"rows"`
	TelemetryPosts  int            `json:"telemetry_requests"`
	IngestAnswers   map[string]int `json:"ingest_answers"`
	IngestLogs      int            `json:"ingest_logs"`
	FaultsServed    int            `json:"telemetry_faults_served"`
	FeatureFlagGets int            `json:"feature_flag_requests"`
}

// Check is one cross-check; the demo exits 1 when one fails.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// phaseSpan is a phase as it ran.
type phaseSpan struct {
	name       string
	start, end time.Duration
}

// inputs is what buildReport works from.
type inputs struct {
	opts          options
	target        string
	d             dialect
	scanRows      int64
	mix, ddl      []sample
	phases        []phaseSpan
	elapsed       time.Duration
	interrupted   bool
	interruptedBy string // what stopped the run early (interrupted): Ctrl-C or SIGTERM
	runStart      time.Time
	stats         aggregator.Stats
	transitions   []exporter.Transition
	delivered     []string
	answers       map[int]int
	enabled       bool
	settings      map[string]string
	outage        *outageResult
	srv           *warehouse.Server // nil with -dsn
	notes         []string
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }

// percentile is the nearest-rank percentile of sorted latencies.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func latencies(ss []sample) []time.Duration {
	out := make([]time.Duration, 0, len(ss))
	for _, s := range ss {
		if !s.interrupted {
			out = append(out, s.latency)
		}
	}
	slices.Sort(out)
	return out
}

func buildReport(in inputs) *Report {
	r := &Report{
		Target:       in.target,
		Local:        in.srv != nil,
		Dialect:      in.d.name,
		Concurrency:  in.opts.concurrency,
		Budget:       BudgetReport{DurationS: in.opts.duration.Seconds(), Queries: in.opts.queries},
		ElapsedS:     round2(in.elapsed.Seconds()),
		Interrupted:  in.interrupted,
		Outage:       in.outage,
		TelemetryOut: in.opts.telemetryOut,
	}
	if in.interrupted {
		r.InterruptedBy = in.interruptedBy
	}
	logs, bad := decodeLogs(in.delivered)
	kindOf := map[string]int{}
	for _, s := range append(slices.Clone(in.mix), in.ddl...) {
		if s.id != "" {
			kindOf[s.id] = s.kind
		}
	}
	// Telemetry, per statement kind.
	type telAgg struct {
		logs, errLogs int
		delivery      map[string]int
		chunks, polls int64
		errNames      map[string]int
	}
	tel := make([]telAgg, numKinds)
	for i := range tel {
		tel[i] = telAgg{delivery: map[string]int{}, errNames: map[string]int{}}
	}
	stmtLogs := map[string]bool{} // statements with a delivered statement log
	for i := range logs {
		d := logs[i].Entry.SQLDriverLog
		if logKind(&logs[i]) == logStatement {
			stmtLogs[d.SQLStatementID] = true
		}
		k, ok := kindOf[d.SQLStatementID]
		if !ok || d.SQLStatementID == "" {
			continue
		}
		t := &tel[k]
		if d.ErrorInfo != nil {
			t.errNames[d.ErrorInfo.ErrorName]++
		}
		switch logKind(&logs[i]) {
		case logStatement:
			t.logs++
			op := d.SQLOperation
			if op.ExecutionResult != "" {
				t.delivery[op.ExecutionResult]++
			}
			if op.ChunkDetails != nil {
				t.chunks += int64(op.ChunkDetails.TotalChunksIterated)
			}
			if op.OperationDetail != nil {
				t.polls += int64(op.OperationDetail.NOperationStatusCalls)
			}
		case logError:
			t.errLogs++
		}
	}

	byKind := make([][]sample, numKinds)
	for _, s := range in.mix {
		byKind[s.kind] = append(byKind[s.kind], s)
	}
	byKind[kindDDL] = in.ddl
	for k := range numKinds {
		ss := byKind[k]
		if len(ss) == 0 {
			continue
		}
		lat := latencies(ss)
		kr := KindReport{
			Kind: kinds[k].name, Description: strings.ReplaceAll(kinds[k].desc, "{rows}", commas(in.scanRows)), Count: len(ss),
			P50Ms: ms(percentile(lat, 50)), P95Ms: ms(percentile(lat, 95)), P99Ms: ms(percentile(lat, 99)),
			Logs: tel[k].logs, ErrorLogs: tel[k].errLogs, Chunks: tel[k].chunks, Polls: tel[k].polls,
		}
		if len(tel[k].delivery) > 0 {
			kr.Delivery = tel[k].delivery
		}
		for _, s := range ss {
			kr.Rows += s.rows
			kr.Bytes += s.bytes
			switch {
			case s.interrupted:
				kr.Interrupted++
			case s.err != nil && s.class.Terminal:
				kr.ErrorsTerminal++
			case s.err != nil:
				kr.ErrorsRetryable++
			}
		}
		if k == kindDDL {
			r.Setup = len(ss)
		} else {
			r.Statements += len(ss)
			r.Interrupts += kr.Interrupted
		}
		r.Kinds = append(r.Kinds, kr)
	}
	r.Errors = errorRows(in.mix, in.ddl, func(k int, name string) int { return tel[k].errNames[name] })

	for idx, p := range in.phases {
		var ss, quick []sample
		pr := PhaseReport{Name: p.name, StartS: round2(p.start.Seconds()), EndS: round2(p.end.Seconds())}
		for _, s := range in.mix {
			if s.phase != idx {
				continue
			}
			ss = append(ss, s)
			if isQuick(s.kind) {
				quick = append(quick, s)
			}
			if s.failed() {
				pr.Errors++
			}
			if stmtLogs[s.id] {
				pr.Logs++
			}
		}
		lat := latencies(quick)
		pr.Statements = len(ss)
		pr.QuickP50Ms, pr.QuickP95Ms, pr.QuickP99Ms = ms(percentile(lat, 50)), ms(percentile(lat, 95)), ms(percentile(lat, 99))
		if span := (p.end - p.start).Seconds(); span > 0 {
			pr.PerSecond = math.Round(float64(len(ss))/span*10) / 10
		}
		r.Phases = append(r.Phases, pr)
	}
	r.Histogram = histogram(latencies(in.mix))

	r.Telemetry = telemetryReport(in, logs, bad)
	if in.srv != nil {
		r.Warehouse = warehouseReport(in.srv)
		receivedByKind(r, in.srv)
	}
	r.Checks = checks(in, r, logs)
	r.Notes = append(slices.Clone(in.notes), outcomeNotes(r, budgetGoal(in.opts))...)
	return r
}

// outcomeNotes are the notes the run's own figures call for: telemetry that delivered
// nothing, and phases of the local run that the budget left without a statement.
func outcomeNotes(r *Report, budget string) []string {
	var notes []string
	if t := r.Telemetry; t.Enabled && t.Queued > 0 && t.Exported == 0 {
		// A batch the open breaker dropped at once was never sent.
		unsent := ""
		if t.Rejected > 0 {
			unsent = fmt.Sprintf("; %d more dropped at once by the open breaker, never sent", t.Rejected)
		}
		notes = append(notes, fmt.Sprintf("no telemetry log was delivered: the telemetry endpoint acknowledged none of the %d batch(es) sent (answers: %s%s), so the %d log(s) were dropped and counted (see Dropped by reason). The queries ran all the same.",
			t.Batches-t.Rejected, fmtAnswers(t.Answers), unsent, t.DroppedTotal))
	}
	if !r.Local || r.Interrupted {
		return notes
	}
	var empty []string
	for _, p := range r.Phases {
		if p.Statements == 0 {
			empty = append(empty, p.Name)
		}
	}
	if len(empty) > 0 {
		what := "phase"
		if len(empty) > 1 {
			what = "phases"
		}
		notes = append(notes, fmt.Sprintf("the %s %s ran no statement: %s was spent by then. The outage lasts until the breaker has opened and closed again (about 5 s); -duration 10s or more, with no -queries limit or a large one, gives every phase statements of its own.",
			strings.Join(empty, " and "), what, budget))
	}
	return notes
}

// isQuick reports whether statements of kind k are quick ones: lookups, aggregates, DML.
func isQuick(k int) bool {
	return k == kindLookup || k == kindAggregate || k == kindInsert || k == kindUpdate
}

// explainIngest says where the ingest and the client part: an answer the ingest sent
// after the exporter's attempt timeout counts as a failure on the client, which may
// retry the batch (a duplicate) or drop it (a log the client counts as lost).
func explainIngest(ingest []string, delivered []telemetry.FrontendLog) string {
	acked := map[string]bool{}
	for i := range delivered {
		acked[delivered[i].FrontendLogEventID] = true
	}
	logs, _ := decodeLogs(ingest)
	seen := map[string]bool{}
	var dup, late int
	for i := range logs {
		id := logs[i].FrontendLogEventID
		if seen[id] {
			dup++
			continue
		}
		seen[id] = true
		if !acked[id] {
			late++
		}
	}
	return fmt.Sprintf("the ingest holds %d duplicate log(s) and %d log(s) the client never saw acknowledged: answers that came after the exporter's attempt timeout", dup, late)
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// errorRows groups the application's errors by kind, name and class.
func errorRows(mix, ddl []sample, telLogs func(kind int, name string) int) []ErrorReport {
	type key struct {
		kind        int
		name, class string
	}
	rows := map[key]*ErrorReport{}
	var order []key
	for _, s := range append(slices.Clone(mix), ddl...) {
		if !s.failed() {
			continue
		}
		class := classRetryable
		if s.class.Terminal {
			class = classTerminal
		}
		k := key{s.kind, s.class.Name, class}
		e, ok := rows[k]
		if !ok {
			e = &ErrorReport{
				Kind: kinds[s.kind].name, Name: s.class.Name, SQLState: s.class.SQLState, Class: class,
				Expected: s.expectedFailure(), Example: shorten(essence(telemetry.Redact(s.err.Error())), 160),
				TelemetryLogs: telLogs(s.kind, s.class.Name),
			}
			rows[k] = e
			order = append(order, k)
		}
		e.Count++
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].kind < order[j].kind })
	out := make([]ErrorReport, 0, len(order))
	for _, k := range order {
		out = append(out, *rows[k])
	}
	return out
}

// essence drops the driver's generic prefixes from an error message: what is left is
// the server's "[ERROR_CLASS] message", or the cause. A reply the driver could not
// decode (cut by the network) names the cause after a chain of Thrift structs, one per
// level of the reply: the chain goes too, so that the cause survives shortening.
func essence(msg string) string {
	for _, marker := range []string{"ERROR_STATE: ", "failed to execute query: "} {
		if i := strings.Index(msg, marker); i >= 0 {
			msg = msg[i+len(marker):]
			break
		}
	}
	msg = strings.TrimPrefix(msg, "databricks: request error: ")
	return thriftChainRe.ReplaceAllString(msg, "")
}

// thriftChainRe matches the Thrift decoder's chain of structs and fields in front of the
// cause of a failed read ("*cli_service.TRowSet field 0 read error: unexpected EOF"),
// after redaction too (which puts "?" for the numbers).
var thriftChainRe = regexp.MustCompile(`(?:\*[\w.]+ error reading struct: |\*[\w.]+ field [-?\d]+ read error: |error reading field [-?\d]+: )+`)

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// histogramEdges are the upper bounds of the latency buckets, in ms.
func histogramEdges() []float64 {
	return []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000}
}

func histogram(sorted []time.Duration) []Bucket {
	edges := histogramEdges()
	out := make([]Bucket, 0, len(edges)+1)
	from := 0.0
	for _, e := range edges {
		out = append(out, Bucket{Label: fmt.Sprintf("%s–%s", fmtMs(from), fmtMs(e)), FromMs: from, ToMs: e})
		from = e
	}
	out = append(out, Bucket{Label: "≥ " + fmtMs(from), FromMs: from})
	for _, d := range sorted {
		v := float64(d) / float64(time.Millisecond)
		i := sort.SearchFloat64s(edges, v)
		if i < len(edges) && edges[i] == v {
			i++ // [from, to)
		}
		out[i].Count++
	}
	return out
}

func fmtMs(v float64) string {
	if v >= 1000 {
		return strconv.FormatFloat(v/1000, 'f', -1, 64) + " s"
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + " ms"
}

func telemetryReport(in inputs, logs []telemetry.FrontendLog, bad int) TelemetryReport {
	st := in.stats
	t := TelemetryReport{
		Enabled:       in.enabled,
		Settings:      in.settings,
		Received:      st.Received,
		Queued:        st.Queued,
		Exported:      st.Exported,
		Pending:       st.Pending,
		Batches:       st.Batches,
		Delivered:     st.Batches - st.BatchesFailed,
		BatchesFailed: st.Exporter.BatchesFailed,
		Rejected:      st.Exporter.BatchesRejected,
		Retries:       st.Retried,
		BreakerOpened: st.Exporter.BreakerOpened,
		Breaker:       string(st.Breaker),
		Dropped: DroppedReport{
			QueueFull: st.Dropped.QueueFull, ErrorLimit: st.Dropped.ErrorLimit, ExportFailed: st.Dropped.ExportFailed,
			Closed: st.Dropped.Closed, Unfinished: st.Dropped.Unfinished, Invalid: st.Dropped.Invalid,
			Undecided: st.Dropped.Undecided, Late: st.Dropped.Late,
		},
		DroppedTotal:  st.Dropped.Total(),
		Evicted:       st.Evicted.Total(),
		Panics:        st.Panics,
		Answers:       map[string]int{},
		Transitions:   []TransitionRow{},
		DeliveredLogs: len(in.delivered),
		Undecodable:   bad,
	}
	for _, tr := range in.transitions {
		t.Transitions = append(t.Transitions, TransitionRow{
			From: string(tr.From), To: string(tr.To), At: tr.At, AtS: round2(tr.At.Sub(in.runStart).Seconds()),
		})
	}
	for status, n := range in.answers {
		t.Answers[statusLabel(status)] = n
	}
	counts := map[string]int{}
	for i := range logs {
		counts[logKind(&logs[i])]++
	}
	for _, k := range logKindOrder {
		if counts[k] > 0 || k != logOther {
			t.ByKind = append(t.ByKind, LogKindRow{Kind: k, Exported: counts[k]})
		}
	}
	return t
}

func statusLabel(status int) string {
	if status == 0 {
		return "no answer"
	}
	return strconv.Itoa(status)
}

func warehouseReport(srv *warehouse.Server) *WarehouseReport {
	w := &WarehouseReport{ByState: map[string]int{}, ByDelivery: map[string]int{}, IngestAnswers: map[string]int{}}
	for _, st := range srv.Statements() {
		w.Statements++
		w.ByState[st.State]++
		if st.Delivery != warehouse.DeliveryNone {
			w.ByDelivery[string(st.Delivery)]++
		}
		w.ChunkDownloads += int64(st.ChunkDownloads)
		w.Polls += int64(st.Polls)
		w.Rows += st.Rows
	}
	sessions := srv.Sessions()
	w.Sessions = len(sessions)
	for _, ss := range sessions {
		if !ss.ClosedAt.IsZero() {
			w.SessionsClosed++
		}
	}
	reqs := srv.TelemetryRequests()
	w.TelemetryPosts = len(reqs)
	for _, r := range reqs {
		w.IngestAnswers[statusLabel(r.Status)]++
	}
	w.IngestLogs = len(srv.TelemetryLogs())
	w.FaultsServed = srv.FaultsServed(warehouse.GroupTelemetry)
	w.FeatureFlagGets = srv.FeatureFlagRequests()
	return w
}

// receivedByKind adds the ingest's view to the logs-by-kind rows.
func receivedByKind(r *Report, srv *warehouse.Server) {
	logs, _ := decodeLogs(srv.TelemetryLogs())
	counts := map[string]int{}
	for i := range logs {
		counts[logKind(&logs[i])]++
	}
	for i := range r.Telemetry.ByKind {
		n := counts[r.Telemetry.ByKind[i].Kind]
		r.Telemetry.ByKind[i].Received = &n
	}
}

// checks cross-checks the numbers: the Connector's Stats against the wire and the
// ingest, its own accounting, and (locally) telemetry against the warehouse's records.
func checks(in inputs, r *Report, logs []telemetry.FrontendLog) []Check {
	var out []Check
	t := r.Telemetry
	st := in.stats
	add := func(name string, ok bool, format string, args ...any) {
		out = append(out, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	add("exported = delivered on the wire", st.Exported == int64(t.DeliveredLogs),
		"Stats().Exported %d, logs in batches the endpoint acknowledged %d", st.Exported, t.DeliveredLogs)
	accounted := st.Exported + st.Dropped.QueueFull + st.Dropped.ExportFailed + st.Dropped.Unfinished + int64(st.Pending)
	add("every log accounted for", st.Queued == accounted,
		"queued %d = exported %d + export failed %d + queue full %d + unfinished %d + pending %d",
		st.Queued, st.Exported, st.Dropped.ExportFailed, st.Dropped.QueueFull, st.Dropped.Unfinished, st.Pending)
	// The workload: a statement of a kind not meant to fail that failed is a failed run
	// (an interruption by Ctrl-C is not a failure).
	unexpected := map[string]int{}
	nUnexpected, conflicts := 0, 0
	example := ""
	for _, s := range in.mix {
		if s.failed() && !kinds[s.kind].fails && s.expectedFailure() {
			conflicts++
			continue
		}
		if s.failed() && !s.expectedFailure() {
			unexpected[kinds[s.kind].name]++
			nUnexpected++
			if example == "" {
				example = kinds[s.kind].name + ": " + shorten(essence(telemetry.Redact(s.err.Error())), 200)
			}
		}
	}
	which := ""
	if nUnexpected > 0 {
		which = " (" + fmtCounts(unexpected) + "); the first, " + example
	}
	if conflicts > 0 {
		which += fmt.Sprintf("; %d write(s) lost a conflict with another of the demo's writers (retryable), as they may", conflicts)
	}
	add("workload: only the statements meant to fail failed", nUnexpected == 0,
		"%d statement(s) failed that should not have%s", nUnexpected, which)
	if in.srv == nil {
		return out
	}
	w := r.Warehouse
	detail := fmt.Sprintf("Stats().Exported %d, logs the warehouse ingest accepted %d", st.Exported, w.IngestLogs)
	if st.Exported != int64(w.IngestLogs) {
		detail += "; " + explainIngest(in.srv.TelemetryLogs(), logs)
	}
	add("exported = received by the ingest", st.Exported == int64(w.IngestLogs), "%s", detail)

	// Statements: every statement the application ran is on the server, and no other.
	ran := map[string]sample{}
	noID, cutNoID := 0, 0
	for _, s := range append(slices.Clone(in.mix), in.ddl...) {
		switch {
		case s.id != "":
			ran[s.id] = s
		case s.interrupted:
			cutNoID++ // Ctrl-C before the server answered: it may never have arrived
		default:
			noID++
		}
	}
	srvStmts := in.srv.Statements()
	unknown := 0
	for _, st := range srvStmts {
		if _, ok := ran[st.ID]; !ok {
			unknown++
		}
	}
	// A statement whose context ended before the server answered has no id: it matches
	// one the warehouse recorded that the application cannot name.
	add("statements: application = warehouse", unknown == len(srvStmts)-len(ran) && unknown >= noID && unknown <= noID+cutNoID,
		"application ran %d statements (%d of them cut before the server named them), the warehouse recorded %d (%d the application could not name)",
		len(ran)+noID+cutNoID, noID+cutNoID, len(srvStmts), unknown)

	// Sessions: a CREATE_SESSION log per warehouse session and a DELETE_SESSION log per
	// session closed, unless the outage lost it (counted below, with the statements').
	var opens, closes int
	for i := range logs {
		switch logKind(&logs[i]) {
		case logConnOpen:
			opens++
		case logConnClose:
			closes++
		}
	}
	dropped := st.Dropped.Total()
	telemetryOff := !in.enabled || st.Received == 0 && st.Queued == 0
	if telemetryOff {
		// Off by the kill switch or the server's flag: no session may have a log.
		add("sessions: no CREATE_SESSION log while telemetry is off", opens+closes == 0,
			"%d CREATE_SESSION and %d DELETE_SESSION logs delivered, %d sessions on the warehouse", opens, closes, w.Sessions)
	} else {
		add("sessions: CREATE_SESSION logs = warehouse sessions", opens <= w.Sessions && closes <= w.SessionsClosed,
			"%d CREATE_SESSION and %d DELETE_SESSION logs delivered, %d sessions on the warehouse, %d of them closed", opens, closes, w.Sessions, w.SessionsClosed)
	}

	// Per statement: what telemetry says about chunks, polls and delivery agrees with
	// the warehouse, for every statement whose log arrived (delivery where the result
	// reached the client: see served).
	bySrv := map[string]warehouse.StatementRecord{}
	for _, st := range srvStmts {
		bySrv[st.ID] = st
	}
	var withLog, mismatch int
	firstMismatch := ""
	logged := map[string]bool{} // statements with a log: a log delivered twice stands for one
	var chunks, srvChunks, polls, srvPolls int64
	for i := range logs {
		if logKind(&logs[i]) != logStatement {
			continue
		}
		d := logs[i].Entry.SQLDriverLog
		rec, ok := bySrv[d.SQLStatementID]
		if !ok || ran[d.SQLStatementID].interrupted {
			continue // Ctrl-C cut the statement: client and server stopped at different points
		}
		withLog++
		logged[d.SQLStatementID] = true
		op := d.SQLOperation
		var c, p int64
		if op.ChunkDetails != nil {
			c = int64(op.ChunkDetails.TotalChunksIterated)
		}
		if op.OperationDetail != nil {
			p = int64(op.OperationDetail.NOperationStatusCalls)
		}
		chunks, srvChunks, polls, srvPolls = chunks+c, srvChunks+int64(rec.ChunkDownloads), polls+p, srvPolls+int64(rec.Polls)
		if c != int64(rec.ChunkDownloads) || p != int64(rec.Polls) ||
			(served(rec) && op.ExecutionResult != string(rec.Delivery)) {
			mismatch++
			if firstMismatch == "" {
				// What a reader needs to tell which side is wrong.
				kind := "setup"
				if s, ok := ran[d.SQLStatementID]; ok {
					kind = kinds[s.kind].name
				}
				firstMismatch = fmt.Sprintf(" (the first, of a %s statement: chunks %d, polls %d, delivery %q in its log; the warehouse's: %d, %d, %q, state %s)",
					kind, c, p, op.ExecutionResult, rec.ChunkDownloads, rec.Polls, rec.Delivery, rec.State)
			}
		}
	}
	add("telemetry = warehouse, statement by statement", mismatch == 0,
		"%d statements with a log: chunks %d = %d downloaded, polls %d = %d answered, delivery as served; %d disagree%s",
		withLog, chunks, srvChunks, polls, srvPolls, mismatch, firstMismatch)

	// Every session the warehouse opened and closed, and every statement it named, has its
	// log, unless the log is among those counted as dropped: each dropped log excuses one
	// missing log, whatever its kind. A telemetry that lost logs uncounted fails here,
	// however well the logs that did arrive agree.
	named := 0
	for id, s := range ran {
		if _, ok := bySrv[id]; ok && !s.interrupted {
			named++
		}
	}
	if telemetryOff {
		add("statements: no statement log while telemetry is off", withLog == 0,
			"%d statement logs delivered, %d statements named by the warehouse", withLog, named)
	} else {
		missing := max(0, w.Sessions-opens) + max(0, w.SessionsClosed-closes) + max(0, named-len(logged))
		add("logs: one per session opened, session closed and statement, or its loss counted", int64(missing) <= dropped,
			"%d sessions opened and %d closed on the warehouse, %d CREATE_SESSION and %d DELETE_SESSION logs; %d statements named by the warehouse, %d with a log; %d logs missing, %d dropped",
			w.Sessions, w.SessionsClosed, opens, closes, named, withLog, missing, dropped)
	}

	// Rows: what the application read is what the warehouse sent.
	var rowMismatch, compared int
	for _, s := range in.mix {
		rec, ok := bySrv[s.id]
		if !ok || s.err != nil {
			continue
		}
		compared++
		want := rec.Rows
		if kinds[s.kind].exec {
			want = rec.ModifiedRows
		}
		if s.rows != want {
			rowMismatch++
		}
	}
	add("rows: application = warehouse", rowMismatch == 0,
		"%d successful statements compared, %d disagree", compared, rowMismatch)
	return out
}

// served reports whether the result of a statement the warehouse finished reached the
// client, so that the client can tell its delivery: in the reply to ExecuteStatement
// (direct results, when the statement was not answered RUNNING), by FetchResults, or by
// a CloudFetch download. The driver fetches no result of an Exec it polled to its end
// (the modified rows come with the status), which the warehouse still prepared.
func served(rec warehouse.StatementRecord) bool {
	return rec.State == warehouse.StateFinished && (!rec.Async || rec.Fetches > 0 || rec.ChunkDownloads > 0)
}
