package driver_test

import (
	"database/sql"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"sync/atomic"
	"testing"
	"unsafe"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/driver"
	"github.com/dbtelemetry/dbtelemetry/internal/ingesttest"
	"github.com/dbtelemetry/dbtelemetry/warehouse"
)

// openBuiltin opens the raw driver with its own built-in telemetry on, as
// `enableTelemetry=true` in the DSN does, and with its telemetry posts delivered: the
// driver posts to https://<host>/telemetry-ext without the DSN's port, which against the
// loopback warehouse would fail to connect and cost the variant nothing. Its HTTP client
// goes through the transport given with dbsql.WithTransport, so that transport sends
// those posts to a light ingest of the variant's own (as openWrapped does for ours) and
// everything else to the warehouse unchanged.
func openBuiltin(tb testing.TB, srv e2eTarget) *sql.DB {
	return openBuiltinWith(tb, srv, http.HandlerFunc(ingesttest.Handler))
}

// openBuiltinWith is openBuiltin with the ingest h.
func openBuiltinWith(tb testing.TB, srv e2eTarget, h http.Handler) *sql.DB {
	u, err := url.Parse(srv.DSN())
	require.NoError(tb, err)
	port, err := strconv.Atoi(u.Port())
	require.NoError(tb, err)
	tok, _ := u.User.Password()

	ingest := httptest.NewServer(h)
	tb.Cleanup(ingest.Close)
	base := driver.NewBaseTransport(nil) // as the driver's own pooled transport
	tb.Cleanup(base.CloseIdleConnections)
	c, err := dbsql.NewConnector(
		dbsql.WithServerHostname(u.Scheme+"://"+u.Hostname()),
		dbsql.WithPort(port),
		dbsql.WithHTTPPath(u.Path),
		dbsql.WithAccessToken(tok),
		dbsql.WithTransport(&ingesttest.Redirect{Host: ingest.Listener.Addr().String(), Base: base}),
		enableBuiltinTelemetry(tb),
	)
	require.NoError(tb, err)
	return openDB(tb, c)
}

// enableBuiltinTelemetry returns the connector option the driver lacks: what the DSN's
// `enableTelemetry=true` sets (Config.EnableTelemetry, a ConfigValue[bool] of the driver's
// internal package, whose one field is a *bool). A benchmark's device only: the driver
// offers no option for it, and its DSN path offers no transport.
func enableBuiltinTelemetry(tb testing.TB) dbsql.ConnOption {
	var opt dbsql.ConnOption
	fn := reflect.MakeFunc(reflect.TypeOf(opt), func(args []reflect.Value) []reflect.Value {
		field := args[0].Elem().FieldByName("EnableTelemetry")
		value := field.Field(0) // ConfigValue[bool].value
		on := true
		reflect.NewAt(value.Type(), unsafe.Pointer(value.UnsafeAddr())).Elem().Set(reflect.ValueOf(&on))
		return nil
	})
	reflect.ValueOf(&opt).Elem().Set(fn)
	return opt
}

// The built-in variant really exports: its posts reach the ingest.
func TestBuiltinVariantExports(t *testing.T) {
	srv, err := warehouse.NewServer()
	require.NoError(t, err)
	defer srv.Close()
	var posts atomic.Int32
	db := openBuiltinWith(t, srv, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/telemetry-ext" {
			posts.Add(1)
		}
		ingesttest.Handler(w, r)
	}))
	for range 3 {
		require.NoError(t, smallQuery(db))
	}
	require.NoError(t, db.Close()) // the built-in telemetry flushes on close
	require.Positive(t, posts.Load(), "the built-in telemetry's posts reach the ingest")
}
