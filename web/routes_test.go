package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/platform"
)

// The metrics never reach the API handler: they are served on a listener of their own.
func TestMetricsNotOnTheAPI(t *testing.T) {
	s := newTestServer(t)
	wantProblem(t, s.do("GET", "/metrics", "", "", ""), 404, "not-found")
}

func TestWithTenantRoutes(t *testing.T) {
	var gotTenant string
	s := newTestServer(t, WithTenantRoutes(func(m *http.ServeMux, auth func(func(http.ResponseWriter, *http.Request, *platform.Tenant) error) http.HandlerFunc) {
		m.HandleFunc("POST /v1/extra", auth(func(w http.ResponseWriter, r *http.Request, t *platform.Tenant) error {
			gotTenant = t.ID
			if r.URL.Query().Get("fail") != "" {
				return &platform.Error{Kind: platform.KindConflict, Type: "already-there", Detail: "it exists"}
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}))
	}))
	wantProblem(t, s.do("POST", "/v1/extra", "", "", ""), 401, "unauthorized")
	if gotTenant != "" {
		t.Fatal("the handler ran without an API key")
	}
	// Their POSTs are JSON, as the API's own.
	wantProblem(t, s.do("POST", "/v1/extra", s.key, "text/plain", "{}"), 415, "unsupported-media-type")
	if gotTenant != "" {
		t.Fatal("the handler ran on a body that is not JSON")
	}
	if w := s.do("POST", "/v1/extra", s.key, "application/json", "{}"); w.Code != 204 || gotTenant != s.tenant.ID {
		t.Fatalf("got %d, tenant %q", w.Code, gotTenant)
	}
	p := wantProblem(t, s.do("POST", "/v1/extra?fail=1", s.key, "application/json", "{}"), 409, "already-there")
	if p.Detail != "it exists" {
		t.Errorf("detail %q", p.Detail)
	}
}

func TestHolderPostValidation(t *testing.T) {
	s := newTestServer(t)
	const path = "/v1/holder/sessions/s_0000000000000000?token=x"
	wantProblem(t, s.do("POST", path, "", "text/plain", `{}`), 415, "unsupported-media-type")
	wantProblem(t, s.do("POST", path, "", "application/json", `{"token":"x","certificate":"not base64!","signature":"AQ=="}`), 400, "invalid-request")
	p := wantProblem(t, s.do("POST", path, "", "application/json", `{"token":"x","certificate":"AQ==","signature":"AQ==","extra":1}`), 400, "invalid-request")
	if !strings.Contains(p.Detail, "extra") {
		t.Errorf("detail %q does not name the unknown member", p.Detail)
	}
}
