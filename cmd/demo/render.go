package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"
)

// writeJSON prints the report as one indented JSON document.
func writeJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	return nil
}

// newTable returns a table writer with the demo's style, rendering to w.
func newTable(w io.Writer, title string) table.Writer {
	t := table.NewWriter()
	t.SetOutputMirror(w)
	t.SetStyle(table.StyleLight)
	t.Style().Title.Align = text.AlignLeft
	t.Style().Format.Footer = text.FormatDefault
	t.SetTitle(title)
	return t
}

// rightAligned aligns the columns numbered in cols (1-based) to the right.
func rightAligned(t table.Writer, cols ...int) {
	cfg := make([]table.ColumnConfig, 0, len(cols))
	for _, c := range cols {
		cfg = append(cfg, table.ColumnConfig{Number: c, Align: text.AlignRight, AlignHeader: text.AlignRight, AlignFooter: text.AlignRight})
	}
	t.SetColumnConfigs(cfg)
}

// writeText prints the report for people: tables, a histogram and the cross-checks.
func writeText(w io.Writer, r *Report) {
	fmt.Fprintln(w)
	where := "a real warehouse at " + r.Target
	if r.Local {
		where = "the local warehouse at " + r.Target
	}
	state := "finished"
	if r.Interrupted {
		state = "interrupted (" + cmp.Or(r.InterruptedBy, "Ctrl-C") + "): the report so far"
	}
	setup := ""
	if r.Setup > 0 {
		setup = fmt.Sprintf(" (and %s for setup)", commas(int64(r.Setup)))
	}
	if r.Interrupts > 0 {
		setup += fmt.Sprintf(", %s of them interrupted,", commas(int64(r.Interrupts)))
	}
	fmt.Fprintf(w, "%s statements%s in %.1f s on %d connections against %s (%s), %s.\n\n",
		commas(int64(r.Statements)), setup, r.ElapsedS, r.Concurrency, where, r.Dialect, state)

	writeKinds(w, r)
	writePhases(w, r)
	writeHistogram(w, r)
	writeErrors(w, r)
	writeTelemetry(w, r)
	writeChecks(w, r)
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "Notes")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
}

func writeKinds(w io.Writer, r *Report) {
	t := newTable(w, "Statements by kind")
	t.AppendHeader(table.Row{"kind", "count", "p50", "p95", "p99", "rows", "bytes", "errors T/R", "logs", "delivery", "chunks", "polls"})
	var count, logs int
	var rows, bytes, chunks, polls int64
	var term, retry int
	for _, k := range r.Kinds {
		t.AppendRow(table.Row{
			k.Kind, commas(int64(k.Count)), fmtLatency(k.P50Ms), fmtLatency(k.P95Ms), fmtLatency(k.P99Ms),
			commas(k.Rows), fmtBytes(k.Bytes, k.Kind), fmtErrors(k.ErrorsTerminal, k.ErrorsRetryable),
			commas(int64(k.Logs)), fmtDelivery(k.Delivery), commas(k.Chunks), commas(k.Polls),
		})
		count, logs, rows, bytes, chunks, polls = count+k.Count, logs+k.Logs, rows+k.Rows, bytes+k.Bytes, chunks+k.Chunks, polls+k.Polls
		term, retry = term+k.ErrorsTerminal, retry+k.ErrorsRetryable
	}
	t.AppendFooter(table.Row{"total", commas(int64(count)), "", "", "", commas(rows), fmtBytes(bytes, ""), fmtErrors(term, retry), commas(int64(logs)), "", commas(chunks), commas(polls)})
	rightAligned(t, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12)
	t.Render()
	fmt.Fprintln(w, "  count, latency (call to Rows.Close), rows (read, or affected by DML), bytes (of the values read) and")
	fmt.Fprintln(w, "  errors T/R (terminal/retryable, per telemetry.Classify) are what the application measured; logs (statement")
	fmt.Fprintln(w, "  logs delivered), delivery, chunks and polls come from those logs: fewer logs than statements means")
	if r.Local {
		fmt.Fprintln(w, "  the outage lost some (see Telemetry).")
	} else {
		fmt.Fprintln(w, "  telemetry dropped some (see Telemetry).")
	}
	for _, k := range r.Kinds {
		fmt.Fprintf(w, "  %-13s %s\n", k.Kind, k.Description)
	}
	fmt.Fprintln(w)
}

