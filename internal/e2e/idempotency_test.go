package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/platform"
)

// idempotencyFlows (TestContractIdempotency) shows Idempotency-Key on the webhook operations: a retried endpoint
// creation or rotation with the same key answers the same and changes nothing (the receiver's
// secret is not retired by a retry), the key with another body is 409, a failed request frees
// its key, and each tenant's keys are its own — another tenant's same key neither replays the
// first tenant's answer nor is blocked by it.
func idempotencyFlows(t *testing.T, e *env, c *contract) {
	base := e.api.URL
	key1 := contractTenant(t, e, "Idempotent Bank", platform.AllFacts)
	key2 := contractTenant(t, e, "Other Shop", []platform.Fact{platform.FactBirth})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(recv.Close)
	hdr := func(k string) http.Header {
		return http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {k}}
	}
	type answer struct {
		status   int
		replayed bool
		body     map[string]any
		raw      string
	}
	post := func(apiKey, path, idem, body string) answer {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		st, h, b := c.raw(ctx, "POST", base+path, apiKey, hdr(idem), rd)
		a := answer{status: st, replayed: h.Get("Idempotent-Replayed") == "true", raw: string(b)}
		json.Unmarshal(b, &a.body)
		return a
	}
	secretIDs := func(ep string) []string {
		t.Helper()
		ss, err := e.st.WebhookSecrets(ctx, ep, e.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range ss {
			ids = append(ids, s.ID)
		}
		return ids
	}

	// Creating an endpoint twice with one key makes one endpoint and shows its secret twice.
	create := `{"url":"` + recv.URL + `/hook"}`
	a1 := post(key1, "/v1/webhooks/endpoints", "create-1", create)
	a2 := post(key1, "/v1/webhooks/endpoints", "create-1", create)
	if a1.status != http.StatusCreated || a1.replayed || a2.status != http.StatusCreated || !a2.replayed || a1.raw != a2.raw {
		t.Fatalf("create, then retried: %d %v %s / %d %v %s", a1.status, a1.replayed, a1.raw, a2.status, a2.replayed, a2.raw)
	}
	var eps struct{ Endpoints []struct{ ID string } }
	if st, _, b := c.raw(ctx, "GET", base+"/v1/webhooks/endpoints", key1, nil, nil); st != http.StatusOK || json.Unmarshal(b, &eps) != nil || len(eps.Endpoints) != 1 {
		t.Fatalf("endpoints after a retried create: %d %s", st, b)
	}
	ep := eps.Endpoints[0].ID
	// The key with another body is refused, and makes no endpoint.
	if r := post(key1, "/v1/webhooks/endpoints", "create-1", `{"url":"`+recv.URL+`/other"}`); r.status != http.StatusConflict || r.body["type"] != "https://mynagate.dev/problems/idempotency-key-reused" {
		t.Fatalf("create with the key and another body: %d %s", r.status, r.raw)
	}
	first := secretIDs(ep)

	// A retried rotation gives the same new secret and does not rotate again: the secret the
	// receiver used before the rotation keeps signing through its grace period.
	rot := "/v1/webhooks/endpoints/" + ep + "/rotate"
	r1 := post(key1, rot, "rotate-1", `{"grace_seconds":3600}`)
	after := secretIDs(ep)
	r2 := post(key1, rot, "rotate-1", `{"grace_seconds":3600}`)
	if r1.status != http.StatusOK || r2.status != http.StatusOK || !r2.replayed || r1.body["secret"] != r2.body["secret"] || r1.raw != r2.raw {
		t.Fatalf("rotate, then retried: %d %s / %d %v %s", r1.status, r1.raw, r2.status, r2.replayed, r2.raw)
	}
	if got := secretIDs(ep); len(after) != 2 || !slices.Equal(got, after) || !slices.Contains(got, first[0]) {
		t.Fatalf("secrets: before %v, after one rotation %v, after its retry %v: the retry rotated again", first, after, got)
	}

	// The same key with another body is refused and changes nothing.
	r3 := post(key1, rot, "rotate-1", `{"grace_seconds":0}`)
	if r3.status != http.StatusConflict || r3.body["type"] != "https://mynagate.dev/problems/idempotency-key-reused" {
		t.Fatalf("the key with another body: %d %s", r3.status, r3.raw)
	}
	// ... as is the key on another operation.
	if r := post(key1, "/v1/webhooks/endpoints/"+ep+"/redeliver", "rotate-1", ""); r.status != http.StatusConflict {
		t.Fatalf("the key on another path: %d %s", r.status, r.raw)
	}
	if r := post(key1, "/v1/events/evt_00000000000000000000000000000000/redeliver", "rotate-1", ""); r.status != http.StatusConflict {
		t.Fatalf("the key on an event's redelivery: %d %s", r.status, r.raw)
	}
	if got := secretIDs(ep); !slices.Equal(got, after) {
		t.Fatalf("secrets after refused requests: %v, want %v", got, after)
	}

	// While the first request with a key runs, a retry is 409 in flight and changes nothing.
	ten, err := e.plat.Authenticate(ctx, key1)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"grace_seconds":60}`
	digest := platform.IdempotentRequestDigest("POST", rot, []byte(body))
	if kept, err := e.plat.BeginIdempotent(ctx, ten, "rotate-running", digest); err != nil || kept != nil {
		t.Fatalf("claim: %v %v", kept, err)
	}
	if r := post(key1, rot, "rotate-running", body); r.status != http.StatusConflict || r.body["type"] != "https://mynagate.dev/problems/idempotency-key-in-flight" {
		t.Fatalf("a retry while the first runs: %d %s", r.status, r.raw)
	}
	if got := secretIDs(ep); !slices.Equal(got, after) {
		t.Fatalf("secrets after an in-flight retry: %v, want %v", got, after)
	}
	if err := e.plat.FinishIdempotent(ctx, ten, "rotate-running", digest, nil); err != nil {
		t.Fatal(err)
	}

	// Another tenant's same key is its own: on the first tenant's endpoint it is not found (no
	// replay of the first tenant's secret), and on its own endpoint it rotates.
	if r := post(key2, rot, "rotate-1", `{"grace_seconds":3600}`); r.status != http.StatusNotFound || strings.Contains(r.raw, "secret") {
		t.Fatalf("another tenant, same key, first tenant's endpoint: %d %s", r.status, r.raw)
	}
	o := post(key2, "/v1/webhooks/endpoints", "create-1", create)
	if o.status != http.StatusCreated || o.replayed {
		t.Fatalf("another tenant's create with the same key: %d %v %s", o.status, o.replayed, o.raw)
	}
	oep := o.body["endpoint"].(map[string]any)["id"].(string)
	if oep == ep {
		t.Fatal("another tenant's create replayed the first tenant's endpoint")
	}
	if r := post(key2, "/v1/webhooks/endpoints/"+oep+"/rotate", "rotate-1", `{"grace_seconds":3600}`); r.status != http.StatusOK || r.replayed || r.body["secret"] == r1.body["secret"] {
		t.Fatalf("another tenant's rotation with the same key: %d %v %s", r.status, r.replayed, r.raw)
	}

	// A failed request (404) frees its key: after the tenant's own 404 the key runs again.
	if r := post(key1, "/v1/webhooks/endpoints/we_0000000000000000/rotate", "rotate-2", ""); r.status != http.StatusNotFound {
		t.Fatalf("rotate of no endpoint: %d %s", r.status, r.raw)
	}
	if r := post(key1, rot, "rotate-2", ""); r.status != http.StatusOK || r.replayed {
		t.Fatalf("the key of a failed request, reused: %d %v %s", r.status, r.replayed, r.raw)
	}

	// Redelivering with a key: the retry is answered from the first, queueing nothing more.
	d1 := post(key1, "/v1/webhooks/endpoints/"+ep+"/redeliver", "redeliver-1", "")
	d2 := post(key1, "/v1/webhooks/endpoints/"+ep+"/redeliver", "redeliver-1", "")
	if d1.status != http.StatusAccepted || d2.status != http.StatusAccepted || !d2.replayed || d1.raw != d2.raw {
		t.Fatalf("redeliver, then retried: %d %s / %d %v %s", d1.status, d1.raw, d2.status, d2.replayed, d2.raw)
	}

	// A key longer than 200 characters is refused.
	if st, _, b := c.raw(offSpec(), "POST", base+rot, key1, hdr(strings.Repeat("k", 201)), nil); st != http.StatusBadRequest {
		t.Fatalf("a 201-character key: %d %s", st, b)
	}
}
