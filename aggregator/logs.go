package aggregator

import (
	"crypto/rand"
	"time"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// logContext is what every log of an aggregator shares.
type logContext struct {
	authenticated bool
	workspaceID   int64
	authType      string
	clientVersion string
	userAgent     string
	sysConfig     *telemetry.SystemConfiguration
}

func newLogContext(o *options) logContext {
	lc := logContext{
		authenticated: o.authenticated,
		authType:      o.authType,
		clientVersion: o.clientVersion,
		userAgent:     o.userAgent,
	}
	if o.authenticated {
		lc.workspaceID = o.workspaceID
		lc.sysConfig = o.sysConfig
	}
	return lc
}

// logBlock holds every value one log points to, so a batch costs one allocation.
type logBlock struct {
	fl  telemetry.FrontendLog
	lc  telemetry.LogContext
	cc  telemetry.ClientContext
	le  telemetry.LogEntry
	dl  telemetry.SQLDriverLog
	op  telemetry.SQLOperation
	od  telemetry.OperationDetail
	cd  telemetry.ChunkDetails
	rl  telemetry.ResultLatency
	ei  telemetry.ErrorInfo
	dcp telemetry.DriverConnectionParams
	hi  telemetry.HostInfo
}

// buildLogs appends the logs of recs to dst. Their values live in the aggregator's
// blocks, which the next batch reuses: an exporter must not keep the logs after Export
// returns (telemetry.Exporter). Called by the export goroutine only.
func (a *Aggregator) buildLogs(dst []*telemetry.FrontendLog, recs []record) []*telemetry.FrontendLog {
	if cap(a.blocks) < len(recs) {
		a.blocks = make([]logBlock, len(recs))
	}
	blocks := a.blocks[:len(recs)]
	clear(blocks) // fill sets only what its kind of log has: nothing of the last batch stays
	a.ids = appendUUIDs(a.ids[:0], &a.rnd, len(recs))
	ids := string(a.ids) // one string for the batch's ids
	for i := range recs {
		b := &blocks[i]
		a.logCtx.fill(b, &recs[i], ids[i*36:(i+1)*36])
		dst = append(dst, &b.fl)
	}
	return dst
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

// fill builds one log in b from rec. Nothing textual but the (redacted) error message
// and the names of enumerated values goes in: no SQL, parameters, results or URLs.
func (lc *logContext) fill(b *logBlock, rec *record, id string) {
	b.cc = telemetry.ClientContext{
		ClientType:      telemetry.ClientType,
		ClientVersion:   lc.clientVersion,
		TimestampMillis: rec.at.UnixMilli(),
		UserAgent:       lc.userAgent,
	}
	b.lc.ClientContext = &b.cc
	b.fl = telemetry.FrontendLog{FrontendLogEventID: id, Context: &b.lc, Entry: &b.le}
	b.le.SQLDriverLog = &b.dl
	b.dl = telemetry.SQLDriverLog{
		SessionID:           rec.sessionID,
		SQLStatementID:      rec.statementID,
		AuthType:            lc.authType,
		OperationLatencyMs:  ms(rec.latency),
		SystemConfiguration: lc.sysConfig,
	}

	switch rec.kind {
	case recConnOpen:
		b.od.OperationType = telemetry.OpCreateSession
		b.op.OperationDetail = &b.od
		b.dl.SQLOperation = &b.op
		if c := rec.conn; c != nil {
			if c.AuthType != "" {
				b.dl.AuthType = c.AuthType
			}
			if lc.authenticated {
				b.dcp = telemetry.DriverConnectionParams{
					HTTPPath:            c.HTTPPath,
					Mode:                c.Mode,
					AuthMech:            c.AuthMech,
					AuthFlow:            c.AuthFlow,
					EnableArrow:         c.EnableArrow,
					EnableDirectResults: c.EnableDirectResults,
					QueryTags:           c.QueryTags,
					SocketTimeout:       int64(c.SocketTimeout / time.Second),
				}
				if c.Host != "" || c.Port != 0 {
					b.hi = telemetry.HostInfo{HostURL: c.Host, Port: int32(c.Port)} //nolint:gosec // a port fits
					b.dcp.HostInfo = &b.hi
				}
				b.dl.DriverConnectionParams = &b.dcp
			}
		}
	case recConnClose:
		b.od.OperationType = telemetry.OpDeleteSession
		b.op.OperationDetail = &b.od
		b.dl.SQLOperation = &b.op
	case recStatement:
		s := &rec.stmt
		b.od = telemetry.OperationDetail{
			NOperationStatusCalls:        s.polls,
			OperationStatusLatencyMillis: ms(s.pollLatency),
			OperationType:                s.opType,
		}
		if b.od.OperationType == "" {
			b.od.OperationType = telemetry.OpExecuteStatement
		}
		b.op = telemetry.SQLOperation{
			StatementType:   s.stmtType,
			IsCompressed:    s.compressed,
			ExecutionResult: s.resultFormat,
			RetryCount:      int64(s.retries),
			OperationDetail: &b.od,
		}
		if s.chunks > 0 || s.chunksPresent > 0 {
			if b.op.ExecutionResult == "" {
				b.op.ExecutionResult = telemetry.ResultExternalLinks
			}
			b.cd = telemetry.ChunkDetails{
				InitialChunkLatencyMillis:   ms(s.initial),
				SlowestChunkLatencyMillis:   ms(s.slowest),
				TotalChunksPresent:          max(s.chunksPresent, s.chunks),
				TotalChunksIterated:         s.chunks,
				SumChunksDownloadTimeMillis: ms(s.sum),
			}
			b.op.ChunkDetails = &b.cd
		}
		if s.ready > 0 || s.consume > 0 {
			b.rl = telemetry.ResultLatency{
				ResultSetReadyLatencyMillis:       ms(s.ready),
				ResultSetConsumptionLatencyMillis: ms(s.consume),
			}
			b.op.ResultLatency = &b.rl
		}
		b.dl.SQLOperation = &b.op
	case recError:
		// error_info only.
	}

	if rec.hasError() {
		b.ei.ErrorName = rec.err.name
		if lc.authenticated {
			// The emitter redacted it already; Redact is idempotent and cheap next to an
			// export, and this keeps a Sink fed directly from leaking.
			b.ei.StackTrace = telemetry.Redact(rec.err.message)
		}
		b.dl.ErrorInfo = &b.ei
	}

	if lc.authenticated {
		b.fl.WorkspaceID = lc.workspaceID
	} else {
		b.dl.SessionID, b.dl.SQLStatementID = "", ""
		b.dl.SystemConfiguration, b.dl.DriverConnectionParams = nil, nil
	}
}

const hexDigits = "0123456789abcdef"

// appendUUIDs appends n random (version 4) UUIDs in canonical form to dst, from one
// read of crypto/rand into *raw (kept for the next call).
func appendUUIDs(dst []byte, raw *[]byte, n int) []byte {
	if cap(*raw) < 16*n {
		*raw = make([]byte, 16*n)
	}
	r := (*raw)[:16*n]
	_, _ = rand.Read(r) // never fails (Go ≥ 1.24 crashes the program instead)
	for i := 0; i < n; i++ {
		u := r[16*i : 16*(i+1)]
		u[6] = u[6]&0x0f | 0x40 // version 4
		u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
		for j, c := range u {
			if j == 4 || j == 6 || j == 8 || j == 10 {
				dst = append(dst, '-')
			}
			dst = append(dst, hexDigits[c>>4], hexDigits[c&0x0f])
		}
	}
	return dst
}
