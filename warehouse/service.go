package warehouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbtelemetry/dbtelemetry/warehouse/internal/tcli"
)

// serverProtocol is the protocol version the warehouse answers: SPARK V8, the lowest that
// lets the driver send bound parameters.
const serverProtocol = tcli.TProtocolVersion_SPARK_CLI_SERVICE_PROTOCOL_V8

// defaultMaxRows is the driver's default page size, used when a request names none.
const defaultMaxRows = 100_000

// maxLinksPerPage caps the CloudFetch links sent in one FetchResults page.
const maxLinksPerPage = 8

type session struct {
	id     string
	handle *tcli.TSessionHandle
	conn   *sql.Conn

	// loc is the session's time zone (configuration `timezone`, else UTC; then what a SET
	// of it said). Guarded by mu: statements read and set it as they run.
	loc *time.Location
	// show is the driver's time zone, in which it shows instants: what its configuration
	// `timezone` names when Go can load it (as the driver loads it), else UTC. A SET of
	// the time zone does not change it.
	show *time.Location
	// timeout is the session's STATEMENT_TIMEOUT (configuration `statement_timeout`, then
	// what a SET or RESET of it said), 0 for none. Guarded by mu. confTimeout is the
	// configuration's, which RESET restores.
	timeout, confTimeout time.Duration
	// confLoc, confZone and confAnsiOff are the configuration's time zone (with the DuckDB
	// statement that sets it) and ANSI mode, which RESET restores.
	confLoc     *time.Location
	confZone    string
	confAnsiOff bool
	// ansiOff is the session's ANSI mode (off: true), guarded by mu. DuckDB keeps it as a
	// macro in its catalog, which a ROLLBACK would undo: the session puts it back, as
	// a Databricks session parameter is not transactional.
	ansiOff bool

	mu     sync.Mutex // one statement at a time on conn
	closed bool
	used   atomic.Int64 // when it was last called, in Unix nanoseconds (see reapIdleSessions)
}

type operation struct {
	id      string
	handle  *tcli.TOperationHandle
	sess    *session
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	started time.Time

	// Request options.
	stmt      string
	params    []*tcli.TSparkParameter
	maxRows   int64
	timeout   time.Duration
	cloud     bool // the client can download CloudFetch results
	compress  bool // the client can decompress LZ4
	encodeOps encodeOptions

	// Written by the statement goroutine before done is closed. (The handle is not: it is
	// already being sent while the statement runs.)
	noResultSet bool
	state       tcli.TOperationState
	failure     *sqlError
	res         *encodedResult
	ended       time.Time
	modified    int64
	delivery    Delivery
	links       []*tcli.TSparkArrowResultLink

	// Guarded by Server.mu once done is closed.
	cursor int
	// Guarded by Server.mu: when the client asked to cancel the operation (zero: never).
	cancelAt time.Time
	// Guarded by Server.mu: the tokens of the operation's CloudFetch files, in link order
	// (see publishChunks).
	files []string
}

// service implements the TCLIService handlers.
type service struct{ s *Server }

func success() *tcli.TStatus { return &tcli.TStatus{StatusCode: tcli.TStatusCode_SUCCESS_STATUS} }

func errStatus(code tcli.TStatusCode, msg string) *tcli.TStatus {
	return &tcli.TStatus{StatusCode: code, ErrorMessage: &msg, DisplayMessage: &msg}
}

func missingRequest() *tcli.TStatus {
	return errStatus(tcli.TStatusCode_ERROR_STATUS, "the call carries no request")
}

// errUnknownSession answers a statement on a session this server does not know (closed,
// or opened before the server restarted) as Databricks does: a Thrift application error
// whose text says "Invalid SessionHandle". The driver turns it into driver.ErrBadConn, so
// database/sql retries the statement on a new connection (DRIVER-PROTOCOL §4); a status
// of INVALID_HANDLE would fail it, and every later statement on that connection.
func errUnknownSession(id string) error {
	return fmt.Errorf("Invalid SessionHandle: %s", id) //nolint:staticcheck // the driver matches this text
}

func invalidHandle(kind string) *tcli.TStatus {
	return errStatus(tcli.TStatusCode_INVALID_HANDLE_STATUS, "Invalid "+kind)
}

