package driver_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A Ping is no statement (README, "What is collected"): the select 1 the driver runs for
// it reaches the warehouse, and no statement log is made of it; a failed Ping is logged
// as an error.
func TestPingIsNoStatement(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	db, exp := flowConnector(t, srv.DSN())
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()

	require.NoError(t, conn.PingContext(ctx))
	srv.InjectFaults(warehouse.GroupThrift, warehouse.Fault{Status: 400, Method: "ExecuteStatement"})
	require.Error(t, conn.PingContext(ctx))
	_ = conn.Close() // database/sql dropped it: the driver calls a failed Ping a bad connection
	require.NoError(t, db.Close())

	var pings int
	for _, r := range srv.Statements() {
		if r.SQL == "select 1" {
			pings++
		}
	}
	assert.Equal(t, 1, pings, "the first Ping's statement ran")
	var statements, errs int
	for _, l := range exp.Logs() {
		d := l.Entry.SQLDriverLog
		switch {
		case d.SQLOperation != nil && d.SQLOperation.OperationDetail != nil &&
			d.SQLOperation.OperationDetail.OperationType == telemetry.OpExecuteStatement:
			statements++
		case d.ErrorInfo != nil:
			errs++
		}
	}
	assert.Zero(t, statements, "no statement log for a Ping")
	assert.Equal(t, 1, errs, "the failed Ping's error")
}
