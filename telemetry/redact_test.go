package telemetry

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testPAT = "dapi0123456789abcdef0123456789abcdef"
	testJWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MX0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"plain text stays", "failed to execute query: operation canceled", "failed to execute query: operation canceled"},
		{"numbers and error classes stay, names go", "[DIVIDE_BY_ZERO] Division by zero in `main`.`t` at line 1, pos 7", "[DIVIDE_BY_ZERO] Division by zero in `?`.`?` at line 1, pos 7"},
		{"a value the server could not cast", `[CAST_OVERFLOW] The value 987654321L of the type "BIGINT" cannot be cast to "TINYINT" due to an overflow. SQLSTATE: 22003`,
			`[CAST_OVERFLOW] The value ? of the type "?" cannot be cast to "?" due to an overflow. SQLSTATE: 22003`},
		{"a value out of range, the type's size stays", "[NUMERIC_VALUE_OUT_OF_RANGE] 4242424.00 cannot be represented as Decimal(5, 2). SQLSTATE: 22003",
			"[NUMERIC_VALUE_OUT_OF_RANGE] ? cannot be represented as Decimal(5, 2). SQLSTATE: 22003"},
		{"duckdb's cast error", "Conversion Error: Type INT64 with value 987654321 can't be cast because the value is out of range for the destination type INT8",
			"Conversion Error: Type INT64 with value ? can't be cast because the value is out of range for the destination type INT8"},
		{"literal forms", "values -1.5E3, 7BD, 12S, 3.25 and 42.", "values -?, ?, ?, ? and ?."},
		{"dates and times", "at 2026-11-26 09:03:55.123", "at ?-?-? ?:?:?"},
		{"positions, codes and statuses stay", "(line 12, pos 7) LINE 3: SQLSTATE: 22012 status 503, code=8", "(line 12, pos 7) LINE 3: SQLSTATE: 22012 status 503, code=8"},
		{"numbers inside names stay", "INT64 0x1d 10s v1.2.3 1.2.3 utf-8 adb-1 _LEGACY_ERROR_TEMP_2045 42P01", "INT64 0x1d 10s v1.2.3 1.2.3 utf-8 adb-1 _LEGACY_ERROR_TEMP_2045 42P01"},
		{"ports and lines stay", "dial tcp 10.0.0.1:443: refused at host.example:8443 in main.go:12", "dial tcp 10.0.0.1:443: refused at host.example:8443 in main.go:12"},
		{"addresses with digits", "denied for alice.wong@163.com and bob+12345@corp.example", "denied for [EMAIL] and [EMAIL]"},
		{"a number beside a url", "rows (987654321,https://h.example:8443/x)", "rows (?,https://h.example:8443/x)"},
		{"http statuses stay", "HTTP/1.1 503 Service Unavailable, unexpected HTTP 429, HTTP error 403", "HTTP/1.1 503 Service Unavailable, unexpected HTTP 429, HTTP error 403"},
		{"keyed and struct values go", "ssn:123456789 {ID:987654321 Salary:120000} host:443", "ssn:? {ID:? Salary:?} host:?"},
		{"iso and us dates go", "at 2026-11-26T09:03:55Z or 11/26/2026", "at ?-?-?T?:?:? or ?/?/?"},
		{"lower-case long suffix", "value 987654321l", "value ?"},
		{"urls stay whole", "GET https://h.example:8443/sql/1.0/warehouses/12 failed", "GET https://h.example:8443/sql/1.0/warehouses/12 failed"},
		{"names Databricks quotes", "[TABLE_OR_VIEW_NOT_FOUND] The table or view `main`.`hr`.`salaries_secret` cannot be found. SQLSTATE: 42P01",
			"[TABLE_OR_VIEW_NOT_FOUND] The table or view `?`.`?`.`?` cannot be found. SQLSTATE: 42P01"},
		{"suggested names", "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column with name `ssn` cannot be resolved. Did you mean one of the following? [`ssn_number`, `name`].",
			"[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column with name `?` cannot be resolved. Did you mean one of the following? [`?`, `?`]."},
		{"doubled backtick in a name", "table `we``ird name` not found", "table `?` not found"},
		{"unclosed backtick", "near `salaries_secret", "near `?`"},
		{"bearer", "Authorization: Bearer " + testPAT, "Authorization: Bearer [REDACTED]"},
		{"bearer jwt", "authorization=bearer " + testJWT, "authorization=bearer [REDACTED]"},
		{"authorization, other schemes", "request had Authorization: token ghp_abcdefgh12345678 set; Proxy-Authorization: Negotiate YIIGhgYGKwYBBQUCoIIGejCC",
			"request had Authorization: token [REDACTED] set; Proxy-Authorization: Negotiate [REDACTED]"},
		{"authorization in words", "authorization failed: denied for user", "authorization failed: denied for user"},
		{"short bearer credentials", "upstream said: Authorization: Bearer s3cr3t; Bearer abc123, Bearer: abc",
			"upstream said: Authorization: Bearer [REDACTED]; Bearer [REDACTED], Bearer [REDACTED]"},
		{"a header as Go prints it", "map[Authorization:[Bearer tok]]", "map[Authorization:[Bearer [REDACTED]]]"},
		{"a bare token in the header", "Authorization: opaquetoken was rejected", "Authorization: [REDACTED] was rejected"},
		{"encoded authorization", "proxy refused Authorization=Bearer%20opaqueTok3n99 and Authorization%3A+Bearer+mytokenvalue123",
			"proxy refused Authorization=Bearer [REDACTED] and Authorization%3A+Bearer [REDACTED]"},
		{"encoded bearer", "authorization: bearer+mytokenvalue123 or ?access=Bearer%20xyz",
			"authorization: bearer [REDACTED] or ?access=Bearer [REDACTED]"},
		{"bearer in prose stays", "the jwt bearer grant failed: bearer token expired", "the jwt bearer grant failed: bearer token expired"},
		{"a password with a slash, no scheme", "token:abc/defghij+kl==@host.cloud.databricks.com failed", "[REDACTED]@host.cloud.databricks.com failed"},
		{"a password with a slash or '#' in an url", "https://token:abc/defghij@host/x and https://user:p#ss@host2/y",
			"https://[REDACTED]@host/x and https://[REDACTED]@host2/y"},
		{"an url's port, path and address stay apart", "https://h.example:8443/p?to=a@b.example", "https://h.example:8443/[PATH]"},
		{"statuses in parentheses stay", "rate limit exceeded (HTTP 429); refused (HTTP error 503)", "rate limit exceeded (HTTP 429); refused (HTTP error 503)"},
		{"basic", "Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic [REDACTED]"},
		{"basic as a word stays", "basic authentication is not enabled", "basic authentication is not enabled"},
		{"jwt alone", "token " + testJWT + " expired", "token [REDACTED] expired"},
		// An unsigned JWT (alg none) ends with its second dot; its payload is no less private.
		{"unsigned jwt", "id eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZUBleGFtcGxlLmNvbSJ9. rejected", "id [REDACTED] rejected"},
		{"pat alone", "invalid " + testPAT + "-2 given", "invalid [REDACTED] given"},
		{"dose secret", "secret dose0123456789ABCDEFabcdef0123 leaked", "secret [REDACTED] leaked"},
		{"dkea", "key dkeaABCDEF0123456789abcdef was", "key [REDACTED] was"},
		{"aws key id", "AKIAIOSFODNN7EXAMPLE used", "[REDACTED] used"},
		{"dsn userinfo", "token:" + testPAT + "@adb-1.azuredatabricks.net:443/sql/1.0/warehouses/abc", "[REDACTED]@adb-1.azuredatabricks.net:443/sql/1.0/warehouses/abc"},
		{"url userinfo", "dial https://alice:pw@host.example/x", "dial https://[REDACTED]@host.example/x"},
		{"url query dropped", "GET https://bucket.s3.amazonaws.com/o/1/part-0.arrow?X-Amz-Signature=abc&X-Amz-Credential=AKIA", "GET https://bucket.s3.amazonaws.com/[PATH]"},
		{"signed url path dropped", "download failed for https://files.example.com/oregon-prod/1234567890123456/results/01ef-stmt/part-0.arrow?sig=x: EOF", "download failed for https://files.example.com/[PATH]: EOF"},
		{"object store path dropped", "fetch https://dbstorage-prod-abc.s3.us-west-2.amazonaws.com/oregon-prod/1234567890123456/results/part-0.arrow failed", "fetch https://dbstorage-prod-abc.s3.us-west-2.amazonaws.com/[PATH] failed"},
		{"azure blob path dropped", "GET https://acct.blob.core.windows.net:443/c/1234/part-1.arrow.", "GET https://acct.blob.core.windows.net:443/[PATH]."},
		{"gcs path dropped", "GET https://storage.googleapis.com/bucket/o/part-2.arrow", "GET https://storage.googleapis.com/[PATH]"},
		{"endpoint path kept", "Post https://adb-1.azuredatabricks.net/sql/1.0/warehouses/abc: EOF", "Post https://adb-1.azuredatabricks.net/sql/1.0/warehouses/abc: EOF"},
		{"url fragment dropped, punctuation kept", "see https://h.example/p#frag).", "see https://h.example/p)."},
		{"json secrets", `{"client_secret":"s3cr3t","n":1}`, `{"?":"?","?":?}`},
		{"json unquoted value", `{"api_key": 12345}`, `{"?": "?"}`},
		{"escaped json secret", `token exchange failed: body={\"client_secret\":\"s3cr3tValue99\",\"x\":1}`, `token exchange failed: body={\"?\":\"?\",\"?\":?}`},
		{"escaped json unquoted value", `body={\"api_key\": 12345, \"n\": 2}`, `body={\"?\": \"?\", \"?\": ?}`},
		{"escaped json escaped quote in value", `{\"password\":\"a\\\"b c\",\"n\":1}`, `{\"?\":\"?\",\"?\":?}`},
		{"escaped json unclosed value", `{\"refresh_token\":\"abc def`, `{\"?\":\"?\"`},
		{"escaped json in quoted string", `resp "{\"access_token\":\"abc\"}" ok`, `resp "?" ok`},
		{"escaped literal", `user=\"alice\" denied`, `user=\"?\" denied`},
		{"doubly escaped json", `body={\\\"client_secret\\\":\\\"s3cr3tValue97\\\",\\\"x\\\":1}`, `body={\\\"?\\\":\\\"?\\\",\\\"?\\\":?}`},
		{"doubly escaped quote inside a doubly escaped string", `v=\\\"a\\\\\\\"b c\\\" ok`, `v=\\\"?\\\" ok`},
		{"doubly escaped unclosed", `{\\\"password\\\":\\\"abc def`, `{\\\"?\\\":\\\"?\\\"`},
		{"k=v", "password=hunter2&user=bob", "password=[REDACTED]&user=bob"},
		{"k: v", "login failed: Password: hunter2, user bob", "login failed: Password: [REDACTED], user bob"},
		{"k:v", "client_secret:s3cr3t; next", "client_secret:[REDACTED]; next"},
		{"private key", "jwt bearer grant: private_key=MIIEvQIBADANBgkq failed; privateKey: abcdefgh", "jwt bearer grant: private_key=[REDACTED] failed; privateKey: [REDACTED]"},
		{"azure account and shared access keys", "storage: DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5MTIzNDU2Nzg=;EndpointSuffix=core.windows.net; SharedAccessKey=c2FrZXk=", "storage: DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=[REDACTED];EndpointSuffix=core.windows.net; SharedAccessKey=[REDACTED]"},
		// A cookie header's list goes whole: the cookies after the first are named for
		// anything (DBAUTH, JSESSIONID) and are as secret.
		{"cookie", "proxy answered: Set-Cookie: DBAUTH=abcdef123456; Cookie=xyz", "proxy answered: Set-Cookie: [REDACTED]"},
		{"a cookie list", "Cookie: lang=en; DBAUTH=Zq8vKp3mWx7LtR2s\nnext line", "Cookie: [REDACTED]\nnext line"},
		{"a cookie list before the SQLSTATE", "Invalid Input Error: Cookie: a=1; DBAUTH=Zq8vKp3m SQLSTATE: 22018", "Invalid Input Error: Cookie: [REDACTED] SQLSTATE: 22018"},
		{"a cookie list as Go prints a header", "request headers map[Cookie:[lang=en; DBAUTH=Zq8vKp3m] User-Agent:[x]]", "request headers map[Cookie:[REDACTED] User-Agent:[x]]"},
		{"set-cookie folded", "Set-Cookie: a=1; Path=/, DBAUTH=Zq8vKp3m; Path=/", "Set-Cookie: [REDACTED]"},
		// An '@' in the list (RFC 6265 lets a cookie hold one) or later on the line makes
		// no user:secret@host of it.
		{"a cookie list with an address after it", "Cookie:DBAUTH=Zq8vKp3m; lang=en rejected for alice@example.com", "Cookie:[REDACTED]"},
		{"a cookie holding an address", "Set-Cookie:[DBAUTH=Zq8vKp3m; Path=/ owner=bob@corp.com; Path=/]", "Set-Cookie:[REDACTED]"},
		{"a header map's cookie holding an address", "map[Cookie:[last_user=alice@example.com; DBAUTH=Zq8vKp3m] User-Agent:[x]]", "map[Cookie:[REDACTED] User-Agent:[x]]"},
		// A JSON array of values goes whole, also inside a JSON string.
		{"a JSON cookie list inside a JSON string", `{\"headers\":{\"Cookie\":[\"lang=en; DBAUTH=Zq8vKp3m\"]}}`, `{\"?\":{\"?\":[\"?\"]}}`},
		{"a JSON array of secrets", `{"password":["hunter2 Zq8vKp3m", ["x y"]], "user": "bob"}`, `{"?":["?"], "?": "?"}`},
		{"a cookie key in a query ends at &", "GET /p?cookie=abc&next=x", "GET /p?cookie=[REDACTED]&next=x"},
		{"a colon after a word that names no secret", "failed: timeout: 10s", "failed: timeout: 10s"},
		{"k=v variants", "access_token = abc; refresh_token=def, API-KEY=ghi client_secret='x y'", "access_token = [REDACTED]; refresh_token=[REDACTED], API-KEY=[REDACTED] client_secret=[REDACTED]"},
		{"k=v quoted value with escaped quotes", `login: password="p\"ass word" user=bob; secret='ab\'cd ef' done`, "login: password=[REDACTED] user=bob; secret=[REDACTED] done"},
		{"k=v quoted value escaped one level", `detail: token=\"abc\\\"def ghi\" rest`, `detail: token=[REDACTED] rest`},
		{"k=v unclosed quoted value runs to the end", "connect failed: password='hunter2 and more, token=\"abc123 def", "connect failed: password=[REDACTED]"},
		{"k=v credential keys", "aws_credential=AKIAXXXSECRETVAL rest; Credentials: s3cr3tvalue", "aws_credential=[REDACTED] rest; Credentials: [REDACTED]"},
		{"jdbc pwd", "jdbc:databricks://h:443/default;AuthMech=3;UID=token;PWD=" + "abc123", "jdbc:databricks://h:443/default;AuthMech=3;UID=token;PWD=[REDACTED]"},
		{"single quoted literal", "where name = 'alice' and id = 42", "where name = '?' and id = ?"},
		{"escaped quote in literal", `where s = 'it''s' or s = 'a\'b'`, `where s = '?' or s = '?'`},
		{"apostrophe is not a quote", "can't open the table", "can't open the table"},
		{"prefixed literals", "near X'DEADBEEF', r'raw secret' and N'nchar' in", "near X'?', r'?' and N'?' in"},
		{"apostrophe after a prefix letter inside a word", "don't, isn't, wasn't", "don't, isn't, wasn't"},
		{"a value holding quotes, quoted unescaped", "Could not convert string 'It's 'quoted' tail-Aq7' to INT32", "Could not convert string '?' to INT32"},
		{"a value holding a quote before a space", "Could not convert string 'abc' tail-Bq7' to INT32", "Could not convert string '?' to INT32"},
		{"a value holding two quotes", "Could not convert string 'a' b-Cq7' c-Cq7' to INT32", "Could not convert string '?' to INT32"},
		{"json echoed in double quotes", `Malformed JSON at byte 8 of input: unexpected character.  Input: "{"ssn": tail-Dq7}" SQLSTATE: 22018`,
			`Malformed JSON at byte ? of input: unexpected character.  Input: "?" SQLSTATE: 22018`},
		{"literals side by side stay apart", "Could not parse string \"x\" according to format specifier \"%Y\" in ENUM('a', 'b')", "Could not parse string \"?\" according to format specifier \"?\" in ENUM('?', '?')"},
		{"no status after HTTP/ without a version", `HTTP/x" 123 and HTTP/2 503`, `HTTP/x" ? and HTTP/2 503`},
		{"a decimal before a colon is no host", "12.50:3 at host.example:443 and 10.0.0.1:8080", "?:? at host.example:443 and 10.0.0.1:8080"},
		{"a record a parser rejected", "[MALFORMED_RECORD_IN_PARSING.WITHOUT_SUGGESTION] Malformed records are detected in record parsing: [Alice Smith,null]. Parse Mode: FAILFAST. SQLSTATE: 22023",
			"[MALFORMED_RECORD_IN_PARSING.WITHOUT_SUGGESTION] Malformed records are detected in record parsing: [REDACTED]. Parse Mode: FAILFAST. SQLSTATE: 22023"},
		{"a record a parser rejected, at the end", "Malformed records are detected in record parsing: Alice Smith",
			"Malformed records are detected in record parsing: [REDACTED]"},
		{"a duplicate map key", "[DUPLICATED_MAP_KEY] Duplicate map key alice.smith was found, please check the input data. SQLSTATE: 23505",
			"[DUPLICATED_MAP_KEY] Duplicate map key [REDACTED] was found, please check the input data. SQLSTATE: 23505"},
		{"a JSON field's value", `[CANNOT_PARSE_JSON_FIELD] Cannot parse the field name 'x' and the value alice smith of the JSON token type VALUE_STRING to target Spark data type "INT".`,
			`[CANNOT_PARSE_JSON_FIELD] Cannot parse the field name '?' and the value [REDACTED] of the JSON token type VALUE_STRING to target Spark data type "?".`},
		{"the values of a row a constraint rejected", "[DELTA_VIOLATE_CONSTRAINT_WITH_VALUES] CHECK constraint c (balance >= 0) violated by row with values:\n - name : Alice Smith\n - balance : -5",
			"[DELTA_VIOLATE_CONSTRAINT_WITH_VALUES] CHECK constraint c (balance >= ?) violated by row with values: [REDACTED]"},
		{"the message of raise_error", "[USER_RAISED_EXCEPTION] customer 4711 Alice Smith has a negative balance SQLSTATE: P0001",
			"[USER_RAISED_EXCEPTION] [REDACTED] SQLSTATE: P0001"},
		{"the message of raise_error, last", "[USER_RAISED_EXCEPTION] Alice Smith\nsecond line", "[USER_RAISED_EXCEPTION] [REDACTED]"},
		{"unclosed literal runs to end", "near 'select * from secret_table", "near '?'"},
		{"double quoted", `strconv.ParseInt: parsing "hunter2": invalid syntax`, `strconv.ParseInt: parsing "?": invalid syntax`},
		{"sql block runs to the end", "[PARSE_SYNTAX_ERROR] Syntax error at or near 'selec'. SQLSTATE: 42601\n\n== SQL ==\nselec ssn from people\n^^^\n\nnext", "[PARSE_SYNTAX_ERROR] Syntax error at or near '?'. SQLSTATE: 42601\n\n== SQL == [REDACTED]"},
		{"sql block with position", "== SQL (line 1, position 8) ==\nselect 1 frm t\n--------^^^", "== SQL (line 1, position 8) == [REDACTED]"},
		{"sql block with a blank line in the query", "[PARSE_SYNTAX_ERROR] Syntax error at or near 'FROM'. SQLSTATE: 42601 (line 1, pos 11)\n\n== SQL ==\nSELECT ssn,\n-----------^^^\n\n  salary FROM hr.employees WHERE salary > 250000 AND ssn = 123456789\n", "[PARSE_SYNTAX_ERROR] Syntax error at or near '?'. SQLSTATE: 42601 (line 1, pos 11)\n\n== SQL == [REDACTED]"},
		{"sql of view header", "[CAST_INVALID_INPUT] ... SQLSTATE: 22018\n== SQL of VIEW main.hr.v_pay (line 1, position 8) ==\nselect cast(ssn as int) from hr.employees where salary > 250000\n       ^^^^\n", "[CAST_INVALID_INPUT] ... SQLSTATE: 22018\n== SQL of VIEW main.hr.v_pay (line 1, position 8) == [REDACTED]"},
		{"sql header with position and blank lines", "[DIVIDE_BY_ZERO] Division by zero. SQLSTATE: 22012\n== SQL (line 3, position 9) ==\nselect\n\n  1/0 from hr.employees\n\n  where ssn = 123456789", "[DIVIDE_BY_ZERO] Division by zero. SQLSTATE: 22012\n== SQL (line 3, position 9) == [REDACTED]"},
		{"two sql blocks", "[X] a. SQLSTATE: 42000\n== SQL ==\nselect salary\n\n== SQL of VIEW v (line 1, position 1) ==\nselect ssn from hr.employees\n", "[X] a. SQLSTATE: 42000\n== SQL == [REDACTED]"},
		{"sql header without spaces", "err\n==SQL==\nselect 123456789", "err\n==SQL== [REDACTED]"},
		{"sql header holding an equals sign", "== SQL of VIEW `a=b` (line 1, position 1) ==\nselect ssn from t", "== SQL of VIEW `?` (line 1, position 1) == [REDACTED]"},
		{"sql as a word is no header", "== SQLite == select 1 from hr.employees", "== SQLite == select ? from hr.employees"},
		{"home path", "open /home/alice/project/config.yaml: no such file", "open [PATH]/config.yaml: no such file"},
		{"home directory itself", "cd /Users/bob failed", "cd ~ failed"},
		{"go stack frame", "\t/root/go/pkg/mod/github.com/x/y@v1.2.3/internal/errors/err.go:127 +0x1d", "\t[PATH]/err.go:127 +0x1d"},
		{"app directory", "load /opt/myapp/conf/app.ini: denied", "load [PATH]/app.ini: denied"},
		{"windows path", `open C:\Users\carol\AppData\app.log failed`, `open [PATH]\app.log failed`},
		{"windows home directory itself", `cd C:\Users\alice: denied`, `cd ~: denied`},
		{"unc path", `open \\fileserver\users\alice\report.xlsx failed`, `open [PATH]\report.xlsx failed`},
		{"unc paths run together", `\\hostA\s\f.txt;\\hostB\s\g.txt or \\srv\share\\srv2\share2\ or \\a\s\\b\s\\c\s\\d\s\x`,
			`[PATH]\g.txt or [PATH]\ or [PATH]\x`},
		{"unc path after a drive", `path C:\\\corp-fs\share\file.txt`, `path [PATH]\file.txt`},
		{"escaped paths, unquoted", `open C:\\Users\\alice\\secret\\x.txt or \\\\fileserver\\users\\bob\\r.xlsx failed`,
			`open [PATH]\x.txt or [PATH]\r.xlsx failed`},
		{"home directories, unc or escaped", `at C:\\Users\\alice, then \\srv\Users\bob failed`, `at ~, then ~ failed`},
		{"a server alone stays", `\\server and a\\b`, `\\server and a\\b`},
		{"file url", "open file:///home/alice/projects/q3/report.csv: no such file", "open file://[PATH]/report.csv: no such file"},
		{"path in backticks", "cannot read `/home/alice/data/x.parquet`", "cannot read `?`"},
		{"path in braces", "path {/home/alice/data/x.parquet}", "path {[PATH]/x.parquet}"},
		{"path after a semicolon", "a;/home/alice/data/x.parquet", "a;[PATH]/x.parquet"},
		{"dbfs path", "read dbfs:/mnt/raw/customers.csv", "read dbfs:[PATH]/customers.csv"},
		{"single element path stays", "no /tmp", "no /tmp"},
		{"email", "User alice@example.com does not have USE CATALOG", "User [EMAIL] does not have USE CATALOG"},
		{"workspace user path", "/Workspace/Users/alice@example.com/etl", "[PATH]/etl"},
		{"invalid utf8", "bad \xff\xfe password=x", "bad \uFFFD password=[REDACTED]"},
		// Escaped and encoded forms: a query string inside a JSON string (& as \u0026),
		// one percent-encoded inside another URL (= as %3D, & as %26, ? as %3F).
		{"a SAS signature after \\u0026", `GET acct.blob.core.windows.net/c/f.arrow?sv=x\u0026sig=AbCdEf123%2BxyZ failed`,
			`GET acct.blob.core.windows.net/c/f.arrow?sv=x\u0026sig=[REDACTED] failed`},
		{"a SAS signature after \\x26", `?sv=x\x26sig=AbCdEf123 failed`, `?sv=x\x26sig=[REDACTED] failed`},
		{"an encoded query", `GET /c/f.arrow?X-Amz-Signature%3Ddeadbeefcafe failed`, `GET [PATH]/f.arrow?X-Amz-Signature%?[REDACTED] failed`},
		{"an encoded URL's query, parameter by parameter", `next=b.s3.amazonaws.com%2Fk%3FX-Amz-Signature%3Ddeadbeefcafe%26X-Amz-Credential%3Dkeyid%2Fscope%26X-Amz-Expires%3D900`,
			`next=b.s3.amazonaws.com%2Fk%3FX-Amz-Signature%?[REDACTED]%26X-Amz-Credential%?[REDACTED]%26X-Amz-Expires%3D900`},
		{"an encoded sig after %26", `link b.core.windows.net%2Fc%3Fsv%3Dx%26sig%3DAbCdEf123 gone`, `link b.core.windows.net%2Fc%3Fsv%3Dx%26sig%?[REDACTED] gone`},
		// Encoded twice (a link inside a query inside another URL's): = as %253D, & as %2526.
		{"an encoded sig after %2526", `next=%252Ff%253Fsv%253D2020%2526sig%253DZq8vKp3mWx7LtR2s%2526a%253Db`, `next=%252Ff%253Fsv%253D2020%2526sig%?[REDACTED]%2526a%253Db`},
		{"a signature encoded twice", `to https%253A%252F%252Fb.s3.amazonaws.com%252Ff%253FX-Amz-Signature%253DZq8vKp3m`, `to https%253A%?%252Fb.s3.amazonaws.com%252Ff%253FX-Amz-Signature%?[REDACTED]`},
		// '=' escaped in a JSON string (Java's Gson writes every '=' so) or a Python one.
		{"a SAS query Gson wrote", `GET acct.blob.core.windows.net/c/f.arrow?sv\u003dx\u0026sig\u003dAbCdEfGhQ\u0026se\u003dy failed`, `GET acct.blob.core.windows.net/c/f.arrow?sv\u003dx\u0026sig\u003d[REDACTED]\u0026se\u003dy failed`},
		{"a password after \\x3d", `login: password\x3dAbCdEfGhQ rejected`, `login: password\x3d[REDACTED] rejected`},
		{"an escape that is no '='", `token\u003cAbCdEfGhQ`, `token\u003cAbCdEfGhQ`},
		// An escaped value runs to the '&' escaped as its '=' was: one escaped otherwise is
		// the value's own.
		{"an '&' encoded once more in an encoded value", "next=%2Fcb%3Fuser%3Dbob%26password%3DZq8v%2526Kp3mWx%26lang%3Den rejected", "next=%2Fcb%3Fuser%3Dbob%26password%?[REDACTED]%26lang%3Den rejected"},
		{"a percent-encoded '&' in a Gson value", `/cb?user\u003dbob\u0026password\u003dZq8v%26Kp3mWx\u0026lang\u003den`, `/cb?user\u003dbob\u0026password\u003d[REDACTED]\u0026lang\u003den`},
		{"a percent-encoded '&' after \\x3d", `/cb?user\x3dbob\x26password\x3dZq8v%26Kp3mWx\x26lang\x3den`, `/cb?user\x3dbob\x26password\x3d[REDACTED]\x26lang\x3den`},
		// A credential after a no-break space, and a token in upper case.
		{"bearer after a no-break space", "Authorization: Bearer\u00a0AbCdEfGhQxyzAbCd", "Authorization: Bearer [REDACTED]"},
		{"a bearer word after a no-break space", "got Bearer\u00a0AbCdEfGhQxyzAbCd back", "got Bearer [REDACTED] back"},
		{"basic after a no-break space", "proxy login Basic\u00a0dXNlcjpwYXNzd29yZA== rejected", "proxy login Basic [REDACTED] rejected"},
		{"an authorization header after a no-break space", "Authorization:\u00a0Basic\u00a0dXNlcjpwYXNzd29yZA==", "Authorization:\u00a0Basic [REDACTED]"},
		{"a bare token after a no-break space", "Authorization:\u00a0Zq8vKp3mWx7LtR2sQ9", "Authorization:\u00a0[REDACTED]"},
		{"a function's name in mixed case", "at main.doSendRequestWithRetries(client.go:42)", "at main.doSendRequestWithRetries(client.go:42)"},
		{"a PAT upper-cased", "THE TOKEN DAPIABCDEF0123456789ABCDEF0123456789 IS INVALID", "THE TOKEN [REDACTED] IS INVALID"},
		// A pre-signed link wrapped onto the next line inside its last parameter: the
		// first word of that line goes with it; a link that ends a line whole does not.
		{"a link wrapped inside a key", "link https://b.s3.amazonaws.com/f?X-Amz-Algorithm=AWS4&X-Amz-Sig\nnature=Zq8vKp3m failed", "link https://b.s3.amazonaws.com/[PATH]\n[REDACTED] failed"},
		{"a link wrapped before a value", "link https://b.s3.amazonaws.com/f?X-Amz-Signature=\r\n  Zq8vKp3m failed", "link https://b.s3.amazonaws.com/[PATH]\r\n  [REDACTED] failed"},
		{"a link wrapped inside a signature", "link https://b.s3.amazonaws.com/f?X-Amz-Algorithm=AWS4&X-Amz-Signature=0123456789abcdef\n456789abcdef0123 failed", "link https://b.s3.amazonaws.com/[PATH]\n[REDACTED] failed"},
		{"a link that ends its line", "GET https://host/x?a=1\nat main.go", "GET https://host/[PATH]\nat main.go"},
		{"a signed link that ends its line", "GET https://b.s3.amazonaws.com/f?X-Amz-Algorithm=AWS4&X-Amz-Signature=0123456789abcdef\nSQLSTATE: 58030", "GET https://b.s3.amazonaws.com/[PATH]\nSQLSTATE: 58030"},
		{"a link with a bare last parameter", "GET https://host/x?wait\nSQLSTATE: 08000", "GET https://host/[PATH]\nSQLSTATE: 08000"},
		{"a blank line after a link", "GET https://host/x?a=1&b\n\nnext", "GET https://host/[PATH]\n\nnext"},
		// Shapes of prose and of other keyboards: a value in typographic quotes (as a word
		// processor or a chat client turns straight ones), full-width separators, a secret
		// named by an element of a link's or a file's path, a web session's id.
		{"a password in curly quotes", "password=\u201copen sesame\u201d rejected", "password=[REDACTED] rejected"},
		{"a password in guillemets", "mot de passe password: \u00abouvre toi\u00bb refus\u00e9", "mot de passe password: [REDACTED] refus\u00e9"},
		{"a password in German quotes", "password=\u201egeheim wort\u201c x", "password=[REDACTED] x"},
		{"a password in corner brackets", "password=\u300c\u79d8\u5bc6 \u306e\u5024\u300d x", "password=[REDACTED] x"},
		{"an unclosed curly quote ends with its line", "password=\u201copen sesame\nat main.go", "password=[REDACTED]\nat main.go"},
		{"a full-width '='", "password\uff1dhunter2xyz rejected", "password\uff1d[REDACTED] rejected"},
		{"a full-width ':'", "token\uff1a hunter2xyz rejected", "token\uff1a [REDACTED] rejected"},
		{"a token as a link's path element", "open https://h.example/reset/token/Zq8vKp3mWx7LtR2s expired", "open https://h.example/[PATH] expired"},
		{"a token endpoint stays", "POST https://h.example/oidc/v1/token failed", "POST https://h.example/oidc/v1/token failed"},
		{"a token as a file's path element", "read /reset/token/Zq8vKp3mWx7LtR2s9 failed", "read [PATH] failed"},
		{"a secret's file name stays", "open /run/secrets/db_password failed", "open [PATH]/db_password failed"},
		{"a Java session id in a path", "GET https://h.example/app;jsessionid=A1B2C3D4E5F6 failed", "GET https://h.example/app;jsessionid=[REDACTED] failed"},
		{"a SQL block in lower case", "[parse_syntax_error] syntax error. sqlstate: 42601\n== sql ==\nselect * from hr_salaries\n", "[parse_syntax_error] syntax error. sqlstate: 42601\n== sql == [REDACTED]"},
		// A secret that prose names, without '=' or ':': only a word that reads as a
		// generated value (a letter and a digit) goes.
		{"a token named in prose", "the access token Zq8vKp3mWx7LtR2s9 has expired", "the access token [REDACTED] has expired"},
		{"a password named in prose", "invalid password hunter2hunter2 for user", "invalid password [REDACTED] for user"},
		{"an API key named in prose", "API key 0123456789abcdefABCDEF is invalid", "API key [REDACTED] is invalid"},
		{"a token's kind stays", "token type Bearer is not supported", "token type Bearer is not supported"},
		{"a word after a secret's name stays", "password authentication failed for user", "password authentication failed for user"},
		// From the review of those rules: a value after a path's secret element and before
		// a sentence's end or a query; wide spaces around a separator; an apostrophe
		// inside ‘…’; more quote pairs; a key a word processor quoted; compound names and
		// quoted values in prose; an escaped '/'; a Go comparison is no SQL block.
		{"a path's token before a full stop", "open /reset/token/Zq8vKp3mWx7LtR2s9. Retry later", "open [PATH]. Retry later"},
		{"a path's token before a query", "GET /reset/token/Zq8vKp3mWx7LtR2s9?lang=en failed", "GET [PATH]?lang=en failed"},
		{"ideographic spaces around a full-width '='", "password\u3000\uff1d\u3000hunter2xyz rejected", "password\u3000\uff1d\u3000[REDACTED] rejected"},
		{"French spacing", "mot de passe password\u00a0: \u00abouvre toi\u00bb refus\u00e9", "mot de passe password\u00a0: [REDACTED] refus\u00e9"},
		{"an apostrophe inside single curly quotes", "password=\u2018it\u2019s a secret\u2019 rejected", "password=[REDACTED] rejected"},
		{"reversed guillemets", "password=\u00bbopen sesame\u00ab rejected", "password=[REDACTED] rejected"},
		{"full-width quotes", "password\uff1d\uff02open sesame\uff02 rejected", "password\uff1d[REDACTED] rejected"},
		{"a key in curly quotes", "{\u201cpassword\u201d: \u201chunter2xyz\u201d}", "{\u201cpassword\u201d: [REDACTED]}"},
		{"a compound secret's name in prose", "invalid client_secret Zq8vKp3mWx7LtR2s9 for app", "invalid client_secret [REDACTED] for app"},
		{"a camel-case secret's name in prose", "the accessToken Zq8vKp3mWx7LtR2s9 has expired", "the accessToken [REDACTED] has expired"},
		{"a quoted value in prose", "the access token \u201cZq8vKp3mWx7LtR2s9\u201d has expired", "the access token [REDACTED] has expired"},
		{"an escaped '/' after a link's secret element", "open https://h.example/reset/token%2FZq8vKp3mWx7LtR2s9 expired", "open https://h.example/[PATH] expired"},
		{"a Go comparison is no SQL block", "expected err == sql.ErrNoRows, got == nil", "expected err == sql.ErrNoRows, got == nil"},
		// From the second review: a key in guillemets with French spacing, a value opened
		// by a closing quote, prose values in every quote pair (with an apostrophe inside,
		// unclosed), wide spaces in prose, a '/' escaped twice.
		{"a French-spaced key in guillemets", "\u00ab\u00a0password\u00a0\u00bb\u00a0: \u00ab\u00a0ouvre toi\u00a0\u00bb refus\u00e9", "\u00ab\u00a0password\u00a0\u00bb\u00a0: [REDACTED] refus\u00e9"},
		{"a value opened by a closing quote", "password=\u201dopen sesame\u201d rejected", "password=[REDACTED] rejected"},
		{"an apostrophe in a quoted prose value", "the password \u2018it\u2019s a secret\u2019 was rejected", "the password [REDACTED] was rejected"},
		{"reversed guillemets in prose", "the password \u00bbopen sesame\u00ab was rejected", "the password [REDACTED] was rejected"},
		{"a prose value closed by its opener", "the password \u201copen sesame\u201c was rejected", "the password [REDACTED] was rejected"},
		{"a narrow no-break space in prose", "invalid client_secret\u202fZq8vKp3mWx7LtR2s9 for app", "invalid client_secret\u202f[REDACTED] for app"},
		{"an unclosed quote in prose", "the access token \u201cZq8vKp3mWx7LtR2s9 was rejected\nat main.go", "the access token [REDACTED]\nat main.go"},
		{"a '/' escaped twice after a link's secret element", "open https://h.example/reset/token%252FZq8vKp3mWx7LtR2s9 expired", "open https://h.example/[PATH] expired"},
		// From the third review: a secret's name in quotes, with no value after it, keeps
		// its line.
		{"a quoted name in French", "Le champ \u00ab token \u00bb est obligatoire pour la connexion", "Le champ \u00ab token \u00bb est obligatoire pour la connexion"},
		{"a quoted name with no-break spaces", "Le champ \u00ab\u00a0password\u00a0\u00bb est obligatoire", "Le champ \u00ab\u00a0password\u00a0\u00bb est obligatoire"},
		{"a quoted two-word name", "the \u201c client secret \u201d option is deprecated, use oauth instead", "the \u201c client secret \u201d option is deprecated, use oauth instead"},
		{"a quoted name in angle quotes", "the field \u2039 api key \u203a is required; see the docs", "the field \u2039 api key \u203a is required; see the docs"},
		{"a private key", "tls: failed to parse private key: -----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5MUgeFXCkLp2I\n-----END EC PRIVATE KEY----- (pkcs8)",
			"tls: failed to parse private key: -----BEGIN EC PRIVATE KEY-----[REDACTED]-----END EC PRIVATE KEY----- (pkcs8)"},
		{"a private key cut short", "key: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
			"key: -----BEGIN PRIVATE KEY-----[REDACTED]"},
		{"a certificate stays", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"},
		{"a percent sign is no separator", "100% of sig", "?% of sig"},
		// From the second-pass review of session 37's redaction: a short or punctuated
		// word after a secret's name, a typographic value under a JSON key, an HTTP status
		// after "token:", and a '/' escaped three times in a link's path.
		{"a short password in prose", "invalid password hunter2 for user alice", "invalid password [REDACTED] for user alice"},
		{"a password with punctuation in prose", "the password hunter2! was rejected", "the password [REDACTED] was rejected"},
		{"a token with punctuation in prose", "the access token Zq8v#Kp3mWx7 has expired", "the access token [REDACTED] has expired"},
		{"a word that names a secret itself", "invalid secret token abc123 now", "invalid secret token [REDACTED] now"},
		{"sentence punctuation stays", "(password hunter2). Try again", "(password [REDACTED]). Try again"},
		{"a version and a link after a name stay", "Signature v4 failed; cannot refresh token https://h.example/oidc/v1/token", "Signature v4 failed; cannot refresh token https://h.example/oidc/v1/token"},
		{"a typographic value under a JSON key", "{\"password\": \u201chunter2 correct horse\u201d}", "{\"?\": \"?\"}"},
		{"oauth2's status after token:", "oauth2: cannot fetch token: 401 Unauthorized", "oauth2: cannot fetch token: 401 Unauthorized"},
		// From the review of those fixes: operator text after a secret's name stays (a
		// package prefix, a type's size, a file and line on the next line, a version), an
		// upper-cased status text stays, a failed token request's url.Error keeps its
		// reason, and "API key" before a separator is a key.
		{"a package prefix after a name", "failed to refresh token x509: certificate has expired", "failed to refresh token x509: certificate has expired"},
		{"a type's size after a name", "column token DECIMAL(10,2) is not nullable", "column token DECIMAL(10,2) is not nullable"},
		{"a file and line on the next line", "invalid token\nauth.go:42: retrying", "invalid token\nauth.go:42: retrying"},
		{"a version after a name", "unsupported token v1.2.3 format", "unsupported token v1.2.3 format"},
		{"a value before a colon goes", "invalid password hunter2: rejected", "invalid password [REDACTED]: rejected"},
		{"a value with a parenthesis goes", "invalid password hunter(2) for alice", "invalid password [REDACTED]) for alice"},
		{"three digits after a secret's key go", "db.password:123 and password: 500", "db.password:[REDACTED] and password: [REDACTED]"},
		{"a status text in capitals", "oauth2: cannot fetch token: 401 UNAUTHORIZED", "oauth2: cannot fetch token: 401 UNAUTHORIZED"},
		{"a failed token request", `Post "https://h.example/oidc/v1/token": dial tcp: lookup h.example: no such host`, `Post "?": dial tcp: lookup h.example: no such host`},
		{"API key before a colon", "invalid API key: Zq8vKp3mWx7LtR2s9", "invalid API key: [REDACTED]"},
		{"access key before an equals sign", "request refused (access key=Zq8vKp3mWx7LtR2s9)", "request refused (access key=[REDACTED])"},
		{"a '/' escaped three times after a link's secret element", "https://example.com/reset%25252Ftoken%25252FZq8vKp3mWx7LtR2s9", "https://example.com/[PATH]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Redact(tt.in)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, got, Redact(got), "idempotent")
		})
	}
}

