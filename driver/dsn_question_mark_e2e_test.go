package driver_test

import (
	"database/sql"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// Only the first '?' of a DSN starts its query: one of our parameters after a second,
// unescaped '?' (dsn+"?enableTelemetry=false" on a DSN that has a query already) would
// silently reach the server inside another parameter's value, or as a session parameter
// of its own, leaving telemetry to the server's flag. sql.Open fails instead, naming the
// parameter and what it accepts; a '?' escaped as %3F is a value's own, as unwrapped.
func TestOurParamAfterASecondQuestionMarkFailsOpen(t *testing.T) {
	srv, err := warehouse.NewServer(warehouse.WithTelemetryFlag(true))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, srv.Close()) })
	base := srv.DSN()
	for _, tc := range []struct{ name, query, param, value, want string }{
		{"appended to a query", "?QUERY_TAGS=team:a?enableTelemetry=false", "enableTelemetry", "false", "want a boolean"},
		{"appended to an empty query", "??enableTelemetry=false", "enableTelemetry", "false", "want a boolean"},
		{"as a pair of its own", "?QUERY_TAGS=team:a&?enableTelemetry=0", "enableTelemetry", "0", "want a boolean"},
		{"in a driver parameter's value", "?userAgentEntry=acme?telemetry_batch_size=5", "telemetry_batch_size", "5", "want an integer from 1 to 10000"},
		{"in another case", "?QUERY_TAGS=team:a?EnableTelemetry=false", "EnableTelemetry", "false", "want a boolean"},
		{"escaped", "?QUERY_TAGS=team:a?telemetry_flush_interval=1%73", "telemetry_flush_interval", "1s", "want a duration"},
		{"before a ';'", "?QUERY_TAGS=a?enableTelemetry=false;accessToken=" + srv.Token(), "enableTelemetry", "false", "want a boolean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := openAndPing(base + tc.query)
			require.ErrorIs(t, err, driver.ErrInvalidParam)
			assert.Contains(t, err.Error(), "DSN parameter "+tc.param+`="`+tc.value+`"`)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "'?'")
			assert.NotContains(t, err.Error(), srv.Token())
		})
	}
	t.Run("an escaped '?' is the value's own, as unwrapped", func(t *testing.T) {
		const query = "?QUERY_TAGS=team:a%3FenableTelemetry=false"
		before := len(srv.Sessions())
		raw, err := sql.Open("databricks", base+query)
		require.NoError(t, err)
		defer raw.Close()
		require.NoError(t, raw.Ping())
		ours, err := sql.Open(driver.DriverName, base+query+"&enableTelemetry=false")
		require.NoError(t, err)
		defer ours.Close()
		require.NoError(t, ours.Ping())
		sessions := srv.Sessions()[before:]
		require.Len(t, sessions, 2)
		assert.Equal(t, "team:a?enableTelemetry=false", sessions[0].Configuration["QUERY_TAGS"])
		assert.Equal(t, sessions[0].Configuration, sessions[1].Configuration)
	})
}

// openAndPing opens dsn through our driver and pings it: the error of whichever fails.
func openAndPing(dsn string) error {
	db, err := sql.Open(driver.DriverName, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Ping()
}

// One of our parameters hidden from an exact match (a BOM or a zero-width space pasted
// with it, its '=' escaped, another separator) or a telemetry name of none of ours would reach the server as a session parameter while its
// writer believes telemetry is off. sql.Open fails instead, naming the key as written
// (quoted, so that what prints as nothing shows) and the name it must have; no session
// is opened with it.
func TestHiddenOwnParamFailsOpen(t *testing.T) {
	srv, err := warehouse.NewServer(warehouse.WithTelemetryFlag(true))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, srv.Close()) })
	const ours = "want the name enableTelemetry"
	for _, tc := range []struct{ name, query, shown, want string }{
		{"a BOM before it", "?%EF%BB%BFenableTelemetry=false", `"\ufeffenableTelemetry"="false"`, ours},
		{"a zero-width space in it", "?enable%E2%80%8BTelemetry=false", `"enable\u200bTelemetry"="false"`, ours},
		{"its '=' escaped", "?ansi_mode=true&enableTelemetry%3Dfalse", `enableTelemetry=false=""`, ours},
		// Another connector's names: Python's spelling of ours, and a switch we do not have.
		{"an underscore in it", "?enable_telemetry=false", `enable_telemetry="false"`, ours},
		{"a telemetry name of none of ours", "?force_enable_telemetry=true", `force_enable_telemetry="true"`, "want one of our parameter names, enableTelemetry, "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.Sessions())
			err := openAndPing(srv.DSN() + tc.query)
			require.ErrorIs(t, err, driver.ErrInvalidParam)
			assert.Contains(t, err.Error(), "DSN parameter "+tc.shown+": "+tc.want)
			assert.NotContains(t, err.Error(), srv.Token())
			assert.Len(t, srv.Sessions(), before, "no session opened")
		})
	}
}
