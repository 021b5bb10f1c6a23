package driver

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// The warehouse of the end-to-end tests delivers results of more than
// e2eCloudFetchRows rows by CloudFetch, in files of e2eChunkRows rows made of Arrow
// batches of e2eBatchRows rows: the driver's delivery choices at a tenth of the default
// scale or less, which keeps the tests fast under the race detector.
const (
	e2eCloudFetchRows = 10000
	e2eChunkRows      = 10000
	e2eBatchRows      = 5000
)

// The extra statements some variants run.
const (
	e2eBigRows  = 30000
	e2eBigQuery = "SELECT range FROM range(30000)"
	e2eSlow     = "SELECT wait_ms(3000) AS waited"
)

// e2eVariant is a DSN to open through both paths, with what it must show.
type e2eVariant struct {
	name string
	dsn  string
	big  bool // also read a result of e2eBigRows rows (CloudFetch unless disabled)
	// wrapped is appended to the DSN through databricks-telemetry only: enableTelemetry=true
	// there turns on ours, where through the raw driver it would turn on the built-in
	// telemetry, whose circuit breaker the driver keeps per host name for the whole process
	// (a later test on 127.0.0.1 would find it open).
	wrapped string
	slow    bool // also run a statement that outlasts timeout=1

	// Expectations on what both paths show, so that the comparison is not vacuous.
	wantConnectErr string            // a connect error containing this
	wantConf       map[string]string // the session configuration
	wantNS         warehouse.Namespace
	wantSchema     string // current_schema()
	wantLocation   string // location of the TIMESTAMP read back
	wantAgent      string // in the User-Agent
	wantBig        warehouse.Delivery
	wantBigPages   int // result pages of the big query; 0: don't check
}

