package pages_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/oidc"
	"github.com/mynagate/mynagate/platform"
)

// These tests need no browser: they speak HTTP to the pages as a hostile or careless client
// would (another tenant's objects, forged redirects, guessing, no sign-in).

type user struct {
	t    *testing.T
	e    *env
	c    *http.Client
	csrf string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func newUser(t *testing.T, e *env) *user {
	jar, _ := cookiejar.New(nil)
	return &user{t: t, e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (u *user) do(method, path string, form url.Values) (*http.Response, string) {
	u.t.Helper()
	var body io.Reader
	if form != nil {
		if form.Get("csrf") == "" {
			form.Set("csrf", u.csrf)
		}
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u.e.srv.URL+path, body)
	req.Header.Set("Accept-Language", "en")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := u.c.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(b); m != nil {
		u.csrf = string(m[1])
	}
	return resp, string(b)
}

// login signs in and returns where the console sent the browser.
func (u *user) login(email, pw, next string) string {
	u.t.Helper()
	u.do("GET", "/console/login", nil)
	resp, body := u.do("POST", "/console/login", url.Values{"email": {email}, "password": {pw}, "next": {next}})
	if resp.StatusCode != http.StatusSeeOther {
		u.t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	u.do("GET", loc, nil)
	return loc
}

func TestHostile(t *testing.T) {
	e := newEnv(t)
	other, err := e.plat.CreateTenant(ctx, "Other Corp", []platform.Fact{platform.FactName})
	if err != nil {
		t.Fatal(err)
	}
	otherKey, otherK, err := e.plat.CreateAPIKey(ctx, other.ID, "theirs")
	if err != nil {
		t.Fatal(err)
	}
	otherEp, _, err := e.plat.CreateWebhookEndpoint(ctx, other, platform.WebhookEndpointRequest{URL: "http://127.0.0.1:9/x"})
	if err != nil {
		t.Fatal(err)
	}
	rp := client.New(e.srv.URL, client.WithAPIKey(otherKey))
	s, err := rp.CreateSession(ctx, client.SessionRequest{Purpose: "identity"})
	if err != nil {
		t.Fatal(err)
	}
	taro := e.issue(testkit.Taro())
	if _, err := taro.answer(s.HolderURL); err != nil {
		t.Fatal(err)
	}
	done, _ := rp.Session(ctx, s.ID)
	otherVerification := done.Verification.ID
	e.publish()

	t.Run("no session", func(t *testing.T) {
		u := newUser(t, e)
		for _, p := range []string{"/console", "/console/keys", "/console/evidence?id=" + otherVerification, "/operator", "/operator/health"} {
			if resp, _ := u.do("GET", p, nil); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login") {
				t.Errorf("GET %s without signing in: %d %s", p, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		u.do("GET", "/console/login", nil)
		if resp, _ := u.do("POST", "/console/keys", url.Values{"name": {"x"}}); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("POST a key without signing in: %d", resp.StatusCode)
		}
		if ks, _ := e.plat.APIKeys(ctx, e.tenant.ID); len(ks) != 0 {
			t.Errorf("keys made without signing in: %d", len(ks))
		}
	})

	t.Run("another tenant's objects", func(t *testing.T) {
		u := newUser(t, e)
		u.login(staffEmail, staffPW, "")
		if resp, _ := u.do("POST", "/console/keys/"+otherK.ID+"/revoke", url.Values{}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("revoke another tenant's key: %d", resp.StatusCode)
		}
		if _, err := e.plat.Authenticate(ctx, otherKey); err != nil {
			t.Errorf("another tenant's key stopped working: %v", err)
		}
		for _, p := range []string{"/console/webhooks/" + otherEp.ID, "/console/evidence/" + otherVerification + "/bundle.json"} {
			if resp, _ := u.do("GET", p, nil); resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: %d", p, resp.StatusCode)
			}
		}
		for _, p := range []string{"/rotate", "/redeliver", "/disable"} {
			if resp, _ := u.do("POST", "/console/webhooks/"+otherEp.ID+p, url.Values{"grace": {"1"}}); resp.StatusCode != http.StatusNotFound {
				t.Errorf("POST %s to another tenant's endpoint: %d", p, resp.StatusCode)
			}
		}
		oc, _, err := e.oidc.CreateClient(ctx, other.ID, oidc.ClientRequest{Name: "theirs", RedirectURIs: []string{"https://other.example/cb"}})
		if err != nil {
			t.Fatal(err)
		}
		if resp, _ := u.do("POST", "/console/oidc/"+oc.ID+"/delete", url.Values{}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("delete another tenant's OpenID client: %d", resp.StatusCode)
		}
		if cs, _ := e.oidc.Clients(ctx, other.ID); len(cs) != 1 || cs[0].DeletedAt != nil {
			t.Error("another tenant's OpenID client was deleted")
		}
		if _, body := u.do("GET", "/console/oidc", nil); strings.Contains(body, oc.ID) {
			t.Error("another tenant's OpenID client is listed")
		}
		resp, body := u.do("POST", "/console/oidc", url.Values{"name": {"x"}, "redirects": {strings.Repeat("https://a.example/\n", 11)}})
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "at most 10 redirect URIs") {
			t.Errorf("11 redirect URIs: %d", resp.StatusCode)
		}
		if ep, _ := e.plat.WebhookEndpoint(ctx, other, otherEp.ID); ep.DisabledAt != nil {
			t.Error("another tenant's endpoint was disabled")
		}
		resp, body = u.do("GET", "/console/evidence?id="+otherVerification, nil)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Your tenant has no verification with this id") || strings.Contains(body, "山田") {
			t.Errorf("another tenant's evidence: %d", resp.StatusCode)
		}
		// Malformed and oversized input.
		if resp, _ := u.do("POST", "/console/webhooks/"+otherEp.ID+"/redeliver", url.Values{"event": {"evt_<script>"}}); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("malformed event id: %d", resp.StatusCode)
		}
		if resp, _ := u.do("GET", "/console/evidence?id="+strings.Repeat("v", 5000), nil); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("oversized id: %d", resp.StatusCode)
		}
		if resp, _ := u.do("POST", "/console/keys", url.Values{"name": {strings.Repeat("x", 70000)}}); resp.StatusCode < 400 {
			t.Errorf("oversized form: %d", resp.StatusCode)
		}
		if ks, _ := e.plat.APIKeys(ctx, e.tenant.ID); len(ks) != 0 {
			t.Errorf("a refused form stored a key: %d", len(ks))
		}
		// The tenant's own setting: a bad policy is refused next to the field, a good one saved.
		resp, body = u.do("POST", "/console/settings", url.Values{"revocation": {"never"}})
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="f-revocation-err"`) {
			t.Errorf("a bad revocation policy: %d", resp.StatusCode)
		}
		if tn, _ := e.plat.Tenant(ctx, e.tenant.ID); tn.RevocationPolicy() != platform.RevocationCRL {
			t.Errorf("a refused setting changed the policy to %s", tn.RevocationPolicy())
		}
		if resp, _ := u.do("POST", "/console/settings", url.Values{"revocation": {"both"}}); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("saving a policy: %d", resp.StatusCode)
		}
		if tn, _ := e.plat.Tenant(ctx, e.tenant.ID); tn.RevocationPolicy() != platform.RevocationBoth {
			t.Errorf("policy after saving: %s", tn.RevocationPolicy())
		}
		u.do("POST", "/console/settings", url.Values{"revocation": {"crl"}})
		if tn, _ := e.plat.Tenant(ctx, other.ID); tn.RevocationPolicy() != platform.RevocationCRL {
			t.Error("another tenant's policy changed")
		}
		// Staff never reach the operator's pages.
		if resp, _ := u.do("GET", "/operator/health", nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("staff on /operator/health: %d", resp.StatusCode)
		}
		if resp, _ := u.do("POST", "/operator/tenants", url.Values{"name": {"Mine"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("staff creating a tenant: %d", resp.StatusCode)
		}
	})

	t.Run("allowance", func(t *testing.T) {
		staff := newUser(t, e)
		staff.login(staffEmail, staffPW, "")
		facts := func(id string) []platform.Fact {
			t.Helper()
			tn, err := e.plat.Tenant(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return tn.Facts
		}
		settings := func(u *user, fs ...string) (*http.Response, string) {
			return u.do("POST", "/console/settings", url.Values{"revocation": {"crl"}, "facts-shown": {"1"}, "facts": fs})
		}
		// Staff narrow their tenant's allowance; an unknown fact is refused next to the field.
		resp, body := settings(staff, "name", "mynumber")
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="f-facts"`) || len(facts(e.tenant.ID)) != 4 {
			t.Errorf("an unknown fact: %d, facts %v", resp.StatusCode, facts(e.tenant.ID))
		}
		if resp, _ := settings(staff, "name", "address"); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("narrowing: %d", resp.StatusCode)
		}
		if got := facts(e.tenant.ID); !slices.Equal(got, []platform.Fact{platform.FactName, platform.FactAddress}) {
			t.Errorf("after narrowing: %v", got)
		}
		if _, body := staff.do("GET", "/console", nil); !strings.Contains(body, `value="address" id="fact-address" checked`) || strings.Contains(body, `id="fact-sex"`) {
			t.Error("the settings form does not offer exactly the allowed facts")
		}
		// Staff cannot widen it back, and it stays as it was.
		resp, body = settings(staff, "name", "birthdate")
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Only the platform") {
			t.Errorf("staff widening: %d", resp.StatusCode)
		}
		if got := facts(e.tenant.ID); !slices.Equal(got, []platform.Fact{platform.FactName, platform.FactAddress}) {
			t.Errorf("after a refused widening: %v", got)
		}
		if resp, _ := staff.do("POST", "/operator/tenants/"+e.tenant.ID, url.Values{"facts": {"sex"}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("staff on the operator's tenant form: %d", resp.StatusCode)
		}
		if tn, _ := e.plat.Tenant(ctx, other.ID); !slices.Equal(tn.Facts, []platform.Fact{platform.FactName}) {
			t.Errorf("another tenant's allowance changed: %v", tn.Facts)
		}
		// The operator widens it again, and refuses nonsense.
		op := newUser(t, e)
		op.login(opEmail, opPW, "")
		if resp, body := op.do("GET", "/operator/tenants/"+e.tenant.ID, nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, `value="address" id="fact-address" checked`) {
			t.Errorf("the operator's tenant page: %d", resp.StatusCode)
		}
		if resp, _ := op.do("GET", "/operator/tenants/t_0000000000000000", nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("an unknown tenant's page: %d", resp.StatusCode)
		}
		if resp, _ := op.do("POST", "/operator/tenants/t_0000000000000000", url.Values{"facts": {"name"}}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("an unknown tenant's update: %d", resp.StatusCode)
		}
		if resp, _ := op.do("POST", "/operator/tenants/"+e.tenant.ID, url.Values{"facts": {"name", "<script>"}}); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("an unknown fact from the operator: %d", resp.StatusCode)
		}
		all := url.Values{"facts": {"name", "birthdate", "sex", "address"}}
		if resp, _ := op.do("POST", "/operator/tenants/"+e.tenant.ID, all); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("the operator widening: %d", resp.StatusCode)
		}
		if tn, _ := e.plat.Tenant(ctx, e.tenant.ID); len(tn.Facts) != 4 || tn.FactsWidenedAt.IsZero() {
			t.Errorf("after the operator widened: %v, widened at %v", tn.Facts, tn.FactsWidenedAt)
		}
	})

	t.Run("own OpenID client deleted", func(t *testing.T) {
		u := newUser(t, e)
		u.login(staffEmail, staffPW, "")
		resp, body := u.do("POST", "/console/oidc", url.Values{"name": {"Bank app"}, "redirects": {"https://bank.example/cb"}})
		m := regexp.MustCompile(`registered with id (c_[0-9a-f]+)`).FindStringSubmatch(body)
		sec := regexp.MustCompile(`id="client-secret">([^<]+)<`).FindStringSubmatch(body)
		if resp.StatusCode != http.StatusOK || m == nil || sec == nil {
			t.Fatalf("registering a client: %d", resp.StatusCode)
		}
		id := m[1]
		// tokenAnswer presents the client's credentials at the token endpoint with a refresh
		// token that does not exist: a live client gets invalid_grant, a deleted one
		// invalid_client.
		op := httptest.NewServer(e.oidc.Handler())
		defer op.Close()
		tokenAnswer := func() string {
			t.Helper()
			req, _ := http.NewRequest("POST", op.URL+"/oidc/oauth/token", strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(id, sec[1])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return string(b)
		}
		if got := tokenAnswer(); !strings.Contains(got, "invalid_grant") {
			t.Fatalf("a live client at the token endpoint: %s", got)
		}
		resp, _ = u.do("POST", "/console/oidc/"+id+"/delete", url.Values{})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/oidc" {
			t.Fatalf("deleting the own client: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		if _, body := u.do("GET", "/console/oidc", nil); !strings.Contains(body, "The client is deleted") || strings.Contains(body, "/console/oidc/"+id+"/delete") {
			t.Error("after deleting: no flash, or the client is still offered for deletion")
		}
		cs, _ := e.oidc.Clients(ctx, e.tenant.ID)
		for _, c := range cs {
			if c.ID == id && c.DeletedAt == nil {
				t.Error("the client is not marked deleted")
			}
		}
		if got := tokenAnswer(); !strings.Contains(got, "invalid_client") {
			t.Errorf("a deleted client at the token endpoint: %s", got)
		}
		// Deleting it again, or a malformed id, is a 404 and changes nothing.
		for _, p := range []string{id, "c_<x>"} {
			if resp, _ := u.do("POST", "/console/oidc/"+url.PathEscape(p)+"/delete", url.Values{}); resp.StatusCode != http.StatusNotFound {
				t.Errorf("deleting %q: %d", p, resp.StatusCode)
			}
		}
	})

	t.Run("redirects stay here", func(t *testing.T) {
		for _, next := range []string{"//evil.example/console", "https://evil.example/", "/console\\@evil.example", "/holder", "javascript:alert(1)"} {
			u := newUser(t, e)
			if loc := u.login(staffEmail, staffPW, next); loc != "/console" {
				t.Errorf("next=%q sent the browser to %q", next, loc)
			}
		}
		u := newUser(t, e)
		if loc := u.login(staffEmail, staffPW, "/console/usage"); loc != "/console/usage" {
			t.Errorf("a good next was dropped: %q", loc)
		}
		// An operator asked to go to a staff page lands on the operator's.
		u = newUser(t, e)
		if loc := u.login(opEmail, opPW, "/console/keys"); loc != "/operator" {
			t.Errorf("operator sent to %q", loc)
		}
	})

	t.Run("guessing passwords", func(t *testing.T) {
		u := newUser(t, e)
		u.do("GET", "/console/login", nil)
		for i := 0; i < 5; i++ {
			resp, body := u.do("POST", "/console/login", url.Values{"email": {opEmail}, "password": {"guess number " + string(rune('a'+i))}})
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "The email address or the password is wrong") {
				t.Fatalf("wrong password %d: %d", i, resp.StatusCode)
			}
		}
		resp, body := u.do("POST", "/console/login", url.Values{"email": {opEmail}, "password": {opPW}})
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Too many failed sign-ins") {
			t.Errorf("the right password after 5 failures: %d", resp.StatusCode)
		}
		// An unknown email gets the same answer as a wrong password.
		_, body = u.do("POST", "/console/login", url.Values{"email": {"nobody@example.com"}, "password": {"whatever password"}})
		if !strings.Contains(body, "The email address or the password is wrong") {
			t.Error("an unknown email is told apart")
		}
	})

	t.Run("holder without a card sign-in", func(t *testing.T) {
		u := newUser(t, e)
		u.do("GET", "/holder", nil)
		resp, _ := u.do("POST", "/holder/consents/revoke", url.Values{"tenant": {other.ID}, "scope": {"basic4_updates"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/holder" {
			t.Errorf("revoke without signing in: %d", resp.StatusCode)
		}
		for _, p := range []string{"/holder/signin/done", "/holder/signin"} {
			if resp, _ := u.do("GET", p, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/holder" {
				t.Errorf("GET %s without a pending sign-in: %d %s", p, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		// A pending sign-in does not sign in until the card answers.
		u.do("POST", "/holder/signin", url.Values{})
		resp, _ = u.do("GET", "/holder/signin/done", nil)
		if resp.Header.Get("Location") != "/holder/signin" {
			t.Errorf("done before the card answered: %s", resp.Header.Get("Location"))
		}
		if _, body := u.do("GET", "/holder", nil); strings.Contains(body, "section class=\"company\"") {
			t.Error("the holder's page opened without the card")
		}
		if _, body := u.do("GET", "/holder/signin/status", nil); strings.TrimSpace(body) != "{}" {
			t.Errorf("status of a pending sign-in: %s", body)
		}
	})

	t.Run("holder signs in without script (polling)", func(t *testing.T) {
		u := newUser(t, e)
		u.do("GET", "/holder", nil)
		u.do("POST", "/holder/signin", url.Values{})
		_, body := u.do("GET", "/holder/signin", nil)
		m := regexp.MustCompile(`id="holder-url">([^<]+)<`).FindStringSubmatch(body)
		if m == nil || !strings.Contains(body, `<meta http-equiv="refresh"`) {
			t.Fatalf("wait page without the holder URL or the no-script refresh:\n%s", body)
		}
		if _, err := taro.answer(m[1]); err != nil {
			t.Fatal(err)
		}
		if _, body := u.do("GET", "/holder/signin/status", nil); !strings.Contains(body, `"go":"/holder/signin/done"`) {
			t.Errorf("status after the card answered: %s", body)
		}
		// Another browser cannot take over this sign-in.
		thief := newUser(t, e)
		if resp, _ := thief.do("GET", "/holder/signin/done", nil); resp.Header.Get("Location") != "/holder" {
			t.Errorf("another browser completing the sign-in: %s", resp.Header.Get("Location"))
		}
		if _, body := thief.do("GET", "/holder", nil); strings.Contains(body, "Other Corp") {
			t.Error("another browser sees the holder's companies")
		}
		if resp, _ := u.do("GET", "/holder/signin/done", nil); resp.Header.Get("Location") != "/holder" {
			t.Fatalf("done: %s", resp.Header.Get("Location"))
		}
		_, body = u.do("GET", "/holder", nil)
		if !strings.Contains(body, "Other Corp") || strings.Contains(body, platform.PortalTenantName) {
			t.Errorf("the holder's companies:\n%s", body)
		}
		// The sign-in cannot be replayed: the pending session is gone from the cookie.
		if resp, _ := u.do("GET", "/holder/signin/done", nil); resp.Header.Get("Location") != "/holder" {
			t.Errorf("done again: %s", resp.Header.Get("Location"))
		}
	})
}

// TestSessionsEnd: a holder's card sign-in lasts 30 minutes, a console sign-in 12 hours.
func TestSessionsEnd(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Now())
	e := newEnv(t, clk)
	taro := e.issue(testkit.Taro())
	u := newUser(t, e)
	u.do("GET", "/holder", nil)
	u.do("POST", "/holder/signin", url.Values{})
	_, body := u.do("GET", "/holder/signin", nil)
	m := regexp.MustCompile(`id="holder-url">([^<]+)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no holder URL")
	}
	if _, err := taro.answer(m[1]); err != nil {
		t.Fatal(err)
	}
	u.do("GET", "/holder/signin/done", nil)
	if _, body := u.do("GET", "/holder", nil); !strings.Contains(body, "/holder/logout") {
		t.Fatal("not signed in with the card")
	}
	clk.Advance(31 * time.Minute)
	if _, body := u.do("GET", "/holder", nil); strings.Contains(body, "/holder/logout") || !strings.Contains(body, `action="/holder/signin"`) {
		t.Error("the holder is still signed in after 31 minutes")
	}
	if resp, _ := u.do("POST", "/holder/consents/revoke", url.Values{"tenant": {e.tenant.ID}, "scope": {"basic4_updates"}}); resp.Header.Get("Location") != "/holder" {
		t.Errorf("a revoke after the sign-in ended: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	s := newUser(t, e)
	s.login(staffEmail, staffPW, "")
	if resp, _ := s.do("GET", "/console", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("console: %d", resp.StatusCode)
	}
	clk.Advance(12 * time.Hour)
	if resp, _ := s.do("GET", "/console", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("console after 12 hours: %d", resp.StatusCode)
	}
}
