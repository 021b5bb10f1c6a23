package warehouse

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse/internal/tcli"
)

func param(name, typ string, value *string) *tcli.TSparkParameter {
	p := &tcli.TSparkParameter{Type: &typ}
	if name != "" {
		p.Name = &name
	}
	if value != nil {
		p.Value = &tcli.TSparkParameterValue{StringValue: value}
	}
	return p
}

func str(s string) *string { return &s }

func TestBindParameters(t *testing.T) {
	cases := []struct {
		name     string
		stmt     string
		params   []*tcli.TSparkParameter
		wantSQL  string
		wantArgs int
		wantErr  string
	}{
		{"no params", "SELECT 1", nil, "SELECT 1", 0, ""},
		{"positional", "SELECT ? + ?", []*tcli.TSparkParameter{param("", "BIGINT", str("1")), param("", "BIGINT", str("2"))}, "SELECT $1 + $2", 2, ""},
		{"marker in string and comment", "SELECT '?', \"?\" -- ?\n, ? /* ? */", []*tcli.TSparkParameter{param("", "STRING", str("x"))}, "SELECT '?', \"?\" -- ?\n, $1 /* ? */", 1, ""},
		{"named", "SELECT :a + :b", []*tcli.TSparkParameter{param("a", "INT", str("1")), param("b", "INT", str("2"))}, "SELECT CAST($p1 AS INTEGER) + CAST($p2 AS INTEGER)", 2, ""},
		{"named keeps casts", "SELECT :a::INT, 1::INT", []*tcli.TSparkParameter{param("a", "STRING", str("1"))}, "SELECT $p1::INT, 1::INT", 1, ""},
		{"decimal cast", "SELECT ?", []*tcli.TSparkParameter{param("", "DECIMAL(5,2)", str("1.25"))}, "SELECT CAST($1 AS DECIMAL(5,2))", 1, ""},
		{"null", "SELECT ?", []*tcli.TSparkParameter{param("", "VOID", nil)}, "SELECT $1", 1, ""},
		{"too few markers", "SELECT 1", []*tcli.TSparkParameter{param("", "INT", str("1"))}, "", 0, "0 ? markers"},
		{"too many markers", "SELECT ?, ?", []*tcli.TSparkParameter{param("", "INT", str("1"))}, "", 0, "more ? markers"},
		{"missing name", "SELECT :x", []*tcli.TSparkParameter{param("a", "INT", str("1"))}, "", 0, ":x"},
		{"mixed", "SELECT ?", []*tcli.TSparkParameter{param("a", "INT", str("1")), param("", "INT", str("1"))}, "", 0, "mixed"},
		{"bad int", "SELECT ?", []*tcli.TSparkParameter{param("", "BIGINT", str("x"))}, "", 0, `cannot be cast to "BIGINT" because it is malformed`},
		{"a timestamp string's own name is free", "SELECT CAST(:a AS TIMESTAMP), :a__wall", []*tcli.TSparkParameter{param("a", "STRING", str("2024-01-01 10:00:00")), param("a__wall", "STRING", str("hello"))}, "SELECT CAST($p1 AS TIMESTAMP), $p2", 2, ""},
		{"a name no letter starts", "SELECT :_p + :p_p", []*tcli.TSparkParameter{param("_p", "INT", str("1")), param("p_p", "INT", str("2"))}, "SELECT CAST($p1 AS INTEGER) + CAST($p2 AS INTEGER)", 2, ""},
		{"names in other cases are other names", "SELECT :a * 10 + :A + :a", []*tcli.TSparkParameter{param("a", "INT", str("1")), param("A", "INT", str("2"))}, "SELECT CAST($p1 AS INTEGER) * 10 + CAST($p2 AS INTEGER) + CAST($p1 AS INTEGER)", 2, ""},
		{"unknown type", "SELECT ?", []*tcli.TSparkParameter{param("", "GEOGRAPHY", str("x"))}, "", 0, "unsupported parameter type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sql, args, err := bindParameters(tc.stmt, tc.params, nil)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantSQL, sql)
			assert.Len(t, args, tc.wantArgs)
		})
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		stmt string
		kind statementKind
		verb string
	}{
		{"SELECT 1", kindQuery, "SELECT"},
		{"  -- comment\n insert into t values (1)", kindDML, "INSERT"},
		{"/* x */ (SELECT 1)", kindQuery, "SELECT"},
		{"((select 1))", kindQuery, "SELECT"},
		{"update t set a = 1", kindDML, "UPDATE"},
		{"DELETE FROM t", kindDML, "DELETE"},
		{"MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE", kindDML, "MERGE"},
		{"CREATE TABLE t(a INT)", kindDDL, "CREATE"},
		{"begin transaction", kindDDL, "BEGIN"},
		{"; DROP TABLE t", kindDDL, "DROP"},
		{"WITH x AS (SELECT 1) SELECT * FROM x", kindQuery, "SELECT"},
		{"WITH x AS (SELECT 1 AS a) INSERT INTO t SELECT a FROM x", kindDML, "INSERT"},
		{"with \"insert\" AS (SELECT ')') DELETE FROM t WHERE a IN (SELECT 1)", kindDML, "DELETE"},
		{"WITH x AS (SELECT 1) MERGE INTO t USING x ON true WHEN MATCHED THEN DELETE", kindDML, "MERGE"},
		{"/* a /* b */ INSERT */ SELECT 7", kindQuery, "SELECT"},
		{"/*/ INSERT */ SELECT 7", kindQuery, "SELECT"},
		{"-- c\rINSERT INTO t VALUES (1)", kindDML, "INSERT"},
		{"WITH delete AS (SELECT 5 AS five) SELECT five FROM delete", kindQuery, "SELECT"},
		{"WITH insert(a) AS (SELECT 1), update AS (SELECT 2) DELETE FROM t", kindDML, "DELETE"},
		{"", kindQuery, ""},
	}
	for _, tc := range cases {
		kind, verb := classify(tc.stmt)
		assert.Equal(t, tc.kind, kind, tc.stmt)
		assert.Equal(t, tc.verb, verb, tc.stmt)
	}
}

