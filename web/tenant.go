package web

import (
	"net/http"
	"time"

	"github.com/mynagate/mynagate/platform"
)

func (s *Server) tenantRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /v1/tenant", s.tenant(s.getTenant))
	m.HandleFunc("PATCH /v1/tenant", s.tenant(s.idempotent(s.patchTenant)))
}

// TenantView is the calling tenant's settings (GET and PATCH /v1/tenant).
type TenantView struct {
	ID         string                    `json:"id"`
	Name       string                    `json:"name"`
	Facts      []platform.Fact           `json:"facts"`
	Revocation platform.RevocationPolicy `json:"revocation"`
	CreatedAt  time.Time                 `json:"created_at"`
	// FactsWidenedAt is when the operator last widened the allowance: the certificate is served
	// only for verifications made since.
	FactsWidenedAt *time.Time `json:"facts_widened_at,omitempty"`
}

func tenantView(t *platform.Tenant) TenantView {
	v := TenantView{ID: t.ID, Name: t.Name, Facts: t.Facts, Revocation: t.RevocationPolicy(), CreatedAt: t.CreatedAt}
	if v.Facts == nil {
		v.Facts = []platform.Fact{}
	}
	if !t.FactsWidenedAt.IsZero() {
		v.FactsWidenedAt = &t.FactsWidenedAt
	}
	return v
}

func (s *Server) getTenant(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, tenantView(t))
}

// TenantPatch is the body of PATCH /v1/tenant: the members given are changed. facts may only
// narrow the allowance (the operator widens it); setting the same values again changes nothing,
// so a retried PATCH is harmless even without an Idempotency-Key.
type TenantPatch struct {
	Facts      *[]platform.Fact           `json:"facts,omitempty"`
	Revocation *platform.RevocationPolicy `json:"revocation,omitempty"`
}

func (s *Server) patchTenant(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	var req TenantPatch
	if err := decode(r, &req); err != nil {
		writeProblem(w, r, err, "")
		return
	}
	var set []platform.TenantSetting
	if req.Facts != nil {
		set = append(set, platform.NarrowFacts(*req.Facts))
	}
	if req.Revocation != nil {
		set = append(set, platform.WithRevocationPolicy(*req.Revocation))
	}
	if len(set) == 0 {
		writeProblem(w, r, invalid("nothing to change: give facts or revocation"), "")
		return
	}
	nt, err := s.p.UpdateTenant(r.Context(), t.ID, set...)
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, tenantView(nt))
}
