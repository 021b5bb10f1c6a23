package driver

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	dbsql "github.com/databricks/databricks-sql-go"
	"github.com/databricks/databricks-sql-go/auth"
	"github.com/databricks/databricks-sql-go/auth/oauth/u2m"
	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	pkgerrors "github.com/pkg/errors"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

// ErrInvalidParam is wrapped by the error returned for a bad value of one of the
// telemetry DSN parameters this package reads itself (enableTelemetry,
// telemetry_batch_size, telemetry_flush_interval, telemetry_retry_count,
// telemetry_retry_delay), and for a name meant as one of them but written otherwise (in
// another case, with other separators, any other name that starts with telemetry: see
// README). Test for it with errors.Is; the error's text names the parameter, the bad
// value and what the parameter accepts. The error of a bad value of one of the last four
// wraps telemetry.ErrInvalidConfig too, as the same setting given as an option does.
var ErrInvalidParam = errors.New("dbtelemetry: invalid DSN parameter")

// Names of the DSN parameters this package reads and removes before anything reaches
// the driver. They are the names the driver documents for its own telemetry, so a
// user's DSN keeps its meaning. Matching is case-sensitive, as in the driver.
const (
	paramEnableTelemetry = telemetry.ParamEnableTelemetry
	paramBatchSize       = telemetry.ParamBatchSize
	paramFlushInterval   = telemetry.ParamFlushInterval
	paramRetryCount      = telemetry.ParamRetryCount
	paramRetryDelay      = telemetry.ParamRetryDelay
)

// Authentication kinds, named as the telemetry wire format names auth_type: first those
// a DSN can select.
const (
	dsnAuthPAT             = "pat"
	dsnAuthOAuthM2M        = "oauth-m2m"
	dsnAuthExternalBrowser = "external-browser" // OAuth U2M
	dsnAuthUnknown         = "unknown"          // no credentials in the DSN

	// The auth types that only the driver's options set (see authTypeOf).
	authStaticToken   = "static-token"   // dbsql.WithStaticToken
	authExternalToken = "external-token" // dbsql.WithExternalToken
	authTokenProvider = "token-provider" // dbsql.WithTokenProvider, WithFederatedTokenProvider
	authCustom        = "custom"         // dbsql.WithAuthenticator
)

// Defaults the driver documents for the options a DSN may leave unset
// (dbsql.WithMaxRows: "Default is 100000"; dbsql.WithCloudFetch: "Default is true").
const (
	driverDefaultMaxRows       = 100000
	driverDefaultUseCloudFetch = true
)

// dsnConfig is a DSN of the Databricks SQL driver taken apart: the connector options
// that reproduce what the driver itself makes of the DSN, the facts about the
// connection that telemetry reports (dsnConnInfo), our telemetry settings
// (dsnTelemetry), and the token.
//
// Only Token holds a credential; String and GoString leave it out, and the embedded
// dsnConnInfo and dsnTelemetry never hold one, so they are safe to log.
type dsnConfig struct {
	// opts rebuild the driver's configuration: dbsql.NewConnector(opts...) configures the
	// connector exactly as sql.Open("databricks", dsn) would, minus our telemetry
	// parameters. Later options (e.g. dbsql.WithTransport) may be appended. The options
	// can be applied any number of times; no two connectors share mutable state.
	opts []dbsql.ConnOption

	// Token is the personal access token of the DSN (userinfo token:<pat> or the
	// accessToken parameter), "" for other kinds of authentication. It lets telemetry
	// be exported with the connection's credentials. Never log it.
	Token string

	dsnConnInfo
	dsnTelemetry
}

