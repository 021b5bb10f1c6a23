package exporter

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Target is a validated telemetry destination: the DSN's own host and port (SPEC §4a).
// Build one with ParseTarget; the zero value is not usable, and NewHTTPExporter refuses
// a Target whose fields were set or changed by hand (see NewHTTPExporter).
type Target struct {
	// Scheme is "https", or "http" for a loopback host the DSN reached over plain http.
	Scheme string
	// Host is the lower-case host name without trailing dot, or a canonical IP literal
	// (IPv6 without brackets).
	Host string
	// Port is the explicit port, or the scheme's default (443 for https).
	Port int
	// Loopback reports a loopback host (127.0.0.0/8, ::1, localhost and names under
	// .localhost).
	Loopback bool
}

// Key is the normalised registry key, "scheme://host:port".
func (t Target) Key() string { return t.Scheme + "://" + t.hostPort() }

// URL returns the absolute URL of path (which starts with "/") on the target.
func (t Target) URL(path string) string { return t.Key() + path }

// String implements fmt.Stringer; it is the same as Key.
func (t Target) String() string { return t.Key() }

// checkTarget returns nil when t is what ParseTarget makes of its own Key, and else an
// error wrapping ErrInvalidHost or ErrForbiddenHost: a Target's fields are exported, and
// one built by hand must not reach a host, or carry credentials, that ParseTarget refuses.
func checkTarget(t Target) error {
	parsed, err := ParseTarget(t.Key(), t.Loopback)
	if err != nil {
		return err
	}
	if parsed != t {
		return fmt.Errorf("%w %q: not as ParseTarget returns it (%+v)", ErrInvalidHost, t.Key(), parsed)
	}
	return nil
}

func (t Target) hostPort() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// metadataHosts are cloud instance-metadata names (the IP forms are covered by the
// link-local and shared-address ranges).
var metadataHosts = []string{
	"metadata",
	"metadata.google.internal",
	"metadata.goog",
	"instance-data",
	"instance-data.ec2.internal",
}

// ParseTarget validates and normalises the DSN host raw, which may carry a scheme
// ("https://", "http://"), a port and one trailing "/": case is folded, a trailing dot
// dropped and the default port made explicit. loopbackDSN says the DSN itself targets
// loopback; only then is a loopback host accepted. Plain http is upgraded to https
// except for loopback.
//
// Errors wrap ErrInvalidHost (whitespace, zero-width or other non-printable characters,
// "@", "\\", "%", a path, query, fragment or userinfo, a bad port, an ambiguous numeric
// host, or anything URL parsing would rewrite) or ErrForbiddenHost (private, link-local,
// shared, unspecified or multicast IP literals, site-local and local-use NAT64 ones
// among the private, cloud metadata names, or loopback without loopbackDSN).
func ParseTarget(raw string, loopbackDSN bool) (Target, error) {
	invalid := func(reason string) (Target, error) {
		return Target{}, fmt.Errorf("%w %q: %s", ErrInvalidHost, raw, reason)
	}
	forbidden := func(reason string) (Target, error) {
		return Target{}, fmt.Errorf("%w %q: %s", ErrForbiddenHost, raw, reason)
	}
	if raw == "" {
		return invalid("empty")
	}
	if len(raw) > 300 {
		return invalid("too long")
	}
	// Printable ASCII only: rules out whitespace, control and zero-width characters
	// and any Unicode that a resolver might fold into something else.
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f {
			return invalid("non-printable or non-ASCII character")
		}
	}
	if strings.ContainsAny(raw, "@\\?#%") {
		return invalid("userinfo, backslash, query, fragment or escape")
	}

	scheme, rest := "https", raw
	if i := strings.Index(raw, "://"); i >= 0 {
		scheme, rest = strings.ToLower(raw[:i]), raw[i+3:]
		if scheme != "https" && scheme != "http" {
			return invalid("scheme must be http or https")
		}
	}
	rest = strings.TrimSuffix(rest, "/")
	if strings.Contains(rest, "/") {
		return invalid("has a path")
	}

	hostPart, portPart, hasPort, err := splitHostPort(rest)
	if err != nil {
		return invalid(err.Error())
	}
	port := 0
	if hasPort {
		if portPart == "" || len(portPart) > 5 || portPart[0] == '0' {
			return invalid("bad port")
		}
		for _, c := range portPart {
			if c < '0' || c > '9' {
				return invalid("bad port")
			}
		}
		port, _ = strconv.Atoi(portPart)
		if port < 1 || port > 65535 {
			return invalid("port out of range")
		}
	}

	t := Target{Scheme: scheme, Port: port}
	if addr, isIP, err := parseIPHost(hostPart); err != nil {
		return invalid(err.Error())
	} else if isIP {
		t.Host = addr.String()
		if reason, ok := forbiddenIP(addr); !ok {
			return forbidden(reason)
		}
		t.Loopback = addr.IsLoopback()
	} else {
		name, err := normaliseName(hostPart)
		if err != nil {
			return invalid(err.Error())
		}
		for _, m := range metadataHosts {
			if name == m || strings.HasSuffix(name, "."+m) {
				return forbidden("cloud metadata host")
			}
		}
		t.Host = name
		t.Loopback = name == "localhost" || strings.HasSuffix(name, ".localhost")
	}
	if t.Loopback && !loopbackDSN {
		return forbidden("loopback host while the DSN does not target loopback")
	}
	if t.Scheme == "http" && !t.Loopback {
		t.Scheme = "https"
	}
	if t.Port == 0 {
		t.Port = 443
		if t.Scheme == "http" {
			t.Port = 80
		}
	}

	// Whatever we accepted must survive URL parsing unchanged.
	u, err := url.Parse(t.Key())
	if err != nil || u.Scheme != t.Scheme || u.Host != t.hostPort() || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
		strings.TrimSuffix(strings.ToLower(u.Hostname()), ".") != t.Host || u.Port() != strconv.Itoa(t.Port) {
		return invalid("URL parsing rewrites it")
	}
	return t, nil
}