func (v *service) OpenSession(ctx context.Context, req *tcli.TOpenSessionReq) (*tcli.TOpenSessionResp, error) {
	if req == nil {
		return &tcli.TOpenSessionResp{Status: missingRequest()}, nil
	}
	s := v.s
	resp := &tcli.TOpenSessionResp{ServerProtocolVersion: negotiateProtocol(req)}
	if s.isClosing() {
		resp.Status = errStatus(tcli.TStatusCode_ERROR_STATUS, "the warehouse is shutting down")
		return resp, nil
	}
	// The session outlives this request: its connection must not hang on the request's context.
	conn, err := s.db.Conn(context.WithoutCancel(ctx))
	if err != nil {
		resp.Status = errStatus(tcli.TStatusCode_ERROR_STATUS, "cannot open a database connection: "+err.Error())
		return resp, nil
	}
	loc, setZone, err := sessionZone(req.GetConfiguration())
	if err == nil {
		_, err = conn.ExecContext(ctx, setZone)
	}
	var timeout time.Duration
	if err == nil {
		timeout, err = sessionStatementTimeout(req.GetConfiguration())
	}
	if err != nil {
		_ = conn.Close()
		resp.Status = errStatus(tcli.TStatusCode_ERROR_STATUS, "cannot prepare the session: "+err.Error())
		return resp, nil
	}
	if ansiOff(req.GetConfiguration()) {
		if _, err := conn.ExecContext(ctx, legacyArithmetic); err != nil {
			_ = conn.Close()
			resp.Status = errStatus(tcli.TStatusCode_ERROR_STATUS, "cannot prepare the session: "+err.Error())
			return resp, nil
		}
	}
	var ns Namespace
	if n := req.InitialNamespace; n != nil {
		ns = Namespace{Catalog: n.GetCatalogName(), Schema: n.GetSchemaName()}
		if use := useStatement(ns); use != "" {
			if _, err := conn.ExecContext(ctx, use); err != nil {
				_ = conn.Close()
				e := mapError(err)
				resp.Status = errStatus(tcli.TStatusCode_ERROR_STATUS, e.display())
				resp.Status.SqlState = &e.state
				return resp, nil
			}
		}
	}
	guid := newGUID()
	sess := &session{
		id:          guidString(guid),
		handle:      &tcli.TSessionHandle{SessionId: &tcli.THandleIdentifier{GUID: guid, Secret: newGUID()}},
		conn:        conn,
		loc:         loc,
		show:        driverZone(req.GetConfiguration()),
		timeout:     timeout,
		confTimeout: timeout,
		confLoc:     loc,
		confZone:    setZone,
		confAnsiOff: ansiOff(req.GetConfiguration()),
		ansiOff:     ansiOff(req.GetConfiguration()),
	}
	sess.used.Store(time.Now().UnixNano())
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = conn.Close()
		resp.Status = errStatus(tcli.TStatusCode_ERROR_STATUS, "the warehouse is shutting down")
		return resp, nil
	}
	s.sessions[sess.id] = sess
	s.mu.Unlock()
	s.rec.addSession(&SessionRecord{
		ID:               sess.id,
		Configuration:    req.GetConfiguration(),
		InitialNamespace: ns,
		ClientProtocol:   req.GetClientProtocolI64(),
		Header:           requestHeader(ctx).Clone(),
		OpenedAt:         time.Now(),
	})
	resp.Status = success()
	resp.SessionHandle = sess.handle
	resp.CanUseMultipleCatalogs = ptr(true)
	if ns != (Namespace{}) {
		resp.InitialNamespace = req.InitialNamespace
	}
	return resp, nil
}

// negotiateProtocol is the protocol version a session speaks: the lower of the client's
// (client_protocol_i64, else client_protocol) and the server's, as HiveServer2 and
// Databricks answer it.
func negotiateProtocol(req *tcli.TOpenSessionReq) tcli.TProtocolVersion {
	client := int64(req.GetClientProtocol())
	if req.ClientProtocolI64 != nil {
		client = *req.ClientProtocolI64
	}
	return tcli.TProtocolVersion(min(client, int64(serverProtocol)))
}

// defaultCatalogs are the names Databricks gives the default catalog (Unity Catalog's
// main, and the legacy metastore's): a DSN that names one (catalog=main&schema=default,
// as common as DSNs go) starts in DuckDB's own catalog, where schema default exists too
// (see prepareCatalog).
var defaultCatalogs = []string{"main", "hive_metastore", "spark_catalog"}