func TestRedactCap(t *testing.T) {
	t.Run("long text is truncated with a mark", func(t *testing.T) {
		in := strings.Repeat("error happened ", 1000)
		got := Redact(in)
		assert.LessOrEqual(t, len(got), MaxRedactedLen)
		assert.True(t, strings.HasSuffix(got, truncatedMark), got[len(got)-40:])
		assert.Equal(t, got, Redact(got))
	})
	t.Run("a token straddling the cut is redacted, not halved", func(t *testing.T) {
		in := strings.Repeat("x ", (MaxRedactedLen-20)/2) + testPAT + strings.Repeat(" y", 100)
		got := Redact(in)
		assert.LessOrEqual(t, len(got), MaxRedactedLen)
		assert.NotContains(t, got, "dapi0123")
	})
	t.Run("an unkeyed word cut in two is dropped", func(t *testing.T) {
		secretish := strings.Repeat("Zq9", 30) // matches no rule
		in := strings.Repeat("a ", (MaxRedactedLen-40)/2) + secretish
		got := Redact(in)
		assert.NotContains(t, got, "Zq9")
	})
	t.Run("huge input", func(t *testing.T) {
		in := strings.Repeat("password=hunter2 ", 100000)
		got := Redact(in)
		assert.LessOrEqual(t, len(got), MaxRedactedLen)
		assert.NotContains(t, got, "hunter2")
	})
	t.Run("huge input costs memory of the capped input only", func(t *testing.T) {
		in := strings.Repeat("password=hunter2 ", 600000) // 10 MB
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_ = Redact(in)
		runtime.ReadMemStats(&after)
		// The input is cut to maxRedactInput before any pass; a pass over the whole of it
		// would copy the 10 MB more than once.
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(2<<20))
	})
	t.Run("a truncated result is redacted again", func(t *testing.T) {
		// The cut can leave a quote or a key without its value; the second pass closes
		// them, so that the result stays a fixed point of Redact.
		for _, tail := range []string{"password: hunter2 ", "where x = 'abc' ", "`main`.`t` "} {
			for pad := range 40 {
				in := strings.Repeat("x", pad) + " " + strings.Repeat(tail, 400)
				got := Redact(in)
				require.LessOrEqual(t, len(got), MaxRedactedLen)
				require.Equal(t, got, Redact(got), "tail %q pad %d", tail, pad)
			}
		}
	})
	t.Run("utf8 boundary", func(t *testing.T) {
		in := strings.Repeat("é", MaxRedactedLen)
		got := Redact(in)
		assert.True(t, utf8.ValidString(got))
		assert.LessOrEqual(t, len(got), MaxRedactedLen)
	})
}

