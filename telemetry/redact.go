package telemetry

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxRedactedLen caps the output of Redact, in bytes (SPEC §4a: 2 KiB).
const MaxRedactedLen = 2048

// Redacted replaces a secret in Redact's output.
const Redacted = "[REDACTED]"

// truncatedMark ends an output that Redact shortened.
const truncatedMark = " [truncated]"

// maxRedactInput bounds the work Redact does on a huge message: the input is cut to it
// (at a word boundary) before the first pass. Nothing past it can reach the output anyway.
const maxRedactInput = 64 << 10

// redactRule is one rewrite; rules run in order (order matters: an URL's userinfo must go
// before the e-mail rule sees it, key=value before quoted strings, ...). The rule table and
// the compiled expressions below are read-only after package initialisation.
type redactRule struct {
	// need lists substrings (ASCII, matched case-insensitively) of which the input must
	// contain at least one for the rule to possibly match; it spares most regexp passes.
	need []string
	// pre, when set, is a finer test run after need.
	pre func(string) bool
	// apply, when set, is a hand-written scanner used instead of re (Go's regexp is slow
	// on patterns that start with a character class).
	apply func(string) string
	re    *regexp.Regexp
	repl  string              // used when fn is nil; may refer to groups
	fn    func(string) string // rewrites the whole match
}

