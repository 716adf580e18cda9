package oidc_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestClientRegistrationAPI registers, lists and deletes clients over /v1 with a tenant's API
// key, and refuses what it must: no key, malformed or oversized bodies, bad redirect URIs,
// another tenant's client.
func TestClientRegistrationAPI(t *testing.T) {
	e := newEnv(t)
	do := func(method, path, key, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		json.Unmarshal(b, &out)
		return resp.StatusCode, out
	}
	status, c := do("POST", "/v1/oidc/clients", e.bankKey, `{"name":"Bank web","redirect_uris":["https://bank.example/cb"]}`)
	if status != http.StatusCreated || c["client_id"] == "" || !strings.HasPrefix(c["client_secret"].(string), "mgs_") || c["issuer"] != e.issuer {
		t.Fatalf("create: %d %v", status, c)
	}
	id := c["client_id"].(string)
	if status, l := do("GET", "/v1/oidc/clients", e.bankKey, ""); status != 200 || len(l["clients"].([]any)) != 1 {
		t.Fatalf("list: %d %v", status, l)
	} else if l["clients"].([]any)[0].(map[string]any)["client_secret"] != nil {
		t.Error("the list shows a secret")
	}
	ticketsKey, _, err := e.plat.CreateAPIKey(ctx, e.tickets.ID, "t")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, path, key, body string
		status                        int
		problem                       string
	}{
		{"no key", "POST", "/v1/oidc/clients", "", `{"name":"x","redirect_uris":["https://x.example/"]}`, 401, "unauthorized"},
		{"malformed", "POST", "/v1/oidc/clients", e.bankKey, `{"name":`, 400, "invalid-request"},
		{"unknown field", "POST", "/v1/oidc/clients", e.bankKey, `{"name":"x","redirect_uris":["https://x.example/"],"grant":"all"}`, 400, "invalid-request"},
		{"no redirect", "POST", "/v1/oidc/clients", e.bankKey, `{"name":"x","redirect_uris":[]}`, 400, "invalid-request"},
		{"http redirect", "POST", "/v1/oidc/clients", e.bankKey, `{"name":"x","redirect_uris":["http://x.example/cb"]}`, 400, "invalid-request"},
		{"fragment", "POST", "/v1/oidc/clients", e.bankKey, `{"name":"x","redirect_uris":["https://x.example/cb#f"]}`, 400, "invalid-request"},
		{"custom scheme", "POST", "/v1/oidc/clients", e.bankKey, `{"name":"x","redirect_uris":["javascript:alert(1)"]}`, 400, "invalid-request"},
		{"oversized", "POST", "/v1/oidc/clients", e.bankKey, `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "body-too-large"},
		{"another tenant's client", "DELETE", "/v1/oidc/clients/" + id, ticketsKey, "", 404, "not-found"},
		{"unknown client", "DELETE", "/v1/oidc/clients/c_0000000000000000", e.bankKey, "", 404, "not-found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, p := do(tc.method, tc.path, tc.key, tc.body)
			if status != tc.status || !strings.HasSuffix(p["type"].(string), "/"+tc.problem) {
				t.Fatalf("%d %v, want %d %s", status, p, tc.status, tc.problem)
			}
		})
	}
	if status, l := do("GET", "/v1/oidc/clients", ticketsKey, ""); status != 200 || len(l["clients"].([]any)) != 0 {
		t.Errorf("another tenant lists: %d %v", status, l)
	}
	if status, _ := do("DELETE", "/v1/oidc/clients/"+id, e.bankKey, ""); status != http.StatusNoContent {
		t.Fatalf("delete: %d", status)
	}
}
