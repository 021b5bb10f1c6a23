package telemetry

import (
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

const driverModule = "github.com/databricks/databricks-sql-go"

// KnownDriverVersion is the driver version go.mod requires. DriverVersion falls back to it
// when the binary carries no dependency information (test binaries do not).
const KnownDriverVersion = "1.15.1"

// NewSystemConfiguration describes this process for system_configuration. It reads the
// build information, os.Args, the locale variables and (on Linux) the kernel release, so
// compute it once per aggregator, not per log. An empty driverVersion is looked up in the
// build information (DriverVersion).
func NewSystemConfiguration(driverVersion string) *SystemConfiguration {
	return SystemConfigurationFrom(driverVersion, os.Args, os.LookupEnv)
}

// SystemConfigurationFrom is NewSystemConfiguration with its inputs injected: the
// command line args (of args[0], only the program's base name is kept, SPEC §4a: see
// ProcessName) and the environment lookup used for LC_ALL, LC_MESSAGES and LANG.
func SystemConfigurationFrom(driverVersion string, args []string, lookup LookupEnvFunc) *SystemConfiguration {
	if driverVersion == "" {
		driverVersion = DriverVersion()
	}
	if lookup == nil {
		lookup = os.LookupEnv
	}
	locale, charset := localeFrom(lookup)
	var process string
	if len(args) > 0 {
		process = ProcessName(args[0])
	}
	return &SystemConfiguration{
		DriverVersion:   driverVersion,
		DriverName:      DriverName,
		RuntimeName:     "go",
		RuntimeVersion:  runtime.Version(),
		RuntimeVendor:   "golang.org",
		OSName:          osName(runtime.GOOS),
		OSVersion:       osVersion(),
		OSArch:          runtime.GOARCH,
		LocaleName:      locale,
		CharSetEncoding: charset,
		ProcessName:     process,
	}
}

// DriverVersion returns the version of github.com/databricks/databricks-sql-go linked
// into this binary, from its build information, or KnownDriverVersion.
func DriverVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == driverModule {
				if dep.Replace != nil && dep.Replace.Version != "" {
					return strings.TrimPrefix(dep.Replace.Version, "v")
				}
				return strings.TrimPrefix(dep.Version, "v")
			}
		}
	}
	return KnownDriverVersion
}

// ProcessName reduces a program's command line (os.Args[0]) to the program's base name
// (SPEC §4a), so that no directory of the user's machine and no argument is sent. It is
// the last element of os.Args[0], cut at a '?' or '#'. When os.Args[0] holds whitespace,
// it is either a path with spaces ("/Users/John Smith/app", `C:\Program Files\app.exe`)
// or a command line that a launcher (or exec -a) put there whole, whose later words may
// be anything ("/opt/bin/etl /home/alice/q3.csv"). Then the running executable
// (os.Executable) decides: the name is that of the first prefix ending at a whitespace (or
// of the whole) whose base name is the executable's, else the executable's own base name.
func ProcessName(cmdline string) string {
	exe, err := os.Executable()
	if err != nil {
		exe = ""
	}
	return processName(cmdline, exe)
}

// processName is ProcessName with the executable's path given; without one, the
// command line is cut before its first option ('-' after whitespace) and before a word
// that starts another path or an URL, and the name is the first word of what is left's
// last element.
func processName(cmdline, exe string) string {
	cmdline = strings.TrimSpace(cmdline)
	if !strings.ContainsAny(cmdline, " \t\r\n") {
		return baseName(cmdline)
	}
	if exe != "" {
		want := baseName(exe)
		for i := 0; i <= len(cmdline); i++ {
			if i == len(cmdline) || isSpace(cmdline[i]) && !isSpace(cmdline[i-1]) {
				if baseName(cmdline[:i]) == want {
					return want
				}
			}
		}
		return want
	}
	for i := 1; i < len(cmdline); i++ {
		if isSpace(cmdline[i-1]) && !isSpace(cmdline[i]) && startsArgument(cmdline[i:]) {
			cmdline = strings.TrimRight(cmdline[:i], " \t\r\n")
			break
		}
	}
	// The last element, then its first word: an argument that reads as none of the above
	// ("etl q3.csv") is more likely than a program's name with a space.
	name := baseName(cmdline)
	if i := strings.IndexAny(name, " \t\r\n"); i >= 0 {
		name = name[:i]
	}
	return name
}

// startsArgument reports whether the word that starts w reads as an argument rather than
// the rest of a directory's name: an option, a path of its own, or an URL.
func startsArgument(w string) bool {
	if strings.IndexByte(`-/\~.`, w[0]) >= 0 || len(w) > 2 && w[1] == ':' && (w[2] == '\\' || w[2] == '/') {
		return true
	}
	end := strings.IndexAny(w, " \t\r\n/\\")
	if end < 0 {
		end = len(w)
	}
	return strings.HasSuffix(w[:end], ":") && strings.HasPrefix(w[end:], "//")
}

// baseName is the last element of a path of either separator, cut at a '?' or '#' (an
// URL's query, which no program's name holds).
func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		p = p[i+1:]
	}
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	return p
}

func osName(goos string) string {
	switch goos {
	case "linux":
		return "Linux"
	case "darwin":
		return "macOS"
	case "windows":
		return "Windows"
	}
	return goos
}

func osVersion() string {
	if runtime.GOOS != "linux" {
		return ""
	}
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// localeFrom follows POSIX precedence (LC_ALL, LC_MESSAGES, LANG) and splits
// "en_US.UTF-8@euro" into "en_US" and "UTF-8". Go strings are UTF-8, the default charset.
func localeFrom(lookup LookupEnvFunc) (locale, charset string) {
	charset = "UTF-8"
	for _, k := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		v, ok := lookup(k)
		if !ok || v == "" {
			continue
		}
		if strings.ContainsAny(v, `/\`) {
			return "", charset // a locale given by its path (POSIX allows it) names a directory
		}
		if i := strings.IndexByte(v, '@'); i >= 0 {
			v = v[:i]
		}
		if i := strings.IndexByte(v, '.'); i >= 0 {
			if cs := v[i+1:]; cs != "" {
				charset = cs
			}
			v = v[:i]
		}
		return v, charset
	}
	return "", charset
}

// WorkspaceIDFromHTTPPath returns the workspace id an http path names, as "?o=<id>" or
// "/o/<id>/" (SPEC §3), or 0 when it names none.
func WorkspaceIDFromHTTPPath(httpPath string) int64 {
	path, query, _ := strings.Cut(httpPath, "?")
	if query != "" {
		if v, err := url.ParseQuery(query); err == nil {
			if id, err := strconv.ParseInt(v.Get("o"), 10, 64); err == nil && id > 0 {
				return id
			}
		}
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "o" {
			if id, err := strconv.ParseInt(parts[i+1], 10, 64); err == nil && id > 0 {
				return id
			}
		}
	}
	return 0
}