func FuzzBindParameters(f *testing.F) {
	f.Add("SELECT ? + 1", "BIGINT", "41", false)
	f.Add("SELECT :a || 'x'", "STRING", "it's", true)
	f.Add("SELECT '?'::TEXT, \"?\", ? -- ?", "DOUBLE", "1e3", false)
	f.Add("SELECT /* :a */ :a", "DECIMAL(10,2)", "1.5", true)
	f.Add("SELECT ?", "TIMESTAMP", "2024-01-01T00:00:00Z", false)
	f.Fuzz(func(t *testing.T, stmt, typ, value string, named bool) {
		name := ""
		if named {
			name = "a"
		}
		sql, args, err := bindParameters(stmt, []*tcli.TSparkParameter{param(name, typ, &value)}, nil)
		// A positional parameter is bound exactly once; a named one at most once
		// (a name the statement does not use is ignored, as on Databricks).
		if err == nil && (len(args) > 1 || !named && len(args) != 1) {
			t.Fatalf("%q: one parameter bound %d times (%q)", stmt, len(args), sql)
		}
	})
}

// message encodes one Thrift CALL as the driver sends it.
func message(t testing.TB, method string, args thrift.TStruct) []byte {
	buf := thrift.NewTMemoryBuffer()
	p := thrift.NewTBinaryProtocolConf(buf, &thrift.TConfiguration{})
	ctx := context.Background()
	require.NoError(t, p.WriteMessageBegin(ctx, method, thrift.CALL, 1))
	require.NoError(t, args.Write(ctx, p))
	require.NoError(t, p.WriteMessageEnd(ctx))
	require.NoError(t, p.Flush(ctx))
	return buf.Bytes()
}

// FuzzThriftRequest feeds arbitrary bytes to the Thrift endpoint: every answer is a clean
// HTTP answer (never a recovered panic, status 500).
func FuzzThriftRequest(f *testing.F) {
	s, err := NewServer()
	require.NoError(f, err)
	f.Cleanup(func() { _ = s.Close() })
	handle := &tcli.TSessionHandle{SessionId: &tcli.THandleIdentifier{GUID: make([]byte, 16), Secret: []byte{1}}}
	op := &tcli.TOperationHandle{OperationId: &tcli.THandleIdentifier{GUID: make([]byte, 16), Secret: []byte{1}}}
	f.Add(message(f, "OpenSession", &tcli.TCLIServiceOpenSessionArgs{Req: &tcli.TOpenSessionReq{ClientProtocolI64: ptr(int64(42248))}}))
	f.Add(message(f, "CloseSession", &tcli.TCLIServiceCloseSessionArgs{Req: &tcli.TCloseSessionReq{SessionHandle: handle}}))
	f.Add(message(f, "ExecuteStatement", &tcli.TCLIServiceExecuteStatementArgs{Req: &tcli.TExecuteStatementReq{SessionHandle: handle, Statement: "SELECT 1"}}))
	f.Add(message(f, "GetOperationStatus", &tcli.TCLIServiceGetOperationStatusArgs{Req: &tcli.TGetOperationStatusReq{OperationHandle: op}}))
	f.Add(message(f, "FetchResults", &tcli.TCLIServiceFetchResultsArgs{Req: &tcli.TFetchResultsReq{OperationHandle: op, MaxRows: 10}}))
	f.Add(message(f, "GetResultSetMetadata", &tcli.TCLIServiceGetResultSetMetadataArgs{Req: &tcli.TGetResultSetMetadataReq{OperationHandle: op}}))
	f.Add(message(f, "CancelOperation", &tcli.TCLIServiceCancelOperationArgs{Req: &tcli.TCancelOperationReq{OperationHandle: op}}))
	f.Add(message(f, "CloseOperation", &tcli.TCLIServiceCloseOperationArgs{Req: &tcli.TCloseOperationReq{OperationHandle: op}}))
	f.Add([]byte{0x80, 0x01, 0x00, 0x01, 0, 0, 0, 3, 'F', 'o', 'o', 0, 0, 0, 1, 0})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, HTTPPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-thrift")
		rec := httptest.NewRecorder()
		s.tcli.ServeHTTP(rec, req)
		if rec.Code == http.StatusInternalServerError {
			t.Fatalf("handler panicked: %s", rec.Body.String())
		}
	})
}