// TestDSNEquivalenceE2E opens each DSN variant through the raw driver
// (sql.Open("databricks", dsn)), through the connector built from parseDSN's options
// (sql.OpenDB(dbsql.NewConnector(opts...))) and through the wrapper itself
// (sql.Open("databricks-telemetry", dsn): its transport, sqlmw's layer and its outer
// connection), runs the same statements, and compares what the local warehouse recorded
// for the three sessions and what the three returned.
func TestDSNEquivalenceE2E(t *testing.T) {
	quietDriverLogs(t)
	srv, err := warehouse.NewServer(warehouse.WithTelemetryFlag(false),
		warehouse.WithCloudFetchThreshold(e2eCloudFetchRows), warehouse.WithChunkRows(e2eChunkRows),
		warehouse.WithBatchRows(e2eBatchRows))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, srv.Close()) })
	setup, err := sql.Open("databricks", srv.DSN())
	require.NoError(t, err)
	_, err = setup.Exec("CREATE SCHEMA s1")
	require.NoError(t, err)
	require.NoError(t, setup.Close())

	base := srv.DSN()
	noUser := strings.Replace(base, "token:"+srv.Token()+"@", "", 1)
	require.NotEqual(t, base, noUser)
	tok := url.QueryEscape(srv.Token())
	defaultAgent := "godatabrickssqlconnector/" + dbsql.DriverVersion
	variants := []e2eVariant{
		{name: "defaults", dsn: base, big: true, wantBig: warehouse.DeliveryCloudFetch},
		{name: "maxRows", dsn: base + "?maxRows=2000&useCloudFetch=false", big: true,
			wantBig: warehouse.DeliveryInline, wantBigPages: e2eBigRows / 2000},
		{name: "maxRows with cloudfetch", dsn: base + "?maxRows=2000", big: true, wantBig: warehouse.DeliveryCloudFetch},
		{name: "maxRows zero", dsn: base + "?maxRows=0&useCloudFetch=false", big: true,
			wantBig: warehouse.DeliveryInline, wantBigPages: 1},
		{name: "timeout", dsn: base + "?timeout=1", slow: true},
		{name: "catalog and schema", dsn: base + "?catalog=memory&schema=s1",
			wantNS: warehouse.Namespace{Catalog: "memory", Schema: "s1"}, wantSchema: "s1"},
		{name: "catalog", dsn: base + "?catalog=memory", wantNS: warehouse.Namespace{Catalog: "memory"}},
		{name: "schema", dsn: base + "?schema=s1", wantNS: warehouse.Namespace{Schema: "s1"}, wantSchema: "s1"},
		{name: "userAgentEntry", dsn: base + "?userAgentEntry=acme-tool", wantAgent: defaultAgent + " (acme-tool)"},
		{name: "useCloudFetch=false", dsn: base + "?useCloudFetch=false", big: true, wantBig: warehouse.DeliveryInline},
		{name: "useCloudFetch=true", dsn: base + "?useCloudFetch=true", big: true, wantBig: warehouse.DeliveryCloudFetch},
		{name: "maxDownloadThreads", dsn: base + "?maxDownloadThreads=1", big: true, wantBig: warehouse.DeliveryCloudFetch},
		{name: "enableMetricViewMetadata", dsn: base + "?enableMetricViewMetadata=true",
			wantConf: map[string]string{"spark.sql.thriftserver.metadata.metricview.enabled": "true"}},
		{name: "useArrowNativeDecimal", dsn: base + "?useArrowNativeDecimal=true"},
		{name: "timezone", dsn: base + "?timezone=America/New_York",
			wantConf: map[string]string{"timezone": "America/New_York"}, wantLocation: "America/New_York"},
		{name: "timezone any case", dsn: base + "?TIMEZONE=Asia/Tokyo",
			wantConf: map[string]string{"TIMEZONE": "Asia/Tokyo"}, wantLocation: "Asia/Tokyo"},
		{name: "empty timezone", dsn: base + "?timezone=", wantConf: map[string]string{"timezone": ""}},
		{name: "session params", dsn: base + "?ansi_mode=true&statement_timeout=60&QUERY_TAGS=team:a&flag",
			wantConf: map[string]string{"ansi_mode": "true", "statement_timeout": "60", "QUERY_TAGS": "team:a", "flag": ""}},
		{name: "auth params after userinfo", dsn: base + "?authType=OAuthM2M&clientSecret=x",
			wantConf: map[string]string{"authType": "OAuthM2M", "clientSecret": "x"}},
		{name: "accessToken param", dsn: noUser + "?accessToken=" + tok},
		{name: "authType pat", dsn: noUser + "?authType=PAT&accessToken=" + tok},
		{name: "no credentials", dsn: noUser, wantConnectErr: "401"},
		{name: "wrong token", dsn: strings.Replace(base, srv.Token(), "dapi-wrong", 1), wantConnectErr: "401"},
		{name: "warehouseId", dsn: base + "?warehouseId=abc123"},
		{name: "useKernel=false", dsn: base + "?useKernel=false"},
		{name: "useKernel=true", dsn: base + "?useKernel=true", wantConnectErr: "kernel"},
		{name: "tokenCache=false", dsn: base + "?tokenCache=false"},
		{name: "tokenCache=true", dsn: base + "?tokenCache=true", wantConnectErr: "requires the SEA-via-kernel backend"},
		{name: "telemetry on", dsn: base + "?ansi_mode=true", wrapped: "&enableTelemetry=true&telemetry_batch_size=1", big: true,
			wantConf: map[string]string{"ansi_mode": "true"}, wantBig: warehouse.DeliveryCloudFetch},
		{name: "telemetry params", dsn: base + "?enableTelemetry=false&telemetry_batch_size=10&telemetry_flush_interval=2s" +
			"&telemetry_retry_count=2&telemetry_retry_delay=100ms&ansi_mode=true",
			wantConf: map[string]string{"ansi_mode": "true"}},
		{name: "every parameter", dsn: noUser + "?accessToken=" + tok + "&maxRows=50000&timeout=60&catalog=memory&schema=s1" +
			"&userAgentEntry=acme&useCloudFetch=true&maxDownloadThreads=2&enableMetricViewMetadata=true" +
			"&useArrowNativeDecimal=true&useKernel=false&warehouseId=abc&tokenCache=false&timezone=Europe/Paris" +
			"&ansi_mode=false&enableTelemetry=false&telemetry_batch_size=10&telemetry_flush_interval=1000" +
			"&telemetry_retry_count=0&telemetry_retry_delay=1s",
			big: true, wantBig: warehouse.DeliveryCloudFetch,
			wantConf: map[string]string{"timezone": "Europe/Paris", "ansi_mode": "false",
				"spark.sql.thriftserver.metadata.metricview.enabled": "true"},
			wantNS:     warehouse.Namespace{Catalog: "memory", Schema: "s1"},
			wantSchema: "s1", wantLocation: "Europe/Paris", wantAgent: defaultAgent + " (acme)"},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			raw := runPath(t, srv, v, func() (*sql.DB, error) { return sql.Open("databricks", v.dsn) })
			ours := runPath(t, srv, v, func() (*sql.DB, error) { return openOurs(v.dsn) })
			assert.Equal(t, raw, ours)
			checkVariant(t, v, defaultAgent, ours)
			wrapped := runPath(t, srv, v, func() (*sql.DB, error) { return sql.Open(DriverName, v.dsn+v.wrapped) })
			assert.Equal(t, raw, wrapped, "through %s", DriverName)
		})
	}
}

