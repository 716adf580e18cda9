package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/platform"
)

// evidenceRoutes serves the evidence log (証跡データ保管): a tenant's self-contained bundle for one
// verification, and the log's public checkpoint, consistency proofs and key, which carry no
// personal data and need no API key. Bundles are sent as the exact bytes the log produced:
// re-encoding them would break their verification.
func (s *Server) evidenceRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /v1/evidence/checkpoint", s.evidenceCheckpoint)
	m.HandleFunc("GET /v1/evidence/consistency", s.evidenceConsistency)
	m.HandleFunc("GET /v1/evidence/key", s.evidenceKey)
	m.HandleFunc("GET /v1/evidence/{id}", s.tenant(s.evidenceBundle))
}

func (s *Server) log(w http.ResponseWriter, r *http.Request) *evidence.Log {
	l := s.p.Evidence()
	if l == nil {
		writeProblem(w, r, &platform.Error{Kind: platform.KindNotFound, Type: "not-found", Detail: "this platform keeps no evidence log"}, "")
	}
	return l
}

// evidenceError maps the log's errors: unknown → 404, not yet in the tree → 503 with Retry-After.
func evidenceError(w http.ResponseWriter, r *http.Request, err error, what string) {
	switch {
	case errors.Is(err, evidence.ErrNotFound):
		writeProblem(w, r, &platform.Error{Kind: platform.KindNotFound, Type: "not-found", Detail: what + " does not exist"}, "")
	case errors.Is(err, evidence.ErrNotIntegrated):
		writeProblem(w, r, &platform.Error{Kind: platform.KindUnavailable, Type: "evidence-pending", Detail: what + " is recorded but not yet in the tree; retry in a second"}, "")
	default:
		writeProblem(w, r, err, "")
	}
}

func (s *Server) evidenceBundle(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	l := s.log(w, r)
	if l == nil {
		return
	}
	id := r.PathValue("id")
	b, err := s.p.EvidenceBundle(r.Context(), t, id)
	if err != nil {
		evidenceError(w, r, err, "evidence of verification "+id)
		return
	}
	data, err := b.Marshal()
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store") // personal data
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", id+".evidence.json"))
	w.Write(data)
}

func (s *Server) evidenceCheckpoint(w http.ResponseWriter, r *http.Request) {
	l := s.log(w, r)
	if l == nil {
		return
	}
	cp, err := l.Checkpoint(r.Context())
	if err != nil {
		evidenceError(w, r, err, "a checkpoint")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(cp.Note)
}

func (s *Server) evidenceConsistency(w http.ResponseWriter, r *http.Request) {
	l := s.log(w, r)
	if l == nil {
		return
	}
	from, err := strconv.ParseUint(r.URL.Query().Get("from"), 10, 64)
	if err != nil || from == 0 {
		writeProblem(w, r, invalid("from must be the size of an earlier checkpoint (a positive integer)"), "")
		return
	}
	b, err := l.ConsistencyBundle(r.Context(), from)
	if err != nil {
		evidenceError(w, r, err, fmt.Sprintf("a checkpoint of size %d", from))
		return
	}
	data, err := b.Marshal()
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}

func (s *Server) evidenceKey(w http.ResponseWriter, r *http.Request) {
	l := s.log(w, r)
	if l == nil {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, l.PublicKey().String()+"\n")
}
