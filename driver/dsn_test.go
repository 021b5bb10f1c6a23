package driver

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unsafe"

	dbsql "github.com/databricks/databricks-sql-go"
	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	"github.com/databricks/databricks-sql-go/logger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// Hosts and DSNs of the unit tests. Nothing is dialled: parsing and building a
// connector make no request.
const (
	testHost  = "example.cloud.databricks.com"
	testPath  = "/sql/1.0/warehouses/abc123"
	testToken = "dapi0123456789abcdef"
	testDSN   = "token:" + testToken + "@" + testHost + ":443" + testPath
)

// ourParams returns the telemetry parameters parseDSN removes.
func ourParams() []string {
	return []string{paramEnableTelemetry, paramBatchSize, paramFlushInterval, paramRetryCount, paramRetryDelay}
}

// quietDriverLogs silences the Databricks driver's logger. It writes the logger only
// when it is not silent yet, so that later calls are reads that cannot race with the
// driver's goroutines.
func quietDriverLogs(t *testing.T) {
	t.Helper()
	if logger.Logger.GetLevel().String() != "disabled" {
		require.NoError(t, logger.SetLogLevel("disabled"))
	}
}

// wantDSN is the dsnConfig of testDSN (without options) changed by mod.
func wantDSN(mod func(*dsnConfig)) dsnConfig {
	c := dsnConfig{
		Token: testToken,
		dsnConnInfo: dsnConnInfo{
			Scheme:        "https",
			Host:          testHost,
			Port:          443,
			HTTPPath:      testPath,
			AuthType:      dsnAuthPAT,
			MaxRows:       driverDefaultMaxRows,
			UseCloudFetch: true,
		},
	}
	if mod != nil {
		mod(&c)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

// TestParseDSN checks what parseDSN reports for each DSN, and that the connector built
// from its options is configured exactly as the driver's own connector for that DSN.
func TestParseDSN(t *testing.T) {
	quietDriverLogs(t)
	cases := []struct {
		name string
		dsn  string
		want dsnConfig
	}{
		{"minimal", testDSN, wantDSN(nil)},
		{"https scheme", "https://" + testDSN, wantDSN(nil)},
		{"http scheme", "http://" + testDSN, wantDSN(func(c *dsnConfig) { c.Scheme = "http" })},
		{"other port", "token:" + testToken + "@" + testHost + ":8443" + testPath, wantDSN(func(c *dsnConfig) { c.Port = 8443 })},
		{"no http path", "token:" + testToken + "@" + testHost + ":443", wantDSN(func(c *dsnConfig) { c.HTTPPath = "" })},
		{"no http path with params", "token:" + testToken + "@" + testHost + ":443?maxRows=5", wantDSN(func(c *dsnConfig) { c.HTTPPath = ""; c.MaxRows = 5 })},
		{"escaped path", "token:" + testToken + "@" + testHost + ":443/sql/a%20b", wantDSN(func(c *dsnConfig) { c.HTTPPath = "/sql/a b" })},
		{"empty host as the driver", "token:" + testToken + "@:443" + testPath, wantDSN(func(c *dsnConfig) { c.Host = "" })},
		{"ipv6 host", "token:" + testToken + "@[::1]:443" + testPath, wantDSN(func(c *dsnConfig) { c.Host = "::1" })},
		{"fragment ignored", testDSN + "?maxRows=7#frag", wantDSN(func(c *dsnConfig) { c.MaxRows = 7 })},
		{"maxRows", testDSN + "?maxRows=500", wantDSN(func(c *dsnConfig) { c.MaxRows = 500 })},
		{"maxRows zero keeps the default", testDSN + "?maxRows=0", wantDSN(nil)},
		{"maxRows negative keeps the default", testDSN + "?maxRows=-3", wantDSN(nil)},
		{"timeout", testDSN + "?timeout=30", wantDSN(func(c *dsnConfig) { c.QueryTimeout = 30 * time.Second })},
		{"timeout negative as the driver", testDSN + "?timeout=-1", wantDSN(func(c *dsnConfig) { c.QueryTimeout = -time.Second })},
		{"catalog only", testDSN + "?catalog=main", wantDSN(func(c *dsnConfig) { c.CatalogSet = true })},
		{"schema only", testDSN + "?schema=s1", wantDSN(func(c *dsnConfig) { c.SchemaSet = true })},
		{"catalog and schema", testDSN + "?catalog=main&schema=s1", wantDSN(func(c *dsnConfig) { c.CatalogSet, c.SchemaSet = true, true })},
		{"userAgentEntry", testDSN + "?userAgentEntry=acme-tool", wantDSN(func(c *dsnConfig) { c.UserAgentEntry = "acme-tool" })},
		{"useCloudFetch false", testDSN + "?useCloudFetch=false", wantDSN(func(c *dsnConfig) { c.UseCloudFetch = false })},
		{"useCloudFetch 1", testDSN + "?useCloudFetch=1", wantDSN(nil)},
		{"maxDownloadThreads", testDSN + "?maxDownloadThreads=3", wantDSN(nil)},
		{"maxDownloadThreads zero as the driver", testDSN + "?maxDownloadThreads=0", wantDSN(nil)},
		{"enableMetricViewMetadata", testDSN + "?enableMetricViewMetadata=true", wantDSN(nil)},
		{"useArrowNativeDecimal", testDSN + "?useArrowNativeDecimal=true", wantDSN(nil)},
		{"useArrowNativeDecimal false", testDSN + "?useArrowNativeDecimal=false", wantDSN(nil)},
		{"useKernel and warehouseId", testDSN + "?useKernel=true&warehouseId=abc123", wantDSN(nil)},
		{"tokenCache true", testDSN + "?tokenCache=true", wantDSN(nil)},
		{"tokenCache false is a no-op", testDSN + "?tokenCache=false", wantDSN(nil)},
		{"timezone", testDSN + "?timezone=America/New_York", wantDSN(func(c *dsnConfig) { c.SessionParamNames = []string{"timezone"} })},
		{"timezone any case", testDSN + "?TimeZone=Europe/Paris", wantDSN(func(c *dsnConfig) { c.SessionParamNames = []string{"TimeZone"} })},
		{"empty timezone stays a session param", testDSN + "?timezone=", wantDSN(func(c *dsnConfig) { c.SessionParamNames = []string{"timezone"} })},
		{"session params", testDSN + "?ansi_mode=true&QUERY_TAGS=team:a&flag", wantDSN(func(c *dsnConfig) { c.SessionParamNames = []string{"QUERY_TAGS", "ansi_mode", "flag"} })},
		{"repeated param takes the first value", testDSN + "?ansi_mode=true&ansi_mode=false&maxRows=9&maxRows=x", wantDSN(func(c *dsnConfig) {
			c.MaxRows = 9
			c.SessionParamNames = []string{"ansi_mode"}
		})},
		{"param names are case-sensitive", testDSN + "?maxrows=9", wantDSN(func(c *dsnConfig) { c.SessionParamNames = []string{"maxrows"} })},
		{"empty values count as absent", testDSN + "?catalog=&schema=&maxRows=&timeout=&userAgentEntry=&useCloudFetch=&warehouseId=", wantDSN(nil)},
		{"accessToken param", testHost + ":443" + testPath + "?accessToken=" + testToken, wantDSN(nil)},
		{"authType pat", testHost + ":443" + testPath + "?authType=Pat&accessToken=" + testToken, wantDSN(nil)},
		{"unknown authType decides by params", testHost + ":443" + testPath + "?authType=kerberos&accessToken=" + testToken, wantDSN(nil)},
		{"oauth m2m", testHost + ":443" + testPath + "?authType=OAuthM2M&clientId=id&clientSecret=secret", wantDSN(func(c *dsnConfig) {
			c.Token, c.AuthType = "", dsnAuthOAuthM2M
		})},
		{"m2m from clientID and clientSecret", testHost + ":443" + testPath + "?clientID=id&clientSecret=secret", wantDSN(func(c *dsnConfig) {
			c.Token, c.AuthType = "", dsnAuthOAuthM2M
		})},
		{"clientId wins and clientID becomes a session param", testHost + ":443" + testPath + "?clientId=id&clientID=other&clientSecret=secret", wantDSN(func(c *dsnConfig) {
			c.Token, c.AuthType = "", dsnAuthOAuthM2M
			c.SessionParamNames = []string{"clientID"}
		})},
		{"accessToken wins over client credentials", testHost + ":443" + testPath + "?clientId=id&clientSecret=secret&accessToken=" + testToken, wantDSN(nil)},
		{"no credentials", testHost + ":443" + testPath, wantDSN(func(c *dsnConfig) { c.Token, c.AuthType = "", dsnAuthUnknown })},
		{"empty userinfo", "@" + testHost + ":443" + testPath, wantDSN(func(c *dsnConfig) { c.Token, c.AuthType = "", dsnAuthUnknown })},
		{"auth params after userinfo become session params", testDSN + "?authType=OAuthM2M&accessToken=other&clientSecret=x", wantDSN(func(c *dsnConfig) {
			c.SessionParamNames = []string{"accessToken", "authType", "clientSecret"}
		})},
		{"escaped token", "token:" + "a%2Fb%40c" + "@" + testHost + ":443" + testPath, wantDSN(func(c *dsnConfig) { c.Token = "a/b@c" })},
		{"telemetry params", testDSN + "?enableTelemetry=true&telemetry_batch_size=50&telemetry_flush_interval=10s&telemetry_retry_count=3&telemetry_retry_delay=250ms&ansi_mode=1", wantDSN(func(c *dsnConfig) {
			c.EnableTelemetry = ptr(true)
			c.BatchSize = 50
			c.FlushInterval = 10 * time.Second
			c.RetryCount = ptr(3)
			c.RetryDelay = 250 * time.Millisecond
			c.SessionParamNames = []string{"ansi_mode"}
		})},
		{"telemetry params in milliseconds and at their bounds", testDSN + "?enableTelemetry=0&telemetry_batch_size=10000&telemetry_flush_interval=3600000&telemetry_retry_count=0&telemetry_retry_delay=1", wantDSN(func(c *dsnConfig) {
			c.EnableTelemetry = ptr(false)
			c.BatchSize = 10000
			c.FlushInterval = time.Hour
			c.RetryCount = ptr(0)
			c.RetryDelay = time.Millisecond
		})},
		{"telemetry params at their other bounds", testDSN + "?enableTelemetry=FALSE&telemetry_batch_size=1&telemetry_flush_interval=10ms&telemetry_retry_count=10&telemetry_retry_delay=1s", wantDSN(func(c *dsnConfig) {
			c.EnableTelemetry = ptr(false)
			c.BatchSize = 1
			c.FlushInterval = 10 * time.Millisecond
			c.RetryCount = ptr(10)
			c.RetryDelay = time.Second
		})},
		{"every parameter", "https://" + testHost + ":443" + testPath + "?accessToken=" + testToken +
			"&maxRows=1000&timeout=5&catalog=main&schema=s1&userAgentEntry=acme&useCloudFetch=false&maxDownloadThreads=4" +
			"&enableMetricViewMetadata=true&useArrowNativeDecimal=true&useKernel=false&warehouseId=abc123&tokenCache=false" +
			"&timezone=Asia/Tokyo&ansi_mode=true&enableTelemetry=true&telemetry_batch_size=20&telemetry_flush_interval=1500" +
			"&telemetry_retry_count=1&telemetry_retry_delay=750ms", wantDSN(func(c *dsnConfig) {
			c.MaxRows = 1000
			c.QueryTimeout = 5 * time.Second
			c.CatalogSet, c.SchemaSet = true, true
			c.UserAgentEntry = "acme"
			c.UseCloudFetch = false
			c.SessionParamNames = []string{"ansi_mode", "timezone"}
			c.EnableTelemetry = ptr(true)
			c.BatchSize = 20
			c.FlushInterval = 1500 * time.Millisecond
			c.RetryCount = ptr(1)
			c.RetryDelay = 750 * time.Millisecond
		})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDSN(tc.dsn)
			require.NoError(t, err)
			require.NotEmpty(t, got.opts)
			opts := got.opts
			got.opts = nil
			assert.Equal(t, tc.want, *got)
			for _, p := range ourParams() {
				assert.NotContains(t, got.SessionParamNames, p)
			}

			// The connector from our options is the driver's own, our parameters aside.
			ours, err := dbsql.NewConnector(opts...)
			require.NoError(t, err)
			raw, err := rawOpenConnector(tc.dsn)
			require.NoError(t, err)
			assert.Empty(t, diffConfigs(connectorConfig(t, raw), connectorConfig(t, ours)))

			// None of our parameters reaches the driver.
			cfg := connectorConfig(t, ours)
			for _, p := range ourParams() {
				assert.NotContains(t, sessionParams(t, ours), p)
			}
			for _, f := range []string{"EnableTelemetry", "TelemetryBatchSize", "TelemetryFlushInterval"} {
				assert.True(t, cfg.FieldByName(f).IsZero(), "%s is set on the driver", f)
			}
		})
	}
}

// TestParseDSNDriverErrors checks that every DSN the driver refuses is refused with the
// driver's error: same text, same kind.
func TestParseDSNDriverErrors(t *testing.T) {
	quietDriverLogs(t)
	host := testHost + ":443" + testPath
	cases := []struct {
		name string
		dsn  string
		want string // the driver's text, to make the expectation readable
	}{
		{"missing port", "token:" + testToken + "@" + testHost + testPath, dbsqlerr.ErrInvalidDSNPort},
		{"empty port", "token:" + testToken + "@" + testHost + ":" + testPath, dbsqlerr.ErrInvalidDSNPort},
		{"invalid port", "token:" + testToken + "@" + testHost + ":44x3" + testPath, dbsqlerr.ErrInvalidDSNFormat},
		{"bad escape", "token:" + testToken + "@" + testHost + "%zz:443" + testPath, dbsqlerr.ErrInvalidDSNFormat},
		{"upper-case scheme is not a scheme", "HTTPS://" + testDSN, dbsqlerr.ErrInvalidDSNPort},
		{"empty token", "token:@" + host, dbsqlerr.ErrInvalidDSNPATIsEmpty},
		{"token without password", "token@" + host, dbsqlerr.ErrInvalidDSNPATIsEmpty},
		{"basic auth", "user:pass@" + host, dbsqlerr.ErrBasicAuthNotSupported},
		{"user only", "user@" + host, dbsqlerr.ErrBasicAuthNotSupported},
		{"authType pat without token", host + "?authType=pat", dbsqlerr.ErrInvalidDSNPATIsEmpty},
		{"authType pat with empty token", host + "?authType=pat&accessToken=", dbsqlerr.ErrInvalidDSNPATIsEmpty},
		{"m2m without secret", host + "?authType=OauthM2M&clientId=id", dbsqlerr.ErrInvalidDSNM2m},
		{"secret without id", host + "?clientSecret=secret", dbsqlerr.ErrInvalidDSNM2m},
		{"u2m on an unknown cloud", "127.0.0.1:443" + testPath + "?authType=OauthU2M", "unhandled cloud type"},
		{"maxRows", testDSN + "?maxRows=abc", dbsqlerr.InvalidDSNFormat("maxRows", "abc", "int")},
		{"timeout", testDSN + "?timeout=1.5", dbsqlerr.InvalidDSNFormat("timeout", "1.5", "int")},
		{"useCloudFetch", testDSN + "?useCloudFetch=maybe", dbsqlerr.InvalidDSNFormat("useCloudFetch", "maybe", "bool")},
		{"maxDownloadThreads", testDSN + "?maxDownloadThreads=many", dbsqlerr.InvalidDSNFormat("maxDownloadThreads", "many", "int")},
		{"enableMetricViewMetadata", testDSN + "?enableMetricViewMetadata=yes", dbsqlerr.InvalidDSNFormat("enableMetricViewMetadata", "yes", "bool")},
		{"useArrowNativeDecimal", testDSN + "?useArrowNativeDecimal=on", dbsqlerr.InvalidDSNFormat("useArrowNativeDecimal", "on", "bool")},
		{"useKernel", testDSN + "?useKernel=2", dbsqlerr.InvalidDSNFormat("useKernel", "2", "bool")},
		{"tokenCache", testDSN + "?tokenCache=x", dbsqlerr.InvalidDSNFormat("tokenCache", "x", "bool")},
		{"timezone", testDSN + "?timezone=Mars/Olympus_Mons", "unknown time zone Mars/Olympus_Mons"},
		{"auth before params", "user:pass@" + host + "?maxRows=abc", dbsqlerr.ErrBasicAuthNotSupported},
		{"params in the driver's order", testDSN + "?timeout=x&useCloudFetch=x&maxRows=x", dbsqlerr.InvalidDSNFormat("maxRows", "x", "int")},
		{"driver params before ours", testDSN + "?telemetry_batch_size=x&tokenCache=x", dbsqlerr.InvalidDSNFormat("tokenCache", "x", "bool")},
		{"ours before timezone", testDSN + "?timezone=Nowhere&telemetry_batch_size=x", "telemetry_batch_size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDSN(tc.dsn)
			require.Error(t, err)
			assert.Nil(t, got)
			assert.Contains(t, err.Error(), tc.want)
			if strings.Contains(tc.want, "telemetry_") {
				assert.ErrorIs(t, err, ErrInvalidParam)
				return
			}

			_, rawErr := rawOpenConnector(tc.dsn)
			require.Error(t, rawErr)
			assert.Equal(t, rawErr.Error(), err.Error())
			assert.Equal(t, errors.Is(rawErr, dbsqlerr.RequestError), errors.Is(err, dbsqlerr.RequestError))
			assert.Equal(t, errors.Is(rawErr, dbsqlerr.DatabricksError), errors.Is(err, dbsqlerr.DatabricksError))
			var rawReq, req dbsqlerr.DBRequestError
			assert.Equal(t, errors.As(rawErr, &rawReq), errors.As(err, &req))
			if req != nil {
				assert.Equal(t, errors.Unwrap(rawErr) != nil, errors.Unwrap(err) != nil)
				assert.Equal(t, rawReq.Cause().Error(), req.Cause().Error())
				assert.NotEmpty(t, req.StackTrace())
				assert.False(t, req.IsRetryable())
				assert.Zero(t, req.RetryAfter())
				assert.Empty(t, req.CorrelationId())
				assert.Empty(t, req.ConnectionId())
				assert.NotErrorIs(t, err, ErrInvalidParam)
			}
		})
	}
}

