package driver

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/databricks/databricks-sql-go/auth/tokenprovider"
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
		{name: "defaults", want: driverSettings{ok: true, useCloudFetch: driverDefaultUseCloudFetch, authType: dsnAuthUnknown}},
		{
			name: "set",
			opts: []dbsql.ConnOption{dbsql.WithHTTPPath("/sql/1.0/warehouses/a"), dbsql.WithCloudFetch(false), dbsql.WithTimeout(3 * time.Second)},
			want: driverSettings{ok: true, httpPath: "/sql/1.0/warehouses/a", queryTimeout: 3 * time.Second, authType: dsnAuthUnknown}, wantPath: "/sql/1.0/warehouses/a",
		},
		{
			name: "the last option wins",
			opts: []dbsql.ConnOption{dbsql.WithHTTPPath("/first"), dbsql.WithTimeout(time.Second), dbsql.WithHTTPPath("sql/x?o=12"), dbsql.WithTimeout(0)},
			want: driverSettings{ok: true, httpPath: "/sql/x?o=12", useCloudFetch: true, authType: dsnAuthUnknown}, wantPath: "/sql/x", wantQuery: "o=12",
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

// TestDownloadClientOption checks that the option gives the driver's configuration the
// client of its CloudFetch downloads, unless an option before it gave one, and that it
// sets nothing on another shape: it fails when a release of the driver renames the field.
// authTestProvider is a token provider of the caller's own (dbsql.WithTokenProvider).
type authTestProvider struct{}

func (authTestProvider) GetToken(context.Context) (*tokenprovider.Token, error) {
	return &tokenprovider.Token{AccessToken: "t", TokenType: "Bearer"}, nil
}
func (authTestProvider) Name() string { return "test" }

// authTestAuthenticator is an authenticator of the caller's own (dbsql.WithAuthenticator).
type authTestAuthenticator struct{}

func (authTestAuthenticator) Authenticate(*http.Request) error { return nil }

// TestSettingsProbeAuthType checks that the probe names the authenticator the driver's
// options set, as the wire format's auth_type does, with the last option winning. The
// OAuth U2M authenticator cannot be made here (its constructor asks the host for its
// OAuth endpoints); a DSN's authType=OauthU2M is read from the DSN (TestParseDSN).
func TestSettingsProbeAuthType(t *testing.T) {
	external := func() (string, error) { return "t", nil }
	cases := []struct {
		name string
		opts []dbsql.ConnOption
		want string
	}{
		{"none", nil, "unknown"},
		{"access token", []dbsql.ConnOption{dbsql.WithAccessToken("dapi-x")}, "pat"},
		{"client credentials", []dbsql.ConnOption{dbsql.WithServerHostname("h.example.com"), dbsql.WithClientCredentials("id", "secret")}, "oauth-m2m"},
		{"static token", []dbsql.ConnOption{dbsql.WithStaticToken("t")}, "static-token"},
		{"external token", []dbsql.ConnOption{dbsql.WithExternalToken(external)}, "external-token"},
		{"token provider", []dbsql.ConnOption{dbsql.WithTokenProvider(authTestProvider{})}, "token-provider"},
		{"federated token provider", []dbsql.ConnOption{dbsql.WithServerHostname("h.example.com"), dbsql.WithFederatedTokenProvider(authTestProvider{})}, "token-provider"},
		{"custom authenticator", []dbsql.ConnOption{dbsql.WithAuthenticator(authTestAuthenticator{})}, "custom"},
		{"the last option wins", []dbsql.ConnOption{dbsql.WithAccessToken("dapi-x"), dbsql.WithStaticToken("t")}, "static-token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got driverSettings
			_, err := dbsql.NewConnector(append(tc.opts, settingsProbe[dbsql.ConnOption](&got))...)
			require.NoError(t, err)
			assert.True(t, got.ok)
			assert.Equal(t, tc.want, got.authType)
		})
	}
	t.Run("a configuration without an Authenticator names none", func(t *testing.T) {
		var s driverSettings
		s.read(reflect.ValueOf(&struct {
			HTTPPath      string
			UseCloudFetch bool
			QueryTimeout  time.Duration
		}{}))
		assert.True(t, s.ok)
		assert.Empty(t, s.authType)
	})
}

func TestDownloadClientOption(t *testing.T) {
	ours, theirs := &http.Client{Timeout: time.Second}, &http.Client{}
	cases := []struct {
		name string
		opts []dbsql.ConnOption
		want *http.Client
	}{
		{"none given", nil, ours},
		{"the caller's kept", []dbsql.ConnOption{dbsql.WithTransport(http.DefaultTransport)}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got *http.Client
			probe := func(c any) {
				f := reflect.ValueOf(c).Elem().FieldByName("HTTPClient")
				require.True(t, f.IsValid(), "the driver's configuration has an HTTPClient")
				got = f.Interface().(*http.Client)
			}
			_, err := dbsql.NewConnector(append(tc.opts, downloadClientOption[dbsql.ConnOption](ours),
				dbsql.WithTransport(http.DefaultTransport), anyOption[dbsql.ConnOption](probe))...)
			require.NoError(t, err)
			if tc.want != nil {
				assert.Same(t, tc.want, got)
			} else {
				assert.NotSame(t, ours, got)
			}
		})
	}
	t.Run("another shape is left alone", func(t *testing.T) {
		for _, v := range []any{nil, 1, &struct{ HTTPClient int }{}, &struct{ HTTPClient *http.Client }{theirs}} {
			assert.NotPanics(t, func() { setHTTPClient(reflect.ValueOf(v), ours) }, "%T", v)
		}
		s := &struct{ HTTPClient *http.Client }{theirs}
		setHTTPClient(reflect.ValueOf(s), ours)
		assert.Same(t, theirs, s.HTTPClient)
	})
}

// anyOption is a driver option that hands the driver's configuration to f.
func anyOption[O ~func(C), C any](f func(any)) O { return func(c C) { f(c) } }
