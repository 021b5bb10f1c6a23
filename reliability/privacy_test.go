package reliability_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// Secrets and private data the privacy workload puts everywhere a program could: in
// DSNs (tokens, an OAuth client secret, a session parameter value), in SQL text and
// literals, in parameter values of every type, in file paths, and in the CloudFetch
// links the server hands out.
const (
	wrongToken     = "dapi00000000000000000000000000000bad"
	clientSecret   = "dose5ecret0fTheM2mClient0000000000"
	sessionValue   = "sessval-Zr8pQ"
	literalSecret  = "lit-Hq3mW"
	paramString    = "param-Vb5nK"
	paramNamed     = "named-Tg2xL"
	paramBytes     = "bytes-Yc7fD"
	paramFloat     = 31415.9265
	paramInt       = 987654321 // quoted unquoted by a failed cast's message
	userDir        = "/home/alice-Kp4s/private"
	tokenInSQL     = "dapi5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"
	jsonSecret     = "pw-Jn6rE"
	privateColumn  = "salary_Wd3q"
	cloudFetchRead = "SELECT range AS " + privateColumn + " FROM range(200000)"
)

// privateMarkers are what must never appear in an exported payload or a debug line.
func privateMarkers(t *testing.T, srv *warehouse.Server) []string {
	t.Helper()
	m := []string{
		srv.Token(), wrongToken, clientSecret, sessionValue, literalSecret, paramString, paramNamed,
		paramBytes, "31415.9", "987654321", userDir, "alice-Kp4s", tokenInSQL, jsonSecret, privateColumn,
		"SELECT", "INSERT", "BEGIN", "COMMIT", "CAST(", "range(", "read_csv", "wait_ms",
		"/cloudfetch/", "X-Signature", "X-Expires",
	}
	// The machine's own directories: a stack trace or a path in a message must not
	// carry them.
	if wd, err := os.Getwd(); err == nil {
		m = append(m, wd)
	}
	if home, err := os.UserHomeDir(); err == nil && len(home) > 1 {
		m = append(m, home+"/")
	}
	if exe, err := os.Executable(); err == nil {
		m = append(m, filepath.Dir(exe))
	}
	return m
}

// privacyWorkload runs every kind of statement, with every kind of private value.
func privacyWorkload(t *testing.T, db *sql.DB, run int) {
	t.Helper()
	table := fmt.Sprintf("pay_%s_%d", privateColumn, run)
	ctx := context.Background()
	var s string
	var n int64
	var f float64
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must(db.QueryRowContext(ctx, "SELECT '"+literalSecret+"' || ?", paramString).Scan(&s), "literal and parameter")
	must(db.QueryRowContext(ctx, "SELECT :who", sql.Named("who", paramNamed)).Scan(&s), "named parameter")
	must(db.QueryRowContext(ctx, "SELECT ? * 2", paramFloat).Scan(&f), "float parameter")
	must(db.QueryRowContext(ctx, "SELECT length(?)", []byte(paramBytes)).Scan(&n), "bytes parameter")
	must(db.QueryRowContext(ctx, "SELECT ?::TIMESTAMP IS NOT NULL", time.Date(2031, 7, 11, 1, 2, 3, 0, time.UTC)).Scan(new(bool)), "time parameter")
	rows, err := db.QueryContext(ctx, cloudFetchRead)
	must(err, "CloudFetch read")
	for rows.Next() {
		n++
	}
	must(rows.Close(), "CloudFetch rows")
	_, err = db.ExecContext(ctx, "CREATE TABLE "+table+"(who VARCHAR, amount DOUBLE)")
	must(err, "create")
	stmt, err := db.PrepareContext(ctx, "INSERT INTO "+table+" VALUES (?, ?)")
	must(err, "prepare")
	_, err = stmt.ExecContext(ctx, paramString, paramFloat)
	must(err, "prepared insert")
	must(stmt.Close(), "close statement")
	conn, err := db.Conn(ctx)
	must(err, "conn")
	for _, q := range []string{"BEGIN TRANSACTION", "INSERT INTO " + table + " VALUES ('" + literalSecret + "', 1)", "COMMIT"} {
		_, err = conn.ExecContext(ctx, q)
		must(err, q)
	}
	must(conn.Close(), "close conn")

	// Statements the warehouse rejects, whose error messages quote what the SQL held.
	for _, q := range []string{
		"SELECT CAST('" + literalSecret + "' AS INTEGER)",
		"SELECT CAST('" + tokenInSQL + "' AS INTEGER)",
		`SELECT CAST('{"password": "` + jsonSecret + `"}' AS INTEGER)`,
		"SELECT * FROM read_csv('" + userDir + "/payroll.csv')",
		"SELEC " + literalSecret,
		"SELECT `" + paramNamed + "` FROM range(1)",
		// Names of the user's tables and columns, which the messages quote back.
		"SELECT * FROM no_" + table,
		"SELECT " + privateColumn + "_x FROM " + table,
		"CREATE TABLE no_schema_" + privateColumn + ".t (a INT)",
		"SELECT fn_" + privateColumn + "(1)",
		"SELECT amount / 0 FROM " + table,
		// A stored value the message quotes without quotes (31415.9265).
		"SELECT CAST(amount AS TINYINT) FROM " + table,
	} {
		if _, err := db.ExecContext(ctx, q); err == nil {
			t.Fatalf("%q succeeded", q)
		}
	}
	// A parameter value the message quotes without quotes.
	if _, err := db.ExecContext(ctx, "SELECT CAST(? AS TINYINT)", int64(paramInt)); err == nil {
		t.Fatal("the overflowing cast succeeded")
	}
	// A statement cancelled by its context.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, _ = db.ExecContext(cctx, "SELECT wait_ms(5000)")
	cancel()
}

