// Package rpdemo is a small relying party that logs people in with the platform's OpenID
// provider ("Log in with My Number Card") and shows the verified claims. It is built only on
// standard client libraries — github.com/coreos/go-oidc and golang.org/x/oauth2 — and the
// shared page foundation web/ui, never on the provider's own code: it proves that an ordinary
// OpenID Connect client is enough. `mynagate rp-demo` runs it, and `mynagate demo` starts it.
//
// Its signed-document example asks for the sign scope: a sample contract's SHA-256 goes in a
// request object (RFC 9101, signed with github.com/go-jose/go-jose), the holder signs it with the
// card, and the page shows the detached CMS from userinfo and what `openssl cms -verify` says of
// it against the contract with the J-LIS signing CA as the trust anchor — the check any relying
// party can run with a standard tool.
package rpdemo

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/mynagate/mynagate/web/ui"
	"golang.org/x/oauth2"
)

//go:embed templates/*.html
var templates embed.FS

var messages = map[string]map[string]string{
	"ja": {"rp.title": "デモ銀行", "rp.intro": "マイナンバーカードでログインすると、確認された情報がここに表示されます。",
		"rp.button": "マイナンバーカードでログイン", "rp.loginonly": "氏名などを受け取らずにログインする（利用者証明用電子証明書のみ）",
		"rp.loggedin": "ログインしました。", "rp.claims": "確認された情報", "rp.logout": "ログアウト",
		"rp.identity": "署名用電子証明書で本人確認済み", "rp.login": "利用者証明用電子証明書でログイン",
		"rp.c.name": "氏名", "rp.c.birthdate": "生年月日", "rp.c.gender": "性別", "rp.c.address": "住所", "rp.failed": "ログインできませんでした: %s",
		"rp.sign": "署名付き文書の例: 見本の契約書にマイナンバーカードで電子署名する", "rp.signed": "電子署名された文書",
		"rp.document": "文書", "rp.cms": "CMS 署名（CAdES-BES、分離署名、PEM）", "rp.verify": "検証",
		"rp.verified": "openssl cms -verify で検証できました（信頼の起点: J-LIS 署名用 CA）。", "rp.notverified": "検証できませんでした"},
	"en": {"rp.title": "Demo Bank", "rp.intro": "Log in with your My Number Card and the verified facts are shown here.",
		"rp.button": "Log in with My Number Card", "rp.loginonly": "Log in without receiving your name and other facts (authentication certificate only)",
		"rp.loggedin": "You are logged in.", "rp.claims": "Verified claims", "rp.logout": "Log out",
		"rp.identity": "identity verified with the signing certificate", "rp.login": "logged in with the authentication certificate",
		"rp.c.name": "Name", "rp.c.birthdate": "Date of birth", "rp.c.gender": "Sex", "rp.c.address": "Address", "rp.failed": "Login failed: %s",
		"rp.sign": "Signed-document example: sign the sample contract with your My Number Card", "rp.signed": "Signed document",
		"rp.document": "Document", "rp.cms": "CMS signature (CAdES-BES, detached, PEM)", "rp.verify": "Verification",
		"rp.verified": "openssl cms -verify: the signature verifies (trust anchor: the J-LIS signing CA).", "rp.notverified": "Not verified"},
}

// Config configures the demo relying party.
type Config struct {
	Issuer       string // the provider, e.g. http://127.0.0.1:8080/oidc
	ClientID     string
	ClientSecret string
	BaseURL      string // where this app is reached, e.g. http://127.0.0.1:8090
	// HTTPClient reaches the provider (default http.DefaultClient).
	HTTPClient *http.Client
	// SignCAs are the J-LIS signing CAs the signed-document example verifies a CMS against
	// (with openssl, when installed); none: the CMS is shown, not verified.
	SignCAs []*x509.Certificate
}

// Contract is the sample document of the signed-document example.
const Contract = "見本 契約書 / Sample contract\n第1条 甲は乙に本書の内容を約する。\nArticle 1. The holder agrees to the terms of this sample.\n"

