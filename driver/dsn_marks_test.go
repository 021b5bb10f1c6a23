package driver

import (
	"testing"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One of our parameters after a '?' that starts no parameter (a second '?' in the query,
// or a '?' in the fragment) fails with an error naming it and what it accepts, rather
// than reaching the server inside another parameter or leaving telemetry to the flag.
func TestParseDSNRefusesOursAfterAStrayQuestionMark(t *testing.T) {
	for _, tc := range []struct{ name, query, param, value string }{
		{"in another parameter's value", "?ansi_mode=true?enableTelemetry=false", paramEnableTelemetry, "false"},
		{"opening a pair", "?ansi_mode=true&?telemetry_retry_count=2", paramRetryCount, "2"},
		{"after the first of several", "?ansi_mode=true?a=1?telemetry_retry_delay=5", paramRetryDelay, "5"},
		{"in the fragment", "?ansi_mode=true#section?enableTelemetry=false", paramEnableTelemetry, "false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDSN(testDSN + tc.query)
			require.ErrorIs(t, err, ErrInvalidParam)
			assert.Nil(t, got)
			assert.Contains(t, err.Error(), "DSN parameter "+tc.param+`="`+tc.value+`": want `)
		})
	}
	for _, query := range []string{"?QUERY_TAGS=a%3FenableTelemetry=false", "?QUERY_TAGS=a?b=c", "?x=what?enableTelemetryX=1"} {
		_, err := parseDSN(testDSN + query)
		assert.NoError(t, err, "not ours after a '?': %s", query)
	}
}

// The driver validates a timezone session parameter named in any case (TimeZone,
// TIMEZONE): so does parseDSN, with the driver's error, rather than letting the driver's
// WithSessionParams log it and connect in UTC.
func TestParseDSNValidatesTimezoneInAnyCase(t *testing.T) {
	quietDriverLogs(t)
	for _, dsn := range []string{testDSN + "?TimeZone=Mars/Olympus_Mons", testDSN + "?TIMEZONE=Nowhere"} {
		_, err := parseDSN(dsn)
		require.Error(t, err, dsn)
		_, rawErr := rawOpenConnector(dsn)
		require.Error(t, rawErr, dsn)
		assert.Equal(t, rawErr.Error(), err.Error())
	}
}

// The connector keeps the driver's built-in telemetry off in the driver's configuration
// itself (as enableTelemetry=false in the driver's own DSN), whatever the DSN or the
// options say of ours: the driver's process-wide flag cache and telemetry clients are
// then never consulted for a wrapped connection.
func TestConnectorSettingsKeepTheDriversBuiltinTelemetryOff(t *testing.T) {
	quietDriverLogs(t)
	for name, open := range map[string]func() (*Connector, error){
		"DSN, ours on": func() (*Connector, error) {
			return OpenConnector(testDSN+"?enableTelemetry=true", WithHosts(NewHosts()))
		},
		"DSN, ours off": func() (*Connector, error) {
			return OpenConnector(testDSN+"?enableTelemetry=false", WithHosts(NewHosts()))
		},
		"NewConnector": func() (*Connector, error) {
			return NewConnector(WithConnOptions(dbsql.WithServerHostname(testHost), dbsql.WithPort(443)), WithHosts(NewHosts()))
		},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := open()
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			value := accessible(connectorConfig(t, c.raw).FieldByName("EnableTelemetry").Field(0))
			require.False(t, value.IsNil(), "the driver's EnableTelemetry is set")
			assert.False(t, value.Elem().Bool(), "the driver's EnableTelemetry is false")
		})
	}
}

// The caller's options may leave the driver without an authenticator
// (dbsql.WithAuthenticator(nil)): the auth type read back is unknown, as for no
// credentials, not custom.
func TestSettingsNameANilAuthenticatorUnknown(t *testing.T) {
	c, err := OpenConnector(testDSN, WithConnOptions(dbsql.WithAuthenticator(nil)), WithHosts(NewHosts()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	assert.Equal(t, dsnAuthUnknown, c.settings.authType)
	assert.Equal(t, dsnAuthUnknown, c.info.Load().AuthType)
}
