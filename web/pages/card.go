package pages

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/mynagate/mynagate/oidc"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/web/ui"
)

// Console staff sign in with their own My Number Card through the platform's own OpenID
// provider, as any relying party would: authorization code with PKCE (S256), state and nonce
// kept in the console's sealed session, the ID token checked by go-oidc. The console is a
// public client of the platform's portal tenant, registered on first use; the `sub` it
// receives is the portal tenant's pairwise id of the card's holder, the same on every node and
// for every tenant's staff, and is stored on the console account when a signed-in user links
// their card. The token exchange and the key set are served in process (the provider's own
// handler), so a node never needs to reach its own public URL.

const consoleClientName = "mynagate console (sign in with My Number Card)"

func (pg *Pages) cardRoutes(h func(string, http.HandlerFunc)) {
	h("POST /console/card/link", pg.staff(pg.cardLink))
	h("POST /console/card/login", pg.cardLogin)
	h("GET /console/card/callback", pg.cardCallback)
}

// localTransport answers the provider's endpoints from its handler in this process.
type localTransport struct{ h http.Handler }

func (t localTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// cardConfig returns the console's OAuth 2.0 configuration and a context whose HTTP client
// reaches the provider in process, registering the console's client on first use.
func (pg *Pages) cardConfig(ctx context.Context) (*oauth2.Config, *gooidc.Provider, context.Context, error) {
	pr := pg.cfg.OIDC
	ctx = gooidc.ClientContext(ctx, &http.Client{Transport: localTransport{pr.Handler()}})
	redirect := strings.TrimSuffix(pr.Issuer(), "/oidc") + "/console/card/callback"
	pg.card.Lock()
	defer pg.card.Unlock()
	if pg.card.clientID == "" {
		portal, err := pg.p.PortalTenant(ctx)
		if err != nil {
			return nil, nil, nil, err
		}
		cs, err := pr.Clients(ctx, portal.ID)
		if err != nil {
			return nil, nil, nil, err
		}
		for _, c := range cs {
			if c.DeletedAt == nil && c.Name == consoleClientName && len(c.SecretHash) == 0 && slices.Equal(c.Redirects, []string{redirect}) {
				pg.card.clientID = c.ID
				break
			}
		}
		if pg.card.clientID == "" {
			c, _, err := pr.CreateClient(ctx, portal.ID, oidc.ClientRequest{Name: consoleClientName, RedirectURIs: []string{redirect}, Public: true})
			if err != nil {
				return nil, nil, nil, err
			}
			pg.card.clientID = c.ID
		}
	}
	if pg.card.provider == nil {
		p, err := gooidc.NewProvider(ctx, pr.Issuer())
		if err != nil {
			return nil, nil, nil, err
		}
		pg.card.provider = p
	}
	return &oauth2.Config{ClientID: pg.card.clientID, Endpoint: pg.card.provider.Endpoint(), RedirectURL: redirect, Scopes: []string{gooidc.ScopeOpenID}}, pg.card.provider, ctx, nil
}

// cardStart begins an authorization: state, nonce and the PKCE verifier go into the session
// with what the callback is to do (link this user, or sign in), then off to the provider.
func (pg *Pages) cardStart(w http.ResponseWriter, r *http.Request, mode, userID string) {
	if pg.cfg.OIDC == nil {
		pg.u.Error(w, r, http.StatusNotFound, ui.M("err.notfound"))
		return
	}
	cfg, _, _, err := pg.cardConfig(r.Context())
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	s := ui.SessionOf(r)
	state, nonce, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	s.Set("card_state", state)
	s.Set("card_nonce", nonce)
	s.Set("card_verifier", verifier)
	s.Set("card_mode", mode)
	s.Set("card_user", userID)
	http.Redirect(w, r, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce)), http.StatusSeeOther)
}

func (pg *Pages) cardLink(w http.ResponseWriter, r *http.Request, wh *who) {
	pg.cardStart(w, r, "link", wh.user.ID)
}

func (pg *Pages) cardLogin(w http.ResponseWriter, r *http.Request) {
	pg.cardStart(w, r, "login", "")
}

// cardCallback ends an authorization. The session's flow is spent first, so a callback
// replayed (or a second one) finds none.
func (pg *Pages) cardCallback(w http.ResponseWriter, r *http.Request) {
	s := ui.SessionOf(r)
	state, nonce, verifier, mode, userID := s.Get("card_state"), s.Get("card_nonce"), s.Get("card_verifier"), s.Get("card_mode"), s.Get("card_user")
	for _, k := range []string{"card_state", "card_nonce", "card_verifier", "card_mode", "card_user"} {
		s.Set(k, "")
	}
	refuse := func(msg string) {
		if mode == "link" {
			redirect(w, r, "/console", msg)
			return
		}
		pg.render(w, r, "login.html", http.StatusForbidden, &ui.Page{Form: ui.NewForm(), Flash: ui.M(msg), FlashErr: true})
	}
	q := r.URL.Query()
	got := q.Get("state")
	if state == "" || got == "" || subtle.ConstantTimeCompare([]byte(state), []byte(got)) != 1 || pg.cfg.OIDC == nil {
		mode = "login"
		refuse("card.state")
		return
	}
	if q.Get("error") != "" || q.Get("code") == "" {
		refuse("card.cancelled")
		return
	}
	cfg, prov, ctx, err := pg.cardConfig(r.Context())
	if err != nil {
		pg.fail(w, r, err)
		return
	}
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		refuse("card.failed")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := prov.Verifier(&gooidc.Config{ClientID: cfg.ClientID, Now: pg.clk.Now}).Verify(ctx, raw)
	if err != nil || idt.Nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		refuse("card.failed")
		return
	}
	var pe *platform.Error
	switch mode {
	case "link":
		u := pg.user(r)
		if u == nil || u.ID != userID {
			refuse("card.state")
			return
		}
		err := pg.p.LinkConsoleCard(r.Context(), u.ID, idt.Subject)
		if errors.As(err, &pe) && pe.Kind == platform.KindConflict {
			refuse("card.taken")
			return
		}
		if err != nil {
			pg.fail(w, r, err)
			return
		}
		redirect(w, r, "/console", "card.linked")
	default:
		u, err := pg.p.ConsoleUserByCard(r.Context(), idt.Subject)
		if errors.As(err, &pe) && pe.Kind == platform.KindUnauthorized {
			refuse("card.unlinked")
			return
		}
		if err != nil {
			pg.fail(w, r, err)
			return
		}
		s.Clear() // a new session id and CSRF token at every sign-in
		s.Set("user", u.ID)
		http.Redirect(w, r, home(u), http.StatusSeeOther)
	}
}