// dsnConnInfo is what telemetry may report about a connection. It holds no credential
// and no session parameter value.
type dsnConnInfo struct {
	Scheme   string // "https" or "http"
	Host     string // host name or address, without port
	Port     int
	HTTPPath string // "" when the DSN has none
	// AuthType is one of pat, oauth-m2m, external-browser (OAuth U2M), unknown (the DSN
	// carries no credentials).
	AuthType string
	// CatalogSet and SchemaSet tell whether the DSN names an initial catalog and schema.
	CatalogSet bool
	SchemaSet  bool
	// UserAgentEntry is the userAgentEntry parameter.
	UserAgentEntry string
	// MaxRows is the page size in effect (the driver's default when the DSN sets none).
	MaxRows int
	// UseCloudFetch is whether CloudFetch is in effect (the driver's default: true).
	UseCloudFetch bool
	// QueryTimeout is the timeout parameter (0: none).
	QueryTimeout time.Duration
	// SessionParamNames are the sorted names of the server session parameters the DSN
	// sets (the parameters the driver does not interpret, timezone included); their
	// values are left out.
	SessionParamNames []string
}

// dsnTelemetry holds our telemetry parameters. A zero or nil field means the parameter
// was absent, so the default applies (an empty value is an error, see takeOwn).
type dsnTelemetry struct {
	// EnableTelemetry is enableTelemetry; nil lets the server's feature flag decide.
	EnableTelemetry *bool
	// BatchSize is telemetry_batch_size, 1 to 10000.
	BatchSize int
	// FlushInterval is telemetry_flush_interval, 10 ms to 1 h.
	FlushInterval time.Duration
	// RetryCount is telemetry_retry_count, 0 to 10.
	RetryCount *int
	// RetryDelay is telemetry_retry_delay, 1 ms to 1 s.
	RetryDelay time.Duration
}

// String describes the configuration without its token.
func (c dsnConfig) String() string {
	opt := func(p any) string {
		switch p := p.(type) {
		case *bool:
			if p != nil {
				return strconv.FormatBool(*p)
			}
		case *int:
			if p != nil {
				return strconv.Itoa(*p)
			}
		}
		return "unset"
	}
	return fmt.Sprintf("{%+v EnableTelemetry:%s BatchSize:%d FlushInterval:%s RetryCount:%s RetryDelay:%s}",
		c.dsnConnInfo, opt(c.EnableTelemetry), c.BatchSize, c.FlushInterval, opt(c.RetryCount), c.RetryDelay)
}

// GoString is String, so that %#v does not print the token either.
func (c dsnConfig) GoString() string { return c.String() }