func TestProcessName(t *testing.T) {
	tests := []struct{ cmdline, exe, want string }{
		{"", "/opt/bin/etl", ""},
		{"myapp", "/opt/bin/myapp", "myapp"},
		{"/usr/bin/link-name", "/opt/bin/target", "link-name"}, // argv[0] names it, as a symlink does
		{"https://host/x?token=abc#f", "/opt/bin/etl", "x"},
		{"/tmp/go-build123/b001/telemetry.test", "/tmp/go-build123/b001/telemetry.test", "telemetry.test"},
		// A path with spaces: the executable says which prefix is the program.
		{`C:\Program Files\app.exe`, `C:\Program Files\app.exe`, "app.exe"},
		{"/Users/John Smith/Library/app", "/Users/John Smith/Library/app", "app"},
		{`C:\Users\John Smith\AppData\etl.exe`, `C:\Users\John Smith\AppData\etl.exe`, "etl.exe"},
		{"/opt/John Smith/etl -p a/b --x=/c", "/opt/John Smith/etl", "etl"},
		// A command line put in argv[0] whole: its arguments never name the program.
		{"/home/alice/bin/myapp --token=x", "/home/alice/bin/myapp", "myapp"},
		{`C:\tools\etl.exe --password secret`, `C:\tools\etl.exe`, "etl.exe"},
		{"/usr/local/bin/etl /home/alice/q3-layoffs.csv", "/usr/local/bin/etl", "etl"},
		{"/opt/bin/etl https://host/x?token=abc", "/opt/bin/etl", "etl"},
		{"/opt/bin/etl data/alice_salary.pdf", "/opt/bin/etl", "etl"},
		{"  ./run.sh arg/x", "/home/alice/run.sh", "run.sh"},
		// One the executable does not match: the executable's own name.
		{"launcher /srv/alice/job.py", "/usr/bin/python3.12", "python3.12"},
		// No executable known: cut before an option, a path or an URL.
		{"/opt/bin/etl --token=abc/dapi-part", "", "etl"},
		{"/Users/John Smith/Library/app", "", "app"},
		{`C:\Program Files\etl.exe -out C:\tmp\x`, "", "etl.exe"},
		{`C:\tools\etl.exe D:\alice\x.csv`, "", "etl.exe"},
		{"/usr/local/bin/etl /home/alice/q3-layoffs.csv", "", "etl"},
		{"/opt/bin/etl s3://bucket/reports/alice_salary.pdf", "", "etl"},
		{"/opt/bin/etl ~/alice.csv", "", "etl"},
		{"  ./run.sh ./arg", "", "run.sh"},
		{"etl q3-layoffs.csv", "", "etl"},
		{"/opt/bin/etl alice", "", "etl"},
		{`C:\\tools\\etl.exe report2026 --x`, "", "etl.exe"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, processName(tt.cmdline, tt.exe), "%q with %q", tt.cmdline, tt.exe)
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	assert.Equal(t, filepath.Base(exe), ProcessName(exe+" /home/alice/x.csv"), "the running executable decides")
}

// A quote left open after a backslash is closed by the redaction ('?'), which a second
// pass used to pair with the literal before it: Redact is idempotent on them too.
func TestRedactIdempotentAfterEscapedQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`a 'x' \'y`, `a '?'`},
		{`where x = 'literal-value-123' \'y`, `where x = '?'`},
		{`\' 'x' \'y z`, `\'?'`},
		{`e 'a\' b' \'c`, `e '?'`},
		{`no quote before \'y`, `no quote before \'?'`},
	} {
		out := Redact(tc.in)
		assert.Equal(t, tc.want, out, tc.in)
		assert.Equal(t, out, Redact(out), "idempotent: %s", tc.in)
	}
}

