package driver

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/internal/fakedb"
	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// A failed Commit or Rollback reaches the caller as the driver returned it and is
// reported as an error. (databricks-sql-go v1.15.1 cannot begin a transaction, so this
// runs on the fake driver; that BeginTx's own error is reported is checked end to end.)
func TestTxErrorsAreReported(t *testing.T) {
	refused := errors.New("transaction refused: HTTP status 503")
	cfg := defaultConfig()
	cfg.lookupEnv = func(string) (string, bool) { return "", false }
	c, err := (&Connector{cfg: cfg, gate: newGate()}).wrap(fakedb.NewConnector(fakedb.WithTxError(refused)))
	require.NoError(t, err)
	events := &eventLog{}
	c.em = telemetry.NewEmitter(events, telemetry.WithLookupEnv(cfg.lookupEnv))
	db := sql.OpenDB(c)
	t.Cleanup(func() { _ = db.Close() })

	for _, end := range []struct {
		name string
		call func(*sql.Tx) error
	}{
		{"commit", (*sql.Tx).Commit},
		{"rollback", (*sql.Tx).Rollback},
	} {
		t.Run(end.name, func(t *testing.T) {
			before := len(events.kinds(telemetry.KindError))
			tx, err := db.BeginTx(context.Background(), nil)
			require.NoError(t, err)
			require.Same(t, refused, end.call(tx), "the driver's own error, unwrapped")
			got := events.kinds(telemetry.KindError)[before:]
			require.Len(t, got, 1)
			assert.Equal(t, telemetry.ErrNameServer, got[0].ErrorName)
			assert.Contains(t, got[0].Message, "transaction refused")
		})
	}
}