// parseDSN reads a DSN of the Databricks SQL driver
// (token:<pat>@<host>:<port>/<http path>?param=value…, optionally starting with
// https:// or http://) the way the driver's internal ParseDSN and withUserConfig do,
// and returns connector options with the same effect, without our telemetry
// parameters.
//
// Where the driver fails, parseDSN fails first in the same order and with the same
// error text (and, for the driver's request errors, an error that is a
// dbsqlerr.DBRequestError and errors.Is dbsqlerr.RequestError). A bad telemetry
// parameter fails with an error that wraps ErrInvalidParam.
func parseDSN(dsn string) (*dsnConfig, error) {
	// As in the driver: only a lower-case scheme prefix is recognized.
	full := dsn
	if !strings.HasPrefix(dsn, "https://") && !strings.HasPrefix(dsn, "http://") {
		full = "https://" + dsn
	}
	u, err := url.Parse(full)
	if err != nil {
		return nil, newDSNRequestError(dbsqlerr.ErrInvalidDSNFormat, err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return nil, newDSNRequestError(dbsqlerr.ErrInvalidDSNPort, err)
	}

	cfg := &dsnConfig{
		dsnConnInfo: dsnConnInfo{
			Scheme:        u.Scheme,
			Host:          u.Hostname(),
			Port:          port,
			HTTPPath:      u.Path,
			AuthType:      dsnAuthUnknown,
			MaxRows:       driverDefaultMaxRows,
			UseCloudFetch: driverDefaultUseCloudFetch,
		},
	}
	// WithServerHostname takes the scheme from a "scheme://host" prefix. The host goes
	// first: WithClientCredentials reads it.
	cfg.opts = append(cfg.opts,
		dbsql.WithServerHostname(u.Scheme+"://"+u.Hostname()),
		dbsql.WithPort(port),
	)
	// WithHTTPPath("") would set "/": the driver keeps an empty path empty.
	if u.Path != "" {
		cfg.opts = append(cfg.opts, dbsql.WithHTTPPath(u.Path))
	}

	// Handled parameters are removed as they are read; the rest become session
	// parameters, as in the driver.
	if err := checkDroppedPairs(u.RawQuery); err != nil {
		return nil, err
	}
	if err := checkFragment(u.EscapedFragment()); err != nil {
		return nil, err
	}
	if err := checkQuestionMarks(u.RawQuery); err != nil {
		return nil, err
	}
	params := dsnParams(u.Query())
	if err := cfg.parseAuth(u, params); err != nil {
		return nil, err
	}
	if err := cfg.parseDriverParams(params); err != nil {
		return nil, err
	}
	if err := cfg.parseTelemetryParams(params); err != nil {
		return nil, err
	}
	if err := cfg.parseSessionParams(params); err != nil {
		return nil, err
	}
	return cfg, nil
}

// parseAuth reproduces the driver's makeAuthenticator.
func (cfg *dsnConfig) parseAuth(u *url.URL, params dsnParams) error {
	switch name := u.User.Username(); {
	case name == "token":
		// With userinfo, the authentication parameters are not read: they stay in params
		// and become session parameters, as in the driver.
		pass, _ := u.User.Password()
		return cfg.usePAT(pass)
	case name != "":
		return newDSNRequestError(dbsqlerr.ErrBasicAuthNotSupported, nil)
	}

	authTypeName, _ := params.take("authType")
	authType := auth.ParseAuthType(authTypeName)
	clientID, hasClientID := params.take("clientId")
	if !hasClientID {
		clientID, hasClientID = params.take("clientID")
	}
	clientSecret, hasClientSecret := params.take("clientSecret")
	accessToken, hasAccessToken := params.take("accessToken")

	switch authType {
	case auth.AuthTypeUnknown:
		// No (known) type: the parameters that have values decide.
		if hasAccessToken {
			return cfg.usePAT(accessToken)
		}
		if hasClientID || hasClientSecret {
			return cfg.useM2M(clientID, clientSecret)
		}
	case auth.AuthTypePat:
		return cfg.usePAT(accessToken)
	case auth.AuthTypeOauthM2M:
		return cfg.useM2M(clientID, clientSecret)
	case auth.AuthTypeOauthU2M:
		return cfg.useU2M()
	}
	return nil
}

func (cfg *dsnConfig) usePAT(token string) error {
	if token == "" {
		return newDSNRequestError(dbsqlerr.ErrInvalidDSNPATIsEmpty, nil)
	}
	cfg.opts = append(cfg.opts, dbsql.WithAccessToken(token))
	cfg.Token = token
	cfg.AuthType = dsnAuthPAT
	return nil
}

func (cfg *dsnConfig) useM2M(clientID, clientSecret string) error {
	if clientID == "" || clientSecret == "" {
		return newDSNRequestError(dbsqlerr.ErrInvalidDSNM2m, nil)
	}
	cfg.opts = append(cfg.opts, dbsql.WithClientCredentials(clientID, clientSecret))
	cfg.AuthType = dsnAuthOAuthM2M
	return nil
}

func (cfg *dsnConfig) useU2M() error {
	// The driver builds the authenticator while parsing, and returns its error as is.
	a, err := u2m.NewAuthenticator(cfg.Host, 0)
	if err != nil {
		return err
	}
	cfg.opts = append(cfg.opts, dbsql.WithAuthenticator(a))
	cfg.AuthType = dsnAuthExternalBrowser
	return nil
}

// parseDriverParams reads the driver's documented parameters other than the
// authentication ones and timezone, in the driver's order (which decides which error
// a DSN with several bad values gets).
func (cfg *dsnConfig) parseDriverParams(params dsnParams) error {
	if n, ok, err := params.takeInt("maxRows"); err != nil {
		return err
	} else if ok && n > 0 {
		cfg.opts = append(cfg.opts, dbsql.WithMaxRows(n))
		cfg.MaxRows = n
	}
	if n, ok, err := params.takeInt("timeout"); err != nil {
		return err
	} else if ok {
		d := time.Duration(n) * time.Second
		cfg.opts = append(cfg.opts, dbsql.WithTimeout(d))
		cfg.QueryTimeout = d
	}

	catalog, hasCatalog := params.take("catalog")
	if entry, ok := params.take("userAgentEntry"); ok {
		cfg.opts = append(cfg.opts, dbsql.WithUserAgentEntry(entry))
		cfg.UserAgentEntry = entry
	}
	schema, hasSchema := params.take("schema")
	if hasCatalog || hasSchema {
		// The unset one stays "", the driver's default.
		cfg.opts = append(cfg.opts, dbsql.WithInitialNamespace(catalog, schema))
		cfg.CatalogSet, cfg.SchemaSet = hasCatalog, hasSchema
	}

	if b, ok, err := params.takeBool("useCloudFetch"); err != nil {
		return err
	} else if ok {
		cfg.opts = append(cfg.opts, dbsql.WithCloudFetch(b))
		cfg.UseCloudFetch = b
	}
	if n, ok, err := params.takeInt("maxDownloadThreads"); err != nil {
		return err
	} else if ok {
		// Any value, as in the driver (which does not apply its default to a DSN value).
		cfg.opts = append(cfg.opts, dbsql.WithMaxDownloadThreads(n))
	}
	if b, ok, err := params.takeBool("enableMetricViewMetadata"); err != nil {
		return err
	} else if ok {
		cfg.opts = append(cfg.opts, dbsql.WithEnableMetricViewMetadata(b))
	}
	if b, ok, err := params.takeBool("useArrowNativeDecimal"); err != nil {
		return err
	} else if ok {
		cfg.opts = append(cfg.opts, dbsql.WithArrowNativeDecimal(b))
	}
	if b, ok, err := params.takeBool("useKernel"); err != nil {
		return err
	} else if ok {
		cfg.opts = append(cfg.opts, dbsql.WithUseKernel(b))
	}
	if id, ok := params.take("warehouseId"); ok {
		cfg.opts = append(cfg.opts, dbsql.WithWarehouseID(id))
	}
	if b, ok, err := params.takeBool("tokenCache"); err != nil {
		return err
	} else if ok && b {
		// Only true: withUserConfig treats tokenCache=false as a no-op, whereas
		// WithTokenCache(false) would make the Thrift backend refuse the connection.
		cfg.opts = append(cfg.opts, dbsql.WithTokenCache(true))
	}
	return nil
}

// parseTelemetryParams reads and removes our telemetry parameters, where the driver
// reads its own of the same names. They are stricter than the driver's (see takeOwn).
// A parameter named as one of ours in another case fails: the names are case-sensitive,
// and as written it would silently become a session parameter while its writer believes
// it set telemetry (EnableTelemetry=false leaving telemetry on).
func (cfg *dsnConfig) parseTelemetryParams(params dsnParams) error {
	own := ownParams(&cfg.dsnTelemetry)
	for _, p := range own {
		v, ok, err := params.takeOwn(p.name, p.want)
		if err != nil {
			return err
		}
		if ok && !p.set(v) {
			return newDSNValueError(p.name, v, p.want) // cfg is dropped with the error
		}
	}
	for _, k := range slices.Sorted(maps.Keys(params)) { // the first in order: the same error every time
		if p, ok := ownParamFold(own, k); ok {
			return newDSNCaseError(k, params.get(k), p)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if reservedName(k) {
			return newDSNReservedError(k, params.get(k), own)
		}
	}
	return nil
}

// reservedName reports whether key, which names none of our parameters, reads as one
// meant for telemetry: a name that starts with "telemetry" (telemetry_flush_intervall), or
// another connector's name for our switch (force_enable_telemetry, Python's and JDBC's),
// ignoring case and separators. As written, it would silently become a session parameter
// while its writer believes it set telemetry. No session parameter of Databricks SQL has
// such a name.
func reservedName(key string) bool {
	k := squashName(key)
	return strings.HasPrefix(k, "telemetry") || k == "forceenabletelemetry"
}

// squashName is key in lower case without the characters that separate the words of a
// name ('_', '-', '.'), spaces or invisible characters.
func squashName(key string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '_' || r == '-' || r == '.' || unicode.IsSpace(r) || isInvisible(r):
			return -1
		}
		return unicode.ToLower(r)
	}, key)
}

