package oidc_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/oidc"
	"golang.org/x/oauth2"
)

func kid(t *testing.T, jwt string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Kid, Alg string
	}
	json.Unmarshal(h, &hdr)
	if hdr.Alg != "ES256" {
		t.Errorf("alg %s, want ES256", hdr.Alg)
	}
	return hdr.Kid
}

func (e *env) jwks(t *testing.T) []string {
	t.Helper()
	resp, err := http.Get(e.issuer + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	json.NewDecoder(resp.Body).Decode(&set)
	var out []string
	for _, k := range set.Keys {
		if k.D != "" {
			t.Fatal("the key set publishes a private key")
		}
		out = append(out, k.Kid)
	}
	return out
}

// TestKeyRotation: a signing key signs for a day, then a new one does; the old one stays in
// the key set until the tokens it signed have expired, and tokens it signed still verify.
// Keys are sealed under the master secret: a provider with another one cannot use them.
func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	card := testkit.CardFile(t, e.sim, testkit.Taro())
	c := e.client(e.bank, false)
	idToken := func() string {
		v := oauth2.GenerateVerifier()
		u := e.login(e.browser(), c.cfg.AuthCodeURL(random(), oauth2.S256ChallengeOption(v), gooidc.Nonce(random())), card)
		tok, err := c.cfg.Exchange(ctx, u.Query().Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		return tok.Extra("id_token").(string)
	}
	first := idToken()
	k1 := kid(t, first)
	if got := e.jwks(t); len(got) != 1 || got[0] != k1 {
		t.Fatalf("key set %v, want [%s]", got, k1)
	}
	e.oclk.Advance(24*time.Hour + time.Second)
	second := idToken()
	k2 := kid(t, second)
	if k2 == k1 {
		t.Fatal("the signing key did not rotate after a day")
	}
	if got := e.jwks(t); len(got) != 2 {
		t.Fatalf("key set %v, want the new key and the old one", got)
	}
	for _, raw := range []string{first, second} {
		if _, err := c.verifier.Verify(ctx, raw); err != nil {
			t.Errorf("an ID token of key %s does not verify: %v", kid(t, raw), err)
		}
	}
	e.oclk.Advance(21 * time.Minute) // past the old key's last token (ID token 10 min + access 10 min)
	if got := e.jwks(t); len(got) != 1 || got[0] != k2 {
		t.Fatalf("key set %v after the old key's tokens expired, want [%s]", got, k2)
	}

	other, err := oidc.New(e.plat, e.st, oidc.Config{Issuer: e.issuer, Master: bytes.Repeat([]byte{8}, 32), Clock: e.oclk})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(other.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/oidc/keys")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("a provider with another master secret opened the sealed signing keys")
	}
}

// TestSameDeviceLink: the login page's hand-off link carries the holder URL to the app.
func TestSameDeviceLink(t *testing.T) {
	hu := "http://127.0.0.1:8080/v1/holder/sessions/s_1?token=abc"
	base, id, tok, err := client.ParseHolderURL(oidc.AppLink(hu))
	if err != nil || base != "http://127.0.0.1:8080" || id != "s_1" || tok != "abc" {
		t.Fatalf("ParseHolderURL(%s) = %s %s %s %v", oidc.AppLink(hu), base, id, tok, err)
	}
}
