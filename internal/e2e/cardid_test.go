package e2e

import (
	"bytes"
	"testing"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/platform"
)

// TestCardIDPairwise: a login verification gives the tenant that ran it its own id of the card
// (card_id), which the gate's formula (package gate/manifest) computes from the certificate with
// the tenant's card key; another tenant gets another id and another key, identity
// verifications and rejections carry none, and neither another tenant, a caller without an
// API key nor a revoked key reads the verification or the key.
func TestCardIDPairwise(t *testing.T) {
	e := newEnv(t, "")
	taro, hanako := e.issue(testkit.Taro()), e.issue(testkit.Hanako())
	cf, err := jpki.LoadCardFile(taro.path)
	if err != nil {
		t.Fatal(err)
	}

	keyOf := func(rp *client.Client) []byte {
		t.Helper()
		k, err := rp.CardKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if k.Format != "mynagate-card-id-v1" || len(k.Key) != 32 {
			t.Fatalf("card key %+v", k)
		}
		return k.Key
	}
	k1, k2 := keyOf(e.rp), keyOf(e.rp2)
	if bytes.Equal(k1, k2) {
		t.Fatal("two tenants have the same card key")
	}
	if again := keyOf(e.rp); !bytes.Equal(again, k1) {
		t.Fatal("a tenant's card key changed between two reads")
	}

	v1 := e.verify(e.rp, taro, "login").Verification
	v2 := e.verify(e.rp2, taro, "login").Verification
	if v1.CardID == "" || v1.CardID != manifest.CardID(k1, cf.Auth.Cert) {
		t.Fatalf("tenant 1's card id %q, want the gate's formula with its key %q", v1.CardID, manifest.CardID(k1, cf.Auth.Cert))
	}
	if v2.CardID != manifest.CardID(k2, cf.Auth.Cert) || v2.CardID == v1.CardID {
		t.Fatalf("tenant 2's card id %q (tenant 1's %q): want its own", v2.CardID, v1.CardID)
	}
	if manifest.CardID(k2, cf.Auth.Cert) == manifest.CardID(k1, cf.Auth.Cert) {
		t.Fatal("another tenant's key gives the same card id")
	}
	// The platform's and the gate's formulas agree.
	if got := platform.CardID(k1, cf.Auth.Cert); got != v1.CardID {
		t.Fatalf("platform.CardID %q, served %q", got, v1.CardID)
	}
	// The same card again: the same id; another card: another.
	if again := e.verify(e.rp, taro, "login").Verification; again.CardID != v1.CardID {
		t.Fatalf("the same card's second login: %q, want %q", again.CardID, v1.CardID)
	}
	if other := e.verify(e.rp, hanako, "login").Verification; other.CardID == "" || other.CardID == v1.CardID {
		t.Fatalf("another card's id %q", other.CardID)
	}
	// A read by id serves it too.
	if got, err := e.rp.Verification(ctx, v1.ID); err != nil || got.CardID != v1.CardID {
		t.Fatalf("GET verification: %+v %v", got, err)
	}

	// Identity verifications (the signing certificate) carry no card id.
	if id := e.verify(e.rp, taro, "identity").Verification; id.CardID != "" {
		t.Fatalf("identity verification with card_id %q", id.CardID)
	}

	// Another tenant: not found, nothing of the verification.
	if got, err := e.rp2.Verification(ctx, v1.ID); !isProblem(err, "not-found") {
		t.Fatalf("another tenant reading the verification: %+v %v", got, err)
	}
	// No key, a malformed key, a revoked key: 401, no card key.
	for name, c := range map[string]*client.Client{
		"no key":        client.New(e.api.URL),
		"malformed key": client.New(e.api.URL, client.WithAPIKey("mg_nonsense")),
	} {
		if k, err := c.CardKey(ctx); !isProblem(err, "unauthorized") {
			t.Errorf("%s: %+v %v, want unauthorized", name, k, err)
		}
	}
	ten, err := e.plat.CreateTenant(ctx, "Short-lived", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, ak, err := e.plat.CreateAPIKey(ctx, ten.ID, "to revoke")
	if err != nil {
		t.Fatal(err)
	}
	rc := client.New(e.api.URL, client.WithAPIKey(key))
	if _, err := rc.CardKey(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.plat.RevokeAPIKey(ctx, ak.ID); err != nil {
		t.Fatal(err)
	}
	if k, err := rc.CardKey(ctx); !isProblem(err, "unauthorized") {
		t.Fatalf("revoked key: %+v %v, want unauthorized", k, err)
	}
}