// App is the demo relying party.
type App struct {
	cfg      Config
	ui       *ui.UI
	pages    ui.Pages
	provider *gooidc.Provider
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
	mux      *http.ServeMux

	mu     sync.Mutex
	signed map[string]*signedView // by a random id in the session; a CMS is too large for the cookie
}

// maxSigned bounds the signed documents the app keeps in memory.
const maxSigned = 100

// New discovers the provider and returns the app.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.HTTPClient != nil {
		ctx = gooidc.ClientContext(ctx, cfg.HTTPClient)
	}
	p, err := gooidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("rpdemo: discover %s: %w", cfg.Issuer, err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	u, err := ui.New(ui.Config{Key: key, CookieName: "rpdemo", Messages: messages, Brand: "Demo Bank"})
	if err != nil {
		return nil, err
	}
	pages, err := u.Parse(templates, "templates/*.html")
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	a := &App{cfg: cfg, ui: u, pages: pages, provider: p, verifier: p.Verifier(&gooidc.Config{ClientID: cfg.ClientID}),
		oauth:  oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: p.Endpoint(), RedirectURL: base + "/callback"},
		signed: map[string]*signedView{}}
	m := http.NewServeMux()
	m.Handle("GET /ui/static/", u.Assets())
	pm := http.NewServeMux()
	pm.HandleFunc("GET /{$}", a.home)
	pm.HandleFunc("GET /login", a.login)
	pm.HandleFunc("GET /sign", a.sign)
	pm.HandleFunc("GET /callback", a.callback)
	pm.HandleFunc("POST /logout", a.logout)
	m.Handle("/", u.Protect(pm))
	a.mux = m
	return a, nil
}

// Handler serves the app.
func (a *App) Handler() http.Handler { return a.mux }

type fact struct{ Name, Value string }

type view struct {
	Sub, ACR, AMR, AuthTime string
	Identity                bool
	Facts                   []fact
	SignedID                string      `json:",omitempty"`
	Signed                  *signedView `json:"-"`
}

// signedView is the signed-document example's result.
type signedView struct {
	Document, SHA256, CMS string
	Verified              bool
	Verification          string // what openssl said, or why it did not run
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	s := ui.SessionOf(r)
	var v view
	if raw := s.Get("claims"); raw != "" {
		json.Unmarshal([]byte(raw), &v)
		for i := range v.Facts {
			v.Facts[i].Name = a.ui.T(ui.LangOf(r), "rp.c."+v.Facts[i].Name)
		}
		if v.SignedID != "" {
			a.mu.Lock()
			v.Signed = a.signed[v.SignedID]
			a.mu.Unlock()
		}
	}
	p := &ui.Page{Data: v}
	if msg := r.URL.Query().Get("error"); msg != "" {
		p.Flash, p.FlashErr = ui.M("rp.failed", msg), true
	}
	a.ui.Render(w, r, a.pages["home.html"], http.StatusOK, p)
}

func random() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// begin keeps a new login's state, nonce and PKCE verifier in the session.
func begin(s *ui.Session) (state, nonce, verifier string) {
	state, nonce, verifier = random(), random(), oauth2.GenerateVerifier()
	s.Set("state", state)
	s.Set("nonce", nonce)
	s.Set("verifier", verifier)
	return state, nonce, verifier
}

// login starts the code flow with PKCE (S256), state and nonce kept in the session.
func (a *App) login(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := begin(ui.SessionOf(r))
	cfg := a.oauth
	cfg.Scopes = []string{gooidc.ScopeOpenID, "name", "birthdate", "gender", "address"}
	if r.URL.Query().Get("facts") == "0" {
		cfg.Scopes = []string{gooidc.ScopeOpenID}
	}
	http.Redirect(w, r, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce),
		oauth2.SetAuthURLParam("ui_locales", ui.LangOf(r))), http.StatusFound)
}

