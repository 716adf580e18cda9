package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/platform"
)

// oidcClientFlows (TestContractOIDCClients) drives /v1/oidc/clients through the contract: a
// registration, its list and deletion, every declared refusal (no key, malformed, too large,
// not JSON, another tenant's client, an unknown one), and Idempotency-Key on POST: a retried
// registration with the same key answers the same client and secret and registers nothing more,
// the key with another body is 409, and another tenant's same key is its own.
func oidcClientFlows(t *testing.T, e *env, c *contract) {
	base := e.api.URL
	key1 := contractTenant(t, e, "OIDC Bank", platform.AllFacts)
	key2 := contractTenant(t, e, "OIDC Shop", nil)
	jsonHdr := func(idem string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}}
		if idem != "" {
			h.Set("Idempotency-Key", idem)
		}
		return h
	}
	type client struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	post := func(cx context.Context, key, idem, body string) (int, http.Header, client, string) {
		t.Helper()
		st, h, b := c.raw(cx, "POST", base+"/v1/oidc/clients", key, jsonHdr(idem), strings.NewReader(body))
		var cl client
		json.Unmarshal(b, &cl)
		return st, h, cl, string(b)
	}
	list := func(key string) []client {
		t.Helper()
		st, _, b := c.raw(ctx, "GET", base+"/v1/oidc/clients", key, nil, nil)
		var l struct{ Clients []client }
		if st != http.StatusOK || json.Unmarshal(b, &l) != nil {
			t.Fatalf("list: %d %s", st, b)
		}
		return l.Clients
	}
	reg := `{"name":"Bank web","redirect_uris":["https://bank.example/callback"]}`

	// Registered once with a key; the retry gets the same client and secret, marked replayed.
	st1, h1, c1, raw1 := post(ctx, key1, "reg-1", reg)
	st2, h2, c2, raw2 := post(ctx, key1, "reg-1", reg)
	if st1 != http.StatusCreated || h1.Get("Idempotent-Replayed") != "" || c1.Secret == "" ||
		st2 != http.StatusCreated || h2.Get("Idempotent-Replayed") != "true" || raw1 != raw2 {
		t.Fatalf("register, then retried: %d %s / %d %v %s", st1, raw1, st2, h2.Get("Idempotent-Replayed"), raw2)
	}
	if l := list(key1); len(l) != 1 || l[0].ID != c1.ID || l[0].Secret != "" {
		t.Fatalf("clients after a retried registration: %+v", l)
	}
	// The key with another body is refused and registers nothing.
	if st, _, _, raw := post(ctx, key1, "reg-1", `{"name":"Other","redirect_uris":["https://bank.example/other"]}`); st != http.StatusConflict || !strings.Contains(raw, "idempotency-key-reused") {
		t.Fatalf("the key with another body: %d %s", st, raw)
	}
	// Another tenant's same key is its own: a client of its own, not the first's answer.
	if st, h, cl, raw := post(ctx, key2, "reg-1", reg); st != http.StatusCreated || h.Get("Idempotent-Replayed") != "" || cl.ID == c1.ID || cl.Secret == c1.Secret {
		t.Fatalf("another tenant's same key: %d %s", st, raw)
	}
	// Without a key, two registrations are two clients.
	if st, _, _, raw := post(ctx, key1, "", reg); st != http.StatusCreated {
		t.Fatalf("register without a key: %d %s", st, raw)
	}
	if l := list(key1); len(l) != 2 {
		t.Fatalf("%d clients, want 2", len(l))
	}

	// Refusals, each with its declared problem.
	if st, _, _, raw := post(offSpec(), "", "", reg); st != http.StatusUnauthorized {
		t.Errorf("no API key: %d %s", st, raw)
	}
	for name, body := range map[string]string{
		"malformed JSON": `{"name":`,
		"unknown field":  `{"name":"x","redirect_uris":["https://a.example/cb"],"secret":"mine"}`,
		"no redirect":    `{"name":"x","redirect_uris":[]}`,
	} {
		if st, _, _, raw := post(offSpec(), key1, "", body); st != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, st, raw)
		}
	}
	// Within the schema, refused by the provider's rules.
	for name, body := range map[string]string{
		"http redirect":        `{"name":"x","redirect_uris":["http://bank.example/cb"]}`,
		"fragment in redirect": `{"name":"x","redirect_uris":["https://bank.example/cb#x"]}`,
		"blank name":           `{"name":" ","redirect_uris":["https://a.example/cb"]}`,
	} {
		if st, _, _, raw := post(ctx, key1, "", body); st != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, st, raw)
		}
	}
	big := `{"name":"x","redirect_uris":["https://a.example/` + strings.Repeat("a", 2<<20) + `"]}`
	if st, _, _, raw := post(offSpec(), key1, "", big); st != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d %.200s", st, raw)
	}
	if st, _, b := c.raw(offSpec(), "POST", base+"/v1/oidc/clients", key1, http.Header{"Content-Type": {"text/plain"}}, strings.NewReader(reg)); st != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: %d %s", st, b)
	}
	// Another tenant cannot delete the client; its owner can, once.
	if st, _, b := c.raw(ctx, "DELETE", base+"/v1/oidc/clients/"+c1.ID, key2, nil, nil); st != http.StatusNotFound {
		t.Errorf("another tenant deletes the client: %d %s", st, b)
	}
	if st, _, b := c.raw(ctx, "DELETE", base+"/v1/oidc/clients/"+c1.ID, key1, nil, nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d %s", st, b)
	}
	if st, _, b := c.raw(ctx, "DELETE", base+"/v1/oidc/clients/"+c1.ID, key1, nil, nil); st != http.StatusNotFound {
		t.Errorf("delete again: %d %s", st, b)
	}
	if st, _, b := c.raw(offSpec(), "GET", base+"/v1/oidc/clients", "", nil, nil); st != http.StatusUnauthorized {
		t.Errorf("list without a key: %d %s", st, b)
	}
	if st, _, b := c.raw(offSpec(), "DELETE", base+"/v1/oidc/clients/"+c2.ID, "", nil, nil); st != http.StatusUnauthorized {
		t.Errorf("delete without a key: %d %s", st, b)
	}
}