// TestParseDSNTelemetryErrors checks that a bad telemetry parameter is refused with an
// error naming it, its value and what it accepts.
func TestParseDSNTelemetryErrors(t *testing.T) {
	const (
		wantBool     = "want a boolean: true or false (also 1, t, T, TRUE, True, 0, f, F, FALSE, False)"
		wantBatch    = "want an integer from 1 to 10000"
		wantFlush    = "want a duration such as 5s, or a number of milliseconds, from 10ms to 1h0m0s"
		wantCount    = "want an integer from 0 to 10"
		wantDelay    = "want a duration such as 100ms, or a number of milliseconds, from 1ms to 1s"
		overflowMsec = "9223372036854776"
	)
	cases := []struct{ param, value, want string }{
		{paramEnableTelemetry, "yes", wantBool},
		{paramEnableTelemetry, "2", wantBool},
		{paramBatchSize, "abc", wantBatch},
		{paramBatchSize, "0", wantBatch},
		{paramBatchSize, "-1", wantBatch},
		{paramBatchSize, "10001", wantBatch},
		{paramBatchSize, "1.5", wantBatch},
		{paramFlushInterval, "0", wantFlush},
		{paramFlushInterval, "0s", wantFlush},
		{paramFlushInterval, "-5s", wantFlush},
		{paramFlushInterval, "61m", wantFlush},
		{paramFlushInterval, "3600001", wantFlush},
		{paramFlushInterval, overflowMsec, wantFlush},
		{paramFlushInterval, "soon", wantFlush},
		{paramRetryCount, "-1", wantCount},
		{paramRetryCount, "11", wantCount},
		{paramRetryCount, "three", wantCount},
		{paramRetryDelay, "0", wantDelay},
		{paramRetryDelay, "500us", wantDelay},
		{paramRetryDelay, "2m", wantDelay},
		{paramRetryDelay, "1001", wantDelay},
		{paramRetryDelay, "60001", wantDelay},
		{paramFlushInterval, "9ms", wantFlush},
		{paramFlushInterval, "1ns", wantFlush},
		{paramRetryDelay, "later", wantDelay},
		// Stricter than the driver, which takes an empty value for absent.
		{paramEnableTelemetry, "", wantBool},
		{paramBatchSize, "", wantBatch},
		{paramFlushInterval, "", wantFlush},
		{paramRetryCount, "", wantCount},
		{paramRetryDelay, "", wantDelay},
		// And a key given twice (the driver takes the first value) is refused whole.
		{paramEnableTelemetry, "true&" + paramEnableTelemetry + "=bogus", wantBool + ", given once"},
		{paramBatchSize, "10&" + paramBatchSize + "=-5", wantBatch + ", given once"},
		{paramRetryDelay, "1s&" + paramRetryDelay + "=1s", wantDelay + ", given once"},
		// A pair url.Values drops (a ';' in it, an invalid escape) is refused when it is
		// ours: dropped, enableTelemetry=false; would leave telemetry to the server's flag.
		{paramEnableTelemetry, "false;", wantBool},
		{paramEnableTelemetry, "fa%lse", wantBool},
		{paramBatchSize, "%zz", wantBatch},
	}
	for _, tc := range cases {
		t.Run(tc.param+"="+tc.value, func(t *testing.T) {
			got, err := parseDSN(testDSN + "?ansi_mode=true&" + tc.param + "=" + tc.value)
			require.Error(t, err)
			assert.Nil(t, got)
			assert.ErrorIs(t, err, ErrInvalidParam)
			assert.NotErrorIs(t, err, dbsqlerr.RequestError)
			// A pipeline setting's bad value is an invalid telemetry config too, as the
			// same value given by an option (WithBatchSize) or to Config.WithDSNParams.
			if tc.param == paramEnableTelemetry {
				assert.NotErrorIs(t, err, telemetry.ErrInvalidConfig)
			} else {
				assert.ErrorIs(t, err, telemetry.ErrInvalidConfig)
			}
			value := strings.ReplaceAll(tc.value, tc.param+"=", "") // a repeated key's values, joined by &
			assert.Equal(t, fmt.Sprintf("dbtelemetry: DSN parameter %s=%q: %s", tc.param, value, tc.want), err.Error())
		})
	}
	// One of ours in another case would become a session parameter, with its writer
	// believing it set telemetry.
	for _, name := range []string{"EnableTelemetry", "enabletelemetry", "TELEMETRY_BATCH_SIZE", "Telemetry_Retry_Delay"} {
		// As a pair of its own, and in a pair url.Values drops (a ';' in it).
		for _, pair := range []string{name + "=false", name + "=false;"} {
			t.Run(pair, func(t *testing.T) {
				_, err := parseDSN(testDSN + "?ansi_mode=true&" + pair)
				require.ErrorIs(t, err, ErrInvalidParam)
				assert.Contains(t, err.Error(), name+"=")
				assert.Contains(t, err.Error(), "want the name ")
				assert.Contains(t, err.Error(), "case-sensitive")
			})
		}
	}
	// So would one of ours with other separators between its words: another connector's
	// spelling (Python's enable_telemetry), or a near miss.
	for _, tc := range []struct{ key, want string }{
		{"enable_telemetry", "enableTelemetry"},
		{"Enable-Telemetry", "enableTelemetry"},
		{"telemetry_batchsize", "telemetry_batch_size"},
		{"telemetryFlushInterval", "telemetry_flush_interval"},
		{"telemetry-retry-count", "telemetry_retry_count"},
		{"telemetry.retry_delay", "telemetry_retry_delay"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			_, err := parseDSN(testDSN + "?ansi_mode=true&" + tc.key + "=1")
			require.ErrorIs(t, err, ErrInvalidParam)
			assert.Contains(t, err.Error(), "DSN parameter "+tc.key+`="1": want the name `+tc.want+" (")
			assert.Contains(t, err.Error(), "an underscore only where the name has one")
		})
	}
	// A name that starts with telemetry, or another connector's force switch, names none of
	// ours, and no session parameter either.
	for _, key := range []string{"telemetry_flush_intervall", "telemetry", "TelemetryEndpoint", "force_enable_telemetry", "forceEnableTelemetry"} {
		t.Run(key, func(t *testing.T) {
			_, err := parseDSN(testDSN + "?ansi_mode=true&" + key + "=x")
			require.ErrorIs(t, err, ErrInvalidParam)
			assert.Equal(t, "dbtelemetry: DSN parameter "+key+`="x": want one of our parameter names, enableTelemetry, `+
				"telemetry_batch_size, telemetry_flush_interval, telemetry_retry_count, telemetry_retry_delay (a name that "+
				"starts with telemetry is taken for ours and would otherwise reach the server as a session parameter)", err.Error())
		})
	}
	// The same after a second '?', after a '#' and in a pair the driver drops.
	for _, query := range []string{"?a=1&?telemetry_flush_intervall=5s", "??force_enable_telemetry=false", "?clientSecret=a#b&force_enable_telemetry=false", "?telemetry_flush_intervall=5s;"} {
		t.Run(query, func(t *testing.T) {
			_, err := parseDSN(testDSN + query)
			require.ErrorIs(t, err, ErrInvalidParam)
			assert.Contains(t, err.Error(), "want one of our parameter names")
		})
	}
	for _, key := range []string{"my_telemetry", "enableTelemetryX", "statement_timeout"} {
		t.Run(key+" is the server's", func(t *testing.T) {
			got, err := parseDSN(testDSN + "?" + key + "=1")
			require.NoError(t, err)
			assert.Equal(t, []string{key}, got.SessionParamNames)
		})
	}
	// So would one of ours with spaces around it, however it is escaped.
	for _, raw := range []string{"%20enableTelemetry", "enableTelemetry+", "+enableTelemetry", "enableTelemetry%09", "%20telemetry_batch_size"} {
		name, err := url.QueryUnescape(raw)
		require.NoError(t, err)
		for _, pair := range []string{raw + "=false", raw + "=false;"} {
			t.Run(pair, func(t *testing.T) {
				_, err := parseDSN(testDSN + "?ansi_mode=true&" + pair)
				require.ErrorIs(t, err, ErrInvalidParam)
				shown := name // quoted when it holds a character that prints as nothing
				if strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) {
					shown = strconv.QuoteToASCII(name)
				}
				assert.Contains(t, err.Error(), "DSN parameter "+shown+"=")
				assert.Contains(t, err.Error(), "with no spaces or invisible characters around them")
			})
		}
		t.Run(raw+" after a '#'", func(t *testing.T) {
			_, err := parseDSN(testDSN + "?ansi_mode=true#" + raw + "=false")
			require.ErrorIs(t, err, ErrInvalidParam)
			assert.Contains(t, err.Error(), "unescaped '#'")
		})
	}
	// And one of ours with an invisible character in it (a BOM pasted with the DSN, a
	// zero-width space), or with its '=' escaped, which makes the whole pair the key.
	for _, tc := range []struct{ raw, shown string }{
		{"%EF%BB%BFenableTelemetry=false", `"\ufeffenableTelemetry"="false"`},
		{"enable%E2%80%8BTelemetry=false", `"enable\u200bTelemetry"="false"`},
		{"%E2%80%8Ctelemetry_batch_size=5", `"\u200ctelemetry_batch_size"="5"`},
		{"enableTelemetry%3Dfalse", `enableTelemetry=false=""`},
		{"enableTelemetry%3Dfalse;", `enableTelemetry=false=";"`},
		{"telemetry_retry_count%3d2", `telemetry_retry_count=2=""`},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			_, err := parseDSN(testDSN + "?ansi_mode=true&" + tc.raw)
			require.ErrorIs(t, err, ErrInvalidParam)
			assert.Contains(t, err.Error(), "DSN parameter "+tc.shown+": want the name ")
			assert.Contains(t, err.Error(), "an unescaped '=' before the value")
		})
	}
	t.Run("two in another case: the first by name, every time", func(t *testing.T) {
		for range 20 {
			_, err := parseDSN(testDSN + "?TELEMETRY_BATCH_SIZE=3&EnableTelemetry=x")
			require.ErrorIs(t, err, ErrInvalidParam)
			assert.Contains(t, err.Error(), `EnableTelemetry="x"`)
		}
	})
	t.Run("what follows ours after a ';' is not quoted back", func(t *testing.T) {
		for _, pair := range []string{"enableTelemetry=false;accessToken=" + testToken, "EnableTelemetry=false;clientSecret=" + testToken} {
			_, err := parseDSN("example.cloud.databricks.com:443/sql/1.0/warehouses/abc?" + pair)
			require.ErrorIs(t, err, ErrInvalidParam)
			assert.NotContains(t, err.Error(), testToken)
			assert.Contains(t, err.Error(), `="false;…"`)
		}
		_, err := parseDSN(testDSN + "?telemetry_retry_count=3;telemetry_retry_delay=5")
		assert.EqualError(t, err, `dbtelemetry: DSN parameter telemetry_retry_count="3;…": `+wantCount)
	})
	t.Run("ours after a ';' in a pair", func(t *testing.T) {
		_, err := parseDSN(testDSN + "?ansi_mode=true;enableTelemetry=false")
		assert.EqualError(t, err, `dbtelemetry: DSN parameter enableTelemetry="false": `+wantBool)
	})
	t.Run("ours after an unescaped '#', which ends the query", func(t *testing.T) {
		const wantHash = ", in the query: this one follows an unescaped '#', which ends the query (escape a '#' in a value as %23)"
		for _, tc := range []struct{ dsn, err string }{
			{"?clientId=a&clientSecret=" + testToken + "#x&enableTelemetry=false", `enableTelemetry="false": ` + wantBool + wantHash},
			{"#enableTelemetry=false", `enableTelemetry="false": ` + wantBool + wantHash},
			{"?ansi_mode=true#a;Telemetry_Batch_Size=5", `Telemetry_Batch_Size="5": ` + wantBatch + wantHash},
			{"?ansi_mode=true#x&telemetry_retry_count", `telemetry_retry_count="": ` + wantCount + wantHash},
		} {
			_, err := parseDSN("token:" + testToken + "@example.cloud.databricks.com:443/sql/1.0/warehouses/abc" + tc.dsn)
			require.ErrorIs(t, err, ErrInvalidParam, tc.dsn)
			assert.EqualError(t, err, "dbtelemetry: DSN parameter "+tc.err)
			assert.NotContains(t, err.Error(), testToken)
		}
		for _, dsn := range []string{"#", "#section", "?ansi_mode=true#x&y=1", "?clientSecret=a%23b&enableTelemetry=false"} {
			_, err := parseDSN(testDSN + dsn)
			assert.NoError(t, err, "a fragment without ours is the driver's to ignore: %s", dsn)
		}
	})
	t.Run("a malformed pair of the driver's is dropped, as the driver drops it", func(t *testing.T) {
		_, err := parseDSN(testDSN + "?enableTelemetry=false&ansi_mode=tr%ue&a=1;b=2")
		assert.NoError(t, err)
	})
	t.Run("example from the docs", func(t *testing.T) {
		_, err := parseDSN(testDSN + "?telemetry_batch_size=abc")
		assert.EqualError(t, err, `dbtelemetry: DSN parameter telemetry_batch_size="abc": want an integer from 1 to 10000`)
	})
}

