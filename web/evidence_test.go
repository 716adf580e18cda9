package web

import (
	"net/url"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/internal/platformtest"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
)

// TestEvidenceRoutesRefuse sends the public evidence routes what is not a checkpoint size or a
// verification id, and expects a problem document for each, not a 500 or a proof.
func TestEvidenceRoutesRefuse(t *testing.T) {
	s := newTestServerOn(t, func(st *store.Store) []platform.Option { return platformtest.VerifyingOptions(t, st) })
	if w := s.do("GET", "/v1/evidence/checkpoint", "", "", ""); w.Code != 200 || !strings.HasPrefix(w.Body.String(), evidence.DefaultOrigin+"\n0\n") {
		t.Fatalf("checkpoint of the empty log: %d %q", w.Code, w.Body)
	}
	for _, from := range []string{"", "0", "-1", "+1", "x", "1e3", "0x10", "18446744073709551616", strings.Repeat("9", 10_000), "1\x00"} {
		p := wantProblem(t, s.do("GET", "/v1/evidence/consistency?from="+url.QueryEscape(from), "", "", ""), 400, "invalid-request")
		if !strings.Contains(p.Detail, "from") {
			t.Errorf("from=%.20q: detail %q", from, p.Detail)
		}
	}
	// Sizes no checkpoint has, the largest an integer can say included.
	for _, from := range []string{"1", "999999999", "18446744073709551615"} {
		wantProblem(t, s.do("GET", "/v1/evidence/consistency?from="+from, "", "", ""), 404, "not-found")
	}
	// Bundles are a tenant's: none without a key; an unknown or oversized id is not found.
	wantProblem(t, s.do("GET", "/v1/evidence/v_unknown", "", "", ""), 401, "unauthorized")
	for _, id := range []string{"v_unknown", strings.Repeat("v", 10_000), "%00"} {
		wantProblem(t, s.do("GET", "/v1/evidence/"+id, s.key, "", ""), 404, "not-found")
	}
	// No route serves tiles yet: a tile path is an unknown route, not a bundle id.
	for _, path := range []string{"/v1/evidence/tile/0/000", "/v1/evidence/tile/8/0/x001/234.p/3", "/v1/evidence/tile/0/" + strings.Repeat("x999/", 2000) + "000"} {
		wantProblem(t, s.do("GET", path, "", "", ""), 404, "not-found")
	}
}