// useStatement switches a new session to its initial namespace.
func useStatement(ns Namespace) string {
	quote := func(id string) string { return `"` + strings.ReplaceAll(id, `"`, `""`) + `"` }
	if slices.ContainsFunc(defaultCatalogs, func(c string) bool { return strings.EqualFold(c, ns.Catalog) }) {
		ns.Catalog = ""
	}
	switch {
	case ns.Catalog != "" && ns.Schema != "":
		return "USE " + quote(ns.Catalog) + "." + quote(ns.Schema)
	case ns.Schema != "":
		return "USE " + quote(ns.Schema)
	case ns.Catalog != "":
		return "USE " + quote(ns.Catalog)
	}
	return ""
}

func (v *service) CloseSession(_ context.Context, req *tcli.TCloseSessionReq) (*tcli.TCloseSessionResp, error) {
	if req == nil {
		return &tcli.TCloseSessionResp{Status: missingRequest()}, nil
	}
	s := v.s
	id := guidString(req.GetSessionHandle().GetSessionId().GetGUID())
	s.mu.Lock()
	sess, ok := s.sessions[id]
	delete(s.sessions, id)
	for _, op := range s.ops {
		if op.sess == sess {
			s.forgetOperationLocked(op)
		}
	}
	s.mu.Unlock()
	if !ok {
		return &tcli.TCloseSessionResp{Status: invalidHandle("SessionHandle")}, nil
	}
	if err := s.endSession(sess, false); err != nil {
		return &tcli.TCloseSessionResp{Status: errStatus(tcli.TStatusCode_ERROR_STATUS, err.Error())}, nil
	}
	return &tcli.TCloseSessionResp{Status: success()}, nil
}

func (v *service) ExecuteStatement(ctx context.Context, req *tcli.TExecuteStatementReq) (*tcli.TExecuteStatementResp, error) {
	if req == nil {
		return &tcli.TExecuteStatementResp{Status: missingRequest()}, nil
	}
	s := v.s
	id := guidString(req.GetSessionHandle().GetSessionId().GetGUID())
	s.mu.Lock()
	sess, ok := s.sessions[id]
	if ok {
		sess.used.Store(time.Now().UnixNano()) // under mu: reapIdleSessions sees it
	}
	s.mu.Unlock()
	if !ok {
		return nil, errUnknownSession(id)
	}
	if !req.GetCanReadArrowResult_() {
		return &tcli.TExecuteStatementResp{Status: errStatus(tcli.TStatusCode_ERROR_STATUS,
			"this warehouse serves Arrow results only: set canReadArrowResult")}, nil
	}
	maxRows := int64(defaultMaxRows)
	if d := req.GetGetDirectResults(); d != nil && d.MaxRows > 0 {
		maxRows = d.MaxRows
	}
	guid := newGUID()
	opCtx, cancel := context.WithCancel(context.Background())
	op := &operation{
		id:       guidString(guid),
		sess:     sess,
		ctx:      opCtx,
		cancel:   cancel,
		done:     make(chan struct{}),
		started:  time.Now(),
		stmt:     req.GetStatement(),
		params:   req.GetParameters(),
		maxRows:  maxRows,
		timeout:  time.Duration(req.GetQueryTimeout()) * time.Second,
		cloud:    req.GetCanDownloadResult_(),
		compress: req.GetCanDecompressLZ4Result_(),
		encodeOps: encodeOptions{
			decimalAsArrow: req.UseArrowNativeTypes != nil && req.UseArrowNativeTypes.GetDecimalAsArrow(),
			batchRows:      min(s.cfg.batchRows, maxRows),
			batchBytes:     s.cfg.batchBytes,
		},
		handle: &tcli.TOperationHandle{
			OperationId:   &tcli.THandleIdentifier{GUID: guid, Secret: newGUID()},
			OperationType: tcli.TOperationType_EXECUTE_STATEMENT,
			HasResultSet:  true,
		},
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		return &tcli.TExecuteStatementResp{Status: errStatus(tcli.TStatusCode_ERROR_STATUS, "the warehouse is shutting down")}, nil
	}
	if s.sessions[id] != sess {
		// Closed (or expired) since it was looked up: CloseSession has already forgotten
		// its operations, so this one would outlive it.
		s.mu.Unlock()
		cancel()
		return nil, errUnknownSession(id)
	}
	s.ops[op.id] = op
	s.work.Add(1)
	s.mu.Unlock()
	s.rec.addStatement(&StatementRecord{
		ID: op.id, SessionID: sess.id, SQL: op.stmt, Parameters: len(op.params),
		State: StateRunning, StartedAt: op.started,
	})
	go s.run(op)

	resp := &tcli.TExecuteStatementResp{Status: success(), OperationHandle: op.handle}
	t := time.NewTimer(s.cfg.asyncThreshold)
	defer t.Stop()
	select {
	case <-op.done:
	case <-t.C:
	case <-s.closing:
	case <-ctx.Done():
		// The client gave up before it learnt the handle, so it can neither cancel nor
		// close the statement: left running, it would hold the session's connection and
		// every later statement of that session would queue behind it.
		s.closeOperation(op)
		return nil, ctx.Err()
	}
	within := false
	select {
	case <-op.done:
		// Within the threshold only: a statement that ended after it, seen late (the
		// handler scheduled after the statement's end, on a loaded machine), is answered as
		// the threshold says, not as the scheduler happened to.
		within = op.ended.Sub(op.started) <= s.cfg.asyncThreshold
	default:
	}
	if within {
		resp.DirectResults = s.directResults(op, s.linkBase(ctx))
	} else {
		s.rec.statement(op.id, func(r *StatementRecord) { r.Async = true })
		resp.DirectResults = &tcli.TSparkDirectResults{OperationStatus: &tcli.TGetOperationStatusResp{
			Status: success(), OperationState: ptr(tcli.TOperationState_RUNNING_STATE),
		}}
	}
	return resp, nil
}

