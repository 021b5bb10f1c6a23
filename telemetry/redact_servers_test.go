package telemetry

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Error messages a real server produces that the rules miss. Each case names what must
// not survive Redact: a Redact that keeps one of them exports it (SPEC §4a).
func TestRedactRealServerMessagesLeakNothing(t *testing.T) {
	const (
		s3Signature = "3c1f0d9e7b6a5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d"
		literal     = "Alice Smith"
	)
	tests := []struct {
		name   string
		in     string
		secret []string
	}{
		// A Volumes PUT/GET whose pre-signed link S3 rejects: databricks-sql-go v1.15.1
		// (connection.go, doStagingRequestWithRetryAccept) puts the storage's error body in
		// the error ExecContext returns: "staging operation over HTTP was unsuccessful:
		// 403-<body>". S3's SignatureDoesNotMatch body echoes the link's signature in
		// <SignatureProvided>, its access key id, and its canonical request (the query string
		// with the session token).
		{"S3 SignatureDoesNotMatch body of a staging operation",
			"databricks: driver error: staging operation over HTTP was unsuccessful: 403-<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" +
				"<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message>" +
				"<AWSAccessKeyId>ASIAQWERTYUIOPASDFGH</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\n20261127T101500Z\n20261127/us-west-2/s3/aws4_request\n5f0e8a3b</StringToSign>" +
				"<SignatureProvided>" + s3Signature + "</SignatureProvided>" +
				"<CanonicalRequest>PUT\n/oregon-prod/2718281828459045/Volumes/main/hr/payroll/salaries_2026.csv\n" +
				"X-Amz-Algorithm=AWS4-HMAC-SHA256&amp;X-Amz-Credential=ASIAQWERTYUIOPASDFGH%2F20261127%2Fus-west-2%2Fs3%2Faws4_request&amp;X-Amz-Date=20261127T101500Z&amp;X-Amz-Expires=900" +
				"&amp;X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr%2F%2F%2FSESSIONTOKEN&amp;X-Amz-SignedHeaders=host\nhost:dbstorage-prod.s3.us-west-2.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD</CanonicalRequest></Error>",
			[]string{s3Signature, "ASIAQWERTYUIOPASDFGH", "SESSIONTOKEN", "2718281828459045"}},
		// Spark appends the analysed plan to an AnalysisException's message (";\n" and the
		// tree): a resolved plan prints the SQL's string literals bare, and the tables and
		// columns it reads. The unresolved plans of other errors start with a quote
		// ('Project), which the single-quote rule happens to take to the end; a resolved one
		// does not.
		{"Spark plan after an analysis error",
			"[MISSING_AGGREGATION] The non-aggregating expression \"name\" is based on columns which are not participating in the GROUP BY clause. " +
				"Add the columns or the expression to the GROUP BY, aggregate the expression, or use \"any_value(name)\" if you do not care which of the values within a group is returned. SQLSTATE: 42803;\n" +
				"Aggregate [dept#12], [dept#12, name#13]\n+- Filter (name#13 = " + literal + ")\n   +- SubqueryAlias spark_catalog.hr.people\n" +
				"      +- Relation spark_catalog.hr.people[dept#12,name#13,ssn#14] parquet\n",
			[]string{literal, "hr.people", "ssn#"}},
		// A signed Azure link whose URL rule cannot see it: JSON-escaped slashes, or the
		// query alone; and Azure Storage's shared-key header echoed back.
		{"Azure SAS behind JSON-escaped slashes",
			`request failed: {"url":"https:\/\/acct.blob.core.windows.net\/c\/f?sv=2022-11-02&se=2026-11-27&sig=c2lnbmF0dXJlc2VjcmV0%3D"}`,
			[]string{"c2lnbmF0dXJlc2VjcmV0"}},
		{"bare SAS query", "sv=2022-11-02&sr=b&sig=c2lnbmF0dXJlc2VjcmV0%3D&se=2026-11-27",
			[]string{"c2lnbmF0dXJlc2VjcmV0"}},
		{"SigV4 header echoed", "Authorization: AWS4-HMAC-SHA256 Credential=x/y, SignedHeaders=host, Signature=" + s3Signature,
			[]string{s3Signature}},
		{"Azure shared key", "Authorization: SharedKey myaccount:c2lnbmF0dXJlc2VjcmV0bW9yZQ==",
			[]string{"c2lnbmF0dXJlc2VjcmV0bW9yZQ"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := Redact(tc.in)
			for _, s := range tc.secret {
				require.NotContains(t, strings.ToLower(out), strings.ToLower(s), "Redact kept %q: %s", s, out)
			}
			require.Equal(t, out, Redact(out), "idempotent")
		})
	}
}