// No exported payload and no debug log line of a full workload — every statement kind,
// every parameter type, CloudFetch, failures quoting literals, paths and tokens, a
// cancelled statement, connections that fail to authenticate (a wrong PAT, an OAuth M2M
// client secret the warehouse cannot honour) — carries a token, a client secret, SQL
// text, a literal, a parameter value, a CloudFetch URL or query string, or a user's
// file path. Credentials go only to the DSN's host, and only on the authenticated path.
func TestNothingPrivateLeaves(t *testing.T) {
	srv := startWarehouse(t)
	var logs logBuffer
	params := "enableTelemetry=true&telemetry_flush_interval=50ms&secret_conf=" + sessionValue
	hostsOK := driver.NewHosts(exporter.WithLogger(logs.logger()))
	hostsBad := driver.NewHosts(exporter.WithLogger(logs.logger()))
	open := func(dsn string, hosts *driver.Hosts) *sql.DB {
		c, err := driver.OpenConnector(dsn, driver.WithHosts(hosts), driver.WithLogger(logs.logger()),
			// The driver's own retries of a failing connection (1 s to 30 s apart) are
			// its business; keep them short.
			driver.WithConnOptions(dbsql.WithRetries(1, 10*time.Millisecond, 50*time.Millisecond)))
		if err != nil {
			t.Fatalf("open connector: %v", err)
		}
		return sql.OpenDB(c)
	}
	addr := srv.Addr()

	// The PAT in the DSN's userinfo, and in the accessToken parameter.
	for i, dsn := range []string{
		srv.DSN() + "?" + params,
		fmt.Sprintf("http://%s%s?accessToken=%s&%s", addr, warehouse.HTTPPath, srv.Token(), params),
	} {
		db := open(dsn, hostsOK)
		privacyWorkload(t, db, i)
		if err := db.Close(); err != nil {
			t.Errorf("db.Close: %v", err)
		}
	}
	// Connections that never authenticate: a wrong PAT (401), and OAuth M2M, whose token
	// endpoint the warehouse does not serve.
	for _, dsn := range []string{
		fmt.Sprintf("http://token:%s@%s%s?%s", wrongToken, addr, warehouse.HTTPPath, params),
		fmt.Sprintf("http://%s%s?clientId=cid-%s&clientSecret=%s&%s", addr, warehouse.HTTPPath, "Mx2", clientSecret, params),
	} {
		db := open(dsn, hostsBad)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := db.PingContext(ctx); err == nil {
			t.Errorf("a connection with bad credentials was accepted")
		}
		cancel()
		if err := db.Close(); err != nil {
			t.Errorf("db.Close: %v", err)
		}
	}

	forbidden := privateMarkers(t, srv)
	reqs := scanTelemetry(t, srv, forbidden)
	paths := map[string]int{}
	for _, r := range srv.TelemetryRequests() {
		paths[r.Path]++
		if r.Path == "/telemetry-unauth" {
			checkUnauthStripped(t, r)
		}
	}
	if paths["/telemetry-ext"] == 0 || paths["/telemetry-unauth"] == 0 {
		t.Errorf("want both authenticated and unauthenticated exports, got %v", paths)
	}
	if len(logs.lines()) == 0 {
		t.Error("no debug line to scan: the logger was not passed through")
	}
	for i, line := range logs.lines() {
		scanPrivate(t, fmt.Sprintf("debug log line %d", i), line, forbidden)
		if !strings.Contains(line, `"level":"debug"`) {
			t.Errorf("telemetry logged above debug level: %s", line)
		}
	}
	// The process name is reduced to a base name.
	for _, s := range srv.TelemetryLogs() {
		var l struct {
			Entry struct {
				Log struct {
					Sys *struct {
						Process string `json:"process_name"`
					} `json:"system_configuration"`
				} `json:"sql_driver_log"`
			} `json:"entry"`
		}
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatal(err)
		}
		if sys := l.Entry.Log.Sys; sys != nil && strings.ContainsAny(sys.Process, `/\ `) {
			t.Errorf("process name %q is not a base name", sys.Process)
		}
	}
	t.Logf("%d telemetry requests %v and %d debug lines scanned for %d markers", reqs, paths, len(logs.lines()), len(forbidden))
	if testing.Verbose() {
		for _, r := range srv.TelemetryRequests() {
			if r.Path == "/telemetry-unauth" {
				t.Logf("unauthenticated: %s", r.Body)
			}
		}
		t.Logf("debug lines:\n%s", logs.String())
	}
}