// splitHostPort splits "host", "host:port", "[v6]" and "[v6]:port" without accepting
// a bare IPv6 literal (whose colons would be ambiguous).
func splitHostPort(s string) (host, port string, hasPort bool, err error) {
	if s == "" {
		return "", "", false, fmt.Errorf("empty host")
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", false, fmt.Errorf("unclosed bracket")
		}
		host, after := s[:end+1], s[end+1:]
		switch {
		case after == "":
			return host, "", false, nil
		case after[0] == ':':
			return host, after[1:], true, nil
		default:
			return "", "", false, fmt.Errorf("junk after bracket")
		}
	}
	switch strings.Count(s, ":") {
	case 0:
		return s, "", false, nil
	case 1:
		i := strings.IndexByte(s, ':')
		return s[:i], s[i+1:], true, nil
	default:
		return "", "", false, fmt.Errorf("IPv6 literal must be bracketed")
	}
}

// parseIPHost recognises IP literals, including the numeric forms (integer, octal, hex,
// short dotted) that inet_aton would accept but net/netip does not: those are rejected
// rather than treated as names, since a resolver might still read them as addresses.
func parseIPHost(h string) (netip.Addr, bool, error) {
	if strings.HasPrefix(h, "[") {
		inner := strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		addr, err := netip.ParseAddr(inner)
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return netip.Addr{}, false, fmt.Errorf("bad IPv6 literal")
		}
		return addr.Unmap(), true, nil
	}
	name := strings.TrimSuffix(h, ".")
	if addr, err := netip.ParseAddr(name); err == nil && addr.Is4() {
		return addr, true, nil
	}
	labels := strings.Split(name, ".")
	if last := strings.ToLower(labels[len(labels)-1]); isNumericLabel(last) {
		return netip.Addr{}, false, fmt.Errorf("ambiguous numeric host")
	}
	return netip.Addr{}, false, nil
}

func isNumericLabel(l string) bool {
	if l == "" {
		return false
	}
	if strings.HasPrefix(l, "0x") {
		l = l[2:]
		for _, c := range l {
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
		return true
	}
	for _, c := range l {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// normaliseName lower-cases a DNS name, drops one trailing dot and checks its labels.
func normaliseName(h string) (string, error) {
	name := strings.ToLower(strings.TrimSuffix(h, "."))
	if name == "" || len(name) > 253 {
		return "", fmt.Errorf("bad host name length")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("bad host name label")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("label starts or ends with a hyphen")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("bad character in host name")
			}
		}
	}
	return name, nil
}

var (
	sharedSpace  = netip.MustParsePrefix("100.64.0.0/10") // carrier-grade NAT; Alibaba's metadata lives here
	thisNetwork  = netip.MustParsePrefix("0.0.0.0/8")
	benchmarking = netip.MustParsePrefix("198.18.0.0/15")
	reserved4    = netip.MustParsePrefix("240.0.0.0/4")
	nat64        = netip.MustParsePrefix("64:ff9b::/96")
	// nat64Local is the local-use NAT64 prefix (RFC 8215): a network's own translator,
	// whose IPv4 address may sit at any of RFC 6052's positions, so the whole prefix is
	// refused as private. siteLocal is the deprecated private space of IPv6 (RFC 3879).
	nat64Local   = netip.MustParsePrefix("64:ff9b:1::/48")
	siteLocal    = netip.MustParsePrefix("fec0::/10")
	sixToFour    = netip.MustParsePrefix("2002::/16")
	v4Compatible = netip.MustParsePrefix("::/96")
)

// forbiddenIP reports whether addr may be a telemetry target; loopback is allowed here
// and decided by the caller.
func forbiddenIP(addr netip.Addr) (string, bool) {
	if addr.Is6() {
		// Addresses that embed an IPv4 address are judged by that address.
		switch {
		case nat64.Contains(addr):
			b := addr.As16()
			return forbiddenIP(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case sixToFour.Contains(addr):
			b := addr.As16()
			return forbiddenIP(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		case v4Compatible.Contains(addr) && !addr.IsLoopback():
			return "IPv4-compatible IPv6 address", false
		case nat64Local.Contains(addr), siteLocal.Contains(addr):
			return "private address", false
		}
	}
	switch {
	case addr.IsLoopback():
		return "", true
	case addr.IsUnspecified(), thisNetwork.Contains(addr):
		return "unspecified address", false
	case addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast():
		return "link-local address", false
	case addr.IsPrivate(), sharedSpace.Contains(addr), benchmarking.Contains(addr):
		return "private address", false
	case addr.IsMulticast(), addr.IsInterfaceLocalMulticast(), reserved4.Contains(addr):
		return "multicast or reserved address", false
	}
	return "", true
}
