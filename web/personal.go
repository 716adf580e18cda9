package web

import (
	"net/http"
	"time"

	"github.com/mynagate/mynagate/platform"
)

// LatestFactsView is the answer of GET /v1/watches/{sub}/basic4: what a thin
// person.basic4_updated event tells the tenant to read.
type LatestFactsView struct {
	Sub       string                   `json:"sub"`
	Facts     map[platform.Fact]string `json:"facts"`
	Deceased  bool                     `json:"deceased"`
	UpdatedAt time.Time                `json:"updated_at"`
}

func (s *Server) latestFacts(w http.ResponseWriter, r *http.Request, t *platform.Tenant) {
	f, err := s.p.LatestFacts(r.Context(), t, r.PathValue("sub"))
	if err != nil {
		writeProblem(w, r, err, "")
		return
	}
	w.Header().Set("Cache-Control", "no-store") // personal data
	writeJSON(w, http.StatusOK, LatestFactsView{Sub: f.Sub, Facts: f.Facts, Deceased: f.Deceased, UpdatedAt: f.UpdatedAt})
}
