package warehouse_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// A long run takes the telemetry requests as they are answered; a request still being
// answered stays until it is.
func TestTakeTelemetryRequests(t *testing.T) {
	srv := start(t)
	client := &http.Client{Timeout: 5 * time.Second}
	_, _, err := post(t, client, srv, "/telemetry-ext", telemetryBody)
	require.NoError(t, err)
	_, _, err = post(t, client, srv, "/telemetry-unauth", `not json`)
	require.NoError(t, err)

	got := srv.TakeTelemetryRequests()
	require.Len(t, got, 2)
	assert.Equal(t, http.StatusOK, got[0].Status)
	assert.Equal(t, []string{`{"frontend_log_event_id":"a"}`, `{"frontend_log_event_id":"b"}`}, got[0].ProtoLogs())
	assert.Equal(t, http.StatusBadRequest, got[1].Status)
	assert.Empty(t, srv.TelemetryRequests(), "taken requests are forgotten")
	assert.Empty(t, srv.TelemetryLogs())
	assert.Empty(t, srv.TakeTelemetryRequests())

	// A hanging request is recorded at once but taken only when its handler is done.
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Hang: true})
	ctx, cancel := context.WithCancel(context.Background())
	hung := make(chan struct{})
	go func() {
		defer close(hung)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/telemetry-unauth", strings.NewReader(telemetryBody))
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}()
	require.Eventually(t, func() bool { return len(srv.TelemetryRequests()) == 1 }, 5*time.Second, 5*time.Millisecond)
	_, _, err = post(t, client, srv, "/telemetry-ext", telemetryBody)
	require.NoError(t, err)
	got = srv.TakeTelemetryRequests()
	require.Len(t, got, 1, "the answered request, not the hanging one")
	assert.Equal(t, http.StatusOK, got[0].Status)
	cancel()
	<-hung
	require.Eventually(t, func() bool {
		got = append(got[:0], srv.TakeTelemetryRequests()...)
		return len(got) == 1
	}, 5*time.Second, 5*time.Millisecond)
	assert.Zero(t, got[0].Status, "the client gave up: nothing was answered")

	// A dropped connection answers nothing, and its request is taken all the same.
	srv.InjectFaults(warehouse.GroupTelemetry, warehouse.Fault{Drop: true})
	_, _, err = post(t, client, srv, "/telemetry-ext", telemetryBody)
	require.Error(t, err)
	require.Eventually(t, func() bool {
		got = append(got[:0], srv.TakeTelemetryRequests()...)
		return len(got) == 1
	}, 5*time.Second, 5*time.Millisecond)
	assert.Zero(t, got[0].Status)
	assert.Equal(t, []string{`{"frontend_log_event_id":"a"}`, `{"frontend_log_event_id":"b"}`}, got[0].ProtoLogs())
	assert.Empty(t, srv.TelemetryRequests())
}

// WithSessionIdleTimeout closes a session left idle; the driver's next statement on it
// finds it unknown and runs on a new session. A session running a statement is not idle.
func TestIdleSessionExpires(t *testing.T) {
	// Longer than the driver's 1 s between polls of a running statement.
	srv := start(t, warehouse.WithSessionIdleTimeout(1300*time.Millisecond), warehouse.WithAsyncThreshold(50*time.Millisecond))
	db := open(t, srv, "")
	db.SetMaxOpenConns(1)
	ctx := ctxTimeout(t, time.Minute)
	var n int
	// Running longer than the idle timeout: the driver polls it, and it is not idle.
	require.NoError(t, db.QueryRowContext(ctx, "SELECT wait_ms(1600) + 1").Scan(&n))
	require.Len(t, srv.Sessions(), 1)
	assert.True(t, srv.Sessions()[0].ClosedAt.IsZero(), "a session running a statement is not idle")

	require.Eventually(t, func() bool { return !srv.Sessions()[0].ClosedAt.IsZero() }, 10*time.Second, 10*time.Millisecond)
	assert.True(t, srv.Sessions()[0].Expired)
	require.NoError(t, db.QueryRowContext(ctx, "SELECT 2").Scan(&n))
	assert.Equal(t, 2, n)
	require.Len(t, srv.Sessions(), 2, "the statement ran on a new session")
	assert.Equal(t, srv.Sessions()[1].ID, lastStatement(t, srv).SessionID)
	require.NoError(t, db.Close()) // before the server's cleanup
}

// WithStatementRecords keeps the most recent statements and sessions only.
func TestWithStatementRecords(t *testing.T) {
	srv := start(t, warehouse.WithStatementRecords(3))
	db, err := sql.Open("databricks", srv.DSN())
	require.NoError(t, err)
	defer db.Close()
	var ids []string
	for i := range 5 {
		var n int
		require.NoError(t, db.QueryRow(fmt.Sprintf("SELECT %d", i)).Scan(&n))
	}
	for _, st := range srv.Statements() {
		ids = append(ids, st.SQL)
	}
	assert.Equal(t, []string{"SELECT 2", "SELECT 3", "SELECT 4"}, ids)
	first := srv.Statements()[0]
	_, ok := srv.Statement(first.ID)
	assert.True(t, ok)

	// Sessions too: five connections opened one after another leave the last three.
	db.SetMaxIdleConns(0) // every connection closes its session when released
	var opened []string
	for range 5 {
		require.NoError(t, db.Ping())
		opened = append(opened, srv.Sessions()[len(srv.Sessions())-1].ID)
	}
	var kept []string
	for _, ss := range srv.Sessions() {
		kept = append(kept, ss.ID)
	}
	assert.Equal(t, opened[2:], kept)
}
