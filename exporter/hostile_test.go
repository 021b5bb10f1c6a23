package exporter

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dbtelemetry/dbtelemetry/internal/testlog"
	"github.com/dbtelemetry/dbtelemetry/internal/testwait"
)

// A telemetry or feature-flag server that writes bytes on a connection the exporter has
// put back in its pool makes net/http log "Unsolicited response received on idle HTTP
// channel" (with the server's bytes) to the application's standard logger.
func TestHostileServerCannotWriteToTheApplicationLog(t *testing.T) {
	sink := &testlog.Buffer{} // the standard logger, where net/http writes
	log.SetOutput(sink)
	defer log.SetOutput(os.Stderr)

	done := make(chan struct{}, 8) // one per exchange, once its connection has been written to while idle
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		_ = buf.Flush()
		body := `{"errors":[],"numSuccess":1,"numProtoSuccess":1}`
		if strings.HasPrefix(r.URL.Path, featureFlagPathPrefix) {
			body = `{"flags":[{"name":"` + DefaultFlagName + `","value":"true"}],"ttl_seconds":60}`
		}
		_, _ = fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		go func() {
			defer func() { done <- struct{}{} }()
			defer conn.Close()
			time.Sleep(50 * time.Millisecond) // the exporter put the connection back in its pool
			_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nX-From: the telemetry server\r\n\r\n")
			time.Sleep(100 * time.Millisecond)
		}()
	}))
	defer srv.Close()

	tgt, err := ParseTarget(srv.URL, true)
	noErr(t, err, "target")
	// The registry's client, and NewHTTPExporter's.
	r := NewRegistry()
	h, err := r.Acquire(srv.URL, WithLoopbackDSN(), WithConnCredentials(BearerToken("dapi-x")))
	noErr(t, err, "acquire")
	e := NewHTTPExporter(tgt, WithCredentials(BearerToken("dapi-x")))
	ctx := context.Background()
	// One exchange at a time: each connection gets its unsolicited bytes while idle.
	noErr(t, h.Exporter().Export(ctx, batch(1)), "registry export")
	<-done
	equal(t, h.FeatureFlags().Enabled(ctx), true, "flag")
	<-done
	noErr(t, e.Export(ctx, batch(1)), "export")
	<-done
	noErr(t, h.Release(ctx), "release")
	noErr(t, e.Close(ctx), "close")
	noErr(t, r.Close(ctx), "registry close")
	if out := sink.String(); out != "" {
		t.Fatalf("the server wrote to the application's log through net/http:\n%s", out)
	}
}

// h2Frame is one HTTP/2 frame.
func h2Frame(typ, flags byte, stream uint32, payload []byte) []byte {
	n := len(payload)
	b := []byte{byte(n >> 16), byte(n >> 8), byte(n), typ, flags,
		byte(stream >> 24), byte(stream >> 16), byte(stream >> 8), byte(stream)}
	return append(b, payload...)
}

// An HTTPS telemetry server speaking HTTP/2 sends frames of an unknown type (which
// RFC 9113 says to ignore) around a 200: net/http logs a line per frame to the
// application's standard logger.
func TestHostileHTTP2ServerCannotWriteToTheApplicationLog(t *testing.T) {
	sink := &testlog.Buffer{} // the standard logger, where net/http writes
	log.SetOutput(sink)
	defer log.SetOutput(os.Stderr)

	ref := httptest.NewTLSServer(http.NotFoundHandler()) // for its certificate
	cert, pool := ref.TLS.Certificates[0], x509.NewCertPool()
	pool.AddCert(ref.Certificate())
	ref.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
	noErr(t, err, "listen")
	defer ln.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if tc.Handshake() != nil {
			return
		}
		if tc.ConnectionState().NegotiatedProtocol != "h2" {
			_, _ = http.ReadRequest(bufio.NewReader(tc))
			_, _ = io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
			return
		}
		go func() { _, _ = io.Copy(io.Discard, tc) }()
		var out []byte
		out = append(out, h2Frame(0x4, 0, 0, nil)...) // SETTINGS
		for range 100 {
			out = append(out, h2Frame(0xfa, 0, 0, nil)...) // an extension frame: to be ignored
		}
		_, _ = tc.Write(out)
		time.Sleep(100 * time.Millisecond)
		_, _ = tc.Write(h2Frame(0x1, 0x4|0x1, 1, []byte{0x88})) // HEADERS :status 200, END_STREAM
		time.Sleep(100 * time.Millisecond)
	}()

	tgt, err := ParseTarget("https://"+ln.Addr().String(), true)
	noErr(t, err, "target")
	e := NewHTTPExporter(tgt, WithAttemptTimeout(2*time.Second), WithMaxRetries(0))
	e.cfg.client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool} // trust the test server
	err = e.Export(context.Background(), batch(1))
	<-served
	noErr(t, e.Close(context.Background()), "close")
	t.Logf("export: %v", err)
	if out := sink.String(); out != "" {
		t.Fatalf("the server wrote %d lines to the application's log through net/http, the first:\n%s",
			strings.Count(out, "\n"), out[:strings.IndexByte(out, '\n')])
	}
}