// newDSNReservedError is the error for key, a name that reads as one of ours but is none
// (see reservedName).
func newDSNReservedError(key, value string, own []ownParam) error {
	key = shownKey(key)
	names := make([]string, len(own))
	for i, p := range own {
		names[i] = p.name
	}
	return newDSNParamError(key, value, "one of our parameter names, "+strings.Join(names, ", ")+
		" (a name that starts with telemetry is taken for ours and would otherwise reach the server as a session parameter)")
}

// ownParamFold returns our parameter that key names in another case, with spaces or
// invisible characters around or in it, or with its '=' escaped: a "%20enableTelemetry",
// "enableTelemetry+", "%EF%BB%BFenableTelemetry" (a BOM) or "enableTelemetry%3Dfalse"
// would as silently become a session parameter.
func ownParamFold(own []ownParam, key string) (ownParam, bool) {
	for _, p := range own {
		if key != p.name && namesOwn(key, p) {
			return p, true
		}
	}
	return ownParam{}, false
}

// namesOwn reports whether key names p in any case, spaces around it and invisible
// characters (Unicode's format characters: a BOM, a zero-width space or joiner, a soft
// hyphen) anywhere ignored, and what follows an '=' in it too (an escaped "%3D", which
// makes the whole pair the key); or names it with other separators between its words
// (enable_telemetry, telemetry-batch-size, telemetryBatchSize).
func namesOwn(key string, p ownParam) bool {
	if i := strings.IndexByte(key, '='); i >= 0 {
		key = key[:i]
	}
	return squashName(key) == squashName(p.name)
}

