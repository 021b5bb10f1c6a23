package telemetry

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func envOf(m map[string]string) LookupEnvFunc {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestSystemConfigurationFrom(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	sc := SystemConfigurationFrom("1.15.1", []string{exe + " --password=x /home/alice/q3.csv", "-v"}, envOf(map[string]string{"LANG": "de_DE.ISO-8859-1@euro"}))
	assert.Equal(t, "1.15.1", sc.DriverVersion)
	assert.Equal(t, DriverName, sc.DriverName)
	assert.Equal(t, "go", sc.RuntimeName)
	assert.Equal(t, runtime.Version(), sc.RuntimeVersion)
	assert.Equal(t, runtime.GOARCH, sc.OSArch)
	assert.NotEmpty(t, sc.OSName)
	assert.Equal(t, "de_DE", sc.LocaleName)
	assert.Equal(t, "ISO-8859-1", sc.CharSetEncoding)
	assert.Equal(t, filepath.Base(exe), sc.ProcessName, "the program's base name only (see TestProcessName)")

	sc = SystemConfigurationFrom("", nil, envOf(map[string]string{"LC_ALL": "C", "LANG": "en_US.UTF-8"}))
	assert.Equal(t, "C", sc.LocaleName, "LC_ALL wins")
	assert.Equal(t, "UTF-8", sc.CharSetEncoding)
	assert.NotEmpty(t, sc.DriverVersion)
	assert.Empty(t, sc.ProcessName)

	sc = SystemConfigurationFrom("x", nil, envOf(nil))
	assert.Empty(t, sc.LocaleName)
	assert.Equal(t, "UTF-8", sc.CharSetEncoding)

	// POSIX allows a locale given by its path: a directory of the user's is not sent.
	for _, v := range []string{"/home/alice/.locale/de_DE.UTF-8", `C:\Users\alice\fr_FR`} {
		sc = SystemConfigurationFrom("x", []string{"/usr/bin/app"}, envOf(map[string]string{"LC_ALL": v}))
		assert.Empty(t, sc.LocaleName, v)
		assert.Equal(t, "UTF-8", sc.CharSetEncoding, v)
		assert.Equal(t, "app", sc.ProcessName)
	}
}

func TestDriverVersion(t *testing.T) {
	// Test binaries carry build information with their dependencies.
	assert.Equal(t, "1.15.1", DriverVersion())
}

func TestWorkspaceIDFromHTTPPath(t *testing.T) {
	for path, want := range map[string]int64{
		"/sql/1.0/warehouses/abc":               0,
		"/sql/protocolv1/o/1234567890/0123-abc": 1234567890,
		"sql/protocolv1/o/42/x":                 42,
		"/sql/1.0/warehouses/abc?o=987654321":   987654321,
		"/sql/1.0/warehouses/abc?o=notanumber":  0,
		"/o/":                                   0,
		"/sql/protocolv1/o/-3/x":                0,
		"/sql/1.0/o/123/warehouses/x?o=-5":      123, // a non-positive ?o= names none; /o/<id>/ still does
		"":                                      0,
	} {
		assert.Equal(t, want, WorkspaceIDFromHTTPPath(path), path)
	}
}
