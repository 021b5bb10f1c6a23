package exporter

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	ok := []struct {
		raw      string
		loopback bool
		key      string
	}{
		{"adb-123.azuredatabricks.net", false, "https://adb-123.azuredatabricks.net:443"},
		{"ADB-123.AzureDatabricks.NET", false, "https://adb-123.azuredatabricks.net:443"},
		{"adb-123.azuredatabricks.net.", false, "https://adb-123.azuredatabricks.net:443"},
		{"adb-123.azuredatabricks.net/", false, "https://adb-123.azuredatabricks.net:443"},
		{"https://adb-123.azuredatabricks.net:443/", false, "https://adb-123.azuredatabricks.net:443"},
		{"HTTPS://Dbc-1.cloud.databricks.com.:443", false, "https://dbc-1.cloud.databricks.com:443"},
		{"dbc-1.cloud.databricks.com:8443", false, "https://dbc-1.cloud.databricks.com:8443"},
		{"http://dbc-1.cloud.databricks.com", false, "https://dbc-1.cloud.databricks.com:443"},          // upgraded
		{"http://dbc-1.cloud.databricks.com:8080", false, "https://dbc-1.cloud.databricks.com:8080"},    // upgraded, port kept
		{"8.8.8.8", false, "https://8.8.8.8:443"},                                                       // public IP literal
		{"[2001:4860:4860::8888]:443", false, "https://[2001:4860:4860::8888]:443"},                     // public IPv6
		{"[2001:4860:4860:0:0:0:0:8888]", false, "https://[2001:4860:4860::8888]:443"},                  // canonicalised
		{"http://127.0.0.1:54321", true, "http://127.0.0.1:54321"},                                      // loopback keeps http
		{"http://localhost:54321/", true, "http://localhost:54321"},                                     //
		{"https://127.0.0.1:54321", true, "https://127.0.0.1:54321"},                                    //
		{"[::1]:9000", true, "https://[::1]:9000"},                                                      // no scheme means https
		{"http://[::ffff:127.0.0.1]:80", true, "http://127.0.0.1:80"},                                   // 4in6 unmapped
		{"http://127.0.0.1", true, "http://127.0.0.1:80"},                                               // http default port
		{"my_host.example.com", false, "https://my_host.example.com:443"},                               // underscore
		{"a1.b2.databricks.com", false, "https://a1.b2.databricks.com:443"},                             //
		{"1a.databricks.com", false, "https://1a.databricks.com:443"},                                   // digits, not numeric TLD
		{"dbc-1.cloud.databricks.com:65535", false, "https://dbc-1.cloud.databricks.com:65535"},         //
		{"https://dbc-1.cloud.databricks.com", true, "https://dbc-1.cloud.databricks.com:443"},          // loopback permission unused
		{"app.localhost:3000", true, "https://app.localhost:3000"},                                      //
		{"[64:ff9b::808:808]", false, "https://[64:ff9b::808:808]:443"},                                 // NAT64 of a public IP
		{"Dbc-1.Cloud.Databricks.Com", false, "https://dbc-1.cloud.databricks.com:443"},                 //
		{"https://dbc-1.cloud.databricks.com:443", false, "https://dbc-1.cloud.databricks.com:443"},     //
		{"https://xn--bcher-kva.example", false, "https://xn--bcher-kva.example:443"},                   // punycode is plain ASCII
		{"x.y", false, "https://x.y:443"},                                                               //
		{"single-label", false, "https://single-label:443"},                                             //
		{"https://dbc-1.cloud.databricks.com:443/", false, "https://dbc-1.cloud.databricks.com:443"},    //
		{"dbc-1.cloud.databricks.com.:443", false, "https://dbc-1.cloud.databricks.com:443"},            //
		{"DBC-1.cloud.databricks.com./", false, "https://dbc-1.cloud.databricks.com:443"},               //
		{"https://[2001:db8::1]:443", false, "https://[2001:db8::1]:443"},                               // documentation prefix is not private
		{"https://93.184.216.34", false, "https://93.184.216.34:443"},                                   //
		{"localhost", true, "https://localhost:443"},                                                    //
		{"http://LOCALHOST.:8080", true, "http://localhost:8080"},                                       //
		{"http://127.1.2.3:8080", true, "http://127.1.2.3:8080"},                                        // all of 127/8
		{"https://dbc-1.cloud.databricks.com./", false, "https://dbc-1.cloud.databricks.com:443"},       //
		{"https://a-b.c-d.databricks.com:1", false, "https://a-b.c-d.databricks.com:1"},                 //
		{"https://abc.databricks.com:443", false, "https://abc.databricks.com:443"},                     //
		{"http://[::1]:8080", true, "http://[::1]:8080"},                                                //
		{"https://8.8.4.4:8443/", false, "https://8.8.4.4:8443"},                                        //
		{"adb-1.11.azuredatabricks.net", false, "https://adb-1.11.azuredatabricks.net:443"},             //
		{"https://adb-1.11.azuredatabricks.net", false, "https://adb-1.11.azuredatabricks.net:443"},     //
		{"adb-1.11.azuredatabricks.net:443", false, "https://adb-1.11.azuredatabricks.net:443"},         //
		{"HTTP://ADB-1.11.AZUREDATABRICKS.NET:443/", false, "https://adb-1.11.azuredatabricks.net:443"}, //
	}
	for _, tc := range ok {
		t.Run("ok/"+tc.raw, func(t *testing.T) {
			got, err := ParseTarget(tc.raw, tc.loopback)
			noErr(t, err, tc.raw)
			equal(t, got.Key(), tc.key, tc.raw)
			again, err := ParseTarget(got.Key(), tc.loopback)
			noErr(t, err, "reparse "+got.Key())
			equal(t, again, got, "idempotent")
		})
	}

	bad := []struct {
		raw      string
		loopback bool
		want     error
	}{
		{"", false, ErrInvalidHost},
		{" dbc.databricks.com", false, ErrInvalidHost},
		{"dbc.databricks.com ", false, ErrInvalidHost},
		{"dbc.data bricks.com", false, ErrInvalidHost},
		{"dbc.databricks.com\t", false, ErrInvalidHost},
		{"dbc.databricks.com\n", false, ErrInvalidHost},
		{"dbc\u200b.databricks.com", false, ErrInvalidHost}, // zero-width space
		{"dbc\u200d.databricks.com", false, ErrInvalidHost}, // zero-width joiner
		{"\ufeffdbc.databricks.com", false, ErrInvalidHost}, // BOM
		{"dbc.databricks.com\u00a0", false, ErrInvalidHost}, // no-break space
		{"dbç.databricks.com", false, ErrInvalidHost},       // non-ASCII
		{"user@dbc.databricks.com", false, ErrInvalidHost},
		{"https://user:pw@dbc.databricks.com", false, ErrInvalidHost},
		{"https://evil.com@dbc.databricks.com", false, ErrInvalidHost},
		{"dbc.databricks.com@evil.com", false, ErrInvalidHost},
		{"dbc.databricks.com/path", false, ErrInvalidHost},
		{"https://dbc.databricks.com/sql/1.0", false, ErrInvalidHost},
		{"dbc.databricks.com//", false, ErrInvalidHost},
		{"dbc.databricks.com?x=1", false, ErrInvalidHost},
		{"dbc.databricks.com#frag", false, ErrInvalidHost},
		{"dbc.databricks.com\\evil.com", false, ErrInvalidHost},
		{"dbc.databricks.com%2f", false, ErrInvalidHost},
		{"ftp://dbc.databricks.com", false, ErrInvalidHost},
		{"javascript://dbc.databricks.com", false, ErrInvalidHost},
		{"https:/dbc.databricks.com", false, ErrInvalidHost},
		{"https://", false, ErrInvalidHost},
		{"https://:443", false, ErrInvalidHost},
		{"dbc.databricks.com:", false, ErrInvalidHost},
		{"dbc.databricks.com:0", false, ErrInvalidHost},
		{"dbc.databricks.com:0443", false, ErrInvalidHost},
		{"dbc.databricks.com:65536", false, ErrInvalidHost},
		{"dbc.databricks.com:443:443", false, ErrInvalidHost},
		{"dbc.databricks.com:-1", false, ErrInvalidHost},
		{"dbc.databricks.com:https", false, ErrInvalidHost},
		{"dbc..databricks.com", false, ErrInvalidHost},
		{".dbc.databricks.com", false, ErrInvalidHost},
		{"dbc.databricks.com..", false, ErrInvalidHost},
		{"-dbc.databricks.com", false, ErrInvalidHost},
		{"dbc-.databricks.com", false, ErrInvalidHost},
		{"db*c.databricks.com", false, ErrInvalidHost},
		{strings.Repeat("a", 64) + ".com", false, ErrInvalidHost},
		{"::1", true, ErrInvalidHost},    // bare IPv6
		{"[::1", true, ErrInvalidHost},   // unclosed
		{"[::1]x", true, ErrInvalidHost}, // junk
		{"[fe80::1%25eth0]", false, ErrInvalidHost},
		{"[127.0.0.1]", true, ErrInvalidHost}, // v4 in brackets
		{"2130706433", true, ErrInvalidHost},  // integer form of 127.0.0.1
		{"0x7f000001", true, ErrInvalidHost},  // hex
		{"0x7f.0.0.1", true, ErrInvalidHost},  // hex first octet
		{"127.1", true, ErrInvalidHost},       // short form
		{"0177.0.0.1", true, ErrInvalidHost},  // octal
		{"127.000.000.001", true, ErrInvalidHost},
		{"169.254.169.254.", false, ErrForbiddenHost},
		{"169.254.169.254", false, ErrForbiddenHost},
		{"http://169.254.169.254/", false, ErrForbiddenHost},
		{"10.0.0.1", false, ErrForbiddenHost},
		{"172.16.5.4", false, ErrForbiddenHost},
		{"192.168.1.1", false, ErrForbiddenHost},
		{"100.100.100.200", false, ErrForbiddenHost}, // Alibaba metadata (shared space)
		{"0.0.0.0", true, ErrForbiddenHost},
		{"0.1.2.3", false, ErrForbiddenHost}, // "this network", 0.0.0.0/8, not only 0.0.0.0
		{"255.255.255.255", false, ErrForbiddenHost},
		{"224.0.0.1", false, ErrForbiddenHost},
		{"[::]", true, ErrForbiddenHost},
		{"[fe80::1]", false, ErrForbiddenHost},
		{"[fd00:ec2::254]", false, ErrForbiddenHost}, // AWS IPv6 metadata (ULA)
		{"[::ffff:169.254.169.254]", false, ErrForbiddenHost},
		{"[::ffff:10.0.0.1]", false, ErrForbiddenHost},
		{"[64:ff9b::a9fe:a9fe]", false, ErrForbiddenHost},   // NAT64 of 169.254.169.254
		{"[2002:a9fe:a9fe::1]", false, ErrForbiddenHost},    // 6to4 of 169.254.169.254
		{"[::a9fe:a9fe]", false, ErrForbiddenHost},          // IPv4-compatible
		{"[64:ff9b:1::a9fe:a9fe]", false, ErrForbiddenHost}, // local-use NAT64 (RFC 8215) of 169.254.169.254
		{"[64:ff9b:1::a00:1]", false, ErrForbiddenHost},     // local-use NAT64 of 10.0.0.1
		{"[64:ff9b:1:a00:1::]", false, ErrForbiddenHost},    // the same at the /48 position (RFC 6052)
		{"[fec0::1]", false, ErrForbiddenHost},              // site-local
		{"metadata.google.internal", false, ErrForbiddenHost},
		{"METADATA.GOOGLE.INTERNAL.", false, ErrForbiddenHost},
		{"x.metadata.google.internal", false, ErrForbiddenHost},
		{"metadata", false, ErrForbiddenHost},
		{"metadata.goog", false, ErrForbiddenHost},
		{"instance-data", false, ErrForbiddenHost},
		{"instance-data.ec2.internal", false, ErrForbiddenHost},
		{"127.0.0.1", false, ErrForbiddenHost}, // loopback without a loopback DSN
		{"http://localhost:8080", false, ErrForbiddenHost},
		{"[::1]:8080", false, ErrForbiddenHost},
		{"[::ffff:127.0.0.1]", false, ErrForbiddenHost},
		{"foo.localhost", false, ErrForbiddenHost},
	}
	for _, tc := range bad {
		t.Run("bad/"+tc.raw, func(t *testing.T) {
			got, err := ParseTarget(tc.raw, tc.loopback)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseTarget(%q) = %v, %v; want %v", tc.raw, got, err, tc.want)
			}
		})
	}
}

