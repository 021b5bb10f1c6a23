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
// command line args (only the basename of the first word of args[0] is kept, SPEC §4a)
// and the environment lookup used for LC_ALL, LC_MESSAGES and LANG.
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

// ProcessName reduces a program's path (os.Args[0]) to its base name (SPEC §4a), so that
// no directory of the user's machine is sent. Options that follow the path (a word after
// whitespace that starts with '-') go first, as their values may hold slashes; then the
// last element, since a directory may hold spaces ("/Users/John Smith/app",
// `C:\Program Files\app.exe`); then its first word, in case other arguments follow it.
func ProcessName(cmdline string) string {
	cmdline = strings.TrimSpace(cmdline)
	for i := 1; i < len(cmdline); i++ {
		if cmdline[i] == '-' && isSpace(cmdline[i-1]) {
			cmdline = cmdline[:i]
			break
		}
	}
	if i := strings.LastIndexAny(cmdline, `/\`); i >= 0 {
		cmdline = cmdline[i+1:]
	}
	if i := strings.IndexAny(cmdline, " \t\r\n"); i >= 0 {
		cmdline = cmdline[:i]
	}
	return cmdline
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
