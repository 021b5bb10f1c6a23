package driver

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"reflect"
	"time"
	"unsafe"

	"github.com/dbtelemetry/dbtelemetry/exporter"
)

// driverSettings is what the Databricks driver's connector uses of what telemetry
// reports, read back from its configuration once every option (the DSN's, then
// WithConnOptions') was applied: see settingsProbe.
type driverSettings struct {
	ok            bool // read: false when the driver's configuration did not have the fields
	httpPath      string
	useCloudFetch bool
	queryTimeout  time.Duration
	// authType names the driver's authenticator as the wire format's auth_type does (see
	// authTypeOf); "" when its configuration had no Authenticator field.
	authType string
}

// settingsProbe returns a connector option of the Databricks driver that reads what the
// options before it configured into s. dbsql.ConnOption takes the driver's internal
// configuration type, which no code outside the driver can name: O is dbsql.ConnOption
// and C is inferred from it. The fields are read by name (HTTPPath, UseCloudFetch,
// QueryTimeout); when a release of the driver renames one, s stays unread and the
// connector reports what its DSN (or the driver's documented defaults) say, as before.
// Applied last, the probe sees the configuration the driver connects with, defaults
// included, without applying the caller's options a second time.
func settingsProbe[O ~func(C), C any](s *driverSettings) O {
	return func(c C) { s.read(reflect.ValueOf(c)) }
}

// configStruct is the struct the driver's configuration v points to; ok is false for
// any other shape.
func configStruct(v reflect.Value) (cfg reflect.Value, ok bool) {
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	return v.Elem(), true
}

func (s *driverSettings) read(v reflect.Value) {
	defer func() { _ = recover() }() // an unexpected shape leaves s unread
	v, ok := configStruct(v)
	if !ok {
		return
	}
	path, cloudFetch, timeout := v.FieldByName("HTTPPath"), v.FieldByName("UseCloudFetch"), v.FieldByName("QueryTimeout")
	if path.Kind() != reflect.String || cloudFetch.Kind() != reflect.Bool ||
		!timeout.IsValid() || timeout.Type() != reflect.TypeFor[time.Duration]() {
		return
	}
	*s = driverSettings{ok: true, httpPath: path.String(), useCloudFetch: cloudFetch.Bool(), queryTimeout: time.Duration(timeout.Int())}
	if a := v.FieldByName("Authenticator"); a.Kind() == reflect.Interface {
		s.authType = authTypeOf(a)
	}
}

// driverModule is the import path of the Databricks driver, whose packages name its
// authenticators.
const driverModule = "github.com/databricks/databricks-sql-go"

// authTypeOf names the authenticator a (an interface value: the driver's
// auth.Authenticator) by its package, as the wire format's auth_type does: pat,
// oauth-m2m, external-browser (OAuth U2M), static-token, external-token and
// token-provider (the driver's token-provider options, federated ones included), unknown
// for none (the driver's no-op authenticator), custom for one of the caller's own
// (dbsql.WithAuthenticator).
func authTypeOf(a reflect.Value) string {
	if a.IsNil() {
		return dsnAuthUnknown
	}
	v := a.Elem()
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.PkgPath() {
	case driverModule + "/auth/pat":
		return dsnAuthPAT
	case driverModule + "/auth/oauth/m2m":
		return dsnAuthOAuthM2M
	case driverModule + "/auth/oauth/u2m":
		return dsnAuthExternalBrowser
	case driverModule + "/auth/noop":
		return dsnAuthUnknown
	case driverModule + "/auth/tokenprovider":
		return tokenProviderType(v)
	case driverModule:
		// WithFederatedTokenProvider's authenticator, the driver's own type.
		return authTokenProvider
	}
	return authCustom
}

// tokenProviderType names the token provider of the driver's token-provider
// authenticator v: WithStaticToken's, WithExternalToken's, or any other
// (WithTokenProvider's).
func tokenProviderType(v reflect.Value) string {
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return authTokenProvider
	}
	p := v.FieldByName("provider")
	if p.Kind() != reflect.Interface || p.IsNil() {
		return authTokenProvider
	}
	t := p.Elem().Type()
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.PkgPath() == driverModule+"/auth/tokenprovider" {
		switch t.Name() {
		case "StaticTokenProvider":
			return authStaticToken
		case "ExternalTokenProvider":
			return authExternalToken
		}
	}
	return authTokenProvider
}