// Compiled once; regexp values are safe for concurrent use.
var (
	// SQL the server quotes back: "== SQL ==", "== SQL (line 1, position 8) ==" or
	// "== SQL of VIEW v (line 1, position 8) ==", then the command line by line. The block
	// runs to the end of the message: Spark puts it last, and the command may itself hold
	// blank lines, so no earlier end is safe. Any case: a log pipeline may lower-case
	// the message before the driver's caller sees it.
	sqlBlockRe = regexp.MustCompile(`(?is)(==\s*SQL(?:\s*\([^\n]*?\)|\s+of\s[^\n]*?)?\s*==).*`)
	// The row a Delta constraint rejected, column by column, values bare:
	// "CHECK constraint c (x > 0) violated by row with values:\n - name : Alice\n - x : -1".
	rowValuesRe = regexp.MustCompile(`(?is)(\bviolated by row with values:).*`)
	// The analysed plan Spark appends to an AnalysisException's message, after ";" and a
	// newline: a root node, then its children ("+- ", ":- "), which print the statement's
	// string literals bare and name the tables and columns it reads. It runs to the end of
	// the message.
	planTreeRe = regexp.MustCompile(`(?s)(;)[ \t]*\n[^\n]*\n[ \t]*[+:]- .*`)
	// The same plan in a message Redact cut (maxRedactInput) inside the plan's first line,
	// before the line of a child shows it is one: the last line after ";".
	cutPlanRootRe = regexp.MustCompile(`(;)[ \t]*\n[^\n]*$`)
	// A PEM block of a private key, to its END line (or to the end of a message cut
	// inside it): a TLS or signing library may quote the key it could not parse.
	pemKeyRe = regexp.MustCompile(`(?s)(-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----).*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)`)
	// An XML element whose name says it holds a secret, as in the error body of an object
	// store that refused a pre-signed link, which the driver quotes in a failed Volumes
	// operation's error: <SignatureProvided>…</SignatureProvided> (S3), <X-Amz-Security-Token>.
	secretElementRe = regexp.MustCompile(`(?i)(<[\w.-]*(?:signature|token|secret|password|credential)[\w.-]*>)[^<]*`)
	// user:secret@host without a scheme (the Go driver's DSN: token:<pat>@host).
	// The secret may hold '/' (an OAuth secret's base64), but not start with it: that
	// is a URL's "scheme://", whose userinfo the URL rule took (see redactUserinfo).
	userinfoRe = regexp.MustCompile("[A-Za-z0-9._%+\\-]+:[^@\\s/'\"`][^@\\s'\"`]*@")
	// "Bearer" and a credential, after a space (a no-break one too) or a separator, maybe percent-encoded
	// ("Bearer%20…", "Bearer+…" in a query); redactBearer decides on the credential.
	bearerRe = regexp.MustCompile(`(?i)\b(bearer)((?:\s|\x{00A0}|\+|%20)+|\s*(?:[:=]|%3[ad])(?:\s|\+|%20)*)([A-Za-z0-9\-._~+/%]+=*)`)
	// An Authorization header (also as a query's or a form's key, maybe percent-encoded,
	// and as Go prints an http.Header: "Authorization:[Bearer …]"): the credential after
	// the scheme's name when the first word names a scheme, else the first word itself
	// (a bare token), whatever its length.
	authHeaderRe = regexp.MustCompile(`(?i)\b((?:proxy-)?authorization\s*(?:[:=]|%3[ad])(?:\s|\x{00A0}|\+|%20|\[)*)(?:(` + authSchemes + `)((?:\s|\x{00A0}|\+|%20)+))?([A-Za-z0-9\-._~+/%]+=*)`)
	basicRe      = regexp.MustCompile(`(?i)\b(basic)(?:\s|\x{00A0})+([A-Za-z0-9+/]{6,}={0,2})`)
	// Azure Storage's shared-key scheme: "SharedKey <account>:<signature>".
	sharedKeyRe = regexp.MustCompile(`(?i)\b(sharedkey(?:lite)?)\s+[^\s:]+:[A-Za-z0-9+/=]+`)
	// A secret that prose names before it, without '=' or ':' ("the access token
	// Zq8v…", "invalid password hunter2…", "API key 0123…"); redactProseSecret keeps a
	// word that does not read as a generated value ("token type", "password for").
	// The name may be a compound ("client_secret", "accessToken"); a value in typographic
	// quotes goes whatever it holds, a bare one is the word up to the next space.
	proseSecretRe = regexp.MustCompile(`(?i)\b([A-Za-z0-9_\-]*?(?:password|passwd|secret|token|credential|api[ _-]?key|apikey|signature)s?[ \t\x{00A0}\x{202F}\x{3000}]+)` +
		`([\x{201C}\x{2018}\x{201E}\x{201A}\x{00AB}\x{00BB}\x{2039}\x{203A}\x{300C}\x{300E}\x{FF02}\x{FF07}\x{201D}\x{2019}])?([^\s\x{00A0}\x{202F}\x{3000}]*)`)
	jwtRe = regexp.MustCompile(`eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*`)
	// Databricks tokens (PAT dapi…, dkea…, OAuth secrets dose…, dsapi…; also upper-cased,
	// as a message upper-cased whole prints them, but not in mixed case: doSendRequest… is
	// a function's name) and AWS key ids.
	dbTokenRe     = regexp.MustCompile(`(?:dapi|dkea|dose|dsapi|DAPI|DKEA|DOSE|DSAPI)[A-Za-z0-9]{16,}(?:-\d+)?|(?:AKIA|ASIA)[0-9A-Z]{16}`)
	windowsPathRe = regexp.MustCompile(`(^|[^A-Za-z0-9])[A-Za-z]:[\\/](?:[^\\/\s'"<>|?*:]+[\\/])+`)
	// A Windows home directory itself (its last element is a user name).
	windowsHomeRe = regexp.MustCompile(`(?i)(^|[^A-Za-z0-9])[A-Za-z]:[\\/](?:Users|Documents and Settings)[\\/][^\\/\s'"<>|?*:]+([\s'"<>|?*:,;)\]]|$)`)

	redactRules = [...]redactRule{
		{need: []string{"private key-----"}, re: pemKeyRe, repl: "${1}" + Redacted + "${2}"},
		{need: []string{"sql"}, re: sqlBlockRe, repl: "${1} " + Redacted},
		{need: []string{"with values:"}, re: rowValuesRe, repl: "${1} " + Redacted},
		{need: []string{"+- ", ":- "}, re: planTreeRe, repl: "${1} " + Redacted},
		{need: []string{"signature", "token", "secret", "password", "credential"}, pre: hasOpenTag, re: secretElementRe, repl: "${1}" + Redacted},
		// The message of the caller's own raise_error or assert_true: text of the
		// application's, which may hold anything; the SQLSTATE after it stays.
		bareValue(`(?s)(\[USER_RAISED_EXCEPTION\]).*?(\s+SQLSTATE:|$)`, "user_raised_exception"),
		// Values Spark prints bare in the messages of some error classes, each between its
		// message's fixed words: what is between ${1} and ${2} goes. A value ends at its
		// line's end at the latest, so that a stack trace after the message stays (a parsed
		// record may span lines: it ends at the parse mode or a stack frame). Quoted values
		// and numbers have rules of their own. A value whose end words are missing runs to
		// the end, as an unclosed literal does: Redact cuts a huge message before reading it
		// (maxRedactInput), maybe inside the value; the words before it then trigger the rule.
		bareValue(`(?s)(\bdetected in record parsing:).*?(\.\s+Parse Mode:|\s+SQLSTATE:|\n\s*at\s|$)`, "record parsing:"),                                                                                                             // MALFORMED_RECORD_IN_PARSING
		bareValue(`(?s)(\bDuplicate map key)\s.*?(\s+was found\b|\s+SQLSTATE:|\n|$)`, "duplicate map key"),                                                                                                                            // DUPLICATED_MAP_KEY
		bareValue(`(?s)(\band the value)\s.*?(\s+of the JSON token type\b|$)`, "json token type", "cannot parse the field name"),                                                                                                      // CANNOT_PARSE_JSON_FIELD
		bareValue(`(?s)(\bThe url is invalid:|\bFind an invalid url string)\s.*?(\.\s+(?:Use|If necessary)\b|\s+SQLSTATE:|\n|$)`, "url is invalid:", "invalid url string"),                                                            // INVALID_URL
		bareValue(`(?s)(\bURL cannot be decoded:)\s.*?(\.\s+Please ensure\b|\s+SQLSTATE:|\n|$)`, "url cannot be decoded:"),                                                                                                            // CANNOT_DECODE_URL
		bareValue(`(?s)(\bThe input\s+"[^"\n]*")\s.*?(\s+does not match the format\b|$)`, "does not match the format", "the input \""),                                                                                                // INVALID_FORMAT.MISMATCH_INPUT
		bareValue(`(?s)(\bIllegal input for day of week:)\s.*?(\.?\s+SQLSTATE:|\.?[ \t]*(?:\n|$))`, "day of week:"),                                                                                                                   // ILLEGAL_DAY_OF_WEEK
		bareValue(`(?s)(\bMalformed CSV record:)\s.*?(\s+SQLSTATE:|\n|$)`, "malformed csv record:"),                                                                                                                                   // MALFORMED_CSV_RECORD
		bareValue(`(?s)(\bbyte sequence found in string:)\s.*?(\.?\s+SQLSTATE:|\.?[ \t]*(?:\n|$))`, "found in string:"),                                                                                                               // INVALID_UTF8_STRING
		bareValue(`(?s)(\breturned a NULL for a comparison between)\s.*?(\.\s+It should\b|\s+SQLSTATE:|\n|$)`, "comparison between"),                                                                                                  // COMPARATOR_RETURNS_NULL
		bareValue(`\b(Unrecognized number|Invalid unit|Invalid value|Invalid prefix|Expect a number after|Expect a unit name after|Unknown error when parsing|nanosecond precision,)\s+\S+?(\.?(?:\s|$))`, "invalid_interval_format"), // INVALID_INTERVAL_FORMAT.*
		{need: []string{"cannot have fractional part"}, re: regexp.MustCompile(`\S+(\s+cannot have fractional part\b)`), repl: Redacted + "${1}"},
		bareValue(`(?s)(\bInterval string does not match .*? when cast to [^:\n]*:)\s.*?(\.\s+Set\b|\.?\s+SQLSTATE:|\.?[ \t]*(?:\n|$))`, "interval string does not match"),
		bareValue(`(?s)(\bexpects one of the [^\n]*?, but got)\s.*?(\.?\s+SQLSTATE:|\.?[ \t]*(?:\n|$))`, "charset"),             // INVALID_PARAMETER_VALUE.CHARSET
		bareValue(`(?s)(\bFailed to convert (?:the row )?value)\s.*?(\s+(?:of the class|\(class of)\b|$)`, "failed to convert"), // FAILED_ROW_TO_JSON
		bareValue(`(?s)(\bThe timezone:)\s.*?(\s+is invalid\b|$)`, "the timezone:"),                                             // INVALID_TIMEZONE
		bareValue(`(\bUnknown time-zone ID:)\s+\S+?(\.?(?:\s|$))`, "time-zone id:"),
		bareValue(`(?s)(\bFailed to cast value)\s.*?(\s+to data type\b|$)`, "failed to cast value"), // INVALID_PARTITION_VALUE
		// URLs: userinfo, query and fragment go, and so does the path of a pre-signed link
		// or of a cloud object store's (SPEC §4a, CloudFetch links).
		{need: []string{"://"}, apply: redactURLs},
		// Keyed secrets before the rules that could eat their key.
		{need: []string{`"`}, apply: redactJSONSecrets},
		{need: []string{"=", ":", "%3d", "253d", `\u003d`, `\x3d`, fullWidthEquals, fullWidthColon}, apply: redactKVSecrets},
		{need: []string{"authorization"}, re: authHeaderRe, fn: redactAuthHeader},
		{need: []string{"bearer"}, re: bearerRe, fn: redactBearer},
		{need: []string{"basic"}, re: basicRe, fn: redactBasic},
		{need: []string{"sharedkey"}, re: sharedKeyRe, repl: "${1} " + Redacted},
		{need: []string{"password", "passwd", "secret", "token", "credential", "key", "signature"}, apply: redactProseSecrets},
		{need: []string{"eyj"}, re: jwtRe, repl: Redacted},
		{need: []string{"dapi", "dkea", "dose", "dsapi", "akia", "asia"}, re: dbTokenRe, repl: Redacted},
		{need: []string{"@"}, pre: hasUserinfo, re: userinfoRe, fn: redactUserinfo},
		// Paths, addresses, then numbers, before the rules that read the characters around
		// a quote: what those saw in the first pass ("/home/x" before a quote, a digit) must
		// not have changed ("~", "?") in the second.
		{need: []string{"/"}, apply: redactUnixPaths},
		{need: []string{`:\`, ":/"}, pre: hasDrive, re: windowsHomeRe, repl: "${1}~${2}"},
		{need: []string{`:\`, ":/"}, pre: hasDrive, re: windowsPathRe, fn: redactWindowsPath},
		{need: []string{`\\`}, apply: redactUNCPaths},
		// Addresses before numbers: a digit of an address (alice@163.com) must not hide it.
		{need: []string{"@"}, apply: redactEmails},
		{need: digits, apply: redactNumbers},
		{need: []string{"'"}, apply: redactSingleQuoted},
		{need: []string{`"`}, apply: redactDoubleQuoted},
		// Last: a path or an address inside backticks goes with the name that holds it,
		// and what the rules above leave cannot open a new quote on a second pass.
		{need: []string{"`"}, apply: redactBackquoted},
	}
)

// bareValue is a rule that replaces what its pattern's match holds between groups 1 and
// 2 (the fixed words around a value Spark prints bare), in messages that hold one of need
// (lower case).
func bareValue(pattern string, need ...string) redactRule {
	return redactRule{need: need, re: regexp.MustCompile(pattern), repl: "${1} " + Redacted + "${2}"}
}

// Redact removes from s what must never leave the process (SPEC §4a) and caps it at
// MaxRedactedLen bytes. It is meant for error messages and stack traces:
//
//   - Bearer and Basic credentials (and the credential of an Authorization header of
//     any scheme, or a bare token in one, also percent-encoded), JWTs, Databricks tokens (dapi…, dkea…, dose…,
//     dsapi…) and AWS access key ids, and Azure Storage's "SharedKey account:signature";
//   - password, pwd, token, secret, client_secret, access_token, refresh_token, api_key,
//     signature, sig (a SAS signature), private_key, cookie, AccountKey and SharedAccessKey (Azure) and similar keys, in JSON ("k": "v", or \"k\": \"v\" for JSON quoted in a JSON
//     string) and k=v form, also escaped: k%3Dv in a query percent-encoded inside another
//     URL's (k%253Dv when encoded twice), k\u003dv and k\x3dv, and a key after an
//     escaped '&' (%26sig=, %2526sig=, \u0026sig=, \x26sig=), or after a full-width '＝' or
//     '：', with no-break or ideographic spaces around a separator too; a key in
//     typographic quotes (“password”: …), and a value in them (“…”, ‘…’, „…“, ‚…‘, «…»,
//     »…«, ‹…›, 「…」, 『…』, ＂…＂) goes whole, to its line's end when unclosed; a Cookie or
//     Set-Cookie header's list goes whole, and a web session's id (;jsessionid=…,
//     PHPSESSID); and the word after a secret's name in prose ("the access token Zq8v…",
//     "invalid client_secret …", "API key 0123…") when it holds a letter and a digit
//     (four characters or more, to the next space, and no URL), or
//     what typographic quotes hold after it (to the closing quote or the line's end);
//   - the body of a private key's PEM block;
//   - URL userinfo (and user:secret@host without a scheme) and URL query strings and
//     fragments (pre-signed CloudFetch links carry their signature there), an URL's path
//     when an element of it names a secret and another follows ("/reset/token/…"), and
//     the first word of the next line when a link was wrapped inside its last parameter
//     (a key cut short and that word going on with '=', a value not begun, or the value
//     of a key that names a secret);
//   - SQL the server quotes back ("== SQL == …", to the end of the message), quoted
//     literals ('…' → '?', X'…' → X'?', "…" → "?", and strings quoted inside JSON
//     strings at any depth: \"…\" → \"?\", \\\"…\\\" → \\\"?\\\") and the names Databricks
//     quotes back in backticks (`main`.`t` → `?`.`?`), also when a quoted value holds
//     the quote itself, unescaped;
//   - the row a Delta constraint rejected ("violated by row with values: …", to the end
//     of the message), whose values are listed bare, and the message of a
//     [USER_RAISED_EXCEPTION] (raise_error, assert_true: the application's own text);
//   - the analysed plan Spark appends to an analysis error (";" and a newline, then a
//     tree of "+- " nodes, to the end of the message), which prints literals bare;
//   - the text of XML elements named for a secret (<SignatureProvided>, <…Token>,
//     <…Secret…>, <…Password…>, <…Credential…>), as an object store's error body echoes
//     them;
//   - numbers that stand alone, as a server quotes a value it could not cast or store
//     ("The value 987654321L of the type …" → "The value ? of the type …"), and the
//     parts of dates and times; error classes, SQLSTATEs, positions ("line 1, pos 7"),
//     HTTP statuses, type sizes (Decimal(5, 2)), ports and file lines stay;
//   - the directories of absolute paths (home and application directories), Unix,
//     Windows, UNC (\\server\share\…), the same escaped (C:\\Users\\…) and file://
//     URLs: only the last element stays,
//     "/home/alice/app/main.go:12" → "[PATH]/main.go:12", and a home directory itself
//     becomes "~" (a Unix path's last element goes too when the one before it names a
//     secret and it reads as a generated value: "/reset/token/<value>" → "[PATH]");
//   - e-mail addresses.
//
// Longer results are redacted, truncated (dropping a word cut in two; a word ends at a
// space, a wide space or a CJK stop) and redacted again.
// Redact is safe for concurrent use and never panics. Redact(Redact(s)) == Redact(s)
// for what drivers, servers and libraries write; on contrived mixes of what the rules
// look for, a second pass may redact more, and never less.
func Redact(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > maxRedactInput {
		s = cutWord(s, maxRedactInput)
		s = cutPlanRootRe.ReplaceAllString(s, "${1} "+Redacted)
	}
	s = redactOnce(s)
	if len(s) <= MaxRedactedLen {
		return s
	}
	s = cutWord(s, MaxRedactedLen-len(truncatedMark)) + truncatedMark
	s = redactOnce(s)
	if len(s) > MaxRedactedLen {
		// The second pass may lengthen a cut-off secret into a marker; cutting redacted
		// text cannot expose anything.
		s = cutRune(s, MaxRedactedLen)
	}
	return s
}

func redactOnce(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	for i := range redactRules {
		r := &redactRules[i]
		if !containsAnyFold(s, r.need) || r.pre != nil && !r.pre(s) {
			continue
		}
		switch {
		case r.apply != nil:
			s = r.apply(s)
		case r.fn != nil:
			s = r.re.ReplaceAllStringFunc(s, r.fn)
		default:
			s = r.re.ReplaceAllString(s, r.repl)
		}
	}
	return s
}

// secretKeyWords are the key names (SPEC §4a) whose values are secrets; a key matches
// when it contains one, ignoring case: client_secret, accessToken, X-Api-Key, PWD, ...
// A web session's id (Java's ";jsessionid=" in an URL's path, PHP's cookie) is a
// credential too.
var secretKeyWords = []string{"password", "passwd", "pwd", "secret", "token", "api_key", "api-key", "apikey", "credential", "signature", "private_key", "private-key", "privatekey", "cookie", "accountkey", "account_key", "sharedaccesskey", "shared_access_key", "jsessionid", "phpsessid"}

// isSecretKey reports whether key names a secret: it holds one of secretKeyWords, or is
// "sig" (an Azure SAS signature, sig=…, which a URL rule misses once the URL is escaped or
// cut), or, in JSON, holds "authorization".
func isSecretKey(key string, json bool) bool {
	return containsAnyFold(key, secretKeyWords) || strings.EqualFold(key, "sig") || json && indexFold(key, "authorization") >= 0
}

func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// redactKVSecrets rewrites key=value and key: value (spaces allowed around '=' or ':')
// when the key names a secret. The value is a quoted string (an unclosed one runs to the
// end; backslash escapes honoured, and \" opens one inside a JSON string) or a run up to
// whitespace or one of & ; , ' " } ). The key is a bare word: a
// quoted one is JSON's (redactJSONSecrets), and "https:" names no secret.
func redactKVSecrets(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		sep, escaped, colon := 1, false, s[i] == ':'
		switch {
		case s[i] == '=' || colon:
		case strings.HasPrefix(s[i:], fullWidthEquals) || strings.HasPrefix(s[i:], fullWidthColon):
			// As an East Asian input method types them.
			sep, colon = len(fullWidthEquals), strings.HasPrefix(s[i:], fullWidthColon)
		default:
			// "%3D": a query percent-encoded inside another URL's ("%253D" when encoded
			// twice, inside a third).
			if sep = encodedEquals(s, i); sep == 0 {
				continue
			}
			escaped = true
		}
		k := i
		for n := spaceBefore(s[last:k]); n > 0; n = spaceBefore(s[last:k]) {
			k -= n
		}
		if n := closingTypographic(s[last:k]); n > 0 {
			k -= n // a key a word processor quoted: “password”: …, « password » : …
			for n := spaceBefore(s[last:k]); n > 0; n = spaceBefore(s[last:k]) {
				k -= n
			}
		}
		ks := k
		for ks > last && isKeyByte(s[ks-1]) {
			ks--
		}
		ks += escapedSeparator(s, ks, k)
		if ks == k || !isSecretKey(s[ks:k], false) && !twoWordSecretKey(s[last:ks], s[ks:k]) {
			continue
		}
		v := i + sep
		for n := spaceAt(s[v:]); n > 0; n = spaceAt(s[v:]) {
			v += n
		}
		end := v
		switch {
		case strings.HasPrefix(s[v:], Redacted):
			end = v + len(Redacted) // redacted on a first pass
		case colon && isCookieHeader(s[ks:k]):
			end = cookiesEnd(s, v)
		case isTypographicOpen(s[v:]):
			end = typographicEnd(s, v)
		case v < len(s) && (s[v] == '\'' || s[v] == '"'):
			end = quotedEnd(s, v+1, s[v], false, false) // Go's %q escapes quotes inside
		case v+1 < len(s) && s[v] == '\\' && (s[v+1] == '\'' || s[v+1] == '"'):
			end = quotedEnd(s, v+2, s[v+1], true, false) // quoted inside a JSON string
		default:
			for end < len(s) && !isSpace(s[end]) && strings.IndexByte("&;,'\"})", s[end]) < 0 {
				if escaped && strings.HasPrefix(s[end:], s[i:i+sep-2]+"26") {
					// The escaped query's next parameter: its '&' escaped as the '=' was
					// ("%3D" and "%26", "%253D" and "%2526", "\u003d" and "\u0026"); an
					// '&' escaped otherwise is the value's own.
					break
				}
				end++
			}
		}
		if end == v || colon && isHTTPStatus(s[v:]) {
			continue // "oauth2: cannot fetch token: 401 Unauthorized" names no secret
		}
		if s[i] == ':' && v == i+1 && strings.IndexByte(s[v:end], '@') >= 0 && !isCookieHeader(s[ks:k]) {
			continue // user:secret@host, which the userinfo rule takes whole
		}
		b.WriteString(s[last:v])
		b.WriteString(Redacted)
		last = end
		i = end - 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// twoWordSecretKey reports whether key, the word before a separator, and the word before
// it (before ends with it and a blank) name a secret together: "API key: …", "access
// key=…".
func twoWordSecretKey(before, key string) bool {
	if !strings.EqualFold(key, "key") {
		return false
	}
	before = strings.TrimRight(before, " ")
	return wordBefore(before, len(before), []string{"api", "access", "secret", "signing", "account"})
}

// isHTTPStatus reports whether s starts with an HTTP status and its text ("401
// Unauthorized", "401 UNAUTHORIZED" as some servers send it).
func isHTTPStatus(s string) bool {
	if len(s) < 5 || s[3] != ' ' {
		return false
	}
	code := 0
	for _, c := range []byte(s[:3]) {
		if c < '0' || c > '9' {
			return false
		}
		code = code*10 + int(c-'0')
	}
	text := http.StatusText(code)
	return text != "" && len(s) >= 4+len(text) && strings.EqualFold(s[4:4+len(text)], text)
}

// wideSpaces are the spaces besides ASCII's that typing puts around a separator: the
// no-break spaces (French puts one before ':' and inside « »), and the ideographic space
// an East Asian input method types.
var wideSpaces = [...]string{"\u00A0", "\u202F", "\u3000"}

// spaceAt returns the length of the space (ASCII or one of wideSpaces) that s starts
// with, 0 when none.
func spaceAt(s string) int {
	switch {
	case s == "":
		return 0
	case isSpace(s[0]):
		return 1
	case s[0] < 0x80:
		return 0
	}
	for _, w := range wideSpaces {
		if strings.HasPrefix(s, w) {
			return len(w)
		}
	}
	return 0
}

// spaceBefore returns the length of the space (as spaceAt's) that s ends with.
func spaceBefore(s string) int {
	switch {
	case s == "":
		return 0
	case isSpace(s[len(s)-1]):
		return 1
	case s[len(s)-1] < 0x80:
		return 0
	}
	for _, w := range wideSpaces {
		if strings.HasSuffix(s, w) {
			return len(w)
		}
	}
	return 0
}

// The full-width '=' and ':' (U+FF1D, U+FF1A), which end a key as theirs do.
const (
	fullWidthEquals = "\uFF1D"
	fullWidthColon  = "\uFF1A"
)

// typographicQuotes pairs each opening typographic quote with the one that closes it.
var typographicQuotes = [...][2]string{
	{"\u201C", "\u201D"}, // “…”
	{"\u2018", "\u2019"}, // ‘…’
	{"\u201E", "\u201C"}, // „…“ (German; „…” closes too, see typographicEnd)
	{"\u201A", "\u2018"}, // ‚…‘
	{"\u00AB", "\u00BB"}, // «…»
	{"\u00BB", "\u00AB"}, // »…« (German, Danish)
	{"\u2039", "\u203A"}, // ‹…›
	{"\u203A", "\u2039"}, // ›…‹
	{"\u300C", "\u300D"}, // 「…」
	{"\u300E", "\u300F"}, // 『…』
	{"\uFF02", "\uFF02"}, // ＂…＂ (full-width)
	{"\uFF07", "\uFF07"}, // ＇…＇
	{"\u201D", "\u201D"}, // ”…” (as Word curls a quote typed after '=')
	{"\u2019", "\u2019"}, // ’…’
}

// typographicQuote returns the pair whose opening quote s starts with, and whether one
// does.
func typographicQuote(s string) ([2]string, bool) {
	if s == "" || s[0] < 0x80 {
		return [2]string{}, false
	}
	for _, q := range typographicQuotes {
		if strings.HasPrefix(s, q[0]) {
			return q, true
		}
	}
	return [2]string{}, false
}

// closingTypographic returns the length of the closing typographic quote that s ends
// with (a key written “password”), 0 when none does.
func closingTypographic(s string) int {
	if s == "" || s[len(s)-1] < 0x80 {
		return 0
	}
	for _, q := range typographicQuotes {
		if strings.HasSuffix(s, q[1]) {
			return len(q[1])
		}
	}
	return 0
}

// typographicEnd returns where the value that a typographic quote opens at v ends: after
// its closing quote (a word processor may turn a straight quote into either of a pair, so
// the opening one closes too, and so does ” after „), else at the line's end: such a
// value, unlike a program's quoted string, is prose and ends with its line. A ’ that a
// letter follows is an apostrophe ("it’s"), no closing quote. One forward scan: many
// values on one line take linear time.
func typographicEnd(s string, v int) int {
	q, _ := typographicQuote(s[v:])
	from := v + len(q[0])
	for j := from; j < len(s); {
		c := s[j]
		if c == '\r' || c == '\n' {
			end := j
			for end > from && isSpace(s[end-1]) {
				end--
			}
			return end
		}
		if c < 0x80 {
			j++
			continue
		}
		_, n := utf8.DecodeRuneInString(s[j:])
		rest := s[j:]
		if strings.HasPrefix(rest, q[1]) || strings.HasPrefix(rest, q[0]) || strings.HasPrefix(rest, "\u201D") {
			if !(strings.HasPrefix(rest, "\u2019") && j+n < len(s) && isLetterRune(s[j+n:])) {
				return j + n
			}
		}
		j += n
	}
	end := len(s)
	for end > from && isSpace(s[end-1]) {
		end--
	}
	return end
}

// isTypographicOpen reports whether s starts with an opening typographic quote.
func isTypographicOpen(s string) bool {
	_, ok := typographicQuote(s)
	return ok
}

// isLetterRune reports whether s starts with a letter.
func isLetterRune(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLetter(r)
}

// encodedEquals returns the length of the escaped '=' that s holds at i: percent-encoded,
// "%3D", or "%253D", "%25253D", … when the encoding was applied again; or escaped in a
// JSON or a Python string, "\u003d" (as Java's Gson writes every '='), "\x3d"; 0 when
// there is none.
func encodedEquals(s string, i int) int {
	if s[i] == '\\' {
		for _, e := range [...]string{`\u003d`, `\x3d`} {
			if len(s)-i >= len(e) && strings.EqualFold(s[i:i+len(e)], e) {
				return len(e)
			}
		}
		return 0
	}
	if s[i] != '%' {
		return 0
	}
	j := i + 1 + percentAgain(s[i+1:])
	if j+1 < len(s) && s[j] == '3' && (s[j+1] == 'D' || s[j+1] == 'd') {
		return j + 2 - i
	}
	return 0
}

// percentAgain is the length of the "25"s that start s, after a '%': each is one more
// encoding of the '%' itself ("%2526" is "%26" encoded again).
func percentAgain(s string) int {
	n := 0
	for len(s) >= n+4 && s[n] == '2' && s[n+1] == '5' {
		n += 2
	}
	return n
}

// isCookieHeader reports whether key is the name of a header that holds cookies. Their
// list runs past the ';' and ',' that end other values: each cookie of it is a secret,
// whatever its name.
func isCookieHeader(key string) bool {
	return strings.EqualFold(key, "cookie") || strings.EqualFold(key, "set-cookie")
}

// cookiesEnd returns where the cookie list that starts at v ends: at its closing ']' when
// it is Go's print of a header ("Cookie:[a=1; b=2] User-Agent:[…]"; a cookie's value holds
// no space, so the ']' that a space, another ']' or the line's end follows is the list's),
// else at the line's end, or before the " SQLSTATE:" that a server's message ends with.
// It reads no further than that end, so that many lists on one line take linear time.
func cookiesEnd(s string, v int) int {
	bracket := v < len(s) && s[v] == '['
	end := len(s)
	for j := v; j < len(s); j++ {
		c := s[j]
		if c == '\r' || c == '\n' || c == ' ' && strings.HasPrefix(s[j:], " SQLSTATE:") {
			end = j
			break
		}
		if bracket && c == ']' && j > v && (j+1 == len(s) || strings.IndexByte(" ]\r\n", s[j+1]) >= 0) {
			return j + 1
		}
	}
	for end > v && isSpace(s[end-1]) {
		end--
	}
	return end
}

// escapedSeparator is the length of the escaped separator that the key word s[ks:k]
// starts with, when the byte before it opens an escape: the "26" of "%26sig=" (a query
// percent-encoded inside another URL's, "&" encoded; "2526" when encoded twice), the
// "u0026" of "\u0026sig=" (an URL inside a JSON string) or the "x26" of "\x26sig=". The
// key is what follows it.
func escapedSeparator(s string, ks, k int) int {
	if ks == 0 {
		return 0
	}
	key := s[ks:k]
	var n int
	switch {
	case s[ks-1] == '%':
		n = 2
		if again := percentAgain(key); len(key) > again+2 && isHexDigit(key[again]) && isHexDigit(key[again+1]) {
			n += again // "%2526sig=": an '&' encoded twice
		}
	case s[ks-1] == '\\' && len(key) > 0 && (key[0] == 'u' || key[0] == 'U'):
		n = 5
	case s[ks-1] == '\\' && len(key) > 0 && key[0] == 'x':
		n = 3
	default:
		return 0
	}
	if len(key) <= n {
		return 0
	}
	start := n - 2
	if n == 5 {
		start = 1
	}
	for j := start; j < n; j++ {
		if !isHexDigit(key[j]) {
			return 0
		}
	}
	return n
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// jsonArrayEnd returns the index just past the ']' that closes the JSON array opened at
// s[v], its strings (quoted with quote: `"`, or `\"` inside a JSON string) and nested
// arrays skipped; or len(s) when it is unclosed.
func jsonArrayEnd(s string, v int, quote string) int {
	depth := 0
	for j := v; j < len(s); {
		switch {
		case strings.HasPrefix(s[j:], quote):
			j = quotedEnd(s, j+len(quote), '"', len(quote) == 2, false)
			continue
		case s[j] == '[':
			depth++
		case s[j] == ']':
			if depth--; depth == 0 {
				return j + 1
			}
		}
		j++
	}
	return len(s)
}

// redactJSONSecrets rewrites "key": value when the key names a secret; the value becomes
// "[REDACTED]". The value is a JSON string (escapes honoured, an unclosed one runs to the
// end) or a bare run up to whitespace or one of , } ]. JSON quoted inside a JSON string
// and printed without the outer quotes (\"key\": \"value\") is handled alike.
func redactJSONSecrets(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != ':' {
			continue
		}
		k := i
		for k > last && isSpace(s[k-1]) {
			k--
		}
		if k == last || s[k-1] != '"' {
			continue
		}
		quote := `"`
		if k-1 > last && s[k-2] == '\\' {
			quote = `\"`
		}
		kEnd := k - len(quote)
		open := strings.LastIndex(s[last:kEnd], quote)
		if open < 0 {
			continue
		}
		key := s[last+open+len(quote) : kEnd]
		if strings.ContainsAny(key, "\\\n") || strings.Contains(key, "://") || !isSecretKey(key, true) {
			continue
		}
		v := i + 1
		for v < len(s) && isSpace(s[v]) {
			v++
		}
		end := v
		with := quote + Redacted + quote
		switch {
		case strings.HasPrefix(s[v:], quote):
			end = quotedEnd(s, v+len(quote), '"', len(quote) == 2, false)
		case v < len(s) && s[v] == '[':
			// An array ("Cookie": ["a=1; b=2"], "password": ["a b"]) goes whole.
			end, with = jsonArrayEnd(s, v, quote), "["+with+"]"
		case isTypographicOpen(s[v:]):
			// A value a word processor quoted ("password": “a b”) goes whole, as under
			// a key=value key.
			end = typographicEnd(s, v)
		default:
			for end < len(s) && !isSpace(s[end]) && strings.IndexByte(",}]", s[end]) < 0 {
				end++
			}
		}
		if end == v {
			continue
		}
		b.WriteString(s[last:v])
		b.WriteString(with)
		last = end
		i = end - 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// redactURL keeps scheme, host and path of an URL and drops userinfo, query and fragment.
// The path goes too ("/[PATH]") when the URL had a query, as a pre-signed link has, or
// goes to a cloud object store: either may be a CloudFetch link, whose path names
// the workspace and the statement's result files.
func redactURL(u string) string {
	// Trailing punctuation usually belongs to the sentence, not the URL.
	trail := len(u)
	for trail > 0 && strings.IndexByte(".,;:)]}!", u[trail-1]) >= 0 {
		trail--
	}
	u, tail := u[:trail], u[trail:]
	i := strings.Index(u, "://")
	if i < 0 {
		return u + tail
	}
	scheme, rest := u[:i+3], u[i+3:]
	authEnd := authorityEnd(rest)
	authority, rest := rest[:authEnd], rest[authEnd:]
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		authority = Redacted + "@" + authority[at+1:]
	}
	signed := false
	if q := strings.IndexAny(rest, "?#"); q >= 0 {
		rest, signed = rest[:q], rest[q] == '?'
	}
	switch {
	case strings.EqualFold(scheme, "file://"):
		rest = redactUnixPaths(rest) // a local path: its directories go, as any path's
	case strings.HasPrefix(rest, "/[PATH"):
		// Redacted in the first pass; the second saw its "]" as trailing punctuation.
	case len(rest) > 1 && (signed || objectStore(authority) || objectStoreScheme(scheme) || secretInPath(rest)):
		rest = "/[PATH]"
	}
	return scheme + authority + rest + tail
}

// unescapeSlashes decodes each escaped '/' of path, escaped any number of times (%2F,
// %252F, %25252F, …), in one pass.
func unescapeSlashes(path string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(path); i++ {
		if path[i] != '%' {
			continue
		}
		j := i + 1
		for strings.HasPrefix(path[j:], "25") {
			j += 2
		}
		if strings.HasPrefix(path[j:], "2F") || strings.HasPrefix(path[j:], "2f") {
			b.WriteString(path[last:i])
			b.WriteByte('/')
			last = j + 2
			i = last - 1
		}
	}
	if last == 0 {
		return path
	}
	b.WriteString(path[last:])
	return b.String()
}

// secretInPath reports whether an element of the path names a secret (see isSecretKey)
// and another element follows it, which may be that secret's value: a password-reset
// or an invitation link ("/reset/token/<value>"), a REST path that names a token.
func secretInPath(path string) bool {
	if strings.Contains(path, "%2") {
		path = unescapeSlashes(path)
	}
	for path != "" {
		path = strings.TrimLeft(path, "/")
		elem, rest, found := strings.Cut(path, "/")
		if found && strings.Trim(rest, "/") != "" && isSecretKey(elem, false) {
			return true
		}
		path = rest
	}
	return false
}

// authorityEnd returns where the authority of rest (an URL after its "://") ends: at the
// first '/', '?' or '#', as RFC 3986 has it; but a password written with one of those
// unescaped ("https://user:p#ss@host/", "https://token:abc/def@host/") would end it
// inside the userinfo and leave the password's start as the host. So when the authority
// so ended reads as user:password (no '@', and no port's digits alone after its ':') and
// an '@' follows, the authority runs past that '@' (the last one before the next '/',
// '?' or '#') to the host's end.
func authorityEnd(rest string) int {
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		return len(rest)
	}
	auth := rest[:end]
	c := strings.IndexByte(auth, ':')
	if c < 0 || strings.HasPrefix(auth, "[") || strings.IndexByte(auth, '@') >= 0 || allDigits(auth[c+1:]) {
		return end
	}
	at := strings.IndexByte(rest[end:], '@')
	if at < 0 {
		return end
	}
	at += end
	host := rest[at+1:]
	if e := strings.IndexAny(host, "/?#"); e >= 0 {
		host = host[:e]
	}
	return at + 1 + len(host)
}

// allDigits reports whether s is ASCII digits alone (and so the empty string too).
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// objectStoreSchemes name a cloud object store (or DBFS, over one) by the URL's scheme,
// as Databricks prints a location (s3://bucket/dir/file, gs://, abfss://…): the
// bucket or container is the authority, the path the user's directories and files.
var objectStoreSchemes = [...]string{"s3://", "s3a://", "s3n://", "gs://", "gcs://", "wasb://", "wasbs://", "abfs://", "abfss://", "adl://", "az://", "azure://", "r2://", "dbfs://"}

// objectStoreScheme reports whether scheme ("s3://") names a cloud object store.
func objectStoreScheme(scheme string) bool {
	for _, s := range objectStoreSchemes {
		if strings.EqualFold(scheme, s) {
			return true
		}
	}
	return false
}

// objectStoreSuffixes end the host names of the cloud object stores that serve CloudFetch
// files (S3, Azure Blob and Data Lake storage, Google Cloud Storage).
var objectStoreSuffixes = [...]string{".amazonaws.com", ".blob.core.windows.net", ".dfs.core.windows.net", "storage.googleapis.com"}

// objectStore reports whether an URL's authority (host, maybe port) is a cloud object
// store's.
func objectStore(authority string) bool {
	host := authority
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, suffix := range objectStoreSuffixes {
		if strings.HasSuffix(host, suffix) {
			return true
		}
	}
	return false
}

// redactBasic redacts "Basic <value>" unless the value is a plain lower-case word (as in
// "basic authentication"), which a base64 credential practically never is.
// authSchemes are the HTTP authentication schemes (IANA's registry, and those of the
// cloud and identity services a driver talks to) whose name an Authorization header's
// credential follows.
const authSchemes = `basic|bearer|concealed|digest|dpop|gnap|hoba|mutual|negotiate|oauth|privatetoken|scram-sha-1|scram-sha-256|vapid|token|ntlm|aws4-hmac-sha256|sharedkey|sharedkeylite|apikey|key|ssws`

// authSchemeRe matches a whole word that names a scheme of authSchemes.
var authSchemeRe = regexp.MustCompile(`(?i)^(?:` + authSchemes + `)$`)

// redactAuthHeader rewrites an authHeaderRe match: the credential goes; the header's
// name and separator stay, and so does the scheme, followed by one space (a later pass
// must read it as before, whatever the number rule did to an encoded space). A lone
// scheme's name is no credential, nor is a mark: the header was redacted in a first
// pass ("Authorization: Bearer [REDACTED]", "Authorization: [REDACTED]"), or what
// follows it ("Authorization:[PATH]\x").
func redactAuthHeader(m string) string {
	g := authHeaderRe.FindStringSubmatch(m)
	if g == nil || g[2] == "" && (authSchemeRe.MatchString(g[4]) || strings.HasSuffix(g[1], "[") && isMark(g[4])) {
		return m
	}
	if g[2] == "" {
		return g[1] + Redacted
	}
	return g[1] + g[2] + " " + Redacted
}

// isMark reports whether word is the inside of a mark a rule writes: [REDACTED],
// [PATH], [EMAIL].
func isMark(word string) bool { return word == "REDACTED" || word == "PATH" || word == "EMAIL" }

// redactBearer rewrites a bearerRe match: "Bearer" and its credential. After a separator
// (':', '=', an encoded space or '+') the word is a credential whatever it is; after
// plain spaces a short word of letters alone ("bearer grant", "bearer token") is prose,
// kept, and anything else (a digit, a symbol, eight characters or more) a credential.
func redactBearer(m string) string {
	g := bearerRe.FindStringSubmatch(m)
	if g == nil {
		return m
	}
	word, sep, cred := g[1], g[2], g[3]
	if strings.TrimSpace(sep) == "" && len(cred) < 8 && onlyLetters(cred) {
		return m
	}
	return word + " " + Redacted
}

// redactProseSecrets redacts the word a secret's name introduces in prose when it reads
// as a generated value (it holds a letter and a digit), or what typographic quotes hold
// (to the closing quote, or the line's end: see typographicEnd).
func redactProseSecrets(s string) string {
	w := rewriter{s: s}
	// A word kept may name a secret itself ("invalid secret token abc123"): the search
	// goes on from it.
	for pos := 0; pos < len(s); {
		m := proseSecretRe.FindStringSubmatchIndex(s[pos:])
		if m == nil {
			break
		}
		for i := range m {
			if m[i] >= 0 {
				m[i] += pos
			}
		}
		var v, end int
		if m[4] >= 0 { // a typographic quote
			v, end = m[4], m[5]
			if closesKey(s[end:]) || quotedName(s[:m[2]], s[v:]) {
				pos = end // the closing quote of a quoted name (« token » est…, « password » : …)
				continue
			}
			end = typographicEnd(s, v)
		} else {
			v, end = m[6], proseWordEnd(s[:m[7]])
			if !proseSecretWord(s[v:end]) {
				pos = m[6]
				continue
			}
		}
		w.replace(v, end, Redacted)
		pos = end
	}
	return w.String()
}

// proseWordEnd is where a word of prose (s ends with it) ends without the punctuation
// that ends a sentence or a clause after it ("…token abc123.", "(password hunter2)").
func proseWordEnd(s string) int {
	end := len(s)
	for end > 0 && strings.IndexByte(".,;:)]}>'\"", s[end-1]) >= 0 {
		end--
	}
	return end
}

// proseSecretWord reports whether w, the word after a secret's name in prose, reads as
// a generated value: four characters or more, a letter and a digit among them. Words of
// an operator's that have that shape stay: an URL (the URL rule keeps its host: "token
// https://host/oidc/v1/token"), a sized type ("token DECIMAL(10,2)"), a version ("token
// v1.2.3"), and the name of a Go package or an algorithm with a digit, as Go prefixes an
// error with its package ("token x509: certificate has expired").
func proseSecretWord(w string) bool {
	switch {
	case len(w) < 4 || !strings.ContainsAny(w, "0123456789") || onlyDigitsAndPunct(w):
		return false
	case strings.Contains(w, "://") || sizedTypeRe.MatchString(w) && wordBefore(w, strings.IndexByte(w, '('), sizedTypes):
		return false
	case versionRe.MatchString(w):
		return false
	}
	switch strings.ToLower(w) {
	case "x509", "oauth2", "ed25519", "http2", "sha1", "sha256", "sha384", "sha512", "base32", "base64",
		"pkcs1", "pkcs7", "pkcs8", "pkcs12", "utf8", "utf16", "crc32", "crc64", "adler32", "sigv4":
		return false
	}
	return true
}

var (
	versionRe   = regexp.MustCompile(`^[vV]?\d+(?:\.\d+)+$`)
	sizedTypeRe = regexp.MustCompile(`^[A-Za-z]+\(\d+(?:, ?\d+)?\)?$`) // its ")" maybe trimmed (proseWordEnd)
)

// quotedName reports whether the quote that q starts with closes a pair opened shortly
// before the secret's name (before is the text before it): only words and spaces between
// ("“ client secret ”", "« token »"). The name is quoted, and no value follows.
func quotedName(before, q string) bool {
	for _, p := range typographicQuotes {
		if !strings.HasPrefix(q, p[1]) {
			continue
		}
		// Only the last 64 bytes (and the quote) are read: a long run of names and
		// quotes costs linear time.
		from := max(0, len(before)-64-len(p[0]))
		o := strings.LastIndex(before[from:], p[0])
		if o >= 0 {
			o += from
		}
		if o < 0 || len(before)-o > 64 {
			continue
		}
		words := before[o+len(p[0]):]
		for len(words) > 0 {
			if n := spaceAt(words); n > 0 {
				words = words[n:]
				continue
			}
			if c := words[0]; c >= 0x80 || !isKeyByte(c) {
				break
			}
			words = words[1:]
		}
		if words == "" {
			return true
		}
	}
	return false
}

// closesKey reports whether s, what follows a quote, goes on (after spaces) with a key's
// separator: the quote closed a key.
func closesKey(s string) bool {
	for n := spaceAt(s); n > 0; n = spaceAt(s) {
		s = s[n:]
	}
	return s != "" && (s[0] == ':' || s[0] == '=' || strings.HasPrefix(s, fullWidthColon) || strings.HasPrefix(s, fullWidthEquals))
}

// onlyDigitsAndPunct reports whether s holds no ASCII letter.
func onlyDigitsAndPunct(s string) bool {
	for i := 0; i < len(s); i++ {
		if isLetter(s[i]) {
			return false
		}
	}
	return true
}

// onlyLetters reports whether s is ASCII letters alone.
func onlyLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isLetter(s[i]) {
			return false
		}
	}
	return true
}

func redactBasic(m string) string {
	g := basicRe.FindStringSubmatch(m)
	if g == nil {
		return m
	}
	word, value := g[1], g[2]
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < 'a' || c > 'z' {
			return word + " " + Redacted
		}
	}
	return m
}