// TestParseDSNOptionsReusable checks that connectors built from the same options share
// no session parameter map.
func TestParseDSNOptionsReusable(t *testing.T) {
	cfg, err := parseDSN(testDSN + "?ansi_mode=true")
	require.NoError(t, err)
	c1, err := dbsql.NewConnector(cfg.opts...)
	require.NoError(t, err)
	c2, err := dbsql.NewConnector(append(cfg.opts, dbsql.WithQueryTags(map[string]string{"team": "a"}))...)
	require.NoError(t, err)
	sessionParams(t, c1)["ansi_mode"] = "changed"
	assert.Equal(t, map[string]string{"ansi_mode": "true", "QUERY_TAGS": "team:a"}, sessionParams(t, c2))
	c3, err := dbsql.NewConnector(cfg.opts...)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"ansi_mode": "true"}, sessionParams(t, c3))
}

// TestDSNConfigHidesToken checks that printing a dsnConfig never shows the token.
func TestDSNConfigHidesToken(t *testing.T) {
	cfg, err := parseDSN(testDSN + "?enableTelemetry=true&telemetry_retry_count=2&ansi_mode=secretvalue")
	require.NoError(t, err)
	require.Equal(t, testToken, cfg.Token)
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{cfg, *cfg} {
			out := fmt.Sprintf(format, v)
			assert.NotContains(t, out, testToken, format)
			assert.NotContains(t, out, "secretvalue", format)
			assert.Contains(t, out, testHost, format)
			assert.Contains(t, out, "EnableTelemetry:true", format)
			assert.Contains(t, out, "RetryCount:2", format)
		}
	}
	assert.Contains(t, wantDSN(nil).String(), "EnableTelemetry:unset")
}