// A value Spark prints bare ends at its line: the stack trace after the message stays, and
// ordinary text that happens to share a rule's words is left alone.
func TestRedactBareValueKeepsTheRest(t *testing.T) {
	const frames = "\n\tat org.apache.spark.Foo.bar(Foo.scala:12)\n\tat org.apache.spark.Baz.run(Baz.scala:3)"
	for _, tc := range []struct{ in, want string }{
		{"Illegal input for day of week: xyz" + frames, "Illegal input for day of week: [REDACTED]" + frames},
		{"Malformed CSV record: a,b" + frames, "Malformed CSV record: [REDACTED]" + frames},
		{"Duplicate map key k" + frames, "Duplicate map key [REDACTED]" + frames},
		{"The url is invalid: x y" + frames, "The url is invalid: [REDACTED]" + frames},
		{"Function f expects one of the values a, b, but got 3 arguments." + frames, "Function f expects one of the values a, b, but got ? arguments." + frames},
		{"Invalid value for the field", "Invalid value for the field"},
	} {
		assert.Equal(t, tc.want, Redact(tc.in), tc.in)
	}
}

// Values Spark prints bare in the messages of some error classes (a URL, a record, a
// map key, a day of week, an interval's word, a charset, a time zone…) are redacted with
// the message's fixed words kept: none of a row's values survives.
func TestRedactBareValuesOfSparkErrors(t *testing.T) {
	for _, msg := range []string{
		"[CANNOT_DECODE_URL] The provided URL cannot be decoded: name=Alice%20Smith&email=alice.smith%40x.com&note=secretword%ZZ. Please ensure that the URL is properly formatted and try again. SQLSTATE: 22546",
		"[CANNOT_DECODE_URL] The provided URL cannot be decoded: Alice Smith secretword%. Please ensure that the URL is properly formatted and try again. SQLSTATE: 22546",
		"[INVALID_URL] The url is invalid: https://crm.example.com/customers/Alice Smith/profile. Use `try_parse_url` to tolerate invalid URL and return NULL instead. SQLSTATE: 22P02",
		"[INVALID_URL] The url is invalid: Alice Smith secretword. Use `try_parse_url` to tolerate invalid URL and return NULL instead. SQLSTATE: 22P02",
		"[INVALID_URL] The url is invalid: http://x.com/a b?user=alice&secret_q=secretword. Use `try_parse_url` to tolerate invalid URL and return NULL instead. SQLSTATE: 22P02",
		"[ILLEGAL_DAY_OF_WEEK] Illegal input for day of week: secretword. SQLSTATE: 22009",
		"[ILLEGAL_DAY_OF_WEEK] Illegal input for day of week: Alice Smith. SQLSTATE: 22009",
		"[INVALID_FORMAT.MISMATCH_INPUT] The format is invalid: 999.99. The input \"STRING\" Alice Smith does not match the format. SQLSTATE: 42601",
		"[INVALID_FORMAT.MISMATCH_INPUT] The format is invalid: '999.99'. The input \"STRING\" secretword does not match the format. SQLSTATE: 42601",
		"[MALFORMED_CSV_RECORD] Malformed CSV record: Alice Smith,alice.smith@x,secretword SQLSTATE: KD000",
		"[MALFORMED_CSV_RECORD] Malformed CSV record: 4711;\"Alice Smith\";secretword\n\tat org.apache.spark.sql.catalyst.csv.UnivocityParser.parseLine",
		"[INVALID_INTERVAL_FORMAT.UNRECOGNIZED_NUMBER] Error parsing 'alice smith' to interval. Please ensure that the value provided is in a valid format for defining an interval. You can reference the documentation for the correct format. Unrecognized number alice. SQLSTATE: 22006",
		"[INVALID_INTERVAL_FORMAT.INVALID_UNIT] Error parsing '5 secretword' to interval. Please ensure that the value provided is in a valid format for defining an interval. You can reference the documentation for the correct format. Invalid unit secretword. SQLSTATE: 22006",
		"[INVALID_INTERVAL_FORMAT.INVALID_VALUE] Error parsing '5x secretword' to interval. Please ensure that the value provided is in a valid format for defining an interval. You can reference the documentation for the correct format. Invalid value 5x. SQLSTATE: 22006",
		"[INVALID_INTERVAL_FORMAT.UNMATCHED_FORMAT_STRING] Error parsing 'alice smith' to interval. Please ensure that the value provided is in a valid format for defining an interval. You can reference the documentation for the correct format. Interval string does not match day-time format of `[+|-]d h`, `INTERVAL [+|-]'[+|-]d h' DAY TO HOUR` when cast to interval day to hour: alice smith. SQLSTATE: 22006",
		"[COMPARATOR_RETURNS_NULL] The comparator has returned a NULL for a comparison between Alice Smith and secretword. It should return a positive integer for \"greater than\", 0 for \"equal\" and a negative integer for \"less than\". SQLSTATE: 22004",
		"[INVALID_PARAMETER_VALUE.CHARSET] The value of parameter(s) `charset` in `decode` is invalid: expects one of the us-ascii, iso-8859-1, utf-8, utf-16be, utf-16le, utf-16, utf-32, but got secretword. SQLSTATE: 22023",
		"[INVALID_VARIANT_CAST] The variant value `\"Alice Smith\"` cannot be cast into `INT`. Please use `try_variant_get` instead. SQLSTATE: 22023",
		"[INVALID_VARIANT_CAST] The variant value `{\"name\":\"Alice Smith\",\"pw\":\"secretword\"}` cannot be cast into `INT`. Please use `try_variant_get` instead. SQLSTATE: 22023",
		"[INVALID_PARTITION_VALUE] Failed to cast value Alice Smith to data type \"INT\" for partition column `region`. Ensure the value matches the expected data type for this partition column. SQLSTATE: 42846",
		"Failed to convert value Alice Smith (class of class java.lang.String) with the type of IntegerType to JSON.",
		"[FAILED_ROW_TO_JSON] Failed to convert the row value [Alice Smith,secretword] of the class class org.apache.spark.sql.catalyst.expressions.GenericInternalRow to the target SQL type \"STRUCT\" in the JSON format. SQLSTATE: 2203G",
		"[MALFORMED_RECORD_IN_PARSING.CANNOT_PARSE_STRING_AS_DATATYPE] Malformed records are detected in record parsing: {\"a\": \"Alice Smith\"}.\nParse Mode: FAILFAST. To process malformed records as null result, try setting the option 'mode' as 'PERMISSIVE'. Cannot parse the value 'Alice Smith' of the field `a` as target spark data type FloatType from the input type StringType. SQLSTATE: 22023",
		"[MALFORMED_RECORD_IN_PARSING.WITHOUT_SUGGESTION] Malformed records are detected in record parsing: Alice Smith. secretword,4711.\nParse Mode: FAILFAST. To process malformed records as null result, try setting the option 'mode' as 'PERMISSIVE'. SQLSTATE: 22023",
		"[DUPLICATED_MAP_KEY] Duplicate map key Alice Smith was found, please check the input data.\nIf you want to remove the duplicated keys, you can set \"spark.sql.mapKeyDedupPolicy\" to \"LAST_WIN\" so that the key inserted at last takes precedence. SQLSTATE: 23505",
		"[CANNOT_PARSE_JSON_FIELD] Cannot parse the field name 'name' and the value Alice Smith of the JSON token type VALUE_STRING to target Spark data type \"INT\". SQLSTATE: 2203G",
		"[UNSUPPORTED_FEATURE.PIVOT_TYPE] The feature is not supported: Pivoting by the value '[Alice Smith,1]' of the column data type \"STRUCT<name: STRING, id: INT>\". SQLSTATE: 0A000",
		"[INVALID_TIMEZONE] The timezone: Alice/Smith is invalid. The timezone must be either a region-based zone ID or a zone offset. SQLSTATE: 22009",
		"[INVALID_TIMEZONE] The timezone: secretword is invalid. The timezone must be either a region-based zone ID or a zone offset. SQLSTATE: 22009",
	} {
		out := Redact(msg)
		for _, value := range []string{"Alice", "alice", "Smith", "smith", "secretword", "4711"} {
			assert.NotContains(t, out, value, "%s\n→ %s", msg, out)
		}
		if strings.HasPrefix(msg, "[") {
			class := msg[:strings.IndexByte(msg, ']')+1]
			assert.True(t, strings.HasPrefix(out, class), "the class stays: %s", out)
		}
	}
}