// sign starts the signed-document example: the sign scope, with the contract's SHA-256 and
// every authorization parameter in a request object the client signs (HS256 under SHA-256 of
// its secret, as the provider asks: it keeps only that hash).
func (a *App) sign(w http.ResponseWriter, r *http.Request) {
	s := ui.SessionOf(r)
	state, nonce, verifier := begin(s)
	s.Set("sign", "1")
	sum := sha256.Sum256([]byte(verifier))
	doc := sha256.Sum256([]byte(Contract))
	scope := []string{gooidc.ScopeOpenID, "sign", "name"}
	claims := map[string]any{"iss": a.cfg.ClientID, "aud": a.cfg.Issuer, "client_id": a.cfg.ClientID, "exp": time.Now().Add(10 * time.Minute).Unix(),
		"response_type": "code", "redirect_uri": a.oauth.RedirectURL, "scope": strings.Join(scope, " "), "state": state, "nonce": nonce,
		"code_challenge": base64.RawURLEncoding.EncodeToString(sum[:]), "code_challenge_method": "S256",
		"ui_locales": ui.LangOf(r), "document_sha256": hex.EncodeToString(doc[:])}
	payload, _ := json.Marshal(claims)
	key := sha256.Sum256([]byte(a.cfg.ClientSecret))
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key[:]}, (&jose.SignerOptions{}).WithType("oauth-authz-req+jwt"))
	if err != nil {
		a.fail(w, r, err.Error())
		return
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		a.fail(w, r, err.Error())
		return
	}
	obj, _ := jws.CompactSerialize()
	cfg := a.oauth
	cfg.Scopes = scope
	http.Redirect(w, r, cfg.AuthCodeURL(state, oauth2.SetAuthURLParam("request", obj)), http.StatusFound)
}

// signedDocument checks a document_signature claim against the contract: the hash it names,
// then the CMS with openssl and the J-LIS signing CAs.
func (a *App) signedDocument(ctx context.Context, cl documentSignature) *signedView {
	doc := sha256.Sum256([]byte(Contract))
	v := &signedView{Document: Contract, SHA256: cl.DocumentSHA256}
	der, err := base64.StdEncoding.DecodeString(cl.CMS)
	if err != nil || len(der) == 0 {
		v.Verification = "the claim carries no CMS"
		return v
	}
	v.CMS = string(pem.EncodeToMemory(&pem.Block{Type: "CMS", Bytes: der}))
	if cl.DocumentSHA256 != hex.EncodeToString(doc[:]) {
		v.Verification = "the signature is over another document's hash"
		return v
	}
	v.Verified, v.Verification = opensslVerify(ctx, der, []byte(Contract), a.cfg.SignCAs)
	return v
}

// documentSignature is the provider's userinfo claim of the sign scope.
type documentSignature struct {
	CMS            string `json:"cms"`
	DocumentSHA256 string `json:"document_sha256"`
}

// opensslVerify runs `openssl cms -verify` on a detached CMS and its document with the CAs as
// the trust anchors (a temporary directory for the three files).
func opensslVerify(ctx context.Context, der, doc []byte, cas []*x509.Certificate) (bool, string) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		return false, "openssl is not installed here: run openssl cms -verify -binary -inform DER -content CONTRACT -in CMS -CAfile J-LIS-SIGN-CA -purpose any"
	}
	if len(cas) == 0 {
		return false, "no J-LIS signing CA configured (--sign-ca)"
	}
	dir, err := os.MkdirTemp("", "rpdemo-cms-")
	if err != nil {
		return false, err.Error()
	}
	defer os.RemoveAll(dir)
	var anchors []byte
	for _, c := range cas {
		anchors = append(anchors, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	files := map[string][]byte{"doc": doc, "cms": der, "ca.pem": anchors}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return false, err.Error()
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "cms", "-verify", "-binary", "-inform", "DER", "-in", filepath.Join(dir, "cms"),
		"-content", filepath.Join(dir, "doc"), "-CAfile", filepath.Join(dir, "ca.pem"), "-purpose", "any", "-out", os.DevNull).CombinedOutput()
	msg := strings.TrimSpace(string(out))
	return err == nil, "openssl cms -verify: " + msg
}

