// Package rpdemo is a small relying party that logs people in with the platform's OpenID
// provider ("Log in with My Number Card") and shows the verified claims. It is built only on
// standard client libraries — github.com/coreos/go-oidc and golang.org/x/oauth2 — and the
// shared page foundation web/ui, never on the provider's own code: it proves that an ordinary
// OpenID Connect client is enough. `mynagate rp-demo` runs it, and `mynagate demo` starts it.
package rpdemo

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
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
		"rp.c.name": "氏名", "rp.c.birthdate": "生年月日", "rp.c.gender": "性別", "rp.c.address": "住所", "rp.failed": "ログインできませんでした: %s"},
	"en": {"rp.title": "Demo Bank", "rp.intro": "Log in with your My Number Card and the verified facts are shown here.",
		"rp.button": "Log in with My Number Card", "rp.loginonly": "Log in without receiving your name and other facts (authentication certificate only)",
		"rp.loggedin": "You are logged in.", "rp.claims": "Verified claims", "rp.logout": "Log out",
		"rp.identity": "identity verified with the signing certificate", "rp.login": "logged in with the authentication certificate",
		"rp.c.name": "Name", "rp.c.birthdate": "Date of birth", "rp.c.gender": "Sex", "rp.c.address": "Address", "rp.failed": "Login failed: %s"},
}

// Config configures the demo relying party.
type Config struct {
	Issuer       string // the provider, e.g. http://127.0.0.1:8080/oidc
	ClientID     string
	ClientSecret string
	BaseURL      string // where this app is reached, e.g. http://127.0.0.1:8090
	// HTTPClient reaches the provider (default http.DefaultClient).
	HTTPClient *http.Client
}

// App is the demo relying party.
type App struct {
	cfg      Config
	ui       *ui.UI
	pages    ui.Pages
	provider *gooidc.Provider
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
	mux      *http.ServeMux
}

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
		oauth: oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: p.Endpoint(), RedirectURL: base + "/callback"}}
	m := http.NewServeMux()
	m.Handle("GET /ui/static/", u.Assets())
	pm := http.NewServeMux()
	pm.HandleFunc("GET /{$}", a.home)
	pm.HandleFunc("GET /login", a.login)
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
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	s := ui.SessionOf(r)
	var v view
	if raw := s.Get("claims"); raw != "" {
		json.Unmarshal([]byte(raw), &v)
		for i := range v.Facts {
			v.Facts[i].Name = a.ui.T(ui.LangOf(r), "rp.c."+v.Facts[i].Name)
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

// login starts the code flow with PKCE (S256), state and nonce kept in the session.
func (a *App) login(w http.ResponseWriter, r *http.Request) {
	s := ui.SessionOf(r)
	state, nonce, verifier := random(), random(), oauth2.GenerateVerifier()
	s.Set("state", state)
	s.Set("nonce", nonce)
	s.Set("verifier", verifier)
	cfg := a.oauth
	cfg.Scopes = []string{gooidc.ScopeOpenID, "name", "birthdate", "gender", "address"}
	if r.URL.Query().Get("facts") == "0" {
		cfg.Scopes = []string{gooidc.ScopeOpenID}
	}
	http.Redirect(w, r, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce),
		oauth2.SetAuthURLParam("ui_locales", ui.LangOf(r))), http.StatusFound)
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
		Name      string            `json:"name"`
		Birthdate string            `json:"birthdate"`
		Gender    string            `json:"gender"`
		Address   map[string]string `json:"address"`
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