// tokenLike reports whether a path's element reads as a generated value rather than a
// file's name: 16 bytes or more, with a digit, and no '.'.
func tokenLike(elem string) bool {
	return len(elem) >= 16 && strings.IndexByte(elem, '.') < 0 && strings.ContainsAny(elem, "0123456789")
}

// redactUnixPath rewrites an absolute path of two or more elements.
func redactUnixPath(m string) string {
	elems := strings.Split(m[1:], "/")
	if len(elems) == 2 && (elems[0] == "home" || elems[0] == "Users") {
		return "~" // the element after /home is a user name
	}
	if isSecretKey(elems[len(elems)-2], false) {
		// The value the element before it names ("/reset/token/<value>"), without what
		// follows it: a query, a fragment, a sentence's end.
		last := elems[len(elems)-1]
		end := len(last)
		if q := strings.IndexAny(last, "?#"); q >= 0 {
			end = q
		}
		for end > 0 && strings.IndexByte(".!", last[end-1]) >= 0 {
			end--
		}
		if tokenLike(last[:end]) {
			return "[PATH]" + last[end:]
		}
	}
	return "[PATH]/" + elems[len(elems)-1]
}

func redactWindowsPath(m string) string {
	prefix := ""
	if i := strings.IndexByte(m, ':'); i == 2 {
		prefix = m[:1]
	}
	sep := m[len(m)-1:]
	if c := strings.IndexByte(m, ':'); m[c+2:] == "[PATH]"+sep {
		return m // a path redacted already, after a drive of its own ("C:\C:\dir\")
	}
	return prefix + "[PATH]" + sep
}

