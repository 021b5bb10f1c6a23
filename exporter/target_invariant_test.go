package exporter

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/dbtelemetry/dbtelemetry/telemetry"
)

type recordingTransport struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.reqs = append(rt.reqs, r)
	rt.mu.Unlock()
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
}

// Target's fields are exported, so a caller can build one by hand. NewHTTPExporter must
// hold such a target to ParseTarget's rules: the package promises that telemetry only
// goes to a validated host, and credentials only over https or to loopback.
func TestNewHTTPExporterRefusesATargetParseTargetRefuses(t *testing.T) {
	for _, tt := range []struct {
		name   string
		target Target
	}{
		// Loopback set on a remote host: the token would go over plain http.
		{"remote host marked loopback", Target{Scheme: "http", Host: "example.com", Port: 80, Loopback: true}},
		// A cloud metadata address, which ParseTarget refuses.
		{"metadata address", Target{Scheme: "https", Host: "169.254.169.254", Port: 443}},
		// Not normalised: ParseTarget folds case.
		{"upper-case host", Target{Scheme: "https", Host: "EXAMPLE.com", Port: 443}},
		{"zero value", Target{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := &recordingTransport{}
			e := NewHTTPExporter(tt.target, WithTransport(rt), WithCredentials(BearerToken("dapi-secret")))
			defer e.Close(context.Background())
			err := e.Export(context.Background(), []*telemetry.FrontendLog{{FrontendLogEventID: "1"}})
			if !errors.Is(err, ErrInvalidHost) && !errors.Is(err, ErrForbiddenHost) {
				t.Errorf("Export to %+v: err = %v, want ErrInvalidHost or ErrForbiddenHost", tt.target, err)
			}
			_ = e.FeatureFlags().Enabled(context.Background())
			rt.mu.Lock()
			defer rt.mu.Unlock()
			for _, r := range rt.reqs {
				t.Errorf("request sent to an unvalidated target: %s %s (Authorization %q)", r.Method, r.URL, r.Header.Get("Authorization"))
			}
		})
	}
}

// A target from ParseTarget, with or without the loopback DSN, still works.
func TestNewHTTPExporterAcceptsParsedTargets(t *testing.T) {
	for _, tt := range []struct {
		raw      string
		loopback bool
	}{
		{"https://dbc-1.cloud.databricks.com", false},
		{"ADB-1.AzureDatabricks.NET.", false},
		{"http://127.0.0.1:8080", true},
		{"[::1]:8443", true},
		{"localhost", true},
	} {
		target, err := ParseTarget(tt.raw, tt.loopback)
		if err != nil {
			t.Fatalf("ParseTarget(%q): %v", tt.raw, err)
		}
		rt := &recordingTransport{}
		e := NewHTTPExporter(target, WithTransport(rt), WithCredentials(BearerToken("dapi-secret")))
		if err := e.Export(context.Background(), []*telemetry.FrontendLog{{FrontendLogEventID: "1"}}); err != nil {
			t.Errorf("Export to %v: %v", target, err)
		}
		_ = e.Close(context.Background())
		if len(rt.reqs) != 1 {
			t.Errorf("Export to %v: %d requests, want 1", target, len(rt.reqs))
		}
	}
}
