package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A DSN whose secret holds an unescaped '/' or '?' is refused (exit 2), and the reason
// printed carries no part of the secret: url.Parse reads the userinfo's part before the
// '/' or '?' as host:port and quotes it back as the "port" in its error.
func TestDSNSecretPartBeforeSlashOrQuestionMarkIsNotPrinted(t *testing.T) {
	const head = "k3yPart0ne" // the secret's first part
	for _, dsn := range []string{
		"token:" + head + "/k3yPartTw0@example.cloud.databricks.com:443/sql/1.0/warehouses/abc",
		"https://token:" + head + "/k3yPartTw0@example.cloud.databricks.com:443/sql/1.0/warehouses/abc",
		"token:" + head + "?k3yPartTw0@example.cloud.databricks.com:443/sql/1.0/warehouses/abc",
	} {
		t.Run(dsn, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"-dsn", dsn}, &stdout, &stderr)
			assert.Equal(t, exitUsage, code, "stderr: %s", stderr.String())
			out := stdout.String() + stderr.String()
			assert.False(t, strings.Contains(out, head), "the DSN's secret (its part %q) is printed:\n%s", head, out)
		})
	}
}