func writePhases(w io.Writer, r *Report) {
	if len(r.Phases) == 0 {
		return
	}
	t := newTable(w, "The workload by phase")
	t.AppendHeader(table.Row{"phase", "from", "to", "statements", "per second", "quick p50", "quick p95", "quick p99", "errors", "logs delivered"})
	for _, p := range r.Phases {
		t.AppendRow(table.Row{p.Name, fmt.Sprintf("%.1f s", p.StartS), fmt.Sprintf("%.1f s", p.EndS), commas(int64(p.Statements)),
			fmt.Sprintf("%.1f", p.PerSecond), fmtLatency(p.QuickP50Ms), fmtLatency(p.QuickP95Ms), fmtLatency(p.QuickP99Ms),
			commas(int64(p.Errors)), fmtShare(p.Logs, p.Statements)})
	}
	rightAligned(t, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	t.Render()
	fmt.Fprintln(w, "  quick: lookups, aggregates and DML, where a slowdown would show first. logs delivered: statements of the")
	fmt.Fprintln(w, "  phase whose telemetry log reached the endpoint.")
	if o := r.Outage; o != nil {
		fmt.Fprintf(w, "  outage: %s\n", outageLine(o))
	}
	fmt.Fprintln(w)
}

func outageLine(o *outageResult) string {
	var parts []string
	if o.Served == 0 {
		// Down, but no export came while it was: -queries 1, or a workload that ended first.
		parts = append(parts, fmt.Sprintf("endpoint down from %.1f s to %.1f s, and no export came meanwhile", o.Began, o.Ended))
	} else {
		parts = append(parts, fmt.Sprintf("503s from %.1f s", o.Began))
		if o.Hang > 0 {
			parts = append(parts, fmt.Sprintf("hang from %.1f s", o.Hang))
		}
		if o.Opened > 0 {
			parts = append(parts, fmt.Sprintf("breaker open at %.1f s", o.Opened))
		}
		if o.Recovered > 0 {
			parts = append(parts, fmt.Sprintf("endpoint back at %.1f s", o.Recovered))
		}
		if o.Closed > 0 {
			parts = append(parts, fmt.Sprintf("breaker closed at %.1f s", o.Closed))
		}
	}
	s := strings.Join(parts, ", ")
	if o.Note != "" {
		s += " (" + o.Note + ")"
	}
	return s
}

// histogramWidth is the length of the longest bar, in cells.
const histogramWidth = 40

func writeHistogram(w io.Writer, r *Report) {
	peak := 0
	for _, b := range r.Histogram {
		peak = max(peak, b.Count)
	}
	if peak == 0 {
		return
	}
	t := newTable(w, "Latency histogram: every workload statement")
	t.AppendHeader(table.Row{"latency", "count", ""})
	for _, b := range r.Histogram {
		t.AppendRow(table.Row{b.Label, commas(int64(b.Count)), bar(b.Count, peak, histogramWidth)})
	}
	rightAligned(t, 1, 2)
	t.Render()
	if r.Interrupts > 0 {
		fmt.Fprintf(w, "  but the %s interrupted, which have no latency to show.\n", commas(int64(r.Interrupts)))
	}
	fmt.Fprintln(w)
}

// bar draws n of peak as a horizontal bar of at most width cells, in eighths.
func bar(n, peak, width int) string {
	if n == 0 {
		return ""
	}
	eighths := max(1, n*width*8/peak)
	partial := []string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}
	return strings.Repeat("█", eighths/8) + partial[eighths%8]
}

