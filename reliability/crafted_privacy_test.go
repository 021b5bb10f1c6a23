package reliability_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/exporter"
)

// Markers a server's error message may echo, which the telemetry must not carry.
const (
	craftedRowValue  = "Alice-Rv8Smith " // a row value Spark prints bare
	craftedBucketDir = "employees-Bk3q"  // a directory of an object store path
	craftedUserDir   = "alice-Zt4w"      // another one, a user's
	// Credentials a proxy or a library may quote in a message: short, percent-encoded,
	// or a password holding '/' or '#'.
	craftedShortBearer = "s3cr3tQ"
	craftedEncBearer   = "opaqueTok3n99"
	craftedSlashSecret = "d3fQx/Wk+kl"
	craftedHashSecret  = "Wq5pa9x#z" // what goes before '#' leaked once
)

// Statements whose failure messages are crafted with the warehouse's error() as a
// Databricks server words them, each echoing private data: a huge bare value (over the
// 64 KiB Redact reads) and object-store paths by their scheme (s3://, gs://, …), as
// PATH_NOT_FOUND prints them. They run through the real driver, and every payload the
// ingest recorded and every debug line is scanned for the markers.
func TestCraftedServerMessagesStayPrivate(t *testing.T) {
	srv := startWarehouse(t)
	var logs logBuffer
	c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true&telemetry_flush_interval=50ms",
		driver.WithHosts(driver.NewHosts(exporter.WithLogger(logs.logger()))), driver.WithLogger(logs.logger()))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	ctx := context.Background()
	huge := fmt.Sprintf("repeat('%s', 7000)", craftedRowValue) // 105 KB
	for _, msg := range []string{
		// FAILED_ROW_TO_JSON and CANNOT_PARSE_JSON_FIELD print the value bare.
		"'[FAILED_ROW_TO_JSON] Failed to convert the row value ' || " + huge + " || 'of the class class java.lang.String to the target SQL type \"STRING\" in the JSON format.'",
		"'[CANNOT_PARSE_JSON_FIELD] Cannot parse the field name `note` and the value ' || " + huge + " || 'of the JSON token type VALUE_STRING to target Spark data type \"INT\".'",
		"'[INVALID_PARTITION_VALUE] Failed to cast value ' || " + huge + " || 'to data type \"INT\" for partition column `p`.'",
		"'[PATH_NOT_FOUND] Path does not exist: s3://acme-payroll/" + craftedBucketDir + "/" + craftedUserDir + "/salary.csv.'",
		"'[PATH_NOT_FOUND] Path does not exist: s3a://acme-payroll/" + craftedBucketDir + "/" + craftedUserDir + "/salary.csv.'",
		"'[PATH_NOT_FOUND] Path does not exist: gs://acme-payroll/" + craftedBucketDir + "/" + craftedUserDir + "/salary.csv.'",
	} {
		_, err := db.ExecContext(ctx, "SELECT error("+msg+")")
		if err == nil {
			t.Fatalf("SELECT error(%.60s…) succeeded", msg)
		}
		if !strings.Contains(err.Error(), strings.TrimSpace(craftedRowValue)) && !strings.Contains(err.Error(), craftedUserDir) {
			t.Fatalf("the driver's error does not echo the crafted message: %.200s", err)
		}
	}
	for _, msg := range []string{
		"upstream refused the call: Authorization: Bearer " + craftedShortBearer,
		"proxy refused Authorization=Bearer%20" + craftedEncBearer + " (HTTP 407)",
		"bad dsn token:" + craftedSlashSecret + "==@host.example:443/sql/1.0",
		"cannot reach https://user:" + craftedHashSecret + "@host.example/x",
	} {
		_, err := db.ExecContext(ctx, "SELECT error('"+msg+"')")
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Fatalf("the driver's error does not echo the crafted message %q: %v", msg, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	forbidden := []string{strings.TrimSpace(craftedRowValue), craftedBucketDir, craftedUserDir, "SELECT", "repeat(",
		craftedShortBearer, craftedEncBearer, craftedSlashSecret, strings.Split(craftedHashSecret, "#")[0]}
	if n := scanTelemetry(t, srv, forbidden); n == 0 {
		t.Fatal("no telemetry request to scan")
	}
	if logs := srv.TelemetryLogs(); !strings.Contains(strings.Join(logs, "\n"), `stack_trace`) {
		t.Fatalf("no error log with a message among %d logs", len(logs))
	}
	for i, line := range logs.lines() {
		scanPrivate(t, fmt.Sprintf("debug log line %d", i), line, forbidden)
	}
}