// cutWord cuts s to at most n bytes at a rune boundary and, when the cut falls inside a
// word, drops that word too: half a token must not survive for lack of its other half.
func cutWord(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := cutRune(s, n)
	if isWordByte(s[len(cut)]) && !wordBreakAt(s[len(cut):]) {
		end := len(cut)
		for end > 0 && isWordByte(cut[end-1]) && !wordBreakBefore(cut[:end]) {
			end--
		}
		cut = cut[:end]
	}
	return cut
}

// cjkStops are the full stop and comma that end a phrase of Chinese or Japanese text,
// which has no spaces between its words.
var cjkStops = [...]string{"\u3002", "\u3001", "\uFF0C", "\uFF0E"}

// wordBreakAt reports whether s starts with a wide space or a CJK stop: a non-ASCII
// break between words, where cutWord may cut.
func wordBreakAt(s string) bool {
	if spaceAt(s) > 0 {
		return true
	}
	for _, c := range cjkStops {
		if strings.HasPrefix(s, c) {
			return true
		}
	}
	return false
}

// wordBreakBefore reports whether s ends with a break as wordBreakAt's.
func wordBreakBefore(s string) bool {
	if spaceBefore(s) > 0 {
		return true
	}
	for _, c := range cjkStops {
		if strings.HasSuffix(s, c) {
			return true
		}
	}
	return false
}

