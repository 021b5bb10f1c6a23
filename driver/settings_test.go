package driver

import (
	"reflect"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSettingsProbe checks that the probe reads, from the driver's own configuration,
// what its options set and its defaults: it fails when a release of the driver renames
// the fields it reads.
func TestSettingsProbe(t *testing.T) {
	cases := []struct {
		name      string
		opts      []dbsql.ConnOption
		want      driverSettings
		wantPath  string
		wantQuery string
	}{
		{name: "defaults", want: driverSettings{ok: true, useCloudFetch: driverDefaultUseCloudFetch}},
		{
			name: "set",
			opts: []dbsql.ConnOption{dbsql.WithHTTPPath("/sql/1.0/warehouses/a"), dbsql.WithCloudFetch(false), dbsql.WithTimeout(3 * time.Second)},
			want: driverSettings{ok: true, httpPath: "/sql/1.0/warehouses/a", queryTimeout: 3 * time.Second}, wantPath: "/sql/1.0/warehouses/a",
		},
		{
			name: "the last option wins",
			opts: []dbsql.ConnOption{dbsql.WithHTTPPath("/first"), dbsql.WithTimeout(time.Second), dbsql.WithHTTPPath("sql/x?o=12"), dbsql.WithTimeout(0)},
			want: driverSettings{ok: true, httpPath: "/sql/x?o=12", useCloudFetch: true}, wantPath: "/sql/x", wantQuery: "o=12",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got driverSettings
			_, err := dbsql.NewConnector(append(tc.opts, settingsProbe[dbsql.ConnOption](&got))...)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			path, query, ok := got.endpointPath()
			assert.True(t, ok)
			assert.Equal(t, tc.wantPath, path)
			assert.Equal(t, tc.wantQuery, query)
		})
	}
	t.Run("another shape is left unread", func(t *testing.T) {
		for _, v := range []any{nil, 1, &struct{ HTTPPath int }{}, &struct {
			HTTPPath      string
			UseCloudFetch bool
			QueryTimeout  int64
		}{}} {
			var s driverSettings
			s.read(reflect.ValueOf(v))
			assert.False(t, s.ok, "%T", v)
			_, _, ok := s.endpointPath()
			assert.False(t, ok)
		}
	})
}