// directResults answers a statement that finished within ExecuteStatement: its status,
// schema and first page (its CloudFetch links on base), and closeOperation when that
// page holds everything.
func (s *Server) directResults(op *operation, base string) *tcli.TSparkDirectResults {
	dr := &tcli.TSparkDirectResults{OperationStatus: op.status()}
	if op.state != tcli.TOperationState_FINISHED_STATE {
		// The metadata too, though empty: the driver's Exec asks whether the statement was
		// a staging operation even when it failed, with another call (on a handle closed
		// here) when the direct results hold no metadata.
		dr.ResultSetMetadata = op.metadata()
		s.closeOperation(op)
		dr.CloseOperation = &tcli.TCloseOperationResp{Status: success()}
		return dr
	}
	dr.ResultSetMetadata = op.metadata()
	page, more := s.nextPage(op, op.maxRows, base)
	dr.ResultSet = &tcli.TFetchResultsResp{Status: success(), HasMoreRows: ptr(more), Results: page, ResultSetMetadata: dr.ResultSetMetadata}
	if !more {
		s.closeOperation(op)
		dr.CloseOperation = &tcli.TCloseOperationResp{Status: success()}
	}
	return dr
}

// run executes the statement on its session's connection and prepares its result.
func (s *Server) run(op *operation) {
	defer s.work.Done()
	defer close(op.done)
	sess := op.sess
	sess.mu.Lock()
	defer sess.mu.Unlock()
	ctx := op.ctx
	limit := statementLimit(op.timeout, sess.timeout)
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	err := func() error {
		if sess.closed {
			return errors.New("the session is closed")
		}
		return s.execute(ctx, op)
	}()
	now := time.Now()
	op.ended = now
	sess.used.Store(now.UnixNano()) // idle from its statement's end, not from the last poll
	if err != nil {
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded) && op.ctx.Err() == nil:
			op.state = tcli.TOperationState_TIMEDOUT_STATE
			op.failure = &sqlError{state: "HYT00", class: "QUERY_TIMEOUT", message: fmt.Sprintf("the statement exceeded its timeout of %s", limit)}
		case op.ctx.Err() != nil:
			op.state = tcli.TOperationState_CANCELED_STATE
		default:
			op.state = tcli.TOperationState_ERROR_STATE
			e := mapError(err)
			op.failure = &e
		}
	} else {
		op.state = tcli.TOperationState_FINISHED_STATE
	}
	s.rec.statement(op.id, func(r *StatementRecord) {
		r.FinishedAt = now
		switch op.state {
		case tcli.TOperationState_FINISHED_STATE:
			r.State = StateFinished
			r.Rows = op.res.rows
			r.ModifiedRows = op.modified
			r.Delivery = op.delivery
			r.Chunks = len(op.links)
			r.Compressed = op.compress && op.delivery != DeliveryNone
		case tcli.TOperationState_CANCELED_STATE:
			r.State = StateCanceled
		case tcli.TOperationState_TIMEDOUT_STATE:
			r.State, r.SQLState, r.Message = StateTimedOut, op.failure.state, op.failure.message
		default:
			r.State, r.SQLState, r.Message = StateError, op.failure.state, op.failure.display()
		}
	})
}

