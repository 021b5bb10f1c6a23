package exporter

import (
	"net/http"
	"sync/atomic"
	"time"
)

// Credentials authenticates an outgoing request by setting its headers. The driver's
// auth.Authenticator (github.com/databricks/databricks-sql-go/auth) satisfies it, so a
// connection's PAT or OAuth authenticator can be passed as is. An error means the
// credentials are not usable: the batch then goes to /telemetry-unauth, stripped.
type Credentials interface {
	Authenticate(req *http.Request) error
}

// Accepted is implemented by credentials that know when the server last accepted them
// (a connection's Authorization header, as of its last call the server answered). Of a
// host's connections, the host's exporter uses those accepted last: a pool whose token
// expired while it sat idle does not speak for a pool whose token was just refreshed.
// LastAccepted is zero while they were never accepted.
type Accepted interface {
	LastAccepted() time.Time
}

// CredentialsFunc adapts a function to Credentials.
type CredentialsFunc func(req *http.Request) error

// Authenticate calls f(req).
func (f CredentialsFunc) Authenticate(req *http.Request) error { return f(req) }

// BearerToken returns Credentials that set "Authorization: Bearer <token>"; an empty
// token yields nil (no credentials).
func BearerToken(token string) Credentials {
	if token == "" {
		return nil
	}
	return CredentialsFunc(func(req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	})
}

// credSlot holds the credentials an exporter currently uses; the registry swaps them
// when connections come and go but never clears them, so the final flush keeps them.
type credSlot struct{ p atomic.Pointer[credBox] }

type credBox struct {
	c  Credentials
	ws int64 // the workspace of the connection they came from (registry only)
}

// workspaceKey is the context key of the workspace a request names (authHeadersFor).
type workspaceKey struct{}

// requestWorkspace is the workspace req will name in X-Databricks-Org-Id, 0 for none.
func requestWorkspace(req *http.Request) int64 {
	id, _ := req.Context().Value(workspaceKey{}).(int64)
	return id
}

func (s *credSlot) load() Credentials {
	if b := s.p.Load(); b != nil {
		return b.c
	}
	return nil
}

func (s *credSlot) store(c Credentials) { s.p.Store(&credBox{c: c}) }
