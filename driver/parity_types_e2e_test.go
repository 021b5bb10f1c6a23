package driver_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// parityDBs opens the raw driver, the wrapped one with telemetry on, and with it off,
// on the same DSN suffix (params start with "?" or are empty).
func parityDBs(t *testing.T, srv *warehouse.Server, params string) map[string]*sql.DB {
	t.Helper()
	sep := "?"
	if params != "" {
		sep = "&"
	}
	out := map[string]*sql.DB{}
	open := func(name, drv, dsn string) {
		db, err := sql.Open(drv, dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		out[name] = db
	}
	open("raw", "databricks", srv.DSN()+params)
	open("on", "databricks-telemetry", srv.DSN()+params+sep+"enableTelemetry=true")
	open("off", "databricks-telemetry", srv.DSN()+params+sep+"enableTelemetry=false")
	open("flag", "databricks-telemetry", srv.DSN()+params)
	return out
}

const parityTypesQuery = `SELECT
 true AS b, CAST(1 AS TINYINT) AS ti, CAST(2 AS SMALLINT) AS si, CAST(3 AS INTEGER) AS i,
 CAST(4 AS BIGINT) AS bi, CAST(1.5 AS FLOAT) AS f, CAST(2.5 AS DOUBLE) AS d,
 CAST(12.34 AS DECIMAL(10,2)) AS dec, 'str' AS s, CAST('ab' AS BLOB) AS bin,
 DATE '2024-02-29' AS dt, TIMESTAMP '2024-02-29 12:34:56.789' AS ts,
 TIMESTAMPTZ '2024-02-29 12:34:56+00' AS tstz, TIME '01:02:03' AS tm, INTERVAL 3 DAY AS iv,
 CAST('8c6e6a90-4b4f-4c2e-9d0e-2f6a1f2c3d4e' AS UUID) AS u, [1, 2] AS arr, MAP {'k': 1} AS m,
 {'a': 1, 'b': 'x'} AS st, NULL AS n, CAST(5 AS HUGEINT) AS hi, CAST(6 AS UBIGINT) AS ub,
 CAST(NULL AS INTEGER) AS ni`

func describeResult(ctx context.Context, db *sql.DB, query string, raw bool) (string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, ct := range cts {
		n, nok := ct.Nullable()
		l, lok := ct.Length()
		p, s, dok := ct.DecimalSize()
		fmt.Fprintf(&b, "%s %s scan=%v null=%v/%v len=%v/%v dec=%v,%v/%v\n", ct.Name(), ct.DatabaseTypeName(),
			ct.ScanType(), n, nok, l, lok, p, s, dok)
	}
	for rows.Next() {
		vals := make([]any, len(cts))
		ptrs := make([]any, len(cts))
		for i := range vals {
			if raw {
				var rb sql.RawBytes
				ptrs[i] = &rb
			} else {
				ptrs[i] = &vals[i]
			}
		}
		if err := rows.Scan(ptrs...); err != nil {
			return b.String(), err
		}
		for i := range vals {
			if raw {
				fmt.Fprintf(&b, "%q ", string(*ptrs[i].(*sql.RawBytes)))
			} else {
				fmt.Fprintf(&b, "%T:%v ", vals[i], vals[i])
			}
		}
		b.WriteString("\n")
	}
	return b.String(), rows.Err()
}

// Column names, column types and values of every type the warehouse serves are the raw
// driver's, wrapped with telemetry on, off, and left to the server's flag: with string and
// Arrow decimals, in another time zone, read by Scan and as RawBytes.
func TestColumnTypesAndValuesAsUnwrapped(t *testing.T) {
	srv, err := warehouse.NewServer(warehouse.WithTelemetryFlag(true))
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	for _, params := range []string{"", "?useArrowNativeDecimal=true", "?timezone=America/New_York"} {
		dbs := parityDBs(t, srv, params)
		for _, raw := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s raw=%v", params, raw), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				want, werr := describeResult(ctx, dbs["raw"], parityTypesQuery, raw)
				t.Logf("raw:\n%s %v", want, werr)
				for _, v := range []string{"on", "off", "flag"} {
					got, gerr := describeResult(ctx, dbs[v], parityTypesQuery, raw)
					assert.Equal(t, want, got, v)
					assert.Equal(t, fmt.Sprint(werr), fmt.Sprint(gerr), v)
				}
			})
		}
	}
}
