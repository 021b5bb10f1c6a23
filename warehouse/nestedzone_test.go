package warehouse_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// The driver renders every time value in its own Location (the DSN's timezone, UTC by
// default): top-level Arrow timestamps and the timestamps and dates inside the Arrow
// lists, maps and structs Databricks sends (internal/rows/arrowbased: one location for
// every column value container). A SET TIME ZONE changes how the server reads
// literals, not the driver's Location, so after it a nested value must still show the
// same instant in the same zone as the top-level one of the same row.
func TestNestedTimesFollowTheDriverLocationAfterSetTimeZone(t *testing.T) {
	srv := start(t)
	db := open(t, srv, "") // the driver's Location: UTC
	conn, err := db.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	ctx := context.Background()
	_, err = conn.ExecContext(ctx, "SET TIME ZONE 'America/New_York'")
	require.NoError(t, err)

	var top time.Time
	var nestedTS, nestedDate, inStruct, inMap string
	require.NoError(t, conn.QueryRowContext(ctx, `SELECT TIMESTAMPTZ '2024-01-01 00:00:00+00',
		[TIMESTAMPTZ '2024-01-01 00:00:00+00'], [DATE '2020-01-01'],
		{'d': DATE '2020-01-01'}, MAP {'k': TIMESTAMPTZ '2024-01-01 00:00:00+00'}`).
		Scan(&top, &nestedTS, &nestedDate, &inStruct, &inMap))

	// The top-level value is in the driver's Location.
	assert.Equal(t, time.UTC, top.Location())
	// A real warehouse sends the nested ones as Arrow too: the driver shows them there as well.
	want := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).String()
	day := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).String()
	assert.Equal(t, fmt.Sprintf("[%q]", want), nestedTS, "nested timestamp, same row as %v", top)
	assert.Equal(t, fmt.Sprintf("[%q]", day), nestedDate, "nested date")
	assert.Equal(t, fmt.Sprintf(`{"d":%q}`, day), inStruct, "date in a struct")
	assert.Equal(t, fmt.Sprintf(`{"k":%q}`, want), inMap, "timestamp in a map")
}

// The same with a session time zone the driver cannot load as a Location (a fixed
// offset, which the warehouse accepts as Etc/GMT-5): the driver logs it and keeps UTC,
// so a real warehouse's nested Arrow timestamps show in UTC, like the top-level ones.
func TestNestedTimesFollowTheDriverLocationWithAnOffsetZone(t *testing.T) {
	srv := start(t)
	u, err := url.Parse(srv.DSN())
	require.NoError(t, err)
	port, err := strconv.Atoi(u.Port())
	require.NoError(t, err)
	c, err := dbsql.NewConnector(dbsql.WithServerHostname("http://"+u.Hostname()), dbsql.WithPort(port),
		dbsql.WithHTTPPath(warehouse.HTTPPath), dbsql.WithAccessToken(srv.Token()),
		dbsql.WithSessionParams(map[string]string{"timezone": "+05:00"}))
	require.NoError(t, err)
	db := sql.OpenDB(c)
	defer db.Close()

	var top time.Time
	var nested string
	require.NoError(t, db.QueryRow("SELECT TIMESTAMPTZ '2024-01-01 00:00:00+00', [TIMESTAMPTZ '2024-01-01 00:00:00+00']").Scan(&top, &nested))
	assert.Equal(t, time.UTC, top.Location(), "the driver's Location stays UTC")
	assert.Equal(t, fmt.Sprintf("[%q]", top.String()), nested, "nested, the same instant shown as the driver shows the top-level one")
}
