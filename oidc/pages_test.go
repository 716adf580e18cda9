package oidc_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/mynagate/mynagate/internal/testkit"
	"golang.org/x/oauth2"
)

// TestLoginPagesRefuse: the login pages answer hostile or stale input with a clear refusal and
// change nothing: unknown, oversized or another browser's login ids; a consent replayed after
// the login completed; a declined consent (access_denied to the relying party, no code).
func TestLoginPagesRefuse(t *testing.T) {
	e := newEnv(t)
	card := testkit.CardFile(t, e.sim, testkit.Taro())
	c := e.client(e.bank, false)
	stranger := e.browser()
	for name, u := range map[string]string{
		"unknown login":       e.issuer + "/login?id=ar_00000000000000000000000000000000",
		"oversized login id":  e.issuer + "/login?id=" + strings.Repeat("a", 5000),
		"no login id":         e.issuer + "/login",
		"events of unknown":   e.issuer + "/login/events?id=ar_x",
		"QR of unknown":       e.issuer + "/login/qr.png?id=ar_x",
		"status of unknown":   e.issuer + "/login/status?id=ar_x",
		"garbage user code":   e.issuer + "/device?user_code=%00%ff<script>",
		"oversized user code": e.issuer + "/device?user_code=" + strings.Repeat("B", 4000),
	} {
		t.Run(name, func(t *testing.T) {
			status, loc, page := stranger.get(u)
			if status < 400 || loc != "" || strings.Contains(page, "<script>alert") {
				t.Fatalf("status %d, location %q", status, loc)
			}
		})
	}

	// Declined: the relying party gets access_denied with its state, and no code.
	state := random()
	b := e.browser()
	_, _, page := b.get(c.cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), gooidc.Nonce(random())))
	if err := e.holder(card, holderURL(t, page)); err != nil {
		t.Fatal(err)
	}
	_, _, consent := b.get(e.loginURL(page))
	_, loc, _ := b.consent(consent, "deny")
	u, _ := url.Parse(loc)
	if u.Query().Get("error") != "access_denied" || u.Query().Get("state") != state || u.Query().Get("code") != "" {
		t.Fatalf("declined consent redirects to %s", loc)
	}
	if status, _, _ := b.consent(consent, "allow"); status != http.StatusConflict {
		t.Errorf("allow after deny: %d, want 409", status)
	}

	// Allowed, then replayed: the second answer changes nothing.
	b = e.browser()
	_, _, page = b.get(c.cfg.AuthCodeURL(random(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), gooidc.Nonce(random())))
	if err := e.holder(card, holderURL(t, page)); err != nil {
		t.Fatal(err)
	}
	_, _, consent = b.get(e.loginURL(page))
	if _, loc, _ := b.consent(consent, "allow"); !strings.Contains(loc, "code=") {
		t.Fatalf("allow: %s", loc)
	}
	if status, _, _ := b.consent(consent, "allow"); status != http.StatusConflict {
		t.Errorf("replayed consent: %d, want 409", status)
	}
	if status, _, _ := b.get(e.loginURL(page)); status != http.StatusConflict {
		t.Errorf("the login page after completion: %d, want 409", status)
	}
}

// TestUserCodeGuessing: one address may try ten user codes at once, then one every six
// seconds; beyond that the device page answers 429 with Retry-After and looks nothing up.
func TestUserCodeGuessing(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for i := 0; i < 10; i++ {
		if status, _, _ := b.get(e.issuer + "/device?user_code=BBBB-BBB" + string(rune('B'+i))); status != http.StatusBadRequest {
			t.Fatalf("try %d: %d, want 400", i, status)
		}
	}
	resp, err := b.hc.Get(e.issuer + "/device?user_code=BBBB-CCCC")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("the 11th try: %d (Retry-After %q), want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	e.oclk.Advance(7 * time.Second)
	if status, _, _ := b.get(e.issuer + "/device?user_code=BBBB-DDDD"); status != http.StatusBadRequest {
		t.Errorf("a try after the interval: %d, want 400", status)
	}
}
