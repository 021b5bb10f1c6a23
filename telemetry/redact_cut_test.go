package telemetry

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A message longer than Redact reads (maxRedactInput) is cut before the first pass. When
// the cut falls inside a value Spark prints bare, the fixed words after the value are
// gone: the value must still go, as the rest of a literal cut short does, and not reach
// the output's first 2 KiB.
func TestRedactBareValueCutFromItsEndWords(t *testing.T) {
	huge := strings.Repeat("Alice Smith ", maxRedactInput/len("Alice Smith ")+1000)
	for _, msg := range []string{
		"[FAILED_ROW_TO_JSON] Failed to convert the row value " + huge + "of the class class java.lang.String to the target SQL type \"STRING\" in the JSON format. SQLSTATE: 2203G",
		"Failed to convert value " + huge + "(class of class java.lang.String) with the type of IntegerType to JSON.",
		"[CANNOT_PARSE_JSON_FIELD] Cannot parse the field name `note` and the value " + huge + "of the JSON token type VALUE_STRING to target Spark data type \"INT\". SQLSTATE: 2203G",
		"[INVALID_PARTITION_VALUE] Failed to cast value " + huge + "to data type \"INT\" for partition column `region`. SQLSTATE: 42846",
		"[INVALID_FORMAT.MISMATCH_INPUT] The format is invalid: '999.99'. The input \"STRING\" " + huge + "does not match the format. SQLSTATE: 42601",
		"[INVALID_TIMEZONE] The timezone: " + huge + "is invalid. The timezone must be either a region-based zone ID or a zone offset. SQLSTATE: 22009",
		// The analysed plan after an analysis error, its first line (a root node printing a
		// huge IN list bare) cut before the tree's next line.
		"[MISSING_AGGREGATION] The non-aggregating expression \"name\" is based on columns which are not participating in the GROUP BY clause. SQLSTATE: 42803;\n" +
			"Filter name#13 IN (" + huge + ")\n+- Relation spark_catalog.hr.people[dept#12,name#13] parquet\n",
	} {
		out := Redact(msg)
		assert.LessOrEqual(t, len(out), MaxRedactedLen)
		assert.NotContains(t, out, "Alice", "%.90s…\n→ %.200s…", msg, out)
		assert.NotContains(t, out, "Smith", "%.90s…", msg)
		assert.Equal(t, out, Redact(out), "idempotent")
		class := msg[:strings.IndexAny(msg, "] ")]
		assert.True(t, strings.HasPrefix(out, class), "the message's start stays: %.120s", out)
	}
}

// A bare URL keeps its scheme and host, and loses its path when it names a cloud object
// store: by its host (bucket.s3.amazonaws.com) and by its scheme alike (s3://bucket,
// gs://bucket, as Databricks' PATH_NOT_FOUND prints a location). Its directories are
// the user's (employees/alice/…), as a local path's or a dbfs:/ path's are.
func TestRedactObjectStoreSchemeURLs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"[PATH_NOT_FOUND] Path does not exist: s3://acme-payroll/employees/alice-smith/salary.csv. SQLSTATE: 42K03",
			"[PATH_NOT_FOUND] Path does not exist: s3://acme-payroll/[PATH]. SQLSTATE: 42K03"},
		{"read s3a://acme-payroll/employees/alice-smith/salary.csv failed", "read s3a://acme-payroll/[PATH] failed"},
		{"read s3n://acme-payroll/employees/alice-smith/salary.csv failed", "read s3n://acme-payroll/[PATH] failed"},
		{"read gs://acme-payroll/employees/alice-smith/salary.csv failed", "read gs://acme-payroll/[PATH] failed"},
		{"read gcs://acme-payroll/employees/alice-smith/salary.csv failed", "read gcs://acme-payroll/[PATH] failed"},
		{"read wasbs://hr@acme.blob.core.windows.net/employees/alice-smith/salary.csv failed", "read wasbs://[REDACTED]@acme.blob.core.windows.net/[PATH] failed"},
		{"read abfss://hr@acme.dfs.core.windows.net/employees/alice-smith/salary.csv failed", "read abfss://[REDACTED]@acme.dfs.core.windows.net/[PATH] failed"},
		{"read az://hr/employees/alice-smith/salary.csv failed", "read az://hr/[PATH] failed"},
		{"read S3://acme-payroll/employees/alice-smith/salary.csv failed", "read S3://acme-payroll/[PATH] failed"},
		{"read dbfs:///mnt/employees/alice-smith/salary.csv failed", "read dbfs:///[PATH] failed"},
		// The bucket alone, and other schemes' paths, stay.
		{"bucket s3://acme-payroll/ is empty", "bucket s3://acme-payroll/ is empty"},
		{"Post https://adb-1.azuredatabricks.net/sql/1.0/warehouses/abc: EOF", "Post https://adb-1.azuredatabricks.net/sql/1.0/warehouses/abc: EOF"},
	} {
		out := Redact(tc.in)
		assert.Equal(t, tc.want, out, tc.in)
		assert.Equal(t, out, Redact(out), "idempotent")
	}
}

// Text without ASCII spaces (Japanese) is cut at a wide space or a CJK stop, not dropped
// whole as one word.
func TestCutAtWideBreaks(t *testing.T) {
	for _, sep := range []string{"\u3000", "\u3002", "\u3001"} {
		phrase := "\u30c7\u30fc\u30bf\u304c\u898b\u3064\u304b\u308a\u307e\u305b\u3093" + sep
		out := Redact(strings.Repeat(phrase, 100))
		assert.Greater(t, len(out), MaxRedactedLen/2, "%q", sep)
		assert.True(t, strings.HasSuffix(out, sep+truncatedMark), "%q: cut at the break", sep)
	}
}