// FuzzParseTarget checks the invariants of accepted hosts: idempotent, free of anything
// that could smuggle a path, credentials or another host, and unchanged by url.Parse.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"adb-1.azuredatabricks.net", "https://Dbc.cloud.databricks.com.:443/", "http://127.0.0.1:8080",
		"[::1]:1", "169.254.169.254", "a@b", "x/y", "0x7f.1", "metadata.google.internal", "dbc\u200b.com",
		"[::ffff:7f00:1]", "http://[64:ff9b::1]", "h:0", "h:99999",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, loopback bool) {
		tgt, err := ParseTarget(raw, loopback)
		if err != nil {
			if !errors.Is(err, ErrInvalidHost) && !errors.Is(err, ErrForbiddenHost) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if tgt.Loopback && !loopback {
			t.Fatalf("loopback %v accepted without a loopback DSN", tgt)
		}
		if tgt.Scheme != "https" && !(tgt.Scheme == "http" && tgt.Loopback) {
			t.Fatalf("scheme %q for %v", tgt.Scheme, tgt)
		}
		if tgt.Port < 1 || tgt.Port > 65535 {
			t.Fatalf("port %d", tgt.Port)
		}
		if strings.ContainsAny(tgt.Host, "@/\\?#% \t\r\n") || strings.ToLower(tgt.Host) != tgt.Host ||
			strings.HasSuffix(tgt.Host, ".") {
			t.Fatalf("host %q not normalised", tgt.Host)
		}
		u, err := url.Parse(tgt.URL(telemetryExtPath))
		if err != nil || u.Hostname() != tgt.Host || u.Path != telemetryExtPath || u.User != nil {
			t.Fatalf("URL of %v parses as %#v, %v", tgt, u, err)
		}
		again, err := ParseTarget(tgt.Key(), loopback)
		if err != nil || again != tgt {
			t.Fatalf("not idempotent: %v -> %v, %v", tgt, again, err)
		}
	})
}
