package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	dbsql "github.com/databricks/databricks-sql-go"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// operations lists the operation types of the logs the ingest received.
func operations(srv *warehouse.Server) []string {
	var ops []string
	for _, l := range srv.TelemetryLogs() {
		for _, op := range []string{"CREATE_SESSION", "EXECUTE_STATEMENT", "DELETE_SESSION"} {
			if strings.Contains(l, `\"operation_type\":\"`+op) || strings.Contains(l, `"operation_type":"`+op) {
				ops = append(ops, op)
			}
		}
	}
	return ops
}

// Change one string: sql.Open("databricks", dsn) becomes
// sql.Open("databricks-telemetry", dsn). Closing the pool flushes the telemetry.
func Example_sqlOpen() {
	srv, err := warehouse.NewServer() // a local Databricks SQL warehouse
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	db, err := sql.Open("databricks-telemetry", srv.DSN())
	if err != nil {
		panic(err)
	}
	var answer int
	if err := db.QueryRow("SELECT 6 * 7").Scan(&answer); err != nil {
		panic(err)
	}
	if err := db.Close(); err != nil {
		panic(err)
	}
	fmt.Println(answer, operations(srv))
	// Output: 42 [CREATE_SESSION EXECUTE_STATEMENT DELETE_SESSION]
}

// With sql.OpenDB, the driver's own options go through WithConnOptions.
func ExampleNewConnector() {
	srv, err := warehouse.NewServer()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	host, port, _ := net.SplitHostPort(srv.Addr())
	p, _ := strconv.Atoi(port)

	c, err := driver.NewConnector(
		driver.WithConnOptions(
			dbsql.WithServerHostname("http://"+host),
			dbsql.WithPort(p),
			dbsql.WithHTTPPath(warehouse.HTTPPath),
			dbsql.WithAccessToken(srv.Token()),
		),
		driver.WithTelemetry(true), // whatever the server's feature flag says
		driver.WithBatchSize(50),
	)
	if err != nil {
		panic(err)
	}
	db := sql.OpenDB(c)
	if _, err := db.ExecContext(context.Background(), "CREATE TABLE t AS SELECT range AS x FROM range(10)"); err != nil {
		panic(err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
		panic(err)
	}
	_ = db.Close() // releases the host's telemetry and flushes it
	fmt.Println(n, len(operations(srv)), c.Stats().Exported)
	// Output: 10 4 4
}

// OpenConnector takes the DSN as sql.Open does, and keeps the *Connector, whose Stats
// say what telemetry sent and what it dropped.
func ExampleOpenConnector() {
	srv, err := warehouse.NewServer()
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	c, err := driver.OpenConnector(srv.DSN() + "?enableTelemetry=true&telemetry_batch_size=10")
	if err != nil {
		panic(err)
	}
	db := sql.OpenDB(c)
	for range 3 {
		var one int
		if err := db.QueryRow("SELECT 1").Scan(&one); err != nil {
			panic(err)
		}
	}
	_ = db.Close() // flushes the telemetry
	st := c.Stats()
	fmt.Println(st.Exported, st.Dropped.Total())

	// A value of ours out of its bounds fails with the parameter and what it accepts.
	_, err = driver.OpenConnector(srv.DSN() + "?telemetry_batch_size=0")
	fmt.Println(errors.Is(err, driver.ErrInvalidParam))
	// Output:
	// 5 0
	// true
}