// shownKey is key as an error shows it: quoted when it holds a character that prints as
// nothing, so that the message shows it.
func shownKey(key string) string {
	if strings.ContainsFunc(key, func(r rune) bool { return isInvisible(r) || !unicode.IsPrint(r) }) {
		return strconv.QuoteToASCII(key)
	}
	return key
}

// isInvisible reports whether r is a Unicode format character (category Cf), which
// prints as nothing.
func isInvisible(r rune) bool { return unicode.Is(unicode.Cf, r) }

// newDSNCaseError is the error for key, one of our parameters in another case, with
// spaces or invisible characters around or in it, or with its '=' escaped. A key with
// characters that print as nothing is quoted, so that the message shows them.
func newDSNCaseError(key, value string, p ownParam) error {
	key = shownKey(key)
	return newDSNParamError(key, value, "the name "+p.name+" (our parameter names are case-sensitive, with no spaces "+
		"or invisible characters around them, an underscore only where the name has one, and an unescaped '=' before the value)")
}

// checkFragment fails a DSN whose fragment names one of our parameters, in any case. An
// unescaped '#' (in a secret: clientSecret=a#b) ends the query: the driver ignores the
// rest, and a setting of ours after it (&enableTelemetry=false) would be dropped
// silently, leaving telemetry to the server's flag.
func checkFragment(frag string) error {
	if frag == "" {
		return nil
	}
	own := ownParams(&dsnTelemetry{})
	for _, pair := range strings.FieldsFunc(frag, func(r rune) bool { return r == '&' || r == ';' || r == '?' || r == '#' }) {
		rawKey, value, _ := strings.Cut(pair, "=")
		key := unescapedKey(rawKey)
		for _, p := range own {
			if namesOwn(key, p) {
				return newDSNParamError(key, value, p.want+", in the query: this one follows an unescaped '#', "+
					"which ends the query (escape a '#' in a value as %23)")
			}
		}
		if reservedName(key) {
			return newDSNReservedError(key, value, own)
		}
	}
	return nil
}

