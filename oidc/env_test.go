package oidc_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/oidc"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/web"
	"golang.org/x/oauth2"
)

var ctx = context.Background()

// env is a running world: J-LIS, the platform with the provider under /oidc, two tenants.
type env struct {
	t        *testing.T
	clk      *clockwork.FakeClock // the platform's and the simulator's
	oclk     *clockwork.FakeClock // the provider's (near real time: the library reads time.Now)
	sim      *jlis.Simulator
	plat     *platform.Platform
	st       *store.Store
	prov     *oidc.Provider
	srv      *httptest.Server
	issuer   string
	bank     *platform.Tenant // may receive all four facts
	tickets  *platform.Tenant // may receive the birth date only
	bankKey  string           // API key of the bank
	discover *gooidc.Provider
	dbPath   string
}

func newEnv(t *testing.T, opts ...jlis.Option) *env {
	t.Helper()
	sim, clk, _ := testkit.Simulator(t, opts...)
	e := &env{t: t, clk: clk, sim: sim, oclk: clockwork.NewFakeClockAt(time.Now())}
	var h http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	master := bytes.Repeat([]byte{7}, 32)
	e.plat, e.st, e.dbPath = testkit.JLISPlatform(t, sim, clk, e.srv.URL, master)
	var err error
	e.issuer = e.srv.URL + "/oidc"
	e.prov, err = oidc.New(e.plat, e.st, oidc.Config{Issuer: e.issuer, Master: master, Clock: e.oclk, DeviceInterval: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h = web.New(e.plat, web.WithRoutes(func(m *http.ServeMux) { m.Handle("/oidc/", e.prov.Handler()) }), web.WithTenantRoutes(e.prov.APIRoutes))
	if e.bank, err = e.plat.CreateTenant(ctx, "Example Bank", platform.AllFacts); err != nil {
		t.Fatal(err)
	}
	if e.bankKey, _, err = e.plat.CreateAPIKey(ctx, e.bank.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if e.tickets, err = e.plat.CreateTenant(ctx, "Example Tickets", []platform.Fact{platform.FactBirth}); err != nil {
		t.Fatal(err)
	}
	if e.discover, err = gooidc.NewProvider(ctx, e.issuer); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return e
}

// rp is a registered client with its oauth2 configuration.
type rp struct {
	id, secret string
	cfg        oauth2.Config
	verifier   *gooidc.IDTokenVerifier
}

const redirect = "http://127.0.0.1:9/callback"

func (e *env) client(tenant *platform.Tenant, public bool, scopes ...string) *rp {
	e.t.Helper()
	c, secret, err := e.prov.CreateClient(ctx, tenant.ID, oidc.ClientRequest{Name: tenant.Name + " web", RedirectURIs: []string{redirect},
		LogoutURIs: []string{"http://127.0.0.1:9/bye"}, Public: public})
	if err != nil {
		e.t.Fatal(err)
	}
	return &rp{id: c.ID, secret: secret, cfg: oauth2.Config{ClientID: c.ID, ClientSecret: secret, Endpoint: e.discover.Endpoint(), RedirectURL: redirect,
		Scopes: append([]string{gooidc.ScopeOpenID}, scopes...)}, verifier: e.discover.Verifier(&gooidc.Config{ClientID: c.ID})}
}

// browser is a user agent with cookies that stops at the relying party's redirect URI.
type browser struct {
	e  *env
	hc *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, hc: &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), "http://127.0.0.1:9/") {
			return http.ErrUseLastResponse
		}
		return nil
	}}}
}

// get fetches a URL and returns the final response's status, location (when stopped at the
// relying party) and body.
func (b *browser) get(u string) (int, string, string) {
	b.e.t.Helper()
	resp, err := b.hc.Get(u)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

func (b *browser) post(u string, form url.Values) (int, string, string) {
	b.e.t.Helper()
	resp, err := b.hc.PostForm(u, form)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

var (
	holderRE = regexp.MustCompile(`<code>([^<]+)</code>`)
	inputRE  = regexp.MustCompile(`name="(id|csrf)" value="([^"]+)"`)
)

// holderURL finds the holder URL on a login page.
func holderURL(t *testing.T, page string) string {
	t.Helper()
	m := holderRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no holder URL on the page:\n%s", page)
	}
	return html.UnescapeString(m[1])
}

// holder answers a session with a card, in-process, as `mynagate reader verify` does.
func (e *env) holder(cardPath, holderURL string) error {
	_, err := testkit.AnswerWithCard(ctx, cardPath, e.clk, holderURL)
	return err
}

// consent reads the consent page's form and answers it.
func (b *browser) consent(page, action string) (int, string, string) {
	b.e.t.Helper()
	form := url.Values{"action": {action}}
	for _, m := range inputRE.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if form.Get("csrf") == "" {
		b.e.t.Fatalf("no consent form on the page:\n%s", page)
	}
	return b.post(b.e.issuer+"/login/consent", form)
}

func random() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// login runs the browser side of an authorization request and the holder's card step, and
// returns the redirect to the relying party (with code or error).
func (e *env) login(b *browser, authURL, cardPath string) *url.URL {
	e.t.Helper()
	status, loc, page := b.get(authURL)
	if loc != "" {
		u, _ := url.Parse(loc)
		return u
	}
	if status != http.StatusOK {
		e.t.Fatalf("login page: %d\n%s", status, page)
	}
	if err := e.holder(cardPath, holderURL(e.t, page)); err != nil {
		e.t.Fatalf("holder: %v", err)
	}
	status, _, page = b.get(e.loginURL(page))
	if status != http.StatusOK || !strings.Contains(page, `name="csrf"`) {
		e.t.Fatalf("consent page: %d\n%s", status, page)
	}
	_, loc, page = b.consent(page, "allow")
	if loc == "" {
		e.t.Fatalf("no redirect to the relying party after consent:\n%s", page)
	}
	u, _ := url.Parse(loc)
	return u
}

var idRE = regexp.MustCompile(`login/events\?id=([a-z0-9_]+)`)

func (e *env) loginURL(page string) string {
	m := idRE.FindStringSubmatch(page)
	if m == nil {
		e.t.Fatalf("no login id on the page:\n%s", page)
	}
	return e.issuer + "/login?id=" + m[1]
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// tokensOf lists the ids of a client's stored tokens (access and refresh).
func (e *env) tokensOf(t *testing.T, clientID string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT id FROM oidc_tokens WHERE client_id = $1`, clientID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	return ids
}