// endpointPath splits the driver's http path as its Thrift client's URL does (the driver
// appends it to scheme://host:port): the path, and a query it may carry (?o=<workspace>).
func (s *driverSettings) endpointPath() (path, rawQuery string, ok bool) {
	if !s.ok {
		return "", "", false
	}
	u, err := url.Parse("http://host:1" + s.httpPath)
	if err != nil || u.Host != "host:1" {
		return "", "", false
	}
	return u.Path, u.RawQuery, true
}

// downloadClientOption returns a connector option of the Databricks driver that gives it
// hc as the client of its CloudFetch downloads (its configuration's HTTPClient), unless
// the options before it gave one. dbsql.WithTransport would make a client of its own,
// with the transport alone: hc can carry what the driver's client for the downloads,
// http.DefaultClient, has besides (its Timeout above all). As settingsProbe, O is
// dbsql.ConnOption; when a release of the driver renames the field, nothing is set and
// the dbsql.WithTransport after it makes the client.
func downloadClientOption[O ~func(C), C any](hc *http.Client) O {
	return func(c C) { setHTTPClient(reflect.ValueOf(c), hc) }
}

func setHTTPClient(v reflect.Value, hc *http.Client) {
	defer func() { _ = recover() }() // an unexpected shape sets nothing
	cfg, ok := configStruct(v)
	if !ok {
		return
	}
	f := cfg.FieldByName("HTTPClient")
	if !f.IsValid() || !f.CanSet() || f.Type() != reflect.TypeFor[*http.Client]() || !f.IsNil() {
		return
	}
	f.Set(reflect.ValueOf(hc))
}

// builtinTelemetryOff returns a connector option of the Databricks driver that switches
// its built-in telemetry off, as enableTelemetry=false in the driver's own DSN does: its
// configuration's EnableTelemetry, a ConfigValue[bool] of the driver's internal package
// whose one field is a *bool (the driver offers no option for it). Left unset, the
// built-in telemetry asks the server's flag through a cache, and logs through a
// telemetry client, that the driver keeps per host name for the whole process: a wrapped
// connection would take the "on" of a raw pool of the driver on the same host, and be
// logged through that pool's client, which the connector's transport never sees (its
// statements counted twice, or sent with enableTelemetry=false); and the transport's
// answer to the flag (builtinAnswer) would become the raw pools' answer. As
// settingsProbe, O is dbsql.ConnOption; when a release of the driver changes the
// field's shape, nothing is set, and the transport still answers the driver's own
// telemetry (isBuiltinTelemetry).
func builtinTelemetryOff[O ~func(C), C any]() O {
	return func(c C) { setBuiltinTelemetryOff(reflect.ValueOf(c)) }
}

func setBuiltinTelemetryOff(v reflect.Value) {
	defer func() { _ = recover() }() // an unexpected shape sets nothing
	cfg, ok := configStruct(v)
	if !ok {
		return
	}
	f := cfg.FieldByName("EnableTelemetry")
	if f.Kind() != reflect.Struct || f.NumField() != 1 || !f.CanAddr() {
		return
	}
	p := f.Field(0)
	if p.Kind() != reflect.Pointer || p.Type().Elem().Kind() != reflect.Bool {
		return
	}
	off := false
	// #nosec G103 -- the field is unexported in the driver's internal package; its shape is checked above
	reflect.NewAt(p.Type(), unsafe.Pointer(p.UnsafeAddr())).Elem().Set(reflect.ValueOf(&off))
}

// callerTransport is what the options before transportProbe gave the driver for its HTTP
// calls: the caller's dbsql.WithTransport, else the TLS settings that the driver's own
// pooled transport would use (dbsql.WithSkipTLSHostVerify's). Unwrapped, the driver sends
// its Thrift calls through the one, or with the other; wrapped, the connector's transport
// does so in its place, and the connector's telemetry goes out the same way, on an
// exporter of its own (see Connector.attach).
type callerTransport struct {
	rt  http.RoundTripper // the caller's transport; nil for none
	tls *tls.Config       // with rt nil: the driver's TLS settings when they skip verification, else nil
}

