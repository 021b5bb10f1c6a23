package driver_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// WithExporter sends the connector's telemetry elsewhere than the Databricks service:
// here one JSON object per line into a buffer. The server's feature flag is not asked.
// The connector does not close the exporter: its owner does, after db.Close.
func ExampleWithExporter() {
	srv, err := warehouse.NewServer()
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	exp := exporter.NewJSONLinesExporter(w)
	c, err := driver.OpenConnector(srv.DSN(), driver.WithExporter(exp))
	if err != nil {
		panic(err)
	}
	db := sql.OpenDB(c)
	var one int
	if err := db.QueryRow("SELECT 1").Scan(&one); err != nil {
		panic(err)
	}
	_ = db.Close()                      // flushes the connector's logs into exp
	_ = exp.Close(context.Background()) // flushes w
	for line := range strings.Lines(buf.String()) {
		for _, op := range []string{"CREATE_SESSION", "EXECUTE_STATEMENT", "DELETE_SESSION"} {
			if strings.Contains(line, `"operation_type":"`+op+`"`) {
				fmt.Println(op)
			}
		}
	}
	fmt.Println("exported:", c.Stats().Exported, "ingest:", len(srv.TelemetryLogs()))
	// Output:
	// CREATE_SESSION
	// EXECUTE_STATEMENT
	// DELETE_SESSION
	// exported: 3 ingest: 0
}