// checkQuestionMarks fails a DSN where one of our parameters, in any case, follows an
// unescaped '?' inside the query: a second '?' (dsn+"?enableTelemetry=false" on a DSN
// that has a query already) starts no parameter, and the setting would silently reach the
// server inside another parameter's value (ansi_mode=true?enableTelemetry=false) or as a
// session parameter of its own (?enableTelemetry), leaving telemetry to the server's flag.
// An escaped one (%3F) is a value's own.
func checkQuestionMarks(raw string) error {
	if !strings.Contains(raw, "?") {
		return nil
	}
	own := ownParams(&dsnTelemetry{})
	for _, pair := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' }) {
		for _, part := range strings.Split(pair, "?")[1:] {
			rawKey, value, _ := strings.Cut(part, "=")
			key := unescapedKey(rawKey)
			for _, p := range own {
				if namesOwn(key, p) {
					if v, err := url.QueryUnescape(value); err == nil {
						value = v
					}
					return newDSNParamError(key, value, p.want+", in the query: this one follows a '?' inside it, "+
						"which starts no parameter (join parameters with '&', escape a '?' in a value as %3F)")
				}
			}
			if reservedName(key) {
				return newDSNReservedError(key, value, own)
			}
		}
	}
	return nil
}

// unescapedKey is a query key as written, unescaped when it can be (a key with a bad
// escape stays as written: it is still matched against our names).
func unescapedKey(raw string) string {
	if k, err := url.QueryUnescape(raw); err == nil {
		return k
	}
	return raw
}

// ownParam is one of our DSN parameters: its name, the values it accepts, and how it
// applies a value.
type ownParam struct {
	name, want string
	set        func(v string) bool // applies v, or reports it out of range
}

// ownParams are our DSN parameters, applying their values to tel: enableTelemetry, and
// the parameters of the telemetry pipeline, read by telemetry's rules (DSNParams).
func ownParams(tel *dsnTelemetry) []ownParam {
	own := []ownParam{{paramEnableTelemetry, "a boolean: true or false (also 1, t, T, TRUE, True, 0, f, F, FALSE, False)", func(v string) bool {
		b, err := strconv.ParseBool(v)
		tel.EnableTelemetry = &b
		return err == nil
	}}}
	for _, p := range telemetry.DSNParams() {
		own = append(own, ownParam{p.Name, p.Want, func(v string) bool {
			var c telemetry.Config
			ok := p.Set(&c, v)
			tel.take(p.Name, c)
			return ok
		}})
	}
	return own
}

// take copies the field the telemetry parameter name set in c.
func (tel *dsnTelemetry) take(name string, c telemetry.Config) {
	switch name {
	case paramBatchSize:
		tel.BatchSize = c.BatchSize
	case paramFlushInterval:
		tel.FlushInterval = c.FlushInterval
	case paramRetryCount:
		n := c.RetryCount
		tel.RetryCount = &n
	case paramRetryDelay:
		tel.RetryDelay = c.RetryDelay
	}
}