// cutRune cuts s to at most n bytes without splitting a UTF-8 sequence.
func cutRune(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '.' || c == '+' || c == '/' || c == '=' || c == '%' || c >= 0x80
}

// containsAnyFold reports whether s contains one of the lower-case ASCII needles,
// ignoring ASCII case.
func containsAnyFold(s string, needles []string) bool {
	for _, n := range needles {
		if indexFold(s, n) >= 0 {
			return true
		}
	}
	return false
}

// indexFold is strings.Index ignoring ASCII case; needle must be lower case. It does not
// allocate, unlike lower-casing s.
func indexFold(s, needle string) int {
	if needle == "" {
		return 0
	}
	first := needle[0]
	for i := 0; i+len(needle) <= len(s); i++ {
		if lowerASCII(s[i]) != first {
			continue
		}
		j := 1
		for j < len(needle) && lowerASCII(s[i+j]) == needle[j] {
			j++
		}
		if j == len(needle) {
			return i
		}
	}
	return -1
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// rewriter accumulates a copy of s with some spans replaced; it copies nothing when no
// span is replaced.
type rewriter struct {
	s    string
	b    strings.Builder
	last int
}

func (w *rewriter) replace(start, end int, with string) {
	if w.b.Len() == 0 {
		w.b.Grow(len(w.s))
	}
	w.b.WriteString(w.s[w.last:start])
	w.b.WriteString(with)
	w.last = end
}

// String returns the rewritten text.
func (w *rewriter) String() string {
	if w.last == 0 && w.b.Len() == 0 {
		return w.s
	}
	w.b.WriteString(w.s[w.last:])
	return w.b.String()
}

func isWordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// redactUNCPaths rewrites the Windows paths that a doubled backslash starts: UNC paths
// (\\server\share\dir\file), the same escaped as a JSON or Go string holds them but
// unquoted (\\\\server\\share\\…), and drive paths so escaped (C:\\Users\\alice\\x.txt),
// which the drive rules do not read. Every element but the last goes, as "[PATH]\"; a
// path ending in a backslash goes whole, and so does a home directory (an element
// after "Users", a user's name), as "~". A run of backslashes of any length separates
// elements, so that paths run together are one (the first's file name goes with the
// next one's directories): what is left has no doubled backslash for another pass.
func redactUNCPaths(s string) string {
	w := rewriter{s: s}
	for i := 0; i+1 < len(s); {
		if s[i] != '\\' || s[i+1] != '\\' || i > 0 && s[i-1] == '\\' {
			i++
			continue
		}
		start := i
		if i >= 2 && s[i-1] == ':' && isLetter(s[i-2]) && (i == 2 || !isWordChar(s[i-3])) {
			start = i - 2 // a drive: C:\\Users…
		}
		// Walk the elements; at each turn s[j] is a backslash.
		elems, j := 0, i
		var prev, last string // the last two elements
		last0 := 0            // where the last one starts
		trailing := false     // the path ends in a backslash
		for {
			for j < len(s) && s[j] == '\\' {
				j++
			}
			k := j
			for k < len(s) && isWinPathByte(s[k]) {
				k++
			}
			if k == j {
				trailing = true
				break
			}
			elems++
			prev, last, last0, j = last, s[j:k], j, k
			if j == len(s) || s[j] != '\\' {
				break
			}
		}
		switch {
		case elems == 0 || elems == 1 && !trailing:
			// "\\" alone, "\\server" alone: no path
		case trailing:
			w.replace(start, j, `[PATH]\`)
		case strings.EqualFold(prev, "users"):
			// The sentence's punctuation after the name stays.
			w.replace(start, last0+len(strings.TrimRight(last, ".,;)]}")), "~")
		default:
			w.replace(start, last0, `[PATH]\`)
		}
		i = j
	}
	return w.String()
}

// isWinPathByte reports whether c may be in an element of a Windows path: no separator,
// space, quote, nor a character Windows forbids in a name.
func isWinPathByte(c byte) bool {
	return c != '\\' && c != '/' && !isSpaceAny(c) && strings.IndexByte(`'"<>|?*:`, c) < 0
}

func isSpaceAny(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// redactURLs passes every scheme://… in s through redactURL. The URL runs to whitespace,
// a quote, '<', '>' or a backtick.
func redactURLs(s string) string {
	w := rewriter{s: s}
	for from := 0; ; {
		st, end := nextURL(s, from)
		if st < 0 {
			break
		}
		w.replace(st, end, redactURL(s[st:end]))
		from = end
		if ts, te := wrappedQueryTail(s, st, end); te > ts {
			w.replace(ts, te, Redacted)
			from = te
		}
	}
	return w.String()
}

// wrappedQueryTail returns the span of the first word of the line after the URL s[st:end]
// when the URL ends the line inside its query's last parameter, as a message wrapped at a
// fixed width leaves a pre-signed link: with a key cut short ("…&X-Amz-Sig" and
// "nature=…" on the next line), with its value not begun ("…&sig=" and the signature
// below), or inside the value of a key that names a secret ("…&X-Amz-Signature=0123" and
// "4567…"). That word may be the rest of the parameter; else end, end.
func wrappedQueryTail(s string, st, end int) (int, int) {
	if end == len(s) || s[end] != '\n' && s[end] != '\r' {
		return end, end
	}
	u := strings.TrimRight(s[st:end], ".,;:)]}!")
	q := strings.IndexByte(u, '?')
	if q < 0 || len(u) != end-st || strings.IndexByte(u[q:], '#') >= 0 {
		return end, end
	}
	last := u[q+1:]
	if a := strings.LastIndexByte(last, '&'); a >= 0 {
		last = last[a+1:]
	}
	eq := strings.IndexByte(last, '=')
	if eq >= 0 && eq < len(last)-1 && !isSecretKey(last[:eq], false) {
		return end, end // a whole parameter: the line ended with the URL
	}
	ts := end
	if s[ts] == '\r' {
		ts++
	}
	if ts < len(s) && s[ts] == '\n' {
		ts++
	}
	for ts < len(s) && (s[ts] == ' ' || s[ts] == '\t') {
		ts++
	}
	te := ts
	for te < len(s) && !isSpaceAny(s[te]) && strings.IndexByte("'\"<>`", s[te]) < 0 {
		te++
	}
	if eq >= 0 && !queryValue(s[ts:te]) {
		return end, end // the next line's own text ("SQLSTATE: …"), no signature's rest
	}
	if eq < 0 && strings.IndexByte(s[ts:te], '=') < 0 {
		// A key cut short goes on with the rest of the key and its value ("nature=…"); a
		// word without '=' starts the next line's own text ("?wait" and "SQLSTATE: …").
		return end, end
	}
	return ts, te
}

// queryValue reports whether w could be (the rest of) a query's value: a signature's hex,
// base64 or percent-encoding, which holds no ':' or other punctuation.
func queryValue(w string) bool {
	for i := 0; i < len(w); i++ {
		if c := w[i]; !isWordChar(c) && strings.IndexByte("-.~%+/=", c) < 0 {
			return false
		}
	}
	return w != ""
}

// nextURL returns the span of the first scheme://… at or after from: from its scheme's
// first letter to whitespace, a quote, '<', '>' or a backtick; or -1, -1. A "://" with
// no scheme before it or nothing after it is no URL.
func nextURL(s string, from int) (int, int) {
	lo := from
	for {
		k := strings.Index(s[from:], "://")
		if k < 0 {
			return -1, -1
		}
		k += from
		from = k + 3
		st := k
		for st > lo && (isLetter(s[st-1]) || isDigit(s[st-1]) || strings.IndexByte("+.-", s[st-1]) >= 0) {
			st--
		}
		for st < k && !isLetter(s[st]) {
			st++ // a scheme starts with a letter: what comes before is not the URL's
		}
		if st == k {
			continue // no scheme: no URL (and no scan to the next blank, once per "://")
		}
		end := k + 3
		for end < len(s) && !isSpaceAny(s[end]) && strings.IndexByte("'\"<>`", s[end]) < 0 {
			end++
		}
		if end > k+3 {
			return st, end
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// redactSingleQuoted replaces '…' literals with '?' (SQL's ” and \' escapes honoured).
func redactSingleQuoted(s string) string { return redactQuoted(s, '\'') }

// redactDoubleQuoted replaces "…" strings with "?" (\" escapes honoured), and \"…\"
// strings (JSON quoted inside a JSON string, printed without the outer quotes) with \"?\".
func redactDoubleQuoted(s string) string { return redactQuoted(s, '"') }

// redactBackquoted replaces the names Databricks quotes back in backticks (tables,
// columns, schemas: `main`.`hr`.`salaries` → `?`.`?`.`?`): they come from the user's SQL.
func redactBackquoted(s string) string { return redactQuoted(s, '`') }

// redactQuoted replaces quoted text with q?q. A quote opens only after a non-word
// character (don't, O'Brien), or after a one-letter SQL literal prefix that starts a word
// (X'…', r'…', N'…': see literalPrefix); a quote followed by a word character does not
// close, so that a stray quote cannot shift the pairing and expose a literal; an unclosed
// quote runs to the end, since a literal cut short is still a literal. For q == '"', an
// escaped quote outside any string opens a string that the same escape closes: \"…\"
// (JSON quoted inside a JSON string), \\\"…\\\" (two levels deep), and so on.
//
// A server quotes a value without escaping the quotes it holds ('It's 'x' y' to INT32,
// "{"k": v}"): a literal that seems to close is read on to a later quote while the
// quotes after it could not pair up (an odd number of them), or while the next one could
// not open a literal (it follows a word: y'), since both mean the value held a quote.
//
// A pass's output can pair up differently (an unclosed quote after a backslash becomes a
// closed one, '?'), so the passes repeat until nothing changes: Redact must be
// idempotent. The repeats stop after maxQuotedPasses.
func redactQuoted(s string, q byte) string {
	for range maxQuotedPasses {
		t := redactQuotedOnce(s, q)
		if t == s {
			break
		}
		s = t
	}
	return s
}

// maxQuotedPasses bounds redactQuoted's passes; two reach the fixed point on every input
// found so far.
const maxQuotedPasses = 4

// redactQuotedOnce is one pass of redactQuoted.
func redactQuotedOnce(s string, q byte) string {
	w := rewriter{s: s}
	var free []int // positions of the quotes that may open or close (freeQuotes), made on demand
	for i := 0; i < len(s); i++ {
		n := 0 // the backslashes that escape the quote
		for q == '"' && i+n < len(s) && s[i+n] == '\\' {
			n++
		}
		if i+n >= len(s) || s[i+n] != q {
			i += max(n-1, 0)
			continue
		}
		if i > 0 && !opensLiteral(s, i, q) {
			i += n
			continue
		}
		open := s[i : i+n+1]
		var end int
		if n <= 1 {
			end = quotedEnd(s, i+len(open), q, n == 1, true)
			if n == 0 {
				if free == nil {
					free = freeQuotes(s, q)
				}
				for end < len(s) && heldQuote(s, end, q, free) {
					end = quotedEnd(s, end, q, false, true)
				}
			}
		} else {
			end = deepQuotedEnd(s, i+len(open), n, q)
		}
		w.replace(i, end, open+"?"+open)
		i = end - 1
	}
	return w.String()
}

// opensLiteral reports whether the quote q at s[i] (i > 0) may open a literal: after a
// non-word character, or after a literal prefix (see literalPrefix).
func opensLiteral(s string, i int, q byte) bool {
	p := s[i-1]
	return !(isWordChar(p) || p == q || p == '\\' && q == '"') || literalPrefix(s, i, q)
}

// freeQuotes returns the positions of the quotes q in s that may open or close a
// literal: neither escaped by a backslash nor inside a word (don't) unless they start a
// prefixed literal (X'…').
func freeQuotes(s string, q byte) []int {
	free := []int{}
	for k := 0; k < len(s); k++ {
		if s[k] != q || k > 0 && s[k-1] == '\\' {
			continue
		}
		if k > 0 && isWordChar(s[k-1]) && k+1 < len(s) && isWordChar(s[k+1]) && !literalPrefix(s, k, q) {
			continue
		}
		free = append(free, k)
	}
	return free
}

// heldQuote reports whether the literal that seemed to close just before s[end] goes
// on: an odd number of free quotes follow, or the next one could not open a literal.
func heldQuote(s string, end int, q byte, free []int) bool {
	k, _ := slices.BinarySearch(free, end)
	if (len(free)-k)%2 == 1 {
		return true
	}
	return k < len(free) && !opensLiteral(s, free[k], q)
}

// literalPrefix reports whether the single quote at s[i] follows a one-letter prefix of
// a SQL literal that starts a word: X'…' (binary), r'…' (raw string), N'…', B'…' and
// E'…' (other dialects). The quote of "don't" follows a letter inside a word.
func literalPrefix(s string, i int, q byte) bool {
	if q != '\'' || i == 0 || strings.IndexByte("bBeEnNrRxX", s[i-1]) < 0 {
		return false
	}
	return i == 1 || !isWordChar(s[i-2])
}

// deepQuotedEnd returns the index just past the quote q that closes a string opened by
// n >= 2 backslashes and q (JSON quoted inside JSON strings nested two levels deep
// escapes its quotes with 3 backslashes, three levels with 7): the first q after exactly
// n backslashes and not followed by a word character, or len(s) when there is none. A
// quote escaped one level deeper, inside the string, has more backslashes.
func deepQuotedEnd(s string, from, n int, q byte) int {
	for j := from; j < len(s); j++ {
		if s[j] != '\\' {
			continue
		}
		k := j
		for k < len(s) && s[k] == '\\' {
			k++
		}
		if k-j == n && k < len(s) && s[k] == q && (k+1 == len(s) || !isWordChar(s[k+1])) {
			return k + 1
		}
		j = k - 1
	}
	return len(s)
}

// quotedEnd returns the index just past the quote q that closes the string whose text
// starts at s[from], or len(s) when the string is unclosed. A backslash escapes the next
// character. When escaped, the string is itself inside a JSON string: s is read unescaped
// one level (\x stands for x), so \" closes it and \\\" is an escaped quote inside it.
// When wordy, a quote followed by a word character does not close, and neither does a
// doubled single quote (SQL's escape for a quote).
func quotedEnd(s string, from int, q byte, escaped, wordy bool) int {
	for j := from; j < len(s); {
		c, n := unescapedAt(s, j, escaped)
		j += n
		switch {
		case c == '\\':
			if j < len(s) {
				_, n = unescapedAt(s, j, escaped)
				j += n
			}
		case c != q:
		case wordy && j < len(s) && (isWordChar(s[j]) || q != '"' && s[j] == q):
			j++ // an escaped '' (or ``) or a quote inside a word
		default:
			return j
		}
	}
	return len(s)
}

// unescapedAt returns the character at s[j] and the bytes it takes: when escaped, a
// backslash pair \x stands for x.
func unescapedAt(s string, j int, escaped bool) (byte, int) {
	if escaped && s[j] == '\\' && j+1 < len(s) {
		return s[j+1], 2
	}
	return s[j], 1
}

func isPathPrefix(c byte) bool {
	return isSpaceAny(c) || strings.IndexByte("([{=,:;'\"<>`", c) >= 0
}

func isPathByte(c byte) bool {
	return !isSpaceAny(c) && strings.IndexByte("/'\"()[]<>,:;*|", c) < 0
}

// redactUnixPaths rewrites absolute paths of two or more elements that start the text or
// follow whitespace or one of ( [ = , : ' " < > (so URL paths are left alone).
func redactUnixPaths(s string) string {
	w := rewriter{s: s}
	for i := 0; i < len(s); i++ {
		if s[i] != '/' || i > 0 && !isPathPrefix(s[i-1]) {
			continue
		}
		j, elems := i, 0
		for j < len(s) && s[j] == '/' {
			k := j + 1
			for k < len(s) && isPathByte(s[k]) {
				k++
			}
			if k == j+1 {
				break
			}
			elems++
			j = k
		}
		if elems < 2 {
			continue
		}
		w.replace(i, j, redactUnixPath(s[i:j]))
		i = j - 1
	}
	return w.String()
}

// redactEmails replaces local@domain.tld with [EMAIL].
func redactEmails(s string) string {
	w := rewriter{s: s}
	isLocal := func(c byte) bool {
		return isLetter(c) || c >= '0' && c <= '9' || strings.IndexByte("._%+-", c) >= 0
	}
	isDomain := func(c byte) bool { return isLetter(c) || c >= '0' && c <= '9' || c == '.' || c == '-' }
	for i := 0; i < len(s); i++ {
		if s[i] != '@' {
			continue
		}
		st := i
		for st > w.last && isLocal(s[st-1]) {
			st--
		}
		if st == i {
			continue
		}
		de := i + 1
		for de < len(s) && isDomain(s[de]) {
			de++
		}
		// The address ends after the last ".tld" (two letters or more) of the domain run.
		end := -1
		for e := de; e > i+1; {
			l := e
			for l > i+1 && isLetter(s[l-1]) {
				l--
			}
			if e-l >= 2 && l-1 > i+1 && s[l-1] == '.' {
				end = e
				break
			}
			if l < e {
				e = l // no shorter end inside this run of letters can do better
			} else {
				e--
			}
		}
		if end < 0 {
			continue
		}
		w.replace(st, end, "[EMAIL]")
		i = end - 1
	}
	return w.String()
}

// redactUserinfo rewrites a userinfoRe match, user and secret, as "[REDACTED]@"; but
// not a path that a first pass redacted after a colon ("SQLSTATE:/home/u/@" became
// "SQLSTATE:[PATH]/@", no userinfo then, and none now).
func redactUserinfo(m string) string {
	if secret := m[strings.IndexByte(m, ':')+1:]; strings.HasPrefix(secret, "[PATH]") {
		return m
	}
	return Redacted + "@"
}

// hasUserinfo reports whether some '@' follows a "name:secret" run (no space or quote
// in between), the only shape userinfoRe can match.
func hasUserinfo(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '@' {
			continue
		}
		for j := i - 1; j >= 0; j-- {
			c := s[j]
			if c == ':' {
				return true
			}
			if isSpaceAny(c) || c == '\'' || c == '"' || c == '`' || c == '@' {
				break
			}
		}
	}
	return false
}

// hasDrive reports whether s holds a drive letter ("C:\" or "C:/") not preceded by an
// alphanumeric (so "https://" is not one).
func hasDrive(s string) bool {
	for i := 1; i+1 < len(s); i++ {
		if s[i] == ':' && (s[i+1] == '\\' || s[i+1] == '/') && isLetter(s[i-1]) &&
			(i < 2 || !isLetter(s[i-2]) && (s[i-2] < '0' || s[i-2] > '9')) {
			return true
		}
	}
	return false
}

// hasOpenTag reports whether s holds "<" followed by a character of an element's name
// (a word character, "." or "-"): where secretElementRe can start to match.
func hasOpenTag(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if c := s[i+1]; s[i] == '<' && (isLetter(c) || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return true
		}
	}
	return false
}
