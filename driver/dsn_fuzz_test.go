package driver

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/databricks/databricks-sql-go/auth"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// fuzzSkipsDSN reports DSNs the fuzz target must not parse: OAuth U2M makes the driver
// install a SIGINT handler and an http.DefaultServeMux route in the process (see
// TestParseDSNU2M).
func fuzzSkipsDSN(dsn string) bool {
	full := dsn
	if !strings.HasPrefix(dsn, "https://") && !strings.HasPrefix(dsn, "http://") {
		full = "https://" + dsn
	}
	u, err := url.Parse(full)
	if err != nil {
		return false
	}
	for _, v := range u.Query()["authType"] {
		if auth.ParseAuthType(v) == auth.AuthTypeOauthU2M {
			return true
		}
	}
	return false
}

// FuzzParseDSN checks, for any DSN, that parseDSN never panics; that a bad value of one
// of our telemetry parameters fails with ErrInvalidParam naming it; that an accepted
// DSN's telemetry settings are within their documented ranges and none of our
// parameters reaches the driver as a session parameter; that the token never shows in
// the configuration's text; and that, for DSNs without our parameters, parseDSN fails
// exactly when, and with the same text as, the driver's own DSN parser.
func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{
		testDSN,
		testDSN + "?enableTelemetry=true&telemetry_batch_size=10&telemetry_flush_interval=250ms&telemetry_retry_count=2&telemetry_retry_delay=5",
		testDSN + "?enableTelemetry=maybe",
		testDSN + "?telemetry_batch_size=0",
		testDSN + "?telemetry_batch_size=10001",
		testDSN + "?telemetry_flush_interval=-1s",
		testDSN + "?telemetry_flush_interval=9223372036854775807",
		testDSN + "?telemetry_retry_count=11",
		testDSN + "?telemetry_retry_delay=0.5ms",
		testDSN + "?enableTelemetry=&telemetry_batch_size=",
		testDSN + "?enableTelemetry=1&enableTelemetry=0",
		testDSN + "?EnableTelemetry=true&TELEMETRY_BATCH_SIZE=3",
		testDSN + "?enable%54elemetry=true",
		testDSN + "?enableTelemetry=false;",
		testDSN + "?a=1;enableTelemetry=fa%lse",
		testDSN + "?maxRows=10&timeout=5&catalog=c&schema=s&userAgentEntry=ua&useCloudFetch=false&ansi_mode=true&timezone=Europe/Paris",
		testDSN + "?maxRows=ten",
		testDSN + "?timezone=Mars/Olympus",
		"https://" + testHost + ":443" + testPath + "?accessToken=" + testToken,
		testHost + ":443" + testPath + "?authType=OAuthM2M&clientId=id&clientSecret=dose-secret",
		testHost + ":443" + testPath + "?clientID=id",
		"http://token:" + testToken + "@127.0.0.1:8080/sql/1.0/warehouses/local",
		"user:pass@" + testHost + ":443" + testPath,
		"token:@" + testHost + ":443",
		testHost,
		testHost + ":0x1bb",
		"token:a%zz@" + testHost + ":443",
		"",
		"::",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		quietDriverLogs(t)
		if fuzzSkipsDSN(dsn) {
			t.Skip("OAuth U2M changes the process")
		}
		cfg, err := parseDSN(dsn)
		if err != nil {
			var pe *dsnParamError
			if errors.As(err, &pe) {
				if !errors.Is(err, ErrInvalidParam) || !strings.Contains(err.Error(), pe.name) {
					t.Fatalf("telemetry parameter error %q does not wrap ErrInvalidParam or name %s", err, pe.name)
				}
				return
			}
		} else {
			checkAcceptedDSN(t, cfg)
		}

		// Differential: without our parameters, parseDSN is the driver's parser.
		if hasOurParam(dsn) {
			return
		}
		_, rawErr := rawOpenConnector(dsn)
		switch {
		case (err == nil) != (rawErr == nil):
			t.Fatalf("parseDSN error %v, the driver's %v", err, rawErr)
		case err != nil && err.Error() != rawErr.Error():
			t.Fatalf("parseDSN error %q, the driver's %q", err, rawErr)
		}
	})
}

// checkAcceptedDSN checks what holds for every DSN parseDSN accepts.
func checkAcceptedDSN(t *testing.T, cfg *dsnConfig) {
	t.Helper()
	tel := cfg.dsnTelemetry
	switch {
	case tel.BatchSize != 0 && (tel.BatchSize < telemetry.MinBatchSize || tel.BatchSize > telemetry.MaxBatchSize),
		tel.FlushInterval != 0 && (tel.FlushInterval < telemetry.MinFlushInterval || tel.FlushInterval > telemetry.MaxFlushInterval),
		tel.RetryCount != nil && (*tel.RetryCount < 0 || *tel.RetryCount > telemetry.MaxRetryCount),
		tel.RetryDelay != 0 && (tel.RetryDelay < telemetry.MinRetryDelay || tel.RetryDelay > telemetry.MaxRetryDelay):
		t.Fatalf("telemetry settings out of range: %v", cfg)
	}
	for _, p := range ourParams() {
		if slices.Contains(cfg.SessionParamNames, p) {
			t.Fatalf("%s would reach the server as a session parameter", p)
		}
	}
	c, err := dbsql.NewConnector(cfg.opts...)
	if err != nil {
		t.Fatalf("the options of an accepted DSN do not make a connector: %v", err)
	}
	params := sessionParams(t, c)
	for _, p := range ourParams() {
		if _, ok := params[p]; ok {
			t.Fatalf("the connector sends %s as a session parameter", p)
		}
	}
	// The token never shows: the configuration's text is the same without it.
	noToken := *cfg
	noToken.Token = ""
	show := func(c *dsnConfig) string { return fmt.Sprintf("%v|%+v|%#v|%s", c, c, c, *c) }
	if cfg.Token != "" && show(cfg) != show(&noToken) {
		t.Fatalf("the configuration's text depends on its token: %s", show(cfg))
	}
}

// hasOurParam reports whether the DSN's query names one of our parameters (decoded, as
// the parsers see it), or cannot be read at all.
func hasOurParam(dsn string) bool {
	_, query, ok := strings.Cut(dsn, "?")
	if !ok {
		return false
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return true
	}
	for _, p := range ourParams() {
		if _, ok := q[p]; ok {
			return true
		}
	}
	return false
}