// checkDroppedPairs fails for a pair of the raw query string that url.Values drops (an
// invalid %-escape, or a ';' inside it) when the pair names one of our parameters:
// dropped silently, "enableTelemetry=false;" would leave telemetry to the server's flag.
// Other pairs are dropped as the driver drops them.
func checkDroppedPairs(raw string) error {
	if _, err := url.ParseQuery(raw); err == nil {
		return nil
	}
	own := ownParams(&dsnTelemetry{})
	for _, pair := range strings.Split(raw, "&") {
		if _, err := url.ParseQuery(pair); err == nil {
			continue
		}
		off := 0
		for _, part := range strings.Split(pair, ";") {
			rawKey, _, hasValue := strings.Cut(part, "=")
			key := unescapedKey(rawKey)
			value := ""
			if hasValue {
				value = part[len(rawKey)+1:]
			}
			if rest := pair[off+len(part):]; rest != "" {
				// The ';' is what made the pair malformed; what follows it is another
				// parameter's (accessToken=…, clientSecret=…), not ours to quote back.
				value += ";"
				if rest != ";" {
					value += "…"
				}
			}
			if p, ok := ownParamFold(own, key); ok {
				return newDSNCaseError(key, value, p)
			}
			for _, p := range own {
				if key == p.name {
					return newDSNValueError(p.name, value, p.want)
				}
			}
			if reservedName(key) {
				return newDSNReservedError(key, value, own)
			}
			off += len(part) + 1
		}
	}
	return nil
}

// parseSessionParams turns what is left into session parameters. timezone (any case)
// is one of them and also sets the location of the TIMESTAMPs read back: the driver
// validates it while parsing; WithSessionParams sets the location.
func (cfg *dsnConfig) parseSessionParams(params dsnParams) error {
	if len(params) == 0 {
		return nil
	}
	names := slices.Sorted(maps.Keys(params))
	for _, k := range names {
		// The driver checks one key matching "timezone" case-insensitively (the first a
		// map iteration finds) and fails with time.LoadLocation's error, unwrapped. An
		// empty value is absent for the driver; WithSessionParams then sets UTC, which is
		// the location the driver uses when it has none.
		if v := params.get(k); strings.EqualFold(k, "timezone") && v != "" {
			if _, err := time.LoadLocation(v); err != nil {
				return err
			}
		}
	}
	session := make(map[string]string, len(params))
	for _, k := range names {
		session[k] = params.get(k)
	}
	cfg.opts = append(cfg.opts, freshSessionParams(dbsql.WithSessionParams, session))
	cfg.SessionParamNames = names
	return nil
}

// freshSessionParams returns with(params), except that each application of the option
// hands the driver its own copy of params: the driver keeps the map it is given, and
// other options (dbsql.WithQueryTags) write to it. The type parameters let this wrap a
// dbsql.ConnOption without naming the driver's internal configuration type.
func freshSessionParams[O ~func(C), C any](with func(map[string]string) O, params map[string]string) O {
	return O(func(c C) { with(maps.Clone(params))(c) })
}

// dsnParams are the query parameters of a DSN not handled yet.
type dsnParams url.Values

// get returns the first value of key, as url.Values.Get.
func (p dsnParams) get(key string) string { return url.Values(p).Get(key) }

// take removes key and returns its first value; ok is false when the key is absent or
// its value empty. This is the driver's extractParam: an empty value counts as absent
// but is removed all the same.
func (p dsnParams) take(key string) (value string, ok bool) {
	if _, present := p[key]; !present {
		return "", false
	}
	value = p.get(key)
	delete(p, key)
	return value, value != ""
}

// takeOwn is take for our telemetry parameters, which are stricter than the driver's
// (an empty value is absent for it, and a repeated key takes its first value): an empty
// value, or the key given more than once, fails with an error naming the parameter and
// want, what it accepts. Nothing the user wrote is silently passed over.
func (p dsnParams) takeOwn(key, want string) (value string, ok bool, err error) {
	vs, present := p[key]
	if !present {
		return "", false, nil
	}
	delete(p, key)
	switch {
	case len(vs) > 1:
		return "", false, newDSNValueError(key, strings.Join(vs, "&"), want+", given once")
	case vs[0] == "":
		return "", false, newDSNValueError(key, "", want)
	}
	return vs[0], true, nil
}

// takeInt is take for an integer, failing as the driver does.
func (p dsnParams) takeInt(key string) (int, bool, error) {
	v, ok := p.take(key)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, true, newDSNRequestError(dbsqlerr.InvalidDSNFormat(key, v, "int"), err)
	}
	return n, true, nil
}

