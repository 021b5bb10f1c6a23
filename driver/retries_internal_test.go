package driver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// answers is a RoundTripper that answers each call with the next status (0: a
// connection error).
type answers struct{ statuses []int }

func (a *answers) RoundTrip(req *http.Request) (*http.Response, error) {
	s := a.statuses[0]
	a.statuses = a.statuses[1:]
	if s == 0 {
		return nil, errors.New("connection reset")
	}
	return &http.Response{StatusCode: s, Body: io.NopCloser(strings.NewReader("")), ContentLength: 0, Request: req}, nil
}

// A statement's Thrift attempts, each (call body, answer): a retry is the same call sent
// again after it failed; a failed call followed by another call, or by none, is not.
func TestThriftRetryCounting(t *testing.T) {
	const poll, closeOp = "GetOperationStatus-body", "CloseOperation-body!!"
	tests := []struct {
		name    string
		calls   []string
		answers []int
		want    int32
	}{
		{"no failure", []string{poll, poll, closeOp}, []int{200, 200, 200}, 0},
		{"a 503 retried", []string{poll, poll}, []int{503, 200}, 1},
		{"a connection error retried twice", []string{poll, poll, poll}, []int{0, 0, 200}, 2},
		{"a failure never retried", []string{poll}, []int{503}, 0},
		{"a failure followed by another call", []string{poll, closeOp}, []int{400, 200}, 0},
		{"a failure, another call, then the first again", []string{poll, closeOp, poll}, []int{503, 200, 200}, 0},
		{"two failures of the same call, then another", []string{poll, poll, closeOp}, []int{503, 503, 200}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Connector{}
			tr := &transport{base: &answers{statuses: tt.answers}, c: c, thrift: "/sql"}
			st := newStmtState(context.Background(), nil)
			for _, body := range tt.calls {
				req, err := http.NewRequestWithContext(st, http.MethodPost, "http://h/sql", strings.NewReader(body))
				require.NoError(t, err)
				resp, err := tr.RoundTrip(req)
				if err == nil {
					_ = resp.Body.Close()
				}
			}
			assert.Equal(t, tt.want, st.retries.Load())
		})
	}
}

// A CloudFetch file's downloads: a retry is a download of a link whose last download
// failed; a failed download never tried again is none.
func TestDownloadRetryCounting(t *testing.T) {
	tests := []struct {
		name    string
		answers []int
		want    int32
	}{
		{"downloaded at once", []int{200}, 0},
		{"a 503, then downloaded", []int{503, 200}, 1},
		{"a connection error twice, then downloaded", []int{0, 0, 200}, 2},
		{"a 503, never tried again", []int{503}, 0},
	}
	const link = "http://h/cloudfetch/f1?sig=x"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Connector{}
			tr := &transport{base: &answers{statuses: tt.answers}, c: c, thrift: "/sql"}
			st := newStmtState(context.Background(), nil)
			c.links.Store(link, linkOwner{st: st})
			for range tt.answers {
				req, err := http.NewRequest(http.MethodGet, link, nil) // without the statement's context, as the driver's
				require.NoError(t, err)
				resp, err := tr.RoundTrip(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
			}
			assert.Equal(t, tt.want, st.retries.Load())
		})
	}
}