// checkUnauthStripped: the unauthenticated path carries no workspace, session or
// statement id, no system or connection configuration, and no stack trace (SPEC §4a).
func checkUnauthStripped(t *testing.T, r warehouse.TelemetryRequest) {
	t.Helper()
	for _, s := range r.ProtoLogs() {
		for _, key := range []string{`"session_id"`, `"sql_statement_id"`, `"workspace_id"`, `"system_configuration"`, `"driver_connection_params"`} {
			if strings.Contains(s, key) {
				t.Errorf("unauthenticated log carries %s: %s", key, s)
			}
		}
		var l struct {
			Entry struct {
				Log struct {
					Err *struct {
						Stack string `json:"stack_trace"`
					} `json:"error_info"`
				} `json:"sql_driver_log"`
			} `json:"entry"`
		}
		if err := json.Unmarshal([]byte(s), &l); err == nil && l.Entry.Log.Err != nil && l.Entry.Log.Err.Stack != "" {
			t.Errorf("unauthenticated log carries a stack trace: %s", s)
		}
	}
}

// Telemetry goes to the DSN's host only: with the DSN pointing at a front host and the
// CloudFetch links (and the rest of the service) at another, every telemetry request
// comes through the front, none goes to the host the driver learnt from the server.
func TestTelemetryGoesOnlyToTheDSNHost(t *testing.T) {
	srv := startWarehouse(t)
	e := &caseEnv{srv: srv, flagFront: http.NotFoundHandler()}
	front := startFront(t, e)
	dsn := fmt.Sprintf("http://token:%s@%s%s?enableTelemetry=true&telemetry_flush_interval=50ms", srv.Token(), front, warehouse.HTTPPath)
	c, err := driver.OpenConnector(dsn, driver.WithHosts(driver.NewHosts()))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	runBriefly(t, db, newWorkload(db, 2))
	reqs := srv.TelemetryRequests()
	if len(reqs) == 0 {
		t.Fatal("no telemetry arrived")
	}
	for i, r := range reqs {
		if r.Header.Get("X-Forwarded-For") == "" {
			t.Errorf("telemetry request %d reached the warehouse without going through the DSN's host", i)
		}
	}
	downloads := 0
	for _, st := range srv.Statements() {
		downloads += st.ChunkDownloads
	}
	if downloads == 0 {
		t.Error("no CloudFetch file was downloaded from the other host")
	}
}

