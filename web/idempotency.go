package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/mynagate/mynagate/platform"
)

// keptHeaders are the response headers a replayed answer carries again.
var keptHeaders = []string{"Content-Type", "Location", "Cache-Control"}

// capture passes a response through and keeps a copy of it, for the Idempotency-Key's answer.
type capture struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *capture) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.body.Write(b)
	return c.ResponseWriter.Write(b)
}

func (c *capture) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// idempotent honours an Idempotency-Key on a tenant's state-changing request (platform's
// BeginIdempotent): the first request with a key runs, and if it succeeds (2xx) its answer is
// kept for 24 hours; a retry with the same key and the same method, path and body gets that
// answer again, with Idempotent-Replayed: true, and changes nothing; the key with another request
// is 409 idempotency-key-reused, and while the first still runs 409 idempotency-key-in-flight.
// A request that fails changed nothing, so its key is forgotten and a retry runs again. Without
// the header the request runs as it is.
func (s *Server) idempotent(next func(http.ResponseWriter, *http.Request, *platform.Tenant)) func(http.ResponseWriter, *http.Request, *platform.Tenant) {
	return func(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" && len(r.Header.Values("Idempotency-Key")) == 0 {
			next(w, r, t)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeProblem(w, r, &platform.Error{Kind: platform.KindTooLarge, Type: "body-too-large", Detail: fmt.Sprintf("request bodies are at most %d bytes", MaxBody)}, "")
				return
			}
			writeProblem(w, r, invalid("reading the body: %v", err), "")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		digest := platform.IdempotentRequestDigest(r.Method, r.URL.Path, body)
		kept, err := s.p.BeginIdempotent(r.Context(), t, key, digest)
		if err != nil {
			writeProblem(w, r, err, "")
			return
		}
		if kept != nil {
			for k, v := range kept.Header {
				w.Header().Set(k, v)
			}
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(kept.Status)
			w.Write(kept.Body)
			return
		}
		c := &capture{ResponseWriter: w}
		next(c, r, t)
		var resp *platform.IdempotentResponse
		if c.status >= 200 && c.status < 300 {
			resp = &platform.IdempotentResponse{Status: c.status, Header: map[string]string{}, Body: c.body.Bytes()}
			for _, h := range keptHeaders {
				if v := w.Header().Get(h); v != "" {
					resp.Header[h] = v
				}
			}
		}
		if err := s.p.FinishIdempotent(r.Context(), t, key, digest, resp); err != nil {
			slog.ErrorContext(r.Context(), "web: recording the answer of an Idempotency-Key failed", "err", err, "path", r.URL.Path, "request_id", requestID(r))
		}
	}
}
