package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/platform"
)

// TestFactAllowanceChange: a tenant's allowance changes after creation. Widening (the operator's)
// reveals nothing more of verifications made before it — neither facts nor the certificate, in
// the view or the evidence bundle; narrowing (the tenant's own PATCH /v1/tenant) holds for
// everything served from then on. The tenant cannot widen its own allowance, touch another's,
// or get a replay to change anything.
func TestFactAllowanceChange(t *testing.T) {
	e := newEnv(t, "")
	rp, id := e.tenant("Narrow Shop", []platform.Fact{platform.FactName})
	key := e.apiKey // the first tenant's (Example Bank's)
	narrowKey := keyOf(t, e, id)
	taro := e.issue(testkit.Taro())

	call := func(method, path, key string, hdr http.Header, body string) (int, http.Header, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequestWithContext(ctx, method, e.api.URL+path, rd)
		for k, v := range hdr {
			req.Header[k] = v
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		raw, _ := io.ReadAll(resp.Body)
		if len(raw) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "json") && !strings.HasPrefix(path, "/v1/evidence/") {
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatalf("%s %s: %v: %s", method, path, err, raw)
			}
		}
		if strings.HasPrefix(path, "/v1/evidence/") {
			out = map[string]any{"raw": string(raw)}
		}
		return resp.StatusCode, resp.Header, out
	}
	// seen returns what the tenant is served of a verification: the facts in its view, whether
	// the certificate is in it, and what its evidence bundle discloses (verified with the log's
	// key): whether everything, and which items one by one.
	type served struct {
		facts    []string
		cert     bool
		full     bool
		disclose []string
	}
	seen := func(key, vid string) served {
		t.Helper()
		var s served
		code, _, v := call("GET", "/v1/verifications/"+vid, key, nil, "")
		if code != http.StatusOK {
			t.Fatalf("GET verification %s: %d %v", vid, code, v)
		}
		if f, ok := v["facts"].(map[string]any); ok {
			for k := range f {
				s.facts = append(s.facts, k)
			}
		}
		slices.Sort(s.facts)
		_, s.cert = v["certificate"]
		var raw string
		for range 100 {
			code, _, b := call("GET", "/v1/evidence/"+vid, key, nil, "")
			if code == http.StatusOK {
				raw = b["raw"].(string)
				break
			}
			if code != http.StatusServiceUnavailable {
				t.Fatalf("GET evidence %s: %d %v", vid, code, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
		ver, err := evidence.VerifyBundle([]byte(raw), e.evidence.PublicKey())
		if err != nil {
			t.Fatalf("bundle of %s: %v", vid, err)
		}
		s.full = ver.Personal != nil
		for k := range ver.Disclosed {
			if k != evidence.ItemSubject && k != evidence.ItemDetail {
				s.disclose = append(s.disclose, k)
			}
		}
		slices.Sort(s.disclose)
		return s
	}

	v1 := e.verify(rp, taro, "identity").Verification
	before := seen(narrowKey, v1.ID)
	if !slices.Equal(before.facts, []string{"name"}) || before.cert || before.full || len(before.disclose) != 1 {
		t.Fatalf("under [name]: %+v, want the name only, no certificate", before)
	}

	// The operator widens to every fact: the earlier verification stays as it was served.
	e.clk.Advance(time.Minute)
	wide, err := e.plat.UpdateTenant(ctx, id, platform.WithFacts(platform.AllFacts))
	if err != nil {
		t.Fatal(err)
	}
	if !wide.FactsWidenedAt.Equal(e.clk.Now().UTC()) {
		t.Errorf("FactsWidenedAt %v, want now %v", wide.FactsWidenedAt, e.clk.Now())
	}
	if after := seen(narrowKey, v1.ID); !slices.Equal(after.facts, before.facts) || after.cert || after.full || !slices.Equal(after.disclose, before.disclose) {
		t.Errorf("after widening, the earlier verification serves %+v, want %+v as before", after, before)
	}
	// A verification made after it gets everything, the certificate included.
	e.clk.Advance(time.Minute)
	v2 := e.verify(rp, taro, "identity").Verification
	if got := seen(narrowKey, v2.ID); len(got.facts) != 4 || !got.cert || !got.full {
		t.Errorf("after widening, a new verification serves %+v, want all four facts and the certificate", got)
	}

	// The tenant narrows itself to the address: every view and bundle from then on.
	code, _, body := call("PATCH", "/v1/tenant", narrowKey, nil, `{"facts":["address"]}`)
	if code != http.StatusOK || !slices.Equal(body["facts"].([]any), []any{"address"}) || body["facts_widened_at"] == nil {
		t.Fatalf("PATCH narrowing: %d %v", code, body)
	}
	if got := seen(narrowKey, v2.ID); !slices.Equal(got.facts, []string{"address"}) || got.cert || got.full || len(got.disclose) != 1 {
		t.Errorf("after narrowing, the verification serves %+v, want the address only", got)
	}
	if got := seen(narrowKey, v1.ID); len(got.facts) != 0 || got.cert || len(got.disclose) != 0 {
		t.Errorf("after narrowing to the address, the first verification (name only) serves %+v, want nothing", got)
	}

	// Hostile: widening itself, unknown and malformed facts, nothing to change, a bad key —
	// each refused with its problem and nothing changed.
	for _, c := range []struct {
		key, body string
		status    int
		slug      string
	}{
		{narrowKey, `{"facts":["address","name"]}`, http.StatusForbidden, "allowance-widening"},
		{narrowKey, `{"facts":["income"]}`, http.StatusBadRequest, "invalid-request"},
		{narrowKey, `{"facts":"address"}`, http.StatusBadRequest, "invalid-request"},
		{narrowKey, `{"facts":["address"],"tenant":"` + e.tenantID + `"}`, http.StatusBadRequest, "invalid-request"},
		{narrowKey, `{}`, http.StatusBadRequest, "invalid-request"},
		{narrowKey, `{"revocation":"sometimes"}`, http.StatusBadRequest, "invalid-request"},
		{"mgk_0000000000000000_" + strings.Repeat("0", 64), `{"facts":[]}`, http.StatusUnauthorized, "unauthorized"},
	} {
		code, _, p := call("PATCH", "/v1/tenant", c.key, nil, c.body)
		if code != c.status || !strings.HasSuffix(p["type"].(string), "/"+c.slug) {
			t.Errorf("PATCH %s: %d %v, want %d %s", c.body, code, p, c.status, c.slug)
		}
	}
	if ten, _ := e.plat.Tenant(ctx, id); !slices.Equal(ten.Facts, []platform.Fact{platform.FactAddress}) || ten.RevocationPolicy() != platform.RevocationCRL {
		t.Errorf("after refused PATCHes: %+v, want [address] and crl", ten)
	}
	// Another tenant's key changes that tenant only: there is no way to name this one.
	if code, _, p := call("PATCH", "/v1/tenant", key, nil, `{"facts":["name","birthdate","sex","address"],"revocation":"ocsp"}`); code != http.StatusOK || p["id"] != e.tenantID {
		t.Errorf("another tenant's PATCH: %d %v", code, p)
	}
	if ten, _ := e.plat.Tenant(ctx, id); !slices.Equal(ten.Facts, []platform.Fact{platform.FactAddress}) || ten.RevocationPolicy() != platform.RevocationCRL {
		t.Errorf("another tenant's PATCH changed this one: %+v", ten)
	}

	// A replay with its Idempotency-Key answers the first answer again and changes nothing, even
	// after the operator widened in between; the same PATCH without a key sets the same state.
	idem := http.Header{"Idempotency-Key": {"narrow-1"}}
	code, _, first := call("PATCH", "/v1/tenant", narrowKey, idem, `{"facts":[]}`)
	if code != http.StatusOK || len(first["facts"].([]any)) != 0 {
		t.Fatalf("PATCH to no facts: %d %v", code, first)
	}
	if _, err := e.plat.UpdateTenant(ctx, id, platform.WithFacts([]platform.Fact{platform.FactSex})); err != nil {
		t.Fatal(err)
	}
	code, hdr, again := call("PATCH", "/v1/tenant", narrowKey, idem, `{"facts":[]}`)
	if code != http.StatusOK || hdr.Get("Idempotent-Replayed") != "true" || len(again["facts"].([]any)) != 0 {
		t.Errorf("replayed PATCH: %d %v %v", code, hdr, again)
	}
	if ten, _ := e.plat.Tenant(ctx, id); !slices.Equal(ten.Facts, []platform.Fact{platform.FactSex}) {
		t.Errorf("a replay changed the allowance: %v, want [sex]", ten.Facts)
	}
	if code, _, p := call("PATCH", "/v1/tenant", narrowKey, idem, `{"facts":["sex"]}`); code != http.StatusConflict || !strings.HasSuffix(p["type"].(string), "/idempotency-key-reused") {
		t.Errorf("the key with another body: %d %v", code, p)
	}
	for range 2 {
		if code, _, p := call("PATCH", "/v1/tenant", narrowKey, nil, `{"facts":["sex"]}`); code != http.StatusOK || !slices.Equal(p["facts"].([]any), []any{"sex"}) {
			t.Errorf("PATCH to the same allowance: %d %v", code, p)
		}
	}
	if code, _, p := call("GET", "/v1/tenant", narrowKey, nil, ""); code != http.StatusOK || p["id"] != id || !slices.Equal(p["facts"].([]any), []any{"sex"}) {
		t.Errorf("GET /v1/tenant: %d %v", code, p)
	}
}

// keyOf creates another API key of a tenant.
func keyOf(t *testing.T, e *env, tenantID string) string {
	t.Helper()
	key, _, err := e.plat.CreateAPIKey(ctx, tenantID, "allowance")
	if err != nil {
		t.Fatal(err)
	}
	return key
}