// takeBool is take for a boolean (strconv.ParseBool), failing as the driver does.
func (p dsnParams) takeBool(key string) (bool, bool, error) {
	v, ok := p.take(key)
	if !ok {
		return false, false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, true, newDSNRequestError(dbsqlerr.InvalidDSNFormat(key, v, "bool"), err)
	}
	return b, true, nil
}

// dsnParamError is a bad value of one of our telemetry parameters, or a name meant as
// one of them. It wraps ErrInvalidParam, and telemetry.ErrInvalidConfig too for a bad
// value of a pipeline setting (telemetry_batch_size, …), as Config.WithDSNParams does for
// the same value.
type dsnParamError struct {
	name   string // the parameter
	value  string // the bad value
	want   string // what the parameter accepts
	config bool   // a pipeline setting's value: wraps telemetry.ErrInvalidConfig too
}

func newDSNParamError(name, value, want string) error {
	return &dsnParamError{name: name, value: value, want: want}
}

// newDSNValueError is the error of a bad value given to the parameter name, exactly so
// named (empty, repeated, or not what want says).
func newDSNValueError(name, value, want string) error {
	return &dsnParamError{name: name, value: value, want: want, config: name != paramEnableTelemetry}
}

func (e *dsnParamError) Error() string {
	return fmt.Sprintf("dbtelemetry: DSN parameter %s=%q: want %s", e.name, e.value, e.want)
}

func (e *dsnParamError) Unwrap() []error {
	if e.config {
		return []error{ErrInvalidParam, telemetry.ErrInvalidConfig}
	}
	return []error{ErrInvalidParam}
}

// dsnRequestError is the error the driver's ParseDSN returns for a malformed DSN (its
// internal request error, which cannot be built from outside the driver): same text
// ("databricks: request error: <message>[: <cause>]"), a dbsqlerr.DBRequestError,
// errors.Is dbsqlerr.RequestError and dbsqlerr.DatabricksError, unwrapping to the
// cause. A parse error carries no correlation or connection id and is never
// retryable.
type dsnRequestError struct {
	err error // the message, wrapping the cause, with a stack trace
}

var _ dbsqlerr.DBRequestError = (*dsnRequestError)(nil)

// newDSNRequestError builds a dsnRequestError as the driver's NewRequestError does.
func newDSNRequestError(msg string, cause error) error {
	if cause == nil {
		return &dsnRequestError{err: pkgerrors.New(msg)}
	}
	return &dsnRequestError{err: pkgerrors.WithStack(pkgerrors.WithMessage(cause, msg))}
}

func (e *dsnRequestError) Error() string { return "databricks: request error: " + e.err.Error() }

// Cause returns the message and its cause.
func (e *dsnRequestError) Cause() error { return e.err }

// Unwrap returns the message and its cause.
func (e *dsnRequestError) Unwrap() error { return e.err }

// Is reports whether target is dbsqlerr.RequestError or dbsqlerr.DatabricksError.
func (e *dsnRequestError) Is(target error) bool {
	return target == dbsqlerr.RequestError || target == dbsqlerr.DatabricksError
}

// CorrelationId is "": a DSN is parsed outside any request.
func (e *dsnRequestError) CorrelationId() string { return "" }

// ConnectionId is "": a DSN is parsed before any connection.
func (e *dsnRequestError) ConnectionId() string { return "" }

// StackTrace is where the error was made.
func (e *dsnRequestError) StackTrace() pkgerrors.StackTrace {
	var st interface{ StackTrace() pkgerrors.StackTrace }
	if errors.As(e.err, &st) {
		return st.StackTrace()
	}
	return nil
}

// IsRetryable is false: a malformed DSN stays malformed.
func (e *dsnRequestError) IsRetryable() bool { return false }

// RetryAfter is 0.
func (e *dsnRequestError) RetryAfter() time.Duration { return 0 }