// exporterOptions are the options that send the connector's telemetry as its Thrift
// calls go: with the settings of the caller's *http.Transport (a clone: telemetry never
// takes one of the connections its queries need), through the caller's transport of any
// other type, or with the driver's TLS settings; nil for none of these (the host's
// shared exporter's own transport).
func (ct *callerTransport) exporterOptions() []exporter.Option {
	switch {
	case ct.rt != nil:
		if base, ok := ct.rt.(*http.Transport); ok {
			return []exporter.Option{exporter.WithBaseTransport(base)}
		}
		return []exporter.Option{exporter.WithTransport(ct.rt)}
	case ct.tls != nil:
		return []exporter.Option{exporter.WithTLSConfig(ct.tls)}
	}
	return nil
}

// transportProbe returns a connector option of the Databricks driver that reads the
// transport the options before it configured into ct, and hands the CloudFetch
// downloads to t over it (see callerDownloads). As settingsProbe, O is dbsql.ConnOption;
// when a release of the driver renames a field, ct stays unread: the connector's
// transport is then its own (skipping verification after this package's
// WithSkipTLSHostVerify all the same), and the caller's dbsql.WithTransport is replaced,
// as before this probe.
func transportProbe[O ~func(C), C any](ct *callerTransport, t *transport) O {
	return func(c C) { ct.read(reflect.ValueOf(c), t) }
}

func (ct *callerTransport) read(v reflect.Value, t *transport) {
	defer func() { _ = recover() }() // an unexpected shape leaves ct unread
	cfg, ok := configStruct(v)
	if !ok {
		return
	}
	if f := cfg.FieldByName("Transport"); f.Kind() == reflect.Interface && !f.IsNil() {
		rt, ok := f.Interface().(http.RoundTripper)
		if !ok {
			return
		}
		ct.rt = rt
		callerDownloads(cfg, rt, t)
		return
	}
	if f := cfg.FieldByName("TLSConfig"); f.IsValid() && f.Type() == reflect.TypeFor[*tls.Config]() && !f.IsNil() {
		// As the driver's client.PooledTransport: its TLS settings apply only when they
		// skip verification.
		if tc := f.Interface().(*tls.Config); tc.InsecureSkipVerify {
			ct.tls = tc.Clone()
		}
	}
}

// madeOf reports whether hc is the client dbsql.WithTransport made of rt: one with rt as
// its transport and nothing else set. A transport of a type Go cannot compare (a func
// adapter, a struct holding a map) is taken by its type: == would panic on it.
func madeOf(hc *http.Client, rt http.RoundTripper) bool {
	if hc.Timeout != 0 || hc.Jar != nil || hc.CheckRedirect != nil || hc.Transport == nil {
		return false
	}
	t := reflect.TypeOf(hc.Transport)
	if t != reflect.TypeOf(rt) {
		return false
	}
	if !t.Comparable() {
		return true
	}
	return hc.Transport == rt
}

// callerDownloads gives the driver's CloudFetch downloads to t over the caller's
// transport, when the driver's client for them (its configuration's HTTPClient) is the
// one dbsql.WithTransport made of rt, the caller's last (see madeOf): they then go
// through that client's transport as unwrapped, and are observed. A client the caller
// made otherwise is left as it is.
func callerDownloads(cfg reflect.Value, rt http.RoundTripper, t *transport) {
	f := cfg.FieldByName("HTTPClient")
	if !f.IsValid() || !f.CanSet() || f.Type() != reflect.TypeFor[*http.Client]() || f.IsNil() {
		return
	}
	hc := f.Interface().(*http.Client)
	if !madeOf(hc, rt) {
		return
	}
	// The client's own transport: a func adapter is matched by its type alone, and the
	// client may be the one an earlier WithTransport made of another of that type.
	f.Set(reflect.ValueOf(&http.Client{Transport: downloadTransport{t: t, base: hc.Transport}}))
}