// TestDriverDefaults checks the driver defaults dsnConnInfo reports against the
// driver's actual configuration.
func TestDriverDefaults(t *testing.T) {
	c, err := dbsql.NewConnector()
	require.NoError(t, err)
	cfg := connectorConfig(t, c)
	assert.Equal(t, int64(driverDefaultMaxRows), cfg.FieldByName("MaxRows").Int())
	assert.Equal(t, driverDefaultUseCloudFetch, cfg.FieldByName("UseCloudFetch").Bool())
}

// inSubprocess reports whether this process is the child that runs the body of the test
// name (env is set); in the parent, it runs that test in a child process of the test
// binary with env set, and requires it to pass.
func inSubprocess(t *testing.T, name, env string) bool {
	t.Helper()
	if os.Getenv(env) != "" {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env+"=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "--- PASS: "+name)
	return false
}

// u2mSubprocessEnv makes the test binary run TestParseDSNU2M's body.
const u2mSubprocessEnv = "DBTELEMETRY_DSN_U2M_SUBPROCESS"

// TestParseDSNU2M checks OAuth U2M on a host of a known cloud. The driver's U2M
// authenticator installs a SIGINT handler and an http.DefaultServeMux route when it is
// built, so it is built in a child process, never in the test binary itself.
func TestParseDSNU2M(t *testing.T) {
	if !inSubprocess(t, "TestParseDSNU2M", u2mSubprocessEnv) {
		return
	}
	quietDriverLogs(t)
	dsn := "adb-123.4.azuredatabricks.net:443" + testPath + "?authType=OauthU2M&ansi_mode=true"
	got, err := parseDSN(dsn)
	require.NoError(t, err)
	assert.Equal(t, dsnAuthExternalBrowser, got.AuthType)
	assert.Empty(t, got.Token)
	ours, err := dbsql.NewConnector(got.opts...)
	require.NoError(t, err)
	raw, err := rawOpenConnector(dsn)
	require.NoError(t, err)
	assert.Empty(t, diffConfigs(connectorConfig(t, raw), connectorConfig(t, ours)))
}

// rawOpenConnector is what sql.Open("databricks", dsn) does: the driver's
// OpenConnector, whose ParseDSN is internal.
func rawOpenConnector(dsn string) (driver.Connector, error) {
	c, err := dbsql.NewConnector()
	if err != nil {
		return nil, err
	}
	return c.Driver().(driver.DriverContext).OpenConnector(dsn)
}

// connectorConfig returns the driver's configuration (its internal config.Config) of a
// connector made by the driver, as an addressable struct whose unexported parts can
// be read.
func connectorConfig(t *testing.T, c driver.Connector) reflect.Value {
	t.Helper()
	v := reflect.ValueOf(c)
	require.Equal(t, reflect.Pointer, v.Kind())
	f := v.Elem().FieldByName("cfg")
	require.True(t, f.IsValid(), "the driver's connector has no cfg field")
	return accessible(f).Elem()
}

// sessionParams returns the session parameters a connector will send (the map itself).
func sessionParams(t *testing.T, c driver.Connector) map[string]string {
	t.Helper()
	m, ok := connectorConfig(t, c).FieldByName("SessionParams").Interface().(map[string]string)
	require.True(t, ok)
	return m
}

// accessible returns v without the read-only flag of unexported fields.
func accessible(v reflect.Value) reflect.Value {
	if v.CanAddr() {
		return reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
	}
	cp := reflect.New(v.Type()).Elem()
	cp.Set(v)
	return cp
}

// configIgnored tells the fields of the driver's configuration that may differ between
// the driver's connector for a DSN and ours:
//   - our telemetry parameters, which never reach the driver;
//   - the DSN-only carriers of useArrowNativeDecimal and tokenCache, which only
//     withUserConfig reads (it copies them into ArrowConfig and KernelExperimental,
//     which are compared).
func configIgnored(path string) bool {
	switch path {
	case ".UserConfig.EnableTelemetry",
		".UserConfig.TelemetryBatchSize",
		".UserConfig.TelemetryFlushInterval",
		".UserConfig.UseArrowNativeDecimalDSN",
		".UserConfig.TokenCacheEnabledDSN":
		return true
	}
	return false
}

// diffConfigs lists the differences between two driver configurations, field by field,
// unexported fields and the authenticator's included.
func diffConfigs(want, got reflect.Value) []string {
	var diffs []string
	diffValues("", want, got, 0, &diffs)
	return diffs
}

func diffValues(path string, a, b reflect.Value, depth int, diffs *[]string) {
	if configIgnored(path) {
		return
	}
	if depth > 32 {
		*diffs = append(*diffs, path+": too deep")
		return
	}
	a, b = accessible(a), accessible(b)
	if a.Type() == reflect.TypeFor[*time.Location]() {
		// The driver reads a nil location as UTC.
		if an, bn := locationName(a), locationName(b); an != bn {
			*diffs = append(*diffs, fmt.Sprintf("%s: %s != %s", path, an, bn))
		}
		return
	}
	switch a.Kind() {
	case reflect.Struct:
		for i := range a.NumField() {
			diffValues(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i), depth+1, diffs)
		}
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				*diffs = append(*diffs, fmt.Sprintf("%s: nil %t != nil %t", path, a.IsNil(), b.IsNil()))
			}
			return
		}
		if a.Kind() == reflect.Interface && a.Elem().Type() != b.Elem().Type() {
			*diffs = append(*diffs, fmt.Sprintf("%s: %s != %s", path, a.Elem().Type(), b.Elem().Type()))
			return
		}
		diffValues(path, a.Elem(), b.Elem(), depth+1, diffs)
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		if a.IsNil() != b.IsNil() {
			*diffs = append(*diffs, fmt.Sprintf("%s: nil %t != nil %t", path, a.IsNil(), b.IsNil()))
		}
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*diffs = append(*diffs, fmt.Sprintf("%s: %v != %v", path, a.Interface(), b.Interface()))
		}
	}
}