// A DSN that reaches a non-loopback host over plain http: the token never crosses
// plain http to it from telemetry. The telemetry target is upgraded to https (or
// refused, for a private address), so the warehouse — which speaks plain http only —
// receives no telemetry request at all, while the queries themselves go on.
func TestNoCredentialsOverPlainHTTPToANonLoopbackHost(t *testing.T) {
	ip := nonLoopbackIPv4()
	if ip == "" {
		t.Skip("the machine has no non-loopback IPv4 address")
	}
	srv := startWarehouse(t, warehouse.WithAddr(net.JoinHostPort(ip, "0")))
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&telemetry_flush_interval=50ms&telemetry_retry_count=0",
		driver.WithHosts(driver.NewHosts(exporter.WithAttemptTimeout(time.Second))))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	w := newWorkload(db, 2)
	w.noCloudFetch = true
	runBriefly(t, db, w)
	if n := len(srv.TelemetryRequests()); n != 0 {
		t.Errorf("%d telemetry requests reached %s over plain http", n, ip)
	}
	t.Logf("host %s: breaker %s, stats %+v", ip, transitions(c.Transitions()), c.Stats().Exporter)
}

func nonLoopbackIPv4() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}

// The scanner itself finds what it looks for, in any case, and only that.
func TestScannerFindsMarkers(t *testing.T) {
	text := `{"error_info":{"error_name":"data_error","stack_trace":"Could not convert 'LIT-HQ3MW' near select"}}`
	got := findPrivate(text, []string{literalSecret, "SELECT", "absent-marker", ""})
	if strings.Join(got, ",") != literalSecret+",SELECT" {
		t.Fatalf("findPrivate found %q", got)
	}
}

// errorsOnly records what a check reports instead of failing the test.
type errorsOnly struct {
	testing.TB
	errs []string
}

func (e *errorsOnly) Helper() {}
func (e *errorsOnly) Errorf(format string, args ...any) {
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}

// The per-request check finds each thing it looks for: a marker in the body or the path,
// another token on /telemetry-ext, any credentials on /telemetry-unauth; and passes a
// clean request.
func TestTelemetryRequestCheckFinds(t *testing.T) {
	const token = "dapi-own-token"
	body := []byte(`{"uploadTime":1,"items":[],"protoLogs":["{}"]}`)
	auth := func(v string) http.Header {
		h := http.Header{}
		if v != "" {
			h.Set("Authorization", v)
		}
		return h
	}
	for _, tc := range []struct {
		name string
		req  warehouse.TelemetryRequest
		want string // in the one error reported; "" for none
	}{
		{"clean ext", warehouse.TelemetryRequest{Path: "/telemetry-ext", Header: auth("Bearer " + token), Body: body}, ""},
		{"clean unauth", warehouse.TelemetryRequest{Path: "/telemetry-unauth", Header: auth(""), Body: body}, ""},
		{"marker in the body", warehouse.TelemetryRequest{Path: "/telemetry-ext", Header: auth("Bearer " + token),
			Body: []byte(`{"protoLogs":["{\"x\":\"` + literalSecret + `\"}"]}`)}, literalSecret},
		{"marker in the path", warehouse.TelemetryRequest{Path: "/telemetry-unauth/" + literalSecret, Header: auth(""), Body: body}, literalSecret},
		{"another token on ext", warehouse.TelemetryRequest{Path: "/telemetry-ext", Header: auth("Bearer dapi-other"), Body: body}, "not the connection's own token"},
		{"no token on ext", warehouse.TelemetryRequest{Path: "/telemetry-ext", Header: auth(""), Body: body}, "not the connection's own token"},
		{"credentials on unauth", warehouse.TelemetryRequest{Path: "/telemetry-unauth", Header: auth("Bearer " + token), Body: body}, "carries credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &errorsOnly{TB: t}
			checkTelemetryRequest(rec, 0, tc.req, token, []string{literalSecret})
			switch {
			case tc.want == "" && len(rec.errs) != 0:
				t.Errorf("a clean request reported: %q", rec.errs)
			case tc.want != "" && (len(rec.errs) != 1 || !strings.Contains(rec.errs[0], tc.want)):
				t.Errorf("want one error with %q, got %q", tc.want, rec.errs)
			}
		})
	}
}

// runBriefly runs w on db for 300 ms, fails the test for any statement that failed, and
// closes db.
func runBriefly(t *testing.T, db *sql.DB, w *workload) {
	t.Helper()
	if err := w.runFor(context.Background(), 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, failed := w.ran(); failed > 0 {
		t.Errorf("statements failed: %v", w.failures())
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