// A telemetry server answering with megabytes of headers makes each attempt allocate
// several times their size (net/http reads up to 10 MiB of response headers by default).
func TestHostileHugeResponseHeadersAreCapped(t *testing.T) {
	big := []byte("HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 9<<20) + "\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	noErr(t, err, "listen")
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if req, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					_, _ = io.Copy(io.Discard, req.Body)
					_, _ = c.Write(big)
				}
			}()
		}
	}()
	tgt, err := ParseTarget("http://"+ln.Addr().String(), true)
	noErr(t, err, "target")
	e := NewHTTPExporter(tgt, fastOpts(WithCredentials(BearerToken("dapi-x")))...)
	defer e.Close(context.Background())
	logs := batch(1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err = e.Export(context.Background(), logs)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("export: %v; allocated %d KiB, %d retries", err, alloc>>10, e.ExportStats().Retries)
	if alloc > 4<<20 {
		t.Fatalf("one export allocated %d MiB for a hostile server's headers", alloc>>20)
	}
}

// The exporter's own client refuses TLS below 1.2: a server (or a man in the middle)
// that offers only TLS 1.0 gets no request, though its certificate is trusted.
func TestOwnTransportRefusesTLSBelow12(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake errors, server side
	srv.StartTLS()
	t.Cleanup(srv.Close)

	tr := newConfig(nil).client.Transport.(*http.Transport) // the exporter's own
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	tr.TLSClientConfig.RootCAs = roots // trusted: only the protocol version may refuse
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatal("a TLS 1.0 server was accepted")
	}
	if !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("err = %v, want a protocol version failure", err)
	}
}

// endlessBody is a response body that never ends until it is closed, as a hostile server
// holds a connection open; it records its Close.
type endlessBody struct {
	closed chan struct{}
	once   sync.Once
}

func (b *endlessBody) Read([]byte) (int, error) {
	<-b.closed
	return 0, net.ErrClosed
}

func (b *endlessBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// contextBlindTransport answers every request at once with status and an endless body,
// and never looks at the request's context (a caller's transport may not): only the
// exporter can end the read.
type contextBlindTransport struct {
	status int
	bodies chan *endlessBody
}

func (rt *contextBlindTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	b := &endlessBody{closed: make(chan struct{})}
	rt.bodies <- b
	return &http.Response{StatusCode: rt.status, Header: http.Header{}, Body: b, Request: req}, nil
}

// A body that never ends, from a transport that ignores the request's context, holds an
// attempt no longer than its timeout: the exporter closes the body when the attempt
// ends, for an answer of every class. A 101's body (the raw connection net/http hands
// over) is closed unread, at once: its attempt ends long before its timeout.
func TestEndlessBodyEndsWithTheAttempt(t *testing.T) {
	for _, status := range []int{http.StatusOK, http.StatusServiceUnavailable, http.StatusNotFound, http.StatusSwitchingProtocols} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			rt := &contextBlindTransport{status: status, bodies: make(chan *endlessBody, 1)}
			timeout := 50 * time.Millisecond
			if status == http.StatusSwitchingProtocols {
				timeout = time.Hour
			}
			e := defaultExporter(t, rt, WithMaxRetries(0), WithAttemptTimeout(timeout))
			t.Cleanup(func() { // before the exporter's Close: an export stuck on a body ends
				select {
				case b := <-rt.bodies:
					_ = b.Close()
				default:
				}
			})
			done := make(chan error, 1)
			go func() { done <- e.Export(context.Background(), batch(1)) }()
			err := testwait.Recv(t, done, 10*time.Second, "the export to end")
			b := testwait.Recv(t, rt.bodies, time.Second, "the attempt's body")
			testwait.Recv(t, b.closed, time.Second, "the body's Close")
			if status == http.StatusOK {
				require.NoError(t, err, "a 2xx is delivered whatever its body")
				return
			}
			require.Error(t, err)
		})
	}
}
