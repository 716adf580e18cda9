package platform_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/mynagate/mynagate/internal/kdf"
	"github.com/mynagate/mynagate/internal/platformtest"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

var ctx = context.Background()

func newPlatform(t *testing.T, opts ...platform.Option) (*platform.Platform, *clockwork.FakeClock) {
	t.Helper()
	return newPlatformOn(t, storetest.Open(t, store.DialectSQLite), opts...)
}

func newPlatformOn(t *testing.T, st platform.Storage, opts ...platform.Option) (*platform.Platform, *clockwork.FakeClock) {
	t.Helper()
	clk := clockwork.NewFakeClockAt(time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC))
	p, err := platform.New(st, append([]platform.Option{platform.WithClock(clk)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p, clk
}

func TestTenantsAndAPIKeys(t *testing.T) {
	p, _ := newPlatform(t)
	ten, err := p.CreateTenant(ctx, "Example Bank", []platform.Fact{platform.FactName, platform.FactName, platform.FactAddress})
	if err != nil {
		t.Fatal(err)
	}
	if len(ten.Facts) != 2 {
		t.Errorf("facts %v: duplicates must be folded", ten.Facts)
	}
	for _, bad := range []struct {
		name  string
		facts []platform.Fact
	}{{"", nil}, {"  ", nil}, {strings.Repeat("x", 201), nil}, {"ok", []platform.Fact{"mynumber"}}} {
		if _, err := p.CreateTenant(ctx, bad.name, bad.facts); platformtest.KindOf(err) != platform.KindInvalid {
			t.Errorf("CreateTenant(%q, %v): %v, want invalid", bad.name, bad.facts, err)
		}
	}
	key, k, err := p.CreateAPIKey(ctx, ten.ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, "mgk_") || strings.Contains(string(k.SecretHash), key) {
		t.Fatalf("key %q", key)
	}
	got, err := p.Authenticate(ctx, key)
	if err != nil || got.ID != ten.ID {
		t.Fatalf("Authenticate: %v %v", got, err)
	}
	// Every malformed or wrong key is the same unauthorized error.
	for _, bad := range []string{"", "mgk_", key[:len(key)-1] + "0", strings.Replace(key, "mgk_", "mgx_", 1), key + "0", "Bearer " + key} {
		if bad == key {
			continue
		}
		if _, err := p.Authenticate(ctx, bad); platformtest.KindOf(err) != platform.KindUnauthorized {
			t.Errorf("Authenticate(%q): %v, want unauthorized", bad, err)
		}
	}
	if _, _, err := p.CreateAPIKey(ctx, "t_0000000000000000", "x"); platformtest.KindOf(err) != platform.KindNotFound {
		t.Errorf("key for unknown tenant: %v", err)
	}
	if err := p.RevokeAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Authenticate(ctx, key); platformtest.KindOf(err) != platform.KindUnauthorized {
		t.Errorf("revoked key still authenticates: %v", err)
	}
	if err := p.RevokeAPIKey(ctx, k.ID); platformtest.KindOf(err) != platform.KindConflict {
		t.Errorf("second revocation: %v", err)
	}
}

func TestSessionsAndChallenges(t *testing.T) {
	st := storetest.Open(t, store.DialectSQLite)
	p, clk := newPlatformOn(t, st, append(platformtest.VerifyingOptions(t, st), platform.WithSessionTTL(time.Minute), platform.WithHolderBaseURL("https://verify.example/"))...)
	a, _ := p.CreateTenant(ctx, "A", nil)
	b, _ := p.CreateTenant(ctx, "B", nil)
	s1, created, err := p.CreateSession(ctx, a, platform.SessionRequest{Purpose: platform.PurposeIdentity, IdempotencyKey: "k1"})
	if err != nil || !created {
		t.Fatal(err)
	}
	again, created, err := p.CreateSession(ctx, a, platform.SessionRequest{Purpose: platform.PurposeIdentity, IdempotencyKey: "k1"})
	if err != nil || created || again.ID != s1.ID {
		t.Fatalf("idempotent retry: %v created=%v %v", again, created, err)
	}
	if _, _, err := p.CreateSession(ctx, a, platform.SessionRequest{Purpose: platform.PurposeLogin, IdempotencyKey: "k1"}); platformtest.KindOf(err) != platform.KindConflict {
		t.Errorf("same key, other request: %v", err)
	}
	s2, _, _ := p.CreateSession(ctx, a, platform.SessionRequest{Purpose: platform.PurposeIdentity})
	if bytes.Equal(s1.Nonce, s2.Nonce) || len(s1.Nonce) != 32 {
		t.Error("nonces repeat or are short")
	}
	// The challenge binds tenant, purpose and session: no two sessions share one.
	if bytes.Equal(s1.Challenge(), s2.Challenge()) || !bytes.Contains(s1.Challenge(), []byte(a.ID)) || !bytes.Contains(s1.Challenge(), []byte(s1.ID)) {
		t.Error("challenge does not bind tenant and session")
	}
	// …and names the platform's origin, the purpose and the expiry (docs/design/challenge.md).
	for _, line := range []string{"mynagate-challenge/v1\n", "\norigin=https://verify.example\n", "\ntenant-name=A\n", "\npurpose=identity\n",
		"\nexpires=" + s1.ExpiresAt.UTC().Format(time.RFC3339) + "\n"} {
		if !bytes.Contains(s1.Challenge(), []byte(line)) {
			t.Errorf("challenge lacks %q:\n%s", line, s1.Challenge())
		}
	}
	for _, name := range []string{"Bank\x1b]0;x\x07", "Bank\u202Eknab", "Bank\u009b2J", "Bank\xff"} {
		if _, err := p.CreateTenant(ctx, name, nil); platformtest.KindOf(err) != platform.KindInvalid {
			t.Errorf("tenant name %q: %v", name, err)
		}
	}
	if !strings.HasPrefix(p.HolderURL(s1), "https://verify.example/v1/holder/sessions/"+s1.ID+"?token=") {
		t.Errorf("holder URL %s", p.HolderURL(s1))
	}
	if _, err := p.Session(ctx, b, s1.ID); platformtest.KindOf(err) != platform.KindNotFound {
		t.Errorf("tenant B reads A's session: %v", err)
	}
	if _, _, err := p.HolderSession(ctx, s1.ID, "wrong"); platformtest.KindOf(err) != platform.KindNotFound {
		t.Errorf("wrong holder token: %v", err)
	}
	if _, _, err := p.CreateSession(ctx, a, platform.SessionRequest{Purpose: "shop"}); platformtest.KindOf(err) != platform.KindInvalid {
		t.Errorf("bad purpose: %v", err)
	}
	clk.Advance(2 * time.Minute)
	if _, _, err := p.HolderSession(ctx, s1.ID, s1.HolderToken); err != nil {
		t.Errorf("an expired session can still be read: %v", err)
	}
}

// TestHolderTokens checks that holder tokens are derived, never stored: the tenant's view still
// gives the holder URL, the store holds no token, another master derives another token, and a
// session stored with a random token (before tokens were derived) keeps working with it.
func TestHolderTokens(t *testing.T) {
	st := storetest.Open(t, store.DialectSQLite)
	p := platformtest.NewVerifying(t, st)
	ten, _ := p.CreateTenant(ctx, "A", nil)
	s, _, err := p.CreateSession(ctx, ten, platform.SessionRequest{Purpose: platform.PurposeLogin})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.HolderToken) != 48 || strings.Trim(s.HolderToken, "0123456789abcdef") != "" {
		t.Fatalf("holder token %q, want 48 hex digits", s.HolderToken)
	}
	stored, err := st.Session(ctx, s.ID)
	if err != nil || stored.HolderToken != "" {
		t.Fatalf("the store keeps holder token %q (%v), want none", stored.HolderToken, err)
	}
	view, err := p.Session(ctx, ten, s.ID)
	if err != nil || p.HolderURL(view) != p.HolderURL(s) {
		t.Fatalf("tenant's view gives holder URL %q, creation gave %q (%v)", p.HolderURL(view), p.HolderURL(s), err)
	}
	if _, _, err := p.HolderSession(ctx, s.ID, s.HolderToken); err != nil {
		t.Fatalf("the derived token is refused: %v", err)
	}
	other := platformtest.NewVerifying(t, st, platform.WithMaster(bytes.Repeat([]byte{4}, 32)))
	if _, _, err := other.HolderSession(ctx, s.ID, s.HolderToken); platformtest.KindOf(err) != platform.KindNotFound {
		t.Errorf("a platform with another master accepts the token: %v", err)
	}
	// A session stored with its token, as earlier versions did.
	legacy := platform.Session{ID: "s_legacy", TenantID: ten.ID, Purpose: platform.PurposeLogin, Nonce: bytes.Repeat([]byte{9}, 32),
		HolderToken: strings.Repeat("ab", 24), Status: platform.SessionPending, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt}
	if _, _, err := st.CreateSession(ctx, legacy, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.HolderSession(ctx, "s_legacy", legacy.HolderToken); err != nil {
		t.Errorf("a stored token of an earlier version is refused: %v", err)
	}
	if _, _, err := p.HolderSession(ctx, "s_legacy", strings.Repeat("cd", 24)); platformtest.KindOf(err) != platform.KindNotFound {
		t.Errorf("a legacy session accepts another token: %v", err)
	}
	// Without a master secret a platform cannot hand out sessions.
	op, _ := platform.New(st)
	if _, _, err := op.CreateSession(ctx, ten, platform.SessionRequest{Purpose: platform.PurposeLogin}); err == nil {
		t.Error("a platform without a master secret created a session")
	}
}

func TestPairwiseIDs(t *testing.T) {
	st := storetest.Open(t, store.DialectSQLite)
	p1 := platformtest.NewVerifying(t, st, platform.WithMaster(bytes.Repeat([]byte{1}, 32)))
	p1again := platformtest.NewVerifying(t, st, platform.WithMaster(bytes.Repeat([]byte{1}, 32)))
	p2 := platformtest.NewVerifying(t, st, platform.WithMaster(bytes.Repeat([]byte{2}, 32)))
	a := p1.PairwiseID("t_a", "p_1")
	if a == "" || a != p1.PairwiseID("t_a", "p_1") || a != p1again.PairwiseID("t_a", "p_1") {
		t.Error("pairwise id is not stable")
	}
	if a == p1.PairwiseID("t_b", "p_1") || a == p1.PairwiseID("t_a", "p_2") {
		t.Error("pairwise ids collide across tenants or persons")
	}
	if a == p2.PairwiseID("t_a", "p_1") {
		t.Error("pairwise id does not depend on the master secret")
	}
	_, err := platform.New(storetest.Open(t, store.DialectSQLite), platform.WithMaster([]byte("short")))
	if !errors.Is(err, kdf.ErrShortSecret) || !strings.Contains(err.Error(), "master secret") {
		t.Errorf("a short master secret: %v, want kdf.ErrShortSecret naming the master secret", err)
	}
	if _, err := platform.New(storetest.Open(t, store.DialectSQLite), platform.WithMaster(bytes.Repeat([]byte{1}, 32))); err == nil {
		t.Error("a partial verification set-up was accepted")
	}
}
