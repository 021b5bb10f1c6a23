package warehouse

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// sleepUDF is wait_ms(ms BIGINT) → BIGINT: it waits ms milliseconds and returns them
// (DuckDB's own sleep_ms cannot be interrupted, this one can).
// Tests and the demo use it for statements that are slow on purpose (status polling,
// cancellation); it stops early when the statement is cancelled.
type sleepUDF struct{ info duckdb.TypeInfo }

func (u sleepUDF) Config() duckdb.ScalarFuncConfig {
	return duckdb.ScalarFuncConfig{InputTypeInfos: []duckdb.TypeInfo{u.info}, ResultTypeInfo: u.info, Volatile: true}
}

func (u sleepUDF) Executor() duckdb.ScalarFuncExecutor {
	return duckdb.ScalarFuncExecutor{RowContextExecutor: func(ctx context.Context, v []driver.Value) (any, error) {
		ms, ok := v[0].(int64)
		if !ok {
			return nil, fmt.Errorf("wait_ms: want BIGINT, got %T", v[0])
		}
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
			return ms, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}
}

// registerUDFs adds the warehouse's functions to the database's catalog.
func registerUDFs(db *sql.DB) error {
	info, err := duckdb.NewTypeInfo(duckdb.TYPE_BIGINT)
	if err != nil {
		return err
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		return err
	}
	defer conn.Close()
	return duckdb.RegisterScalarUDF(conn, "wait_ms", sleepUDF{info: info})
}

// divideByZeroMarker starts the message of the error ansiDivide raises; mapError turns it
// into Databricks' DIVIDE_BY_ZERO (SQLSTATE 22012).
const divideByZeroMarker = "DIVIDE_BY_ZERO: "

// ansiDivide makes "/" fail on a zero divisor, as Databricks SQL does in ANSI mode (the
// default of its SQL warehouses), where DuckDB returns inf or NULL. The macro lives in
// the connection's temp schema, which DuckDB searches before any other whatever the
// current schema, and calls DuckDB's own "/" by its qualified name: results, types and
// NULLs are DuckDB's. "//" and "%" keep DuckDB's meaning (Databricks has no "//").
const ansiDivide = `CREATE OR REPLACE TEMP MACRO "/"(a, b) AS ` +
	`CASE WHEN b = 0 THEN error('` + divideByZeroMarker + `Division by zero') ELSE system.main."/"(a, b) END`

// initSession prepares each new DuckDB connection (one per session) for the dialect.
func initSession(execer driver.ExecerContext) error {
	_, err := execer.ExecContext(context.Background(), ansiDivide, nil)
	return err
}