// FuzzRedact checks Redact's invariants on arbitrary text around seeded secrets: it never
// panics, never exceeds MaxRedactedLen, is idempotent and never lets a secret through.
func FuzzRedact(f *testing.F) {
	seeds := [][2]string{
		{"", ""},
		{"error near '", "'"},
		{`{"a":"`, `"}`},
		{"== SQL ==\n", ""},
		{"== SQL of VIEW v (line 1, position 2) ==\n", "\n\nx"},
		{`{\"a\":\"`, `\"}`},
		{"https://h/p?", "#f"},
		{"/home/alice/", "/x"},
		{strings.Repeat("z", MaxRedactedLen-10), strings.Repeat("y ", 50)},
		{"Basic", "=="},
		{"\xff\xfe", "é"},
		{"password", "="},
		{"?a:`", "`@"},
		{"x@y.SQL`", ""},
		{"The value 98765", "L of 4.5E-3 at 09:03"},
		{"Decimal(5, ", "2) line 1:2"},
		{"adb-1.h:44", "3/sql/1.0"},
		{"5,'a:/", "/b' x@1.co"},
		{"{\"v\":9876,\"u\":\"https:/", "/h/x\"} 26T09:03Z"},
		{"a@b.com", "5 ID:12 HTTP/1.1 503"},
		{"", `\'y`},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	secrets := []struct{ secret, context string }{
		{testPAT, "%s"},
		{testJWT, "%s"},
		{"dose0123456789abcdefABCDEF", "%s"},
		{"hunter2hunter2", "password=%s"},
		{"hunter3hunter3", "Password: %s"},
		{"s3cr3tValue99", `"client_secret": "%s"`},
		{"Zm9vOmJhcg9x", "Authorization: Basic %s"},
		{"tok3nvalue_abcdefg", "Bearer %s"},
		{"pw0rd1234", "https://alice:%s@host.example/x"},
		{"sig0123456789", "https://host.example/x?sig=%s"},
		{"literal-value-123", "where x = '%s'"},
		{"alice-home-dir", `cd C:\Users\%s`},
		{"alice-share-dir", `open \\server\%s\x.txt`},
		{"alice-file-dir", "file:///home/%s/x.csv"},
		{"s3cr3tValue98", `body={\"client_secret\":\"%s\",\"x\":1}`},
		{"s3cr3tValue97", `body={\\\"client_secret\\\":\\\"%s\\\",\\\"x\\\":1}`},
		{"DEADBEEF0123", "where b = X'%s'"},
		{"raw-literal-456", "where s = r'%s'"},
		{"salaries_secret_tbl", "[TABLE_OR_VIEW_NOT_FOUND] The table or view `main`.`%s` cannot be found."},
		{"hr_employees_tbl", "SQLSTATE: 42601\n== SQL (line 1, position 8) ==\nselect\n\n  * from %s\n--^^^\n"},
		{"987654321", "[CAST_OVERFLOW] The value %sL of the type"},
		{"4242424.25", "(%s,https://h.example/x)"},
		{"123456789", "ssn:%s"},
		{"31415926", "{ID:%s}"},
		{"27182818", "value %s."},
		{"sasSig0123abcd", `acct.blob.core.windows.net/c/f?sv=1\u0026sig=%s`},
		{"amzSig0123abcd", "next=https%3A%2F%2Fb.s3.amazonaws.com%2Fk%3FX-Amz-Signature%3D%s%26X-Amz-Date%3D1"},
		{"MIIEvQIBADANBgkq", "-----BEGIN RSA PRIVATE KEY-----\n%s\n-----END RSA PRIVATE KEY-----"},
		{"s3cr3t", "Authorization: Bearer %s"},
		{"opaqueTok3n99", "Authorization=Bearer%20%s"},
		{"mytokenvalue", "Authorization%3A+Bearer+%s"},
		{"rawtokenvalue", "Authorization: %s"},
		{"abc/defghij+kl==", "token:%s@host.example:443/sql/1.0"},
		{"pa55/w0rd", "https://user:%s@host.example/x"},
		{"pa#55w0rd", "https://user:%s@host.example/x"},
		{"hostD-share", `\\a\s\\b\s\\c\s\\%s\s\x`},
		{"carol-home", `C:\\Users\\%s\\x.txt`},
		{"cookieTail77x", "Cookie: lang=en; DBAUTH=%s"},
		{"cookieTail78x", "map[Cookie:[a=1; DBAUTH=%s] Accept:[x]]"},
		{"twiceSig0123", "next=%252Ff%253Fsv%253D1%2526sig%253D%s%2526a%253Db"},
		{"gsonSig0123", `?sv\u003d1\u0026sig\u003d%s\u0026se\u003d2`},
		{"wrappedSig0123", "https://b.s3.amazonaws.com/f?X-Amz-Signature=\n%s x"},
		{"curlyPw0123", "password=\u201c%s and more\u201d"},
		{"fullWidthPw0123", "password\uff1d%s"},
		{"pathTok0123456789", "https://h.example/reset/token/%s"},
		{"fileTok0123456789", "/reset/token/%s"},
		{"jsession0123", "https://h.example/app;jsessionid=%s"},
		{"proseTok0123abc", "the access token %s has expired"},
		{"wideSpacePw0123", "password\u3000\uff1d\u3000%s"},
		{"curlyKeyPw0123", "{\u201cpassword\u201d: \u201c%s\u201d}"},
		{"compoundTok0123", "invalid client_secret %s for app"},
		{"pathTokDot0123456", "open /reset/token/%s. Retry"},
		{"frenchKeyPw0123", "\u00ab\u00a0password\u00a0\u00bb\u00a0: \u00ab\u00a0x %s\u00a0\u00bb"},
		{"proseQuoted0123", "the password \u00bbit is %s\u00ab was rejected"},
	}
	f.Fuzz(func(t *testing.T, prefix, suffix string) {
		for _, s := range secrets {
			in := prefix + " " + strings.Replace(s.context, "%s", s.secret, 1) + " " + suffix
			out := Redact(in)
			if len(out) > MaxRedactedLen {
				t.Fatalf("output %d bytes > %d", len(out), MaxRedactedLen)
			}
			if strings.Contains(out, s.secret) {
				t.Fatalf("secret %q survived in %q (input %q)", s.secret, out, in)
			}
			if again := Redact(out); again != out {
				t.Fatalf("not idempotent:\n in:  %q\n out: %q\n 2nd: %q", in, out, again)
			}
		}
		out := Redact(prefix + suffix)
		if len(out) > MaxRedactedLen {
			t.Fatalf("output %d bytes > %d", len(out), MaxRedactedLen)
		}
	})
}

func BenchmarkRedact(b *testing.B) {
	msg := `databricks: request error: open session request error: Post "https://adb-1.azuredatabricks.net/sql/1.0/warehouses/abc?o=1": ` +
		`request error after 1 attempt(s): unexpected HTTP status 401 Unauthorized; Authorization: Bearer ` + testPAT +
		"\n\t/home/alice/go/pkg/mod/github.com/databricks/databricks-sql-go@v1.15.1/internal/client/client.go:680"
	b.ReportAllocs()
	for b.Loop() {
		_ = Redact(msg)
	}
}

// adversarialInputs are inputs of about n bytes that would make a naive scanner
// quadratic: long runs of what each rule looks for.
func adversarialInputs(n int) map[string]string {
	return map[string]string{
		"long domain":      "a@" + strings.Repeat("b", n),
		"many ats":         strings.Repeat("a:b@", n/4),
		"long key":         strings.Repeat("a", n/2) + strings.Repeat("=", n/2),
		"many keys":        strings.Repeat("token=", n/6),
		"json keys":        `"` + strings.Repeat("a", n/2) + strings.Repeat(`":`, n/4),
		"quotes":           strings.Repeat("'", n),
		"unclosed quotes":  strings.Repeat(` "\`, n/3),
		"paths":            strings.Repeat(" /a/b", n/5),
		"schemes":          strings.Repeat("a", n/2) + strings.Repeat("://", n/6),
		"bare schemes":     strings.Repeat("://", n/3),
		"prose words":      strings.Repeat("secret token x1 ", n/16),
		"prose quotes run": strings.Repeat("token \u201d", n/9),
		"sql markers":      strings.Repeat("== SQL ==", n/9),
		"sql open headers": strings.Repeat("== SQL ", n/7),
		"escaped quotes":   strings.Repeat(` \"`, n/3),
		"escaped keys":     `\"` + strings.Repeat("a", n/2) + strings.Repeat(`\":`, n/6),
		"mixed":            strings.Repeat("x='a\" @b:c/d e=f ", n/18),
		"numbers":          strings.Repeat("1 ", n/2),
		"type sizes":       "Decimal(" + strings.Repeat("1, ", n/3),
		"numbered names":   strings.Repeat("x-1h:1", n/6),
		"long words":       strings.Repeat("positions ", n/10) + strings.Repeat(":1", n/4),
		"parsed records":   strings.Repeat("detected in record parsing: x", n/29),
		"map keys":         strings.Repeat("Duplicate map key x ", n/20),
		"cookie lists":     strings.Repeat("Cookie:[a] ", n/11),
		"cookie sqlstates": strings.Repeat("cookie:a SQLSTATE:", n/18),
		"curly values":     strings.Repeat("pwd=\u201cx\u201d ", n/12),
		"unclosed curly":   strings.Repeat("pwd=\u201cx ", n/9),
		"wide spaces":      strings.Repeat("pwd\u3000\uff1d\u3000", n/9),
		"secret paths":     strings.Repeat(" /token/Zq8vKp3mWx7LtR2s9.", n/26),
		"prose names":      strings.Repeat("client_token ", n/13),
		"prose quotes":     strings.Repeat("password \u00abx ", n/12),
		"quoted keys":      strings.Repeat("\u00ab password \u00bb : ", n/22),
	}
}

// TestRedactAdversarialInputs checks that inputs that would make a naive scanner
// quadratic come out capped, with memory linear in their size: a rule that rebuilt the
// message once per match would copy it once per match. How long they take is
// BenchmarkRedactAdversarial's to show.
func TestRedactAdversarialInputs(t *testing.T) {
	for name, in := range adversarialInputs(maxRedactInput) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out := Redact(in)
		runtime.ReadMemStats(&after)
		assert.LessOrEqual(t, len(out), MaxRedactedLen, name)
		// Linear, with room for the race detector, whose sync.Pool drops items at random
		// (regexp machines are pooled): up to 400 bytes per input byte there, 40 without.
		// A rebuild per match would be thousands.
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1024*len(in)), name)
	}
}