func locationName(v reflect.Value) string {
	loc, _ := v.Interface().(*time.Location)
	if loc == nil {
		return time.UTC.String()
	}
	return loc.String()
}

// TestDiffConfigsSeesDifferences keeps TestParseDSN honest: the comparison reports a
// difference in each part of the configuration the DSN parameters set.
func TestDiffConfigsSeesDifferences(t *testing.T) {
	quietDriverLogs(t)
	base, err := rawOpenConnector(testDSN)
	require.NoError(t, err)
	for _, tc := range []struct{ dsn, field string }{
		{"http://" + testDSN, ".UserConfig.Protocol"},
		{"token:other@" + testHost + ":443" + testPath, ".UserConfig.Authenticator.AccessToken"},
		{testDSN + "?maxRows=5", ".UserConfig.MaxRows"},
		{testDSN + "?timeout=5", ".UserConfig.QueryTimeout"},
		{testDSN + "?timezone=Asia/Tokyo", ".UserConfig.Location"},
		{testDSN + "?ansi_mode=true", ".UserConfig.SessionParams"},
		{testDSN + "?maxDownloadThreads=2", ".UserConfig.CloudFetchConfig.MaxDownloadThreads"},
		{testDSN + "?useArrowNativeDecimal=true", ".ArrowConfig.UseArrowNativeDecimal"},
		{testDSN + "?tokenCache=true", ".KernelExperimental"},
		{testHost + ":443" + testPath, ".UserConfig.Authenticator"},
	} {
		other, err := rawOpenConnector(tc.dsn)
		require.NoError(t, err)
		diffs := diffConfigs(connectorConfig(t, base), connectorConfig(t, other))
		require.NotEmpty(t, diffs, tc.dsn)
		assert.True(t, strings.HasPrefix(diffs[0], tc.field+":"), "%s: %v", tc.dsn, diffs)
	}
}

