package oidc_test

import (
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/oidc"
	"golang.org/x/oauth2"
)

type idClaims struct {
	Nonce    string   `json:"nonce"`
	ACR      string   `json:"acr"`
	AMR      []string `json:"amr"`
	AuthTime int64    `json:"auth_time"`
	Name     string   `json:"name"`
}

// TestCodeFlowWithPKCE logs in with the identity scopes as a confidential client using
// golang.org/x/oauth2 and go-oidc: code with PKCE S256, state and nonce, the ID token verified
// against the published keys, userinfo with the facts, then refresh with rotation.
func TestCodeFlowWithPKCE(t *testing.T) {
	e := newEnv(t)
	card := testkit.CardFile(t, e.sim, testkit.Taro())
	c := e.client(e.bank, false, "name", "address", "birthdate", "gender", "offline_access")
	state, nonce, verifier := random(), random(), oauth2.GenerateVerifier()
	u := e.login(e.browser(), c.cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce)), card)
	if got := u.Query().Get("state"); got != state {
		t.Fatalf("state %q, want %q (%s)", got, state, u)
	}
	tok, err := c.cfg.Exchange(ctx, u.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := c.verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	var cl idClaims
	if err := idt.Claims(&cl); err != nil {
		t.Fatal(err)
	}
	if cl.Nonce != nonce || cl.ACR != oidc.ACRIdentity || !slices.Equal(cl.AMR, []string{"hwk", "pin", "sc"}) || cl.AuthTime == 0 {
		t.Errorf("ID token claims %+v, want nonce %s, acr %s, amr hwk pin sc, auth_time", cl, nonce, oidc.ACRIdentity)
	}
	if cl.Name != "" {
		t.Errorf("the ID token carries the name %q; facts go to userinfo only", cl.Name)
	}
	if idt.Subject == "" || len(idt.Subject) != 43 {
		var all map[string]any
		idt.Claims(&all)
		t.Errorf("sub %q is not a pairwise id: %v", idt.Subject, all)
	}
	ui, err := e.discover.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var facts struct {
		Name      string            `json:"name"`
		Birthdate string            `json:"birthdate"`
		Gender    string            `json:"gender"`
		Address   map[string]string `json:"address"`
	}
	if err := ui.Claims(&facts); err != nil {
		t.Fatal(err)
	}
	taro := testkit.Taro()
	if ui.Subject != idt.Subject || facts.Name != taro.Name || facts.Birthdate != taro.Birth.String() || facts.Gender != "male" || facts.Address["formatted"] != taro.Address {
		t.Errorf("userinfo %s %+v, want sub %s and Taro's facts", ui.Subject, facts, idt.Subject)
	}

	// Refresh: a new pair; the old refresh token is then spent, and using it again revokes
	// the family, the new tokens included.
	old := tok.RefreshToken
	if old == "" {
		t.Fatal("no refresh token with offline_access")
	}
	ts := c.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: old})
	fresh, err := ts.Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.RefreshToken == "" || fresh.RefreshToken == old {
		t.Fatalf("refresh token not rotated: %q", fresh.RefreshToken)
	}
	if raw, _ := fresh.Extra("id_token").(string); raw != "" {
		idt2, err := c.verifier.Verify(ctx, raw)
		if err != nil || idt2.Subject != idt.Subject {
			t.Fatalf("refreshed ID token: %v, sub %v", err, idt2)
		}
		var cl2 idClaims
		idt2.Claims(&cl2)
		if cl2.ACR != oidc.ACRIdentity {
			t.Errorf("refreshed ID token acr %q", cl2.ACR)
		}
	}
	if _, err := e.discover.UserInfo(ctx, oauth2.StaticTokenSource(fresh)); err != nil {
		t.Fatalf("userinfo with the refreshed token: %v", err)
	}
	_, err = c.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: old}).Token()
	expectOAuth(t, err, "invalid_grant")
	if _, err := e.discover.UserInfo(ctx, oauth2.StaticTokenSource(fresh)); err == nil {
		t.Error("the refreshed access token still works after the family was revoked for reuse")
	}
	_, err = c.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: fresh.RefreshToken}).Token()
	expectOAuth(t, err, "invalid_grant")
}

// expectOAuth checks that err is an OAuth error response with the code.
func expectOAuth(t *testing.T, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v, want OAuth error %s", err, code)
	}
	if re.ErrorCode != code {
		t.Fatalf("OAuth error %q (%s), want %s", re.ErrorCode, re.ErrorDescription, code)
	}
}

var _ = http.StatusOK
var _ = strings.Contains

// TestPhoneCredentialAMR: a login with a smartphone's credential (スマホ用電子証明書) says hwk
// and pin, not sc: its key is in the phone's secure element, not on a smart card. The provider
// tells it by the issuing CA, so J-LIS must issue phone credentials from their own CAs.
func TestPhoneCredentialAMR(t *testing.T) {
	e := newEnv(t, jlis.WithPhoneCAs(true))
	iss, err := e.sim.Issue(ctx, jlis.IssueRequest{Basic4: testkit.Hanako(), Medium: jpki.MediumAndroid})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "phone.json")
	if err := iss.Card.Save(path); err != nil {
		t.Fatal(err)
	}
	c := e.client(e.bank, false)
	v := oauth2.GenerateVerifier()
	u := e.login(e.browser(), c.cfg.AuthCodeURL(random(), oauth2.S256ChallengeOption(v), gooidc.Nonce(random())), path)
	tok, err := c.cfg.Exchange(ctx, u.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := c.verifier.Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var cl idClaims
	idt.Claims(&cl)
	if !slices.Equal(cl.AMR, []string{"hwk", "pin"}) || cl.ACR != oidc.ACRLogin {
		t.Errorf("phone login: acr %s amr %v, want %s [hwk pin]", cl.ACR, cl.AMR, oidc.ACRLogin)
	}
}