// keepSigned keeps a signed document for the home page and returns its id.
func (a *App) keepSigned(v *signedView) string {
	id := random()
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range a.signed {
		if len(a.signed) < maxSigned {
			break
		}
		delete(a.signed, k)
	}
	a.signed[id] = v
	return id
}

func (a *App) fail(w http.ResponseWriter, r *http.Request, msg string) {
	http.Redirect(w, r, "/?error="+url.QueryEscape(msg), http.StatusFound)
}

// callback checks the state, exchanges the code with the verifier, verifies the ID token and
// its nonce, and fetches the facts from userinfo.
func (a *App) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if a.cfg.HTTPClient != nil {
		ctx = gooidc.ClientContext(ctx, a.cfg.HTTPClient)
	}
	s := ui.SessionOf(r)
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		a.fail(w, r, e+": "+q.Get("error_description"))
		return
	}
	state := s.Get("state")
	if state == "" || q.Get("state") != state {
		a.fail(w, r, "state mismatch")
		return
	}
	s.Set("state", "")
	tok, err := a.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(s.Get("verifier")))
	if err != nil {
		a.fail(w, r, err.Error())
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := a.verifier.Verify(ctx, raw)
	if err != nil {
		a.fail(w, r, err.Error())
		return
	}
	var cl struct {
		Nonce    string   `json:"nonce"`
		ACR      string   `json:"acr"`
		AMR      []string `json:"amr"`
		AuthTime int64    `json:"auth_time"`
	}
	if err := idt.Claims(&cl); err != nil || cl.Nonce != s.Get("nonce") {
		a.fail(w, r, "nonce mismatch")
		return
	}
	ui2, err := a.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		a.fail(w, r, err.Error())
		return
	}
	var facts struct {
		Name      string             `json:"name"`
		Birthdate string             `json:"birthdate"`
		Gender    string             `json:"gender"`
		Address   map[string]string  `json:"address"`
		Signature *documentSignature `json:"document_signature"`
	}
	ui2.Claims(&facts)
	if ui2.Subject != idt.Subject {
		a.fail(w, r, "userinfo subject mismatch")
		return
	}
	v := view{Sub: idt.Subject, ACR: cl.ACR, AMR: strings.Join(cl.AMR, " "), AuthTime: time.Unix(cl.AuthTime, 0).Format(time.RFC3339),
		Identity: strings.HasSuffix(cl.ACR, "jpki-sign")}
	for _, f := range []fact{{"name", facts.Name}, {"birthdate", facts.Birthdate}, {"gender", facts.Gender}, {"address", facts.Address["formatted"]}} {
		if f.Value != "" {
			v.Facts = append(v.Facts, f)
		}
	}
	if s.Get("sign") == "1" {
		s.Set("sign", "")
		if facts.Signature == nil {
			a.fail(w, r, "the provider returned no document_signature")
			return
		}
		v.SignedID = a.keepSigned(a.signedDocument(ctx, *facts.Signature))
	}
	b, _ := json.Marshal(v)
	s.Renew()
	s.Set("claims", string(b))
	s.Set("id_token", raw)
	http.Redirect(w, r, "/", http.StatusFound)
}

// logout ends the local session and the provider's tokens (RP-initiated logout).
func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	s := ui.SessionOf(r)
	hint := s.Get("id_token")
	s.Set("claims", "")
	s.Set("id_token", "")
	s.Renew()
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := a.provider.Claims(&meta); err != nil || meta.EndSession == "" || hint == "" {
		http.Redirect(w, r, "/", http.StatusFound)
		return
	}
	q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {strings.TrimRight(a.cfg.BaseURL, "/") + "/"}}
	http.Redirect(w, r, meta.EndSession+"?"+q.Encode(), http.StatusFound)
}
