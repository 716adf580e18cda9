package oidc_test

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/oidc"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/reader"
	"golang.org/x/oauth2"
)

// signRequest is a relying party's authorization request for the sign scope: the parameters in
// a request object (RFC 9101) the client signs with HS256 under SHA-256 of its secret, as
// docs/design/oidc.md says; extra claims override the defaults (nil deletes one).
type signRequest struct {
	state, nonce, verifier string
	url                    string
}

func (e *env) signRequest(t *testing.T, c *rp, key string, digest string, extra map[string]any) signRequest {
	t.Helper()
	sr := signRequest{state: random(), nonce: random(), verifier: oauth2.GenerateVerifier()}
	sum := sha256.Sum256([]byte(sr.verifier))
	claims := map[string]any{"iss": c.id, "aud": e.issuer, "client_id": c.id, "exp": e.oclk.Now().Add(5 * time.Minute).Unix(),
		"response_type": "code", "redirect_uri": c.cfg.RedirectURL, "scope": strings.Join(c.cfg.Scopes, " "),
		"state": sr.state, "nonce": sr.nonce, "code_challenge": base64.RawURLEncoding.EncodeToString(sum[:]),
		"code_challenge_method": "S256", "document_sha256": digest}
	for k, v := range extra {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	payload, _ := json.Marshal(claims)
	k := sha256.Sum256([]byte(key))
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: k[:]}, (&jose.SignerOptions{}).WithType("oauth-authz-req+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := jws.CompactSerialize()
	// x/oauth2 adds client_id, response_type, redirect_uri, scope and state to the query; the
	// provider takes every parameter but client_id from the object.
	sr.url = c.cfg.AuthCodeURL(sr.state, oauth2.SetAuthURLParam("request", obj))
	return sr
}

// TestSignScope: a relying party on x/oauth2 and go-oidc asks for the sign scope with a
// document's SHA-256 in a request object; the holder's app (the client package, as `mynagate
// reader verify`) signs with the virtual card's signing key; the relying party receives the
// CMS at userinfo and the real openssl verifies it against the document with the J-LIS
// signing CA as the trust anchor, and refuses it for another document.
func TestSignScope(t *testing.T) {
	bin := testkit.OpenSSL(t)
	e := newEnv(t)
	cardPath := testkit.CardFile(t, e.sim, testkit.Taro())
	c := e.client(e.bank, false, "sign", "name")
	doc := []byte("賃貸借契約書\n第1条 the holder rents the flat.\n")
	digest := sha256.Sum256(doc)
	sr := e.signRequest(t, c, c.secret, hex.EncodeToString(digest[:]), nil)

	b := e.browser()
	status, _, page := b.get(sr.url)
	if status != http.StatusOK || !strings.Contains(page, hex.EncodeToString(digest[:])) {
		t.Fatalf("login page %d does not show the document's hash:\n%.2000s", status, page)
	}
	hu := holderURL(t, page)
	// The holder's app sees the document's hash and the relying party before the PIN.
	ch, err := client.New(e.srv.URL).HolderChallenge(ctx, client.ChallengeCheck{HolderURL: hu, Now: e.clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ch.Fields.DocumentSHA256, digest[:]) || ch.Fields.RP != "Example Bank web" || ch.Fields.Purpose != "identity" {
		t.Fatalf("the challenge says document %x, rp %q, purpose %s", ch.Fields.DocumentSHA256, ch.Fields.RP, ch.Fields.Purpose)
	}
	if err := e.holder(cardPath, hu); err != nil {
		t.Fatalf("holder: %v", err)
	}
	status, _, page = b.get(e.loginURL(page))
	if status != http.StatusOK || !strings.Contains(page, hex.EncodeToString(digest[:])) {
		t.Fatalf("the consent page %d does not show the document's hash:\n%.2000s", status, page)
	}
	_, loc, page := b.consent(page, "allow")
	u, _ := url.Parse(loc)
	if u == nil || u.Query().Get("state") != sr.state || u.Query().Get("code") == "" {
		t.Fatalf("redirect %q:\n%.500s", loc, page)
	}
	tok, err := c.cfg.Exchange(ctx, u.Query().Get("code"), oauth2.VerifierOption(sr.verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt, err := c.verifier.Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var cl idClaims
	idt.Claims(&cl)
	if cl.Nonce != sr.nonce || cl.ACR != oidc.ACRIdentity {
		t.Errorf("ID token nonce %q acr %q, want %q %s", cl.Nonce, cl.ACR, sr.nonce, oidc.ACRIdentity)
	}
	ui, err := e.discover.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var got struct {
		Name string                 `json:"name"`
		Sig  oidc.DocumentSignature `json:"document_signature"`
	}
	if err := ui.Claims(&got); err != nil {
		t.Fatal(err)
	}
	if got.Name != testkit.Taro().Name || got.Sig.DocumentSHA256 != hex.EncodeToString(digest[:]) {
		t.Fatalf("userinfo name %q, document_sha256 %q", got.Name, got.Sig.DocumentSHA256)
	}
	der, err := base64.StdEncoding.DecodeString(got.Sig.CMS)
	if err != nil || len(der) == 0 {
		t.Fatalf("document_signature.cms is not base64: %v", err)
	}

	ca, err := e.sim.CACertificate("sign")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	docPath, cmsPath, other := write("contract.txt", doc), write("contract.txt.p7s", der), write("other.txt", append(bytes.Clone(doc), '!'))
	caPath := write("sign-ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}))
	verify := func(content string) (string, error) {
		out, err := exec.Command(bin, "cms", "-verify", "-binary", "-inform", "DER", "-in", cmsPath, "-content", content,
			"-CAfile", caPath, "-purpose", "any", "-attime", fmt.Sprint(e.clk.Now().Unix()), "-out", os.DevNull).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(docPath); err != nil {
		t.Fatalf("openssl cms -verify with the J-LIS signing CA refused the relying party's CMS: %v\n%s", err, out)
	}
	if out, err := verify(other); err == nil {
		t.Fatalf("openssl verified the CMS for another document:\n%s", out)
	}
	out, err := exec.Command(bin, "cms", "-cmsout", "-print", "-inform", "DER", "-in", cmsPath).CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"id-smime-aa-signingCertificateV2", "id-smime-aa-contentIdentifier", "eContent: <ABSENT>"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the CMS lacks %s:\n%s", want, out)
		}
	}

	// Another tenant's provider login cannot read this signature.
	if _, _, err := e.plat.SignedDocument(ctx, e.tickets, idtVerification(t, e, tok)); err == nil {
		t.Error("another tenant read the signed document")
	}
}

// idtVerification finds the verification of the bank's only signing session.
func idtVerification(t *testing.T, e *env, _ *oauth2.Token) string {
	t.Helper()
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id string
	if err := db.QueryRowContext(ctx, `SELECT v.id FROM sessions s JOIN verifications v ON v.session_id = s.id WHERE s.sign_sha256 IS NOT NULL`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestSignScopeRefused: what must not give a signature, or not this one.
func TestSignScopeRefused(t *testing.T) {
	e := newEnv(t)
	conf := e.client(e.bank, false, "sign")
	other := e.client(e.bank, false, "sign")
	pub := e.client(e.bank, true, "sign")
	digest := sha256.Sum256([]byte("doc"))
	hexDigest := hex.EncodeToString(digest[:])
	objectError := func(t *testing.T, u, code string) {
		t.Helper()
		status, loc, body := e.browser().get(u)
		if status != http.StatusBadRequest || loc != "" || !strings.Contains(body, `"error":"`+code+`"`) {
			t.Fatalf("status %d, location %q, body %.300s; want 400 %s", status, loc, body, code)
		}
	}
	t.Run("request object signed by another client", func(t *testing.T) {
		objectError(t, e.signRequest(t, conf, other.secret, hexDigest, nil).url, "invalid_request_object")
	})
	t.Run("request object of another client presented as this one's", func(t *testing.T) {
		sr := e.signRequest(t, other, other.secret, hexDigest, nil)
		u, _ := url.Parse(sr.url)
		q := u.Query()
		q.Set("client_id", conf.id)
		u.RawQuery = q.Encode()
		objectError(t, u.String(), "invalid_request_object")
	})
	t.Run("public client", func(t *testing.T) {
		objectError(t, e.signRequest(t, pub, "", hexDigest, nil).url, "invalid_request_object")
	})
	for name, d := range map[string]any{"short": hexDigest[:62], "long": hexDigest + "00", "upper case": strings.ToUpper(hexDigest),
		"not hex": strings.Repeat("zz", 32), "a number": 42} {
		t.Run("document hash "+name, func(t *testing.T) {
			objectError(t, e.signRequest(t, conf, conf.secret, "", map[string]any{"document_sha256": d}).url, "invalid_request_object")
		})
	}
	t.Run("expired request object", func(t *testing.T) {
		objectError(t, e.signRequest(t, conf, conf.secret, hexDigest, map[string]any{"exp": e.oclk.Now().Add(-time.Second).Unix()}).url, "invalid_request_object")
	})
	t.Run("request object for another provider", func(t *testing.T) {
		objectError(t, e.signRequest(t, conf, conf.secret, hexDigest, map[string]any{"aud": "https://elsewhere.example/oidc"}).url, "invalid_request_object")
	})
	t.Run("sign without a request object", func(t *testing.T) {
		e.authError(t, conf.cfg.AuthCodeURL(random(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), gooidc.Nonce(random()),
			oauth2.SetAuthURLParam("document_sha256", hexDigest)), "invalid_request")
	})
	t.Run("document without the sign scope", func(t *testing.T) {
		status, loc, _ := e.browser().get(e.signRequest(t, conf, conf.secret, hexDigest, map[string]any{"scope": "openid"}).url)
		u, _ := url.Parse(loc)
		if status != http.StatusFound || u == nil || u.Query().Get("error") != "invalid_scope" {
			t.Fatalf("status %d, location %q; want a redirect with invalid_scope", status, loc)
		}
	})
	t.Run("a client name longer than a challenge holds", func(t *testing.T) {
		c, secret, err := e.prov.CreateClient(ctx, e.bank.ID, oidc.ClientRequest{Name: strings.Repeat("署名", 98) + "\x1b[2J", RedirectURIs: []string{redirect}})
		if err != nil {
			t.Fatal(err)
		}
		long := &rp{id: c.ID, secret: secret, cfg: oauth2.Config{ClientID: c.ID, ClientSecret: secret, Endpoint: e.discover.Endpoint(), RedirectURL: redirect,
			Scopes: []string{gooidc.ScopeOpenID, "sign"}}}
		status, _, page := e.browser().get(e.signRequest(t, long, secret, hexDigest, nil).url)
		if status != http.StatusOK {
			t.Fatalf("login page %d:\n%.500s", status, page)
		}
		ch, err := client.New(e.srv.URL).HolderChallenge(ctx, client.ChallengeCheck{HolderURL: holderURL(t, page), Now: e.clk.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if len(ch.Fields.RP) > 256 || !strings.HasPrefix(ch.Fields.RP, "署名署名") || strings.Contains(ch.Fields.RP, "\x1b") {
			t.Fatalf("the challenge's rp is %q", ch.Fields.RP)
		}
	})
	t.Run("sign by the device grant", func(t *testing.T) {
		resp, err := http.PostForm(e.issuer+"/device_authorization", url.Values{"client_id": {pub.id}, "scope": {"openid sign"}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"invalid_scope"`) {
			t.Fatalf("device authorization with sign: %d %s, want 400 invalid_scope", resp.StatusCode, body)
		}
	})
	if n := e.countTokens(t, conf) + e.countTokens(t, other) + e.countTokens(t, pub); n != 0 {
		t.Errorf("%d tokens issued by refused requests", n)
	}
}

// TestSignChallengeRefused: the platform's side of a document signature. A holder's answer
// must be over this session's document and challenge, with the signing key.
func TestSignChallengeRefused(t *testing.T) {
	e := newEnv(t)
	cardPath := testkit.CardFile(t, e.sim, testkit.Taro())
	digest := sha256.Sum256([]byte("contract"))
	sign := &platform.SignRequest{DocumentSHA256: digest[:], RP: "Example Bank web"}
	newSession := func(t *testing.T) (*platform.Session, *client.CheckedChallenge) {
		t.Helper()
		s, _, err := e.plat.CreateSession(ctx, e.bank, platform.SessionRequest{Purpose: platform.PurposeIdentity, Sign: sign})
		if err != nil {
			t.Fatal(err)
		}
		ch, err := client.New(e.srv.URL).HolderChallenge(ctx, client.ChallengeCheck{HolderURL: e.plat.HolderURL(s), Now: e.clk.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return s, ch
	}
	c, err := card.Open(cardPath, card.WithClock(e.clk))
	if err != nil {
		t.Fatal(err)
	}
	rc := reader.NewClient(reader.NewInProcess(c, "in-process"))
	defer rc.Close()
	signer, err := rc.SignSigner(ctx, jlis.DefaultSignPassword)
	if err != nil {
		t.Fatal(err)
	}
	answer := func(s *platform.Session, cert, sig []byte) error {
		_, err := e.plat.Complete(ctx, s.ID, s.HolderToken, platform.Answer{Certificate: cert, Signature: sig})
		return err
	}
	rejected := func(t *testing.T, err error, reason string) {
		t.Helper()
		var pe *platform.Error
		if !errorsAs(err, &pe) || pe.Kind != platform.KindRejected || pe.Type != reason {
			t.Fatalf("error %v, want rejected %s", err, reason)
		}
	}

	t.Run("malformed requests", func(t *testing.T) {
		for name, req := range map[string]platform.SessionRequest{
			"hash of 31 bytes": {Purpose: platform.PurposeIdentity, Sign: &platform.SignRequest{DocumentSHA256: digest[:31], RP: "x"}},
			"no relying party": {Purpose: platform.PurposeIdentity, Sign: &platform.SignRequest{DocumentSHA256: digest[:]}},
			"control in name":  {Purpose: platform.PurposeIdentity, Sign: &platform.SignRequest{DocumentSHA256: digest[:], RP: "a\x1b[2Jb"}},
			"login-grade":      {Purpose: platform.PurposeLogin, Sign: sign},
		} {
			if _, _, err := e.plat.CreateSession(ctx, e.bank, req); err == nil {
				t.Errorf("%s: session created", name)
			}
		}
	})
	t.Run("signature over a different hash", func(t *testing.T) {
		s, ch := newSession(t)
		otherDigest := sha256.Sum256([]byte("another contract"))
		ch.Fields.DocumentSHA256 = otherDigest[:]
		sig, err := ch.Sign(signer)
		if err != nil {
			t.Fatal(err)
		}
		rejected(t, answer(s, signer.Certificate().Raw, sig), "signature-invalid")
	})
	t.Run("signature of another session (replay)", func(t *testing.T) {
		a, chA := newSession(t)
		b, _ := newSession(t)
		sig, err := chA.Sign(signer)
		if err != nil {
			t.Fatal(err)
		}
		rejected(t, answer(b, signer.Certificate().Raw, sig), "signature-invalid")
		if err := answer(a, signer.Certificate().Raw, sig); err != nil {
			t.Fatalf("the signature of its own session was refused: %v", err)
		}
		if err := answer(a, signer.Certificate().Raw, sig); err == nil {
			t.Fatal("a session's signature was accepted twice")
		}
	})
	t.Run("signature over the bare challenge", func(t *testing.T) {
		s, ch := newSession(t)
		ch.Fields.DocumentSHA256 = nil // a plain identity answer: the challenge signed as is
		sig, err := ch.Sign(signer)
		if err != nil {
			t.Fatal(err)
		}
		rejected(t, answer(s, signer.Certificate().Raw, sig), "signature-invalid")
	})
	t.Run("authentication key (login-grade)", func(t *testing.T) {
		s, ch := newSession(t)
		auth, err := rc.AuthSigner(ctx, jlis.DefaultAuthPIN)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := ch.Sign(auth)
		if err != nil {
			t.Fatal(err)
		}
		err = answer(s, auth.Certificate().Raw, sig)
		var pe *platform.Error
		if !errorsAs(err, &pe) || pe.Kind != platform.KindRejected {
			t.Fatalf("an authentication certificate's signature: %v, want rejected", err)
		}
	})
	t.Run("not a signature", func(t *testing.T) {
		s, _, err := e.plat.CreateSession(ctx, e.bank, platform.SessionRequest{Purpose: platform.PurposeIdentity})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := testkit.AnswerWithCard(ctx, cardPath, e.clk, e.plat.HolderURL(s)); err != nil {
			t.Fatal(err)
		}
		s, _ = e.plat.Session(ctx, e.bank, s.ID)
		var pe *platform.Error
		if _, _, err := e.plat.SignedDocument(ctx, e.bank, s.VerificationID); !errorsAs(err, &pe) || pe.Type != "not-a-signature" {
			t.Fatalf("SignedDocument of a plain verification: %v, want not-a-signature", err)
		}
	})
}