// telemetry.Config.WithDSNParams (public, for callers who build their own pipeline)
// reads the telemetry parameters by the rules of the wrapper's DSN: one accepts what the
// other accepts, with the same values.
func TestDSNParamsAgreeWithTelemetryConfig(t *testing.T) {
	for _, q := range []string{
		"telemetry_batch_size=1", "telemetry_batch_size=10000", "telemetry_batch_size=10001", "telemetry_batch_size=0",
		"telemetry_batch_size=", "telemetry_batch_size=5&telemetry_batch_size=6",
		"telemetry_flush_interval=250", "telemetry_flush_interval=2s", "telemetry_flush_interval=1h", "telemetry_flush_interval=61m",
		"telemetry_flush_interval=0", "telemetry_flush_interval=18446744074", "telemetry_flush_interval=10", "telemetry_flush_interval=9ms",
		"telemetry_retry_count=0", "telemetry_retry_count=10", "telemetry_retry_count=11", "telemetry_retry_count=-1",
		"telemetry_retry_delay=1", "telemetry_retry_delay=1s", "telemetry_retry_delay=1m", "telemetry_retry_delay=500us", "telemetry_retry_delay=1001",
	} {
		t.Run(q, func(t *testing.T) {
			cfg, dsnErr := parseDSN(testDSN + "?" + q)
			v, err := url.ParseQuery(q)
			require.NoError(t, err)
			tc, telErr := telemetry.DefaultConfig().WithDSNParams(v)
			require.Equal(t, dsnErr == nil, telErr == nil, "DSN: %v; telemetry: %v", dsnErr, telErr)
			if dsnErr != nil {
				return
			}
			d := cfg.dsnTelemetry
			if d.BatchSize != 0 {
				assert.Equal(t, d.BatchSize, tc.BatchSize)
			}
			if d.FlushInterval != 0 {
				assert.Equal(t, d.FlushInterval, tc.FlushInterval)
			}
			if d.RetryCount != nil {
				assert.Equal(t, *d.RetryCount, tc.RetryCount)
			}
			if d.RetryDelay != 0 {
				assert.Equal(t, d.RetryDelay, tc.RetryDelay)
			}
		})
	}
}