// BenchmarkRedactAdversarial redacts the adversarial inputs at 16 KiB and at the 64 KiB
// cap: a linear scanner takes about four times as long on the second, a quadratic one
// sixteen.
func BenchmarkRedactAdversarial(b *testing.B) {
	for _, n := range []int{maxRedactInput / 4, maxRedactInput} {
		inputs := adversarialInputs(n)
		names := slices.Sorted(maps.Keys(inputs))
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			for b.Loop() {
				for _, name := range names {
					_ = Redact(inputs[name])
				}
			}
		})
	}
}

// Secrets that a single rule catches, each pinned to it: an AWS temporary key id, a
// password holding '@' after "key: " (not the userinfo rule's user:secret@host), a Basic
// credential whose base64 has letters only, a file URL with an upper-case scheme, a bare
// value after a JSON authorization key, a number after a snake_case name that ends in a
// kept word (zip_code is no "code"), a number too long for an HTTP status, and one that a
// comma separates from a kept word.
func TestRedactSecretsOneRuleCatches(t *testing.T) {
	tests := []struct {
		name, in, want, secret string
	}{
		{"AWS temporary key id", "aws key ASIAABCDEFGHIJKLMNOP", "aws key [REDACTED]", "ASIAABCDEFGHIJKLMNOP"},
		{"password with an @ after a space", "password: p@ssw0rd", "password: [REDACTED]", "p@ssw0rd"},
		{"Basic credential of letters only", "Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [REDACTED]", "dXNlcjpwYXNz"},
		{"file URL in upper case", "FILE:///home/alice/secret/app.go", "FILE://[PATH]/app.go", "alice"},
		{"bare value after a JSON authorization key", `{"X-Authorization": opaque-tok}`, `{"?": "?"}`, "opaque-tok"},
		{"snake_case name ending in a kept word", "zip_code 90210", "zip_code ?", "90210"},
		{"too long for an HTTP status", "HTTP 987654", "HTTP ?", "987654"},
		{"a comma after a kept word", "status, 4111111111111111", "status, ?", "4111111111111111"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Redact(tc.in)
			assert.NotContains(t, got, tc.secret)
			assert.Equal(t, tc.want, got)
		})
	}
}
