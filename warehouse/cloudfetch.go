package warehouse

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/pierrec/lz4/v4"

	"github.com/dbtelemetry/dbtelemetry/warehouse/internal/tcli"
)

// chunk is one CloudFetch file waiting to be downloaded.
type chunk struct {
	stmtID    string
	index     int
	body      []byte
	signature string
	// expires is when its link expires, counted from when the link is handed out (see
	// handOutLinksLocked); zero until then: an operation's files are kept until their
	// links go out, or until the operation is forgotten.
	expires time.Time
	served  bool // served in full once: counted in Server.servedBytes while held
}

// publishChunks turns the operation's result into CloudFetch files of about chunkRows
// rows each (whole Arrow batches), stores them and returns their links, whose URL and
// expiry are set when they are handed out. An operation closed meanwhile stores none:
// nothing would free them.
func (s *Server) publishChunks(op *operation, res *encodedResult) ([]*tcli.TSparkArrowResultLink, error) {
	var (
		links  []*tcli.TSparkArrowResultLink
		tokens []string
		files  []*chunk
	)
	for i := 0; i < len(res.batches); {
		j, rows := i, int64(0)
		for j < len(res.batches) && (j == i || rows+res.batches[j].rows <= s.cfg.chunkRows) {
			rows += res.batches[j].rows
			j++
		}
		body := res.stream(res.batches[i:j])
		if op.compress {
			var err error
			if body, err = lz4Frame(body); err != nil {
				return nil, err
			}
		}
		token := randomHex(16)
		c := &chunk{stmtID: op.id, index: len(links), body: body, signature: randomHex(16)}
		tokens, files = append(tokens, token), append(files, c)
		links = append(links, &tcli.TSparkArrowResultLink{
			StartRowOffset: res.batches[i].start,
			RowCount:       rows,
			BytesNum:       int64(len(body)),
			HttpHeaders:    map[string]string{"x-warehouse-chunk": strconv.Itoa(c.index)},
		})
		i = j
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Closing cancels the operation before it forgets it under this lock.
	if err := op.ctx.Err(); err != nil {
		return nil, err
	}
	if _, open := s.ops[op.id]; !open {
		return nil, context.Canceled
	}
	for i, token := range tokens {
		s.chunks[token] = files[i]
	}
	op.files = tokens
	return links, nil
}

// handOutLinksLocked returns the operation's links [from, to) as they go out in a page,
// on base (linkBase): each expires linkTTL from now, as a presigned URL made for the page
// would. Called with s.mu held.
func (s *Server) handOutLinksLocked(op *operation, from, to int, base string) []*tcli.TSparkArrowResultLink {
	expires := time.Now().Add(s.cfg.linkTTL)
	out := make([]*tcli.TSparkArrowResultLink, 0, to-from)
	for i := from; i < to; i++ {
		link := *op.links[i]
		token := op.files[i]
		if c, ok := s.chunks[token]; ok {
			c.expires = expires
			// Like a presigned URL, the link carries its credentials in the query string.
			link.FileLink = fmt.Sprintf("%s/cloudfetch/%s?X-Expires=%d&X-Signature=%s", base, token, expires.Unix(), c.signature)
			link.ExpiryTime = expires.Unix()
		}
		out = append(out, &link)
	}
	return out
}

// linkBase is the base URL of the CloudFetch links a Thrift call hands out: the server's
// (URL); but on a server listening on every address, the host its client reached it by
// (the call's Host), as 127.0.0.1 is not that server for a client on another machine.
func (s *Server) linkBase(ctx context.Context) string {
	if tcp, ok := s.ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		if host, _ := ctx.Value(hostKey{}).(string); host != "" {
			return "http://" + host
		}
	}
	return s.baseURL
}

// serveChunk serves one CloudFetch file, as often as asked while its link is valid; one
// served in full is kept within the served-file retention (see keepServedLocked).
func (s *Server) serveChunk(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	s.mu.Lock()
	c, ok := s.chunks[token]
	s.mu.Unlock()
	switch {
	case !ok:
		http.Error(w, "no such file", http.StatusNotFound)
		return
	case r.URL.Query().Get("X-Signature") != c.signature:
		http.Error(w, "signature does not match", http.StatusForbidden)
		return
	case c.expires.IsZero() || time.Now().After(c.expires):
		http.Error(w, "link expired", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(c.body)))
	if r.Method == http.MethodHead { // the file's headers only: not a download
		return
	}
	// Counted before the write: a client that has read the file must find it counted.
	s.rec.statement(c.stmtID, func(st *StatementRecord) { st.ChunkDownloads++ })
	if _, err := w.Write(c.body); err != nil {
		s.rec.statement(c.stmtID, func(st *StatementRecord) { st.ChunkDownloads-- })
		return
	}
	s.mu.Lock()
	if s.chunks[token] == c && !c.served {
		s.keepServedLocked(token, c)
	}
	s.mu.Unlock()
}

// keepServedLocked keeps c, just served in full, as a real store keeps a file until its
// presigned URL expires, within the served-file retention: beyond it, the files served
// longest ago are freed. Called with s.mu held.
func (s *Server) keepServedLocked(token string, c *chunk) {
	c.served = true
	s.served = append(s.served, token)
	s.servedBytes += int64(len(c.body))
	for s.servedBytes > s.cfg.servedRetention && len(s.served) > 0 {
		oldest := s.served[0]
		s.served[0] = ""
		s.served = s.served[1:]
		if old, ok := s.chunks[oldest]; ok && old.served {
			s.dropChunkLocked(oldest)
		}
	}
}

// dropChunkLocked frees one file. Called with s.mu held.
func (s *Server) dropChunkLocked(token string) {
	if c, ok := s.chunks[token]; ok {
		if c.served {
			s.servedBytes -= int64(len(c.body))
		}
		delete(s.chunks, token)
	}
}

// dropExpiredChunks frees files whose links have expired, and forgets the served ones
// among them.
func (s *Server) dropExpiredChunks(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, c := range s.chunks {
		if !c.expires.IsZero() && now.After(c.expires) {
			s.dropChunkLocked(k)
		}
	}
	s.served = slices.DeleteFunc(s.served, func(token string) bool {
		c, ok := s.chunks[token]
		return !ok || !c.served
	})
}

// dropUnsentChunksLocked frees the operation's files whose links were never handed out:
// no client can ask for them. The caller holds s.mu, which guards op.cursor and op.files
// (the n-th file is the n-th link, and cursor counts the links handed out).
func (s *Server) dropUnsentChunksLocked(op *operation) {
	for _, token := range op.files[min(op.cursor, len(op.files)):] {
		s.dropChunkLocked(token)
	}
}

func lz4Frame(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := lz4.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("lz4: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("lz4: %w", err)
	}
	return buf.Bytes(), nil
}
