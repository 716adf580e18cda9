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

// authError opens an authorization URL and expects the provider to answer with an OAuth
// error on the redirect URI, before any login page.
func (e *env) authError(t *testing.T, authURL, code string) {
	t.Helper()
	status, loc, body := e.browser().get(authURL)
	if loc == "" {
		t.Fatalf("no redirect with an error (status %d):\n%.500s", status, body)
	}
	u, _ := url.Parse(loc)
	if got := u.Query().Get("error"); got != code {
		t.Fatalf("error %q (%s), want %s", got, u.Query().Get("error_description"), code)
	}
	if u.Query().Get("code") != "" {
		t.Fatal("a code came with the error")
	}
}

// countTokens counts the tokens stored; refusals must not add any.
func (e *env) countTokens(t *testing.T, c *rp) int {
	t.Helper()
	n := 0
	for _, tok := range e.tokensOf(t, c.id) {
		_ = tok
		n++
	}
	return n
}

func TestRefusedAuthorizationRequests(t *testing.T) {
	e := newEnv(t)
	conf := e.client(e.bank, false, "name")
	pub := e.client(e.bank, true)
	tickets := e.client(e.tickets, false)
	v := oauth2.GenerateVerifier()
	s256, nonce := oauth2.S256ChallengeOption(v), gooidc.Nonce(random())
	plain := []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", v), oauth2.SetAuthURLParam("code_challenge_method", "plain")}

	t.Run("plain PKCE, public client", func(t *testing.T) {
		e.authError(t, pub.cfg.AuthCodeURL(random(), append(plain, nonce)...), "invalid_request")
	})
	t.Run("plain PKCE, confidential client", func(t *testing.T) {
		e.authError(t, conf.cfg.AuthCodeURL(random(), append(plain, nonce)...), "invalid_request")
	})
	t.Run("no PKCE, public client", func(t *testing.T) {
		e.authError(t, pub.cfg.AuthCodeURL(random(), nonce), "invalid_request")
	})
	t.Run("no state", func(t *testing.T) {
		e.authError(t, conf.cfg.AuthCodeURL("", s256, nonce), "invalid_request")
	})
	t.Run("no nonce", func(t *testing.T) {
		e.authError(t, conf.cfg.AuthCodeURL(random(), s256), "invalid_request")
	})
	t.Run("scope beyond the tenant's allowance", func(t *testing.T) {
		c := tickets.cfg
		c.Scopes = []string{"openid", "name"}
		e.authError(t, c.AuthCodeURL(random(), s256, nonce), "invalid_scope")
		c.Scopes = []string{"openid", "birthdate"}
		status, _, page := e.browser().get(c.AuthCodeURL(random(), s256, nonce))
		if status != http.StatusOK || !strings.Contains(page, "login/qr.png") {
			t.Fatalf("birthdate, within the allowance, does not reach the login page: %d", status)
		}
	})
	t.Run("scope not offered", func(t *testing.T) {
		c := conf.cfg
		c.Scopes = []string{"openid", "email"}
		e.authError(t, c.AuthCodeURL(random(), s256, nonce), "invalid_scope")
	})
	t.Run("prompt=none", func(t *testing.T) {
		e.authError(t, conf.cfg.AuthCodeURL(random(), s256, nonce, oauth2.SetAuthURLParam("prompt", "none")), "login_required")
	})
	for name, uri := range map[string]string{
		"unregistered redirect URI":   "https://evil.example/callback",
		"prefix-matched redirect URI": redirect + "/more",
		"redirect URI with a query":   redirect + "?x=1",
		"redirect URI, other port":    "http://127.0.0.1:10/callback",
	} {
		t.Run(name, func(t *testing.T) {
			c := conf.cfg
			c.RedirectURL = uri
			status, loc, _ := e.browser().get(c.AuthCodeURL(random(), s256, nonce))
			if loc != "" || status < 400 {
				t.Fatalf("status %d, location %q: want an error page and no redirect", status, loc)
			}
		})
	}
}

func TestRefusedTokenRequests(t *testing.T) {
	e := newEnv(t)
	card := testkit.CardFile(t, e.sim, testkit.Taro())
	a := e.client(e.bank, false, "offline_access")
	b := e.client(e.bank, false, "offline_access")
	pub := e.client(e.bank, true)
	code := func(c *rp, verifier string) string {
		t.Helper()
		u := e.login(e.browser(), c.cfg.AuthCodeURL(random(), oauth2.S256ChallengeOption(verifier), gooidc.Nonce(random())), card)
		if u.Query().Get("code") == "" {
			t.Fatalf("no code: %s", u)
		}
		return u.Query().Get("code")
	}

	t.Run("reused code revokes what it issued", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		cd := code(a, v)
		tok, err := a.cfg.Exchange(ctx, cd, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.discover.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil {
			t.Fatal(err)
		}
		_, err = a.cfg.Exchange(ctx, cd, oauth2.VerifierOption(v))
		expectOAuth(t, err, "invalid_grant")
		if _, err := e.discover.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("the access token of a reused code still works")
		}
		_, err = a.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		expectOAuth(t, err, "invalid_grant")
	})
	t.Run("wrong PKCE verifier", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		cd := code(a, v)
		before := e.countTokens(t, a)
		_, err := a.cfg.Exchange(ctx, cd, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		expectOAuth(t, err, "invalid_grant")
		_, err = a.cfg.Exchange(ctx, cd)
		expectOAuth(t, err, "invalid_grant")
		if after := e.countTokens(t, a); after != before {
			t.Errorf("%d tokens issued", after-before)
		}
	})
	t.Run("public client without verifier", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		cd := code(pub, v)
		_, err := pub.cfg.Exchange(ctx, cd)
		expectOAuth(t, err, "invalid_grant")
	})
	t.Run("expired code", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		cd := code(a, v)
		before := e.countTokens(t, a)
		e.oclk.Advance(61 * time.Second)
		_, err := a.cfg.Exchange(ctx, cd, oauth2.VerifierOption(v))
		expectOAuth(t, err, "invalid_grant")
		if after := e.countTokens(t, a); after != before {
			t.Errorf("%d tokens issued", after-before)
		}
	})
	t.Run("code presented by another client", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		cd := code(a, v)
		before := e.countTokens(t, b)
		bc := b.cfg
		_, err := bc.Exchange(ctx, cd, oauth2.VerifierOption(v))
		expectOAuth(t, err, "invalid_grant")
		if after := e.countTokens(t, b); after != before {
			t.Errorf("%d tokens issued", after-before)
		}
	})
	t.Run("wrong client secret", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		cd := code(a, v)
		c := a.cfg
		c.ClientSecret = "mgs_wrong"
		_, err := c.Exchange(ctx, cd, oauth2.VerifierOption(v))
		var re *oauth2.RetrieveError
		if err == nil || !errorsAs(err, &re) || (re.ErrorCode != "invalid_client" && re.ErrorCode != "unauthorized_client") {
			t.Fatalf("error %v, want invalid_client", err)
		}
	})
	t.Run("refresh token presented by another client", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		tok, err := a.cfg.Exchange(ctx, code(a, v), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		expectOAuth(t, err, "invalid_grant")
		if _, err := a.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
			t.Errorf("the owner's refresh failed after another client's attempt: %v", err)
		}
	})
}