// endsTransaction reports whether a statement of verb ends a transaction, by a commit or
// a rollback.
func endsTransaction(verb string) bool {
	switch verb {
	case "COMMIT", "END", "ROLLBACK", "ABORT":
		return true
	}
	return false
}

func (s *Server) execute(ctx context.Context, op *operation) error {
	stmt, err := fromDatabricksLexis(op.stmt)
	if err != nil {
		return err
	}
	if multipleStatements(stmt) {
		return multipleStatementsError()
	}
	query, args, err := bindParameters(stmt, op.params, op.sess.loc) // run holds the session's lock
	if err != nil {
		return &paramError{err}
	}
	query = rewriteArraySubscripts(rewriteLongConcats(rewriteBareDecimal(rewriteTimestampLiterals(query))))
	if !op.sess.ansiOff {
		query = rewriteIntegralCasts(query) // in ANSI mode's terms
	}
	kind, verb := classify(query)
	var zone *time.Location      // what a SET of the time zone sets, once DuckDB took it
	ansi := op.sess.ansiOff      // the ANSI mode (off) once the statement ran
	timeout := time.Duration(-1) // what a SET of STATEMENT_TIMEOUT sets (-1: none)
	// The SET and RESET patterns read the statement without its trailing ';' (the lexis
	// left no comment in it).
	bare := strings.TrimRight(query, " \t\r\n;")
	if verb == "SET" {
		if q, ok := ansiModeStatement(bare); ok {
			query, ansi = q, q == legacyArithmetic
		} else if name, ok := timeZoneSet(bare); ok {
			loc, set, err := zoneSetting(name)
			if err != nil {
				return &zoneError{zone: name}
			}
			query, zone = set, loc
		} else if name, value, ok := confSet(bare); ok {
			if err := checkConf(name, value); err != nil {
				return err
			}
			if name == "statement_timeout" {
				timeout, _ = parseStatementTimeout(value)
			}
			query = "SELECT 1 WHERE false" // taken; nothing for DuckDB to do
		}
	}
	if verb == "RESET" {
		if name, ok := confReset(bare); ok {
			// What the session's configuration set comes back; a RESET without a name
			// restores all of it.
			sess, all := op.sess, name == resetAll
			if all || name == "statement_timeout" {
				timeout = sess.confTimeout
			}
			if all || name == "timezone" {
				if _, err := sess.conn.ExecContext(ctx, sess.confZone); err != nil {
					return err
				}
				zone = sess.confLoc
			}
			if all || name == "ansi_mode" {
				if _, err := sess.conn.ExecContext(ctx, divideMacro(sess.confAnsiOff)); err != nil {
					return err
				}
				ansi = sess.confAnsiOff
			}
			query = "SELECT 1 WHERE false" // an unknown name too, as Spark resets none
		}
	}
	var voids []bool
	if kind == kindQuery {
		voids = voidColumns(ctx, op.sess.conn, query, args)
	}
	rows, err := op.sess.conn.QueryContext(ctx, query, args...)
	if endsTransaction(verb) {
		// A rollback (a COMMIT of a failed transaction is one too, and a statement that
		// fails may be one) undid a SET of ANSI mode made in the transaction: the
		// session's mode comes back.
		if _, merr := op.sess.conn.ExecContext(ctx, divideMacro(ansi)); merr != nil && err == nil {
			_ = rows.Close()
			return merr
		}
	}
	if err != nil {
		return err
	}
	op.sess.ansiOff = ansi
	if zone != nil {
		op.sess.loc = zone
	}
	if timeout >= 0 {
		op.sess.timeout = timeout
	}
	op.encodeOps.loc, op.encodeOps.show = op.sess.loc, op.sess.show // run holds the session's lock
	switch kind {
	case kindDML:
		// DuckDB answers DML with one row: the count, in a column named Count; with
		// RETURNING (which Databricks SQL does not have), with a row per row modified.
		var n int64
		if cols, _ := rows.Columns(); len(cols) == 1 && cols[0] == "Count" {
			if rows.Next() {
				_ = rows.Scan(&n)
			}
		} else {
			for rows.Next() {
				n++
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		op.modified = n
		countSQL := "SELECT CAST($1 AS BIGINT) AS num_affected_rows"
		if verb == "INSERT" {
			countSQL += ", CAST($1 AS BIGINT) AS num_inserted_rows"
		}
		if rows, err = op.sess.conn.QueryContext(ctx, countSQL, n); err != nil {
			return err
		}
	case kindDDL:
		for rows.Next() {
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		op.res = emptyResult()
		op.noResultSet = true
		return nil
	}
	defer rows.Close()
	op.encodeOps.void = voids
	res, err := encodeRows(rows, op.encodeOps)
	if err != nil {
		return err
	}
	op.res = res
	op.delivery = DeliveryInline
	if op.cloud && res.rows > s.cfg.cloudFetchRows {
		s.dropExpiredChunks(time.Now())
		if op.links, err = s.publishChunks(op, res); err != nil {
			return err
		}
		op.delivery = DeliveryCloudFetch
	}
	return nil
}

// paramError is a statement whose parameters could not be bound.
type paramError struct{ err error }

func (e *paramError) Error() string { return e.err.Error() }
func (e *paramError) Unwrap() error { return e.err }

// status is the operation's TGetOperationStatusResp.
func (op *operation) status() *tcli.TGetOperationStatusResp {
	st := &tcli.TGetOperationStatusResp{Status: success()}
	select {
	case <-op.done:
	default:
		st.OperationState = ptr(tcli.TOperationState_RUNNING_STATE)
		return st
	}
	st.OperationState = ptr(op.state)
	st.OperationStarted = ptr(op.started.UnixMilli())
	switch op.state {
	case tcli.TOperationState_FINISHED_STATE:
		st.HasResultSet = ptr(!op.noResultSet)
		st.NumModifiedRows = ptr(op.modified)
	case tcli.TOperationState_CANCELED_STATE:
		msg := "the statement was cancelled"
		st.ErrorMessage, st.DisplayMessage = &msg, &msg
	default:
		if f := op.failure; f != nil {
			disp := f.display()
			st.SqlState = &f.state
			st.ErrorMessage = &disp
			st.DisplayMessage = &disp
			st.ErrorCode = ptr(int32(1))
		}
	}
	return st
}

// metadata is the operation's TGetResultSetMetadataResp.
func (op *operation) metadata() *tcli.TGetResultSetMetadataResp {
	md := &tcli.TGetResultSetMetadataResp{
		Status:             success(),
		IsStagingOperation: ptr(false),
		ResultFormat:       ptr(tcli.TSparkRowSetType_ARROW_BASED_SET),
		Lz4Compressed:      ptr(op.compress),
	}
	res := op.res
	if res == nil {
		res = emptyResult()
	}
	md.Schema = res.schema
	if len(res.schemaIPC) > 0 {
		md.ArrowSchema = res.schemaIPC
	}
	if op.delivery == DeliveryCloudFetch {
		md.ResultFormat = ptr(tcli.TSparkRowSetType_URL_BASED_SET)
	}
	return md
}

// nextPage returns the operation's next page of results and whether more follow.
// A page holds at most maxRows rows in whole batches (at least one batch); its CloudFetch
// links are on base (linkBase).
func (s *Server) nextPage(op *operation, maxRows int64, base string) (*tcli.TRowSet, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := op.res
	rs := &tcli.TRowSet{Rows: []*tcli.TRow{}, StartRowOffset: 0}
	if res == nil {
		rs.ArrowBatches = []*tcli.TSparkArrowBatch{}
		return rs, false
	}
	rs.StartRowOffset = res.rows
	if op.delivery == DeliveryCloudFetch {
		end := min(op.cursor+maxLinksPerPage, len(op.links))
		if op.cursor < end {
			rs.StartRowOffset = op.links[op.cursor].StartRowOffset
		}
		rs.ResultLinks = s.handOutLinksLocked(op, op.cursor, end, base)
		op.cursor = end
		return rs, op.cursor < len(op.links)
	}
	rs.ArrowBatches = []*tcli.TSparkArrowBatch{}
	var rows int64
	for op.cursor < len(res.batches) {
		b := res.batches[op.cursor]
		if len(rs.ArrowBatches) > 0 && rows+b.rows > maxRows {
			break
		}
		if len(rs.ArrowBatches) == 0 {
			rs.StartRowOffset = b.start
		}
		data := b.ipc
		if op.compress {
			if z, err := lz4Frame(data); err == nil {
				data = z
			}
		}
		rs.ArrowBatches = append(rs.ArrowBatches, &tcli.TSparkArrowBatch{Batch: data, RowCount: b.rows})
		rows += b.rows
		op.cursor++
	}
	return rs, op.cursor < len(res.batches)
}

func (s *Server) lookupOp(h *tcli.TOperationHandle) (*operation, bool) {
	id := guidString(h.GetOperationId().GetGUID())
	s.mu.Lock()
	defer s.mu.Unlock()
	op, ok := s.ops[id]
	if ok {
		op.sess.used.Store(time.Now().UnixNano()) // a call on one of its statements
	}
	return op, ok
}

// endSession closes a session already taken out of the server's maps (with its
// operations), and records when; expired says the server closed it for being idle.
func (s *Server) endSession(sess *session, expired bool) error {
	sess.mu.Lock()
	sess.closed = true
	err := sess.conn.Close()
	sess.mu.Unlock()
	now := time.Now()
	s.rec.session(sess.id, func(r *SessionRecord) { r.ClosedAt, r.Expired = now, expired })
	return err
}

// reapIdleSessions closes the sessions that have had no call for WithSessionIdleTimeout
// and run no statement.
func (s *Server) reapIdleSessions(now time.Time) {
	if s.cfg.sessionIdle <= 0 {
		return
	}
	cutoff := now.Add(-s.cfg.sessionIdle).UnixNano()
	s.mu.Lock()
	busy := map[*session]bool{}
	for _, op := range s.ops {
		select {
		case <-op.done:
		default:
			busy[op.sess] = true
		}
	}
	var idle []*session
	for id, sess := range s.sessions {
		if !busy[sess] && sess.used.Load() < cutoff {
			delete(s.sessions, id)
			idle = append(idle, sess)
		}
	}
	for _, op := range s.ops {
		if slices.Contains(idle, op.sess) {
			s.forgetOperationLocked(op)
		}
	}
	s.mu.Unlock()
	for _, sess := range idle {
		_ = s.endSession(sess, true)
	}
}

// closeOperation interrupts the operation if it still runs and frees its server state.
func (s *Server) closeOperation(op *operation) {
	s.dropOperation(op)
	s.rec.statement(op.id, func(r *StatementRecord) { r.Closed = true })
}

// dropOperation interrupts the operation and forgets it, with the CloudFetch files it
// never handed out. Files whose links the client holds stay until served or expired:
// direct results close the operation before the client downloads them.
func (s *Server) dropOperation(op *operation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetOperationLocked(op)
}

// forgetOperationLocked is dropOperation with s.mu held. The operation is cancelled
// before it is forgotten: a statement that publishes its files meanwhile sees one or the
// other (publishChunks) and keeps none.
func (s *Server) forgetOperationLocked(op *operation) {
	op.cancel()
	delete(s.ops, op.id)
	s.dropUnsentChunksLocked(op)
}

// reapFailedOperations forgets the statements that ended cancelled, failed or timed out
// more than failedOpTTL ago, and those the client cancelled more than failedOpTTL ago
// after they had finished. The driver does not close them: after CancelOperation it
// sends nothing more, and a failure that QueryContext learns from GetOperationStatus is
// returned without CloseOperation. They are kept for a while rather than dropped once
// reported, because ExecContext does close them, and a CloseOperation on a handle the
// server no longer knows fails (INVALID_HANDLE) where the client expects success.
func (s *Server) reapFailedOperations(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range s.ops {
		select {
		case <-op.done:
		default:
			continue
		}
		failed := op.state != tcli.TOperationState_FINISHED_STATE && now.Sub(op.ended) > s.cfg.failedOpTTL
		abandoned := !op.cancelAt.IsZero() && now.Sub(op.cancelAt) > s.cfg.failedOpTTL
		if failed || abandoned {
			s.forgetOperationLocked(op)
		}
	}
}

func (v *service) GetOperationStatus(_ context.Context, req *tcli.TGetOperationStatusReq) (*tcli.TGetOperationStatusResp, error) {
	if req == nil {
		return &tcli.TGetOperationStatusResp{Status: missingRequest()}, nil
	}
	op, ok := v.s.lookupOp(req.GetOperationHandle())
	if !ok {
		return &tcli.TGetOperationStatusResp{Status: invalidHandle("OperationHandle")}, nil
	}
	v.s.rec.statement(op.id, func(r *StatementRecord) { r.Polls++ })
	return op.status(), nil
}

func (v *service) CancelOperation(_ context.Context, req *tcli.TCancelOperationReq) (*tcli.TCancelOperationResp, error) {
	if req == nil {
		return &tcli.TCancelOperationResp{Status: missingRequest()}, nil
	}
	op, ok := v.s.lookupOp(req.GetOperationHandle())
	if !ok {
		return &tcli.TCancelOperationResp{Status: invalidHandle("OperationHandle")}, nil
	}
	v.s.mu.Lock()
	if op.cancelAt.IsZero() {
		op.cancelAt = time.Now()
	}
	v.s.mu.Unlock()
	op.cancel()
	return &tcli.TCancelOperationResp{Status: success()}, nil
}

func (v *service) CloseOperation(_ context.Context, req *tcli.TCloseOperationReq) (*tcli.TCloseOperationResp, error) {
	if req == nil {
		return &tcli.TCloseOperationResp{Status: missingRequest()}, nil
	}
	op, ok := v.s.lookupOp(req.GetOperationHandle())
	if !ok {
		return &tcli.TCloseOperationResp{Status: invalidHandle("OperationHandle")}, nil
	}
	v.s.closeOperation(op)
	return &tcli.TCloseOperationResp{Status: success()}, nil
}

func (v *service) GetResultSetMetadata(_ context.Context, req *tcli.TGetResultSetMetadataReq) (*tcli.TGetResultSetMetadataResp, error) {
	if req == nil {
		return &tcli.TGetResultSetMetadataResp{Status: missingRequest()}, nil
	}
	op, ok := v.s.lookupOp(req.GetOperationHandle())
	if !ok {
		return &tcli.TGetResultSetMetadataResp{Status: invalidHandle("OperationHandle")}, nil
	}
	select {
	case <-op.done:
	default:
		return &tcli.TGetResultSetMetadataResp{Status: errStatus(tcli.TStatusCode_STILL_EXECUTING_STATUS, "the statement is still running")}, nil
	}
	return op.metadata(), nil
}

func (v *service) FetchResults(ctx context.Context, req *tcli.TFetchResultsReq) (*tcli.TFetchResultsResp, error) {
	if req == nil {
		return &tcli.TFetchResultsResp{Status: missingRequest()}, nil
	}
	op, ok := v.s.lookupOp(req.GetOperationHandle())
	if !ok {
		return &tcli.TFetchResultsResp{Status: invalidHandle("OperationHandle")}, nil
	}
	select {
	case <-op.done:
	default:
		return &tcli.TFetchResultsResp{Status: errStatus(tcli.TStatusCode_STILL_EXECUTING_STATUS, "the statement is still running")}, nil
	}
	if op.state != tcli.TOperationState_FINISHED_STATE {
		return &tcli.TFetchResultsResp{Status: errStatus(tcli.TStatusCode_ERROR_STATUS, "the statement has no results")}, nil
	}
	if req.Orientation != tcli.TFetchOrientation_FETCH_NEXT {
		// The cursor only moves forward: answering the next page would skip it.
		return &tcli.TFetchResultsResp{Status: errStatus(tcli.TStatusCode_ERROR_STATUS,
			"fetch orientation "+req.Orientation.String()+" is not supported: only FETCH_NEXT")}, nil
	}
	maxRows := op.maxRows
	if req.MaxRows > 0 {
		maxRows = req.MaxRows
	}
	v.s.rec.statement(op.id, func(r *StatementRecord) { r.Fetches++ })
	page, more := v.s.nextPage(op, maxRows, v.s.linkBase(ctx))
	return &tcli.TFetchResultsResp{Status: success(), HasMoreRows: ptr(more), Results: page, ResultSetMetadata: op.metadata()}, nil
}
