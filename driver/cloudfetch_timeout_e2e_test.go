package driver_test

import (
	"context"
	"database/sql"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// The driver downloads CloudFetch files with http.DefaultClient: a program that gave it
// a Timeout has a stalled download cut by it, and the driver downloads the file again.
// Wrapped, the same Timeout applies: the query gets its rows as unwrapped, instead of
// hanging on the stalled download until the caller's context ends.
func TestCloudFetchDownloadsKeepTheDefaultClientsTimeout(t *testing.T) {
	saved := http.DefaultClient.Timeout
	http.DefaultClient.Timeout = 500 * time.Millisecond
	t.Cleanup(func() { http.DefaultClient.Timeout = saved })

	srv := cloudFetchServer(t)

	const query = "SELECT range FROM range(25000)"
	read := func(db *sql.DB) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return queryRows(ctx, db, query)
	}

	for _, tc := range []struct {
		name string
		open func() (*sql.DB, error)
	}{
		{"unwrapped", func() (*sql.DB, error) { return sql.Open("databricks", srv.DSN()) }},
		{"wrapped", func() (*sql.DB, error) {
			c, err := driver.OpenConnector(srv.DSN()+"?enableTelemetry=true", driver.WithHosts(driver.NewHosts()))
			if err != nil {
				return nil, err
			}
			return sql.OpenDB(c), nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := tc.open()
			require.NoError(t, err)
			defer db.Close()
			srv.InjectFaults(warehouse.GroupCloudFetch, warehouse.Fault{Hang: true}) // the first download stalls
			defer srv.ClearFaults(warehouse.GroupCloudFetch)
			type result struct {
				n   int
				err error
			}
			done := make(chan result, 1)
			go func() {
				n, err := read(db)
				done <- result{n, err}
			}()
			select {
			case r := <-done:
				require.NoError(t, r.err, "the stalled download was cut by http.DefaultClient.Timeout and made again")
				assert.Equal(t, 25000, r.n)
			case <-time.After(8 * time.Second):
				// Rows.Next waits for the download with no timeout of its own: the
				// server's close ends the stalled request.
				_ = srv.Close()
				<-done
				t.Fatal("the query hung on the stalled download, past its own deadline")
			}
		})
	}
}