// TestDSNEquivalenceE2EErrors checks that a malformed DSN fails sql.Open or Ping with
// the same error through both paths.
func TestDSNEquivalenceE2EErrors(t *testing.T) {
	quietDriverLogs(t)
	srv, err := warehouse.NewServer(warehouse.WithTelemetryFlag(false))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, srv.Close()) })
	base := srv.DSN()
	u, err := url.Parse(base)
	require.NoError(t, err)
	hostPath := u.Host + u.Path
	noPort := "token:" + srv.Token() + "@" + u.Hostname() + u.Path
	for name, dsn := range map[string]string{
		"missing port":        noPort,
		"missing port http":   "http://" + noPort,
		"empty token":         "http://token:@" + hostPath,
		"bad maxRows":         base + "?maxRows=lots",
		"bad timeout":         base + "?timeout=1m",
		"bad useCloudFetch":   base + "?useCloudFetch=sometimes",
		"user and password":   "http://user:pass@" + hostPath,
		"bad timezone":        base + "?timezone=Mars/Olympus_Mons",
		"pat without token":   "http://" + hostPath + "?authType=pat",
		"m2m without secret":  "http://" + hostPath + "?clientId=abc",
		"u2m on a local host": "http://" + hostPath + "?authType=OauthU2M",
	} {
		t.Run(name, func(t *testing.T) {
			rawErr := openAndPing(func() (*sql.DB, error) { return sql.Open("databricks", dsn) })
			ourErr := openAndPing(func() (*sql.DB, error) { return openOurs(dsn) })
			wrappedErr := openAndPing(func() (*sql.DB, error) { return sql.Open(DriverName, dsn) })
			require.Error(t, rawErr)
			require.Error(t, ourErr)
			require.Error(t, wrappedErr)
			assert.Equal(t, rawErr.Error(), ourErr.Error())
			assert.Equal(t, rawErr.Error(), wrappedErr.Error(), "through %s", DriverName)
		})
	}
	assert.Empty(t, srv.Sessions(), "no malformed DSN reaches the warehouse")
}