func writeErrors(w io.Writer, r *Report) {
	if len(r.Errors) == 0 {
		return
	}
	t := newTable(w, "Errors the application got")
	t.AppendHeader(table.Row{"kind", "error", "sqlstate", "class", "count", "in logs", "expected", "message (redacted)"})
	for _, e := range r.Errors {
		exp := "yes"
		if !e.Expected {
			exp = "NO"
		}
		t.AppendRow(table.Row{e.Kind, e.Name, e.SQLState, e.Class, commas(int64(e.Count)), commas(int64(e.TelemetryLogs)), exp, shorten(e.Example, 64)})
	}
	rightAligned(t, 5, 6)
	t.Render()
	fmt.Fprintln(w, "  error and class: telemetry.Classify, as the driver wrapper classifies it; in logs: delivered logs of those")
	fmt.Fprintln(w, "  statements that carry the error.")
	fmt.Fprintln(w)
}

func writeTelemetry(w io.Writer, r *Report) {
	tel := r.Telemetry
	fmt.Fprintln(w, "Telemetry")
	if !tel.Enabled {
		fmt.Fprintln(w, "  telemetry was off for this run (see Notes): nothing was collected.")
	}
	keys := slices.Sorted(maps.Keys(tel.Settings))
	settings := make([]string, 0, len(keys))
	for _, k := range keys {
		settings = append(settings, k+" "+tel.Settings[k])
	}
	fmt.Fprintf(w, "  settings: %s\n", strings.Join(settings, ", "))
	fmt.Fprintf(w, "  events received %s, logs queued %s, exported %s, pending %d; statements evicted %d; panics %d\n",
		commas(tel.Received), commas(tel.Queued), commas(tel.Exported), tel.Pending, tel.Evicted, tel.Panics)
	fmt.Fprintf(w, "  batches %s: %s delivered, %s failed after retries, %s dropped at once by the open breaker; retries %s;\n",
		commas(tel.Batches), commas(tel.Delivered), commas(tel.BatchesFailed), commas(tel.Rejected), commas(tel.Retries))
	fmt.Fprintf(w, "  breaker opened %d time(s), now %s\n\n", tel.BreakerOpened, orDash(tel.Breaker))

	t := newTable(w, "Logs by kind")
	t.AppendHeader(table.Row{"log", "exported", "ingest received"})
	var sum, got int
	for _, k := range tel.ByKind {
		recv := "n/a (real warehouse)"
		if k.Received != nil {
			recv = commas(int64(*k.Received))
			got += *k.Received
		}
		t.AppendRow(table.Row{k.Kind, commas(int64(k.Exported)), recv})
		sum += k.Exported
	}
	recv := "n/a"
	if r.Local {
		recv = commas(int64(got))
	}
	t.AppendFooter(table.Row{"total", commas(int64(sum)), recv})
	rightAligned(t, 2, 3)
	t.Render()
	fmt.Fprintln(w, "  exported: logs of the batches the telemetry endpoint acknowledged, as the exporter's HTTP client saw them;")
	fmt.Fprintln(w, "  ingest received: what the warehouse's ingest recorded (local warehouse only).")
	if wh := r.Warehouse; wh != nil {
		verdict := "they agree"
		if tel.Exported != int64(wh.IngestLogs) {
			verdict = "they DISAGREE"
		}
		fmt.Fprintf(w, "  Connector.Stats().Exported = %s; the warehouse ingest received %s: %s.\n",
			commas(tel.Exported), commas(int64(wh.IngestLogs)), verdict)
	} else {
		fmt.Fprintf(w, "  Connector.Stats().Exported = %s; no ingest to compare with against a real warehouse.\n", commas(tel.Exported))
	}
	fmt.Fprintln(w)

	t = newTable(w, "Circuit breaker transitions")
	t.AppendHeader(table.Row{"at", "time", "from", "to"})
	for _, tr := range tel.Transitions {
		t.AppendRow(table.Row{fmt.Sprintf("%.2f s", tr.AtS), tr.At.Format("15:04:05.000"), tr.From, tr.To})
	}
	if len(tel.Transitions) == 0 {
		t.AppendRow(table.Row{"-", "-", "closed", "(no transition)"})
	}
	rightAligned(t, 1)
	t.Render()
	fmt.Fprintln(w)

	d := tel.Dropped
	t = newTable(w, "Dropped by reason")
	t.AppendHeader(table.Row{"reason", "logs", "expected"})
	t.AppendRows([]table.Row{
		{"export failed: in a batch not delivered (breaker open included)", commas(d.ExportFailed), expectOutage(r)},
		{"queue full: the bounded queue overflowed while exports failed", commas(d.QueueFull), expectOutage(r)},
		{"unfinished at close", commas(d.Unfinished), "0"},
		{"closed: events after close, or held for a feature flag that never answered", commas(d.Closed), "0"},
		{"error limit per statement", commas(d.ErrorLimit), "0"},
		{"invalid", commas(d.Invalid), "0"},
		{"undecided: beyond the 1024 kept while the feature flag was not known, or kept until it said off", commas(d.Undecided), "0"},
		{"late: events of a statement whose log had gone (evicted, or ended by a terminal error)", commas(d.Late), "0"},
	})
	t.AppendFooter(table.Row{"total", commas(tel.DroppedTotal), ""})
	rightAligned(t, 2, 3)
	t.Render()
	fmt.Fprintf(w, "  the telemetry endpoint answered (seen by the exporter's client): %s\n", fmtAnswers(tel.Answers))
	if wh := r.Warehouse; wh != nil {
		fmt.Fprintf(w, "  the warehouse ingest recorded %d telemetry requests: %s; %d telemetry faults served; %d feature-flag request(s)\n",
			wh.TelemetryPosts, fmtAnswers(wh.IngestAnswers), wh.FaultsServed, wh.FeatureFlagGets)
		fmt.Fprintf(w, "  the warehouse ran %d statements (%s) in %d sessions: %s\n",
			wh.Statements, fmtCounts(wh.ByState), wh.Sessions, fmtCounts(wh.ByDelivery))
	}
	fmt.Fprintln(w)
}