// An error whose *duckdb.Error has no message (duckdb-go's own, binding a parameter,
// joined to an empty one) is sent with the text of the whole error, not as a class and
// a SQLSTATE with nothing between them.
func TestMapErrorOfAnEmptyDuckDBMessage(t *testing.T) {
	err := errors.Join(errors.New("could not bind parameter"), &duckdb.Error{Type: duckdb.ErrorTypeInvalid})
	got := mapError(err)
	assert.Equal(t, "could not bind parameter", got.message)
	assert.Contains(t, got.display(), "could not bind parameter")
}

// multipleStatements tells one statement, whatever ';', comments and quotes it holds,
// from more than one.
func TestMultipleStatementsText(t *testing.T) {
	for q, want := range map[string]bool{
		"":                                   false,
		"SELECT 1":                           false,
		"SELECT 1;":                          false,
		";;SELECT 1;;":                       false,
		"SELECT 1; -- x; y":                  false,
		"SELECT 1; /* ; SELECT 2 */ ;":       false,
		"SELECT ';' || \";\" || `;`":         false,
		"SELECT 'it''s; fine'":               false,
		"SELECT 1 /* unterminated; x":        false,
		"SELECT 1; SELECT 2":                 true,
		"SELECT 1;\nSELECT 2;":               true,
		"SELECT 1;'x'":                       true,
		"SELECT 1; /* c */ SELECT 2":         true,
		"INSERT INTO t VALUES (1); x":        true,
		"SELECT 1 -- ; SELECT 2\n; VALUES":   true,
		"SELECT /* a /* b */ ; */ 1":         false,
		"SELECT $$a;b$$":                     false,
		"SELECT $t$a;$$;b$t$":                false,
		"SELECT $1 + $2":                     false,
		"SELECT $1; SELECT 2":                true,
		"SELECT 1; /* a /* b */ */ SELECT 2": true,
	} {
		assert.Equal(t, want, multipleStatements(q), "%q", q)
	}
}

// A timestamp parameter is bound inside a cast that types its placeholder: TIMESTAMP an
// instant (TIMESTAMPTZ), TIMESTAMP_NTZ a UTC wall time (DuckDB's TIMESTAMP), whatever the
// session's zone.
func TestTimestampParameterCasts(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	s := func(v string) *string { return &v }
	for _, tt := range []struct {
		typ, value, cast string
		want             time.Time
	}{
		{"TIMESTAMP", "2024-01-01T12:00:00Z", "TIMESTAMPTZ>TIMESTAMP", time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)},
		{"TIMESTAMP", "2024-01-01 07:00:00", "TIMESTAMPTZ>TIMESTAMP", time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)},
		{"TIMESTAMP_NTZ", "2024-01-01 07:00:00", "TIMESTAMP", time.Date(2024, 1, 1, 7, 0, 0, 0, time.UTC)},
		{"TIMESTAMP_NTZ", "2024-01-01T07:00:00Z", "TIMESTAMP", time.Date(2024, 1, 1, 7, 0, 0, 0, time.UTC)},
		// A zone: TIMESTAMP its instant; TIMESTAMP_NTZ ignores it, as Spark's cast does.
		{"TIMESTAMP", "2024-01-01 07:00:00+02:00", "TIMESTAMPTZ>TIMESTAMP", time.Date(2024, 1, 1, 5, 0, 0, 0, time.UTC)},
		{"TIMESTAMP_NTZ", "2024-01-01T07:00:00+02:00", "TIMESTAMP", time.Date(2024, 1, 1, 7, 0, 0, 0, time.UTC)},
		// Spark's short forms, in the session's zone.
		{"TIMESTAMP", "2024-1-1 7:00", "TIMESTAMPTZ>TIMESTAMP", time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)},
	} {
		v, cast, err := paramValue(param("", tt.typ, s(tt.value)), ny)
		require.NoError(t, err, "%s %s", tt.typ, tt.value)
		assert.Equal(t, tt.cast, cast, "%s %s", tt.typ, tt.value)
		assert.Equal(t, tt.want, v, "%s %s", tt.typ, tt.value)
	}
}