// openOurs opens dsn the way the wrapper does: parseDSN, then the driver's connector
// from the options.
func openOurs(dsn string) (*sql.DB, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	c, err := dbsql.NewConnector(cfg.opts...)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

func openAndPing(open func() (*sql.DB, error)) error {
	db, err := open()
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// pathRecord is what one path showed: what the warehouse recorded of its session and
// statements, and what the driver returned.
type pathRecord struct {
	ConnectErr string
	Session    *sessionView
	Statements []statementView
	Results    []string
}

// sessionView is a session record without what differs by nature (ids, times).
type sessionView struct {
	Configuration    map[string]string
	InitialNamespace warehouse.Namespace
	ClientProtocol   int64
	Header           http.Header
}

// statementView is a statement record without what differs by nature: ids, times,
// and what depends on timing (whether the statement finished within ExecuteStatement,
// poll counts). Pages counts the result pages the client received: FetchResults calls,
// plus the first page when it came with ExecuteStatement's answer.
type statementView struct {
	SQL            string
	Parameters     int
	State          string
	SQLState       string
	Message        string
	Delivery       warehouse.Delivery
	Rows           int64
	ModifiedRows   int64
	Chunks         int
	ChunkDownloads int
	Pages          int
	Compressed     bool
	Closed         bool
}

// runPath opens the variant's DSN with open, runs the workload on one connection and
// returns what it showed.
func runPath(t *testing.T, srv *warehouse.Server, v e2eVariant, open func() (*sql.DB, error)) pathRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := len(srv.Sessions())
	var rec pathRecord

	db, err := open()
	require.NoError(t, err)
	conn, err := db.Conn(ctx)
	if err != nil {
		rec.ConnectErr = normalizeIDs(err.Error())
	} else {
		rec.Results = workload(ctx, t, conn, v)
		require.NoError(t, conn.Close())
	}
	require.NoError(t, db.Close())

	sessions := srv.Sessions()[before:]
	if rec.ConnectErr != "" {
		assert.Empty(t, sessions)
		return rec
	}
	require.Len(t, sessions, 1)
	s := sessions[0]
	rec.Session = &sessionView{
		Configuration:    s.Configuration,
		InitialNamespace: s.InitialNamespace,
		ClientProtocol:   s.ClientProtocol,
		Header:           s.Header,
	}
	for _, st := range srv.Statements() {
		if st.SessionID != s.ID {
			continue
		}
		rec.Statements = append(rec.Statements, statementView{
			SQL: st.SQL, Parameters: st.Parameters, State: st.State, SQLState: st.SQLState,
			Message: normalizeIDs(st.Message), Delivery: st.Delivery, Rows: st.Rows,
			ModifiedRows: st.ModifiedRows, Chunks: st.Chunks, ChunkDownloads: st.ChunkDownloads,
			Pages: st.Fetches, Compressed: st.Compressed, Closed: st.Closed,
		})
		if !st.Async && st.Delivery != warehouse.DeliveryNone {
			rec.Statements[len(rec.Statements)-1].Pages++
		}
	}
	return rec
}

// workload runs the statements of a variant and returns their results as text: Go
// types and values, column types, errors.
func workload(ctx context.Context, t *testing.T, conn *sql.Conn, v e2eVariant) []string {
	t.Helper()
	var out []string
	query := func(q string, args ...any) {
		rows, err := conn.QueryContext(ctx, q, args...)
		if err != nil {
			out = append(out, q+" -> error: "+normalizeIDs(err.Error()))
			return
		}
		defer func() { _ = rows.Close() }()
		cts, err := rows.ColumnTypes()
		require.NoError(t, err)
		for _, ct := range cts {
			p, s, ok := ct.DecimalSize()
			out = append(out, fmt.Sprintf("%s column %s %s %v decimal(%d,%d,%t)", q, ct.Name(), ct.DatabaseTypeName(), ct.ScanType(), p, s, ok))
		}
		for rows.Next() {
			vals := make([]any, len(cts))
			ptrs := make([]any, len(cts))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			out = append(out, q+" -> "+formatValues(vals))
		}
		if err := rows.Err(); err != nil {
			out = append(out, q+" -> rows error: "+normalizeIDs(err.Error()))
		}
	}

	require.NoError(t, conn.PingContext(ctx))
	query("SELECT 1 AS one")
	query("SELECT ? * 7 AS answer", 6)
	query("SELECT current_schema() AS s, current_database() AS d")
	query("SELECT TIMESTAMP '2024-01-01 12:00:00' AS ts, DATE '2024-01-01' AS d, CAST(12345.678 AS DECIMAL(10,3)) AS dec, 'x' AS s")
	query("SELECT 1/0 AS boom FROM nowhere")
	if v.big {
		rows, err := conn.QueryContext(ctx, e2eBigQuery)
		require.NoError(t, err)
		var n, sum int64
		for rows.Next() {
			var x int64
			require.NoError(t, rows.Scan(&x))
			n++
			sum += x
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
		out = append(out, fmt.Sprintf("%s -> rows=%d sum=%d", e2eBigQuery, n, sum))
	}
	if v.slow {
		query(e2eSlow)
	}
	// The warehouse hands a closed session's database connection to the next session
	// with its current schema: put it back.
	_, err := conn.ExecContext(ctx, "USE memory.main")
	require.NoError(t, err)
	return out
}

// formatValues prints scanned values with their Go types; a time also shows its
// location.
func formatValues(vals []any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		switch v := v.(type) {
		case time.Time:
			parts[i] = fmt.Sprintf("time.Time(%s %s)", v.Format(time.RFC3339Nano), v.Location())
		default:
			parts[i] = fmt.Sprintf("%T(%v)", v, v)
		}
	}
	return strings.Join(parts, ", ")
}

// uuidPattern matches the ids of sessions and statements.
var uuidPattern = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// normalizeIDs replaces ids, which differ between two runs by nature.
func normalizeIDs(s string) string { return uuidPattern.ReplaceAllString(s, "<id>") }

// checkVariant checks what the variant must show, beyond both paths agreeing.
func checkVariant(t *testing.T, v e2eVariant, defaultAgent string, rec pathRecord) {
	t.Helper()
	if v.wantConnectErr != "" {
		assert.Contains(t, rec.ConnectErr, v.wantConnectErr)
		return
	}
	require.Empty(t, rec.ConnectErr)
	require.NotNil(t, rec.Session)
	wantConf := v.wantConf
	if wantConf == nil {
		wantConf = map[string]string{}
	}
	assert.Equal(t, wantConf, rec.Session.Configuration)
	for _, p := range ourParams() {
		assert.NotContains(t, rec.Session.Configuration, p)
	}
	assert.Equal(t, v.wantNS, rec.Session.InitialNamespace)
	wantAgent := v.wantAgent
	if wantAgent == "" {
		wantAgent = defaultAgent
	}
	assert.True(t, strings.HasPrefix(rec.Session.Header.Get("User-Agent"), wantAgent), rec.Session.Header.Get("User-Agent"))

	results := strings.Join(rec.Results, "\n")
	wantSchema := v.wantSchema
	if wantSchema == "" {
		wantSchema = "main"
	}
	assert.Contains(t, results, fmt.Sprintf("-> string(%s), string(memory)", wantSchema))
	wantLoc := v.wantLocation
	if wantLoc == "" {
		wantLoc = "UTC"
	}
	// The literal TIMESTAMP '2024-01-01 12:00:00' is a wall time in the session's zone.
	loc, err := time.LoadLocation(wantLoc)
	require.NoError(t, err)
	ts := time.Date(2024, 1, 1, 12, 0, 0, 0, loc)
	assert.Contains(t, results, fmt.Sprintf("time.Time(%s %s)", ts.Format(time.RFC3339Nano), wantLoc))
	assert.Contains(t, results, "-> int64(42)")
	if v.big {
		assert.Contains(t, results, fmt.Sprintf("rows=%d sum=%d", e2eBigRows, int64(e2eBigRows)*(e2eBigRows-1)/2))
		var found bool
		for _, st := range rec.Statements {
			if st.SQL == e2eBigQuery {
				found = true
				assert.Equal(t, v.wantBig, st.Delivery)
				if st.Delivery == warehouse.DeliveryCloudFetch {
					assert.Equal(t, e2eBigRows/e2eChunkRows, st.Chunks)
					assert.Equal(t, st.Chunks, st.ChunkDownloads)
				}
				if v.wantBigPages > 0 {
					assert.Equal(t, v.wantBigPages, st.Pages)
				}
			}
		}
		assert.True(t, found, "the big query reached the warehouse")
	}
	if v.slow {
		assert.Contains(t, results, e2eSlow+" -> error:")
		assert.Contains(t, results, "timeout")
	}
}