// expectOutage is what to expect of the drops an outage causes: the logs of batches the
// endpoint did not take are counted and dropped, never retried later (SPEC §2, §4).
func expectOutage(r *Report) string {
	if r.Outage != nil {
		return "outage only"
	}
	return "0"
}

func writeChecks(w io.Writer, r *Report) {
	fmt.Fprintln(w, "Cross-checks")
	for _, c := range r.Checks {
		mark := "AGREE   "
		if !c.OK {
			mark = "DISAGREE"
		}
		fmt.Fprintf(w, "  %s %s: %s\n", mark, c.Name, c.Detail)
	}
	fmt.Fprintln(w)
}

func fmtAnswers(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func fmtCounts(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

func fmtDelivery(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	short := map[string]string{"INLINE_ARROW": "inline", "EXTERNAL_LINKS": "cloudfetch"}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		name := k
		if s, ok := short[k]; ok {
			name = s
		}
		if len(m) == 1 {
			parts = append(parts, name)
		} else {
			parts = append(parts, fmt.Sprintf("%s %d", name, m[k]))
		}
	}
	return strings.Join(parts, ", ")
}

func fmtShare(n, of int) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%s (%d%%)", commas(int64(n)), n*100/of)
}

func fmtErrors(terminal, retryable int) string {
	if terminal == 0 && retryable == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", terminal, retryable)
}

func fmtLatency(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 1000:
		return fmt.Sprintf("%.0f ms", v)
	default:
		return fmt.Sprintf("%.2f s", v/1000)
	}
}

func fmtBytes(n int64, kind string) string {
	if n == 0 {
		if kind == kinds[kindInsert].name || kind == kinds[kindUpdate].name {
			return "-"
		}
		return "0 B"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