// The zero fields of WithTelemetryConfig take their defaults, in the configuration the
// aggregator and the host's exporter are made from (a zero retry delay would leave the
// backoff to its jitter); RetryCount 0 stays "no retries".
func TestTelemetryConfigZeroFieldsTakeDefaults(t *testing.T) {
	for _, retries := range []int{2, 0} {
		c, err := OpenConnector(testDSN, WithTelemetryConfig(telemetry.Config{RetryCount: retries}))
		require.NoError(t, err)
		want := telemetry.DefaultConfig()
		want.RetryCount = retries
		assert.Equal(t, want, c.cfg.tel)
		require.NoError(t, c.Close())
	}
}

// The DSN's telemetry parameters reach the configuration the connector's aggregator and
// its host's exporter are made from, each at the bounds it accepts (a batch size of 1
// included: every log its own batch); an option of ours overrides the DSN on what both
// set.
func TestDSNTelemetryParamsReachTheConnector(t *testing.T) {
	def := telemetry.DefaultConfig()
	with := func(mod func(*telemetry.Config)) telemetry.Config {
		c := def
		mod(&c)
		return c
	}
	for _, tc := range []struct {
		name   string
		params string
		opts   []Option
		want   telemetry.Config
	}{
		{"none", "", nil, def},
		{"batch size 1", "?telemetry_batch_size=1", nil, with(func(c *telemetry.Config) { c.BatchSize = 1 })},
		{"batch size 10000", "?telemetry_batch_size=10000", nil, with(func(c *telemetry.Config) { c.BatchSize = 10000 })},
		{"flush interval", "?telemetry_flush_interval=10ms", nil, with(func(c *telemetry.Config) { c.FlushInterval = 10 * time.Millisecond })},
		{"no retries", "?telemetry_retry_count=0", nil, with(func(c *telemetry.Config) { c.RetryCount = 0 })},
		{"retry delay", "?telemetry_retry_delay=1", nil, with(func(c *telemetry.Config) { c.RetryDelay = time.Millisecond })},
		{"every parameter", "?telemetry_batch_size=7&telemetry_flush_interval=1h&telemetry_retry_count=10&telemetry_retry_delay=1s", nil,
			with(func(c *telemetry.Config) {
				c.BatchSize, c.FlushInterval, c.RetryCount, c.RetryDelay = 7, time.Hour, 10, time.Second
			})},
		{"an option leaves the DSN's other settings", "?telemetry_flush_interval=1h&telemetry_retry_count=1&telemetry_retry_delay=5",
			[]Option{WithBatchSize(7)},
			with(func(c *telemetry.Config) {
				c.BatchSize, c.FlushInterval, c.RetryCount, c.RetryDelay = 7, time.Hour, 1, 5*time.Millisecond
			})},
		{"options override the DSN", "?telemetry_batch_size=5&telemetry_flush_interval=1h",
			[]Option{WithBatchSize(7), WithFlushInterval(20 * time.Millisecond)},
			with(func(c *telemetry.Config) { c.BatchSize, c.FlushInterval = 7, 20*time.Millisecond })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := OpenConnector(testDSN+tc.params, append([]Option{WithHosts(NewHosts())}, tc.opts...)...)
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			assert.Equal(t, tc.want.Normalize(), c.cfg.tel) // Normalize: a batch takes MaxPendingLogs up with it
		})
	}
}

// u2mAuthTypeSubprocessEnv makes the test binary run TestU2MAuthTypeIsExternalBrowser's
// body (u2m.NewAuthenticator, as in TestParseDSNU2M, runs in a process of its own).
const u2mAuthTypeSubprocessEnv = "DBTELEMETRY_U2M_AUTH_TYPE_SUBPROCESS"

// A connector whose DSN selects OAuth U2M (authType=OauthU2M) reports the auth type
// external-browser: the one read back from the driver's authenticator, which stands for
// the DSN's, names U2M's package so.
func TestU2MAuthTypeIsExternalBrowser(t *testing.T) {
	if !inSubprocess(t, "TestU2MAuthTypeIsExternalBrowser", u2mAuthTypeSubprocessEnv) {
		return
	}
	quietDriverLogs(t)
	c, err := OpenConnector("adb-123.4.azuredatabricks.net:443"+testPath+"?authType=OauthU2M", WithHosts(NewHosts()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	assert.Equal(t, dsnAuthExternalBrowser, c.settings.authType, "read back from the driver")
	assert.Equal(t, dsnAuthExternalBrowser, c.info.Load().AuthType, "what the logs say")
}
