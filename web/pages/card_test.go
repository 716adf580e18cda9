package pages_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/platform"
)

var (
	cardHolderRE  = regexp.MustCompile(`<code>([^<]+)</code>`)
	cardConsentRE = regexp.MustCompile(`name="(id|csrf)" value="([^"]+)"`)
	cardLoginIDRE = regexp.MustCompile(`login/events\?id=([a-z0-9_]+)`)
)

// abs fetches an absolute URL without following redirects.
func (u *user) abs(method, raw string, form url.Values) (*http.Response, string) {
	u.t.Helper()
	return u.do(method, strings.TrimPrefix(raw, u.e.srv.URL), form)
}

// card runs the console's sign-in with the card from the POST that starts it (path) to the
// provider's redirect back to the console, as a browser and the holder's app would: the
// provider's login page, the card answering its holder URL, the consent. It returns the
// callback URL (not yet fetched).
func (u *user) card(path string, h *holder) string {
	u.t.Helper()
	resp, body := u.do("POST", path, url.Values{})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), u.e.srv.URL+"/oidc/authorize?") {
		u.t.Fatalf("start: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	loc := resp.Header.Get("Location")
	for range 5 { // the provider's redirects to its login page
		resp, body = u.abs("GET", loc, nil)
		if resp.StatusCode/100 != 3 {
			break
		}
		loc = resp.Header.Get("Location")
	}
	m := cardHolderRE.FindStringSubmatch(body)
	id := cardLoginIDRE.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil || id == nil {
		u.t.Fatalf("provider's login page: %d\n%s", resp.StatusCode, body)
	}
	if _, err := testkit.AnswerWithCard(ctx, h.path, u.e.clk, html.UnescapeString(m[1])); err != nil {
		u.t.Fatalf("holder: %v", err)
	}
	consoleCSRF := u.csrf
	_, body = u.do("GET", "/oidc/login?id="+id[1], nil)
	form := url.Values{"action": {"allow"}}
	for _, m := range cardConsentRE.FindAllStringSubmatch(body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	resp, body = u.do("POST", "/oidc/login/consent", form)
	u.csrf = consoleCSRF
	loc = resp.Header.Get("Location")
	for range 5 {
		if strings.HasPrefix(loc, u.e.srv.URL+"/console/card/callback?") {
			return loc
		}
		if resp.StatusCode/100 != 3 {
			break
		}
		resp, body = u.abs("GET", loc, nil)
		loc = resp.Header.Get("Location")
	}
	u.t.Fatalf("no redirect back to the console: %d %s\n%s", resp.StatusCode, loc, body)
	return ""
}

// TestCardSignIn: staff link their own card from the console, then sign in with it; the
// hostile cases are refused and create nothing.
func TestCardSignIn(t *testing.T) {
	e := newEnv(t)
	taro := e.issue(testkit.Taro())
	hanako := e.issue(testkit.Hanako())

	// Unlinked card: a clear refusal, no session, nothing created.
	stranger := newUser(t, e)
	stranger.do("GET", "/console/login", nil)
	cb := stranger.card("/console/card/login", taro)
	resp, body := stranger.abs("GET", cb, nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not linked to any console account") {
		t.Fatalf("unlinked card: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := stranger.do("GET", "/console", nil); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login") {
		t.Fatalf("an unlinked card signed someone in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Link: a signed-in staff member links Taro's card.
	staff := newUser(t, e)
	staff.login(staffEmail, staffPW, "")
	cb = staff.card("/console/card/link", taro)
	resp, _ = staff.abs("GET", cb, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console" {
		t.Fatalf("link callback: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, body := staff.do("GET", "/console", nil); !strings.Contains(body, "now linked to this account") || !strings.Contains(body, "linked to a My Number Card") {
		t.Fatalf("the console does not say the card is linked:\n%s", body)
	}
	// A replayed callback finds no flow in the session (spent on first use): refused.
	resp, body = staff.abs("GET", cb, nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "expired or was already used") {
		t.Fatalf("replayed link callback: %d\n%s", resp.StatusCode, body)
	}

	// Another tenant's staff cannot link the same card: one card signs in one account.
	other, err := e.plat.CreateTenant(ctx, "Other Co", platform.AllFacts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.plat.CreateConsoleUser(ctx, other.ID, "staff@other.example", "other staff password", false); err != nil {
		t.Fatal(err)
	}
	rival := newUser(t, e)
	rival.login("staff@other.example", "other staff password", "")
	cb = rival.card("/console/card/link", taro)
	rival.abs("GET", cb, nil)
	if _, body := rival.do("GET", "/console", nil); !strings.Contains(body, "already linked to another console account") || strings.Contains(body, "linked to a My Number Card.") {
		t.Fatalf("another tenant's staff linked a linked card:\n%s", body)
	}

	// Sign in with the card: the linked staff account, of its own tenant.
	b := newUser(t, e)
	b.do("GET", "/console/login", nil)
	cb = b.card("/console/card/login", taro)
	resp, _ = b.abs("GET", cb, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console" {
		t.Fatalf("card sign-in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := b.do("GET", "/console", nil); resp.StatusCode != 200 || !strings.Contains(body, staffEmail+" (Example Bank)") {
		t.Fatalf("signed in as the wrong account: %d\n%s", resp.StatusCode, body)
	}
	// The same callback replayed in a fresh browser: no flow, refused, not signed in.
	replay := newUser(t, e)
	replay.do("GET", "/console/login", nil)
	if resp, body := replay.abs("GET", cb, nil); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "expired or was already used") {
		t.Fatalf("replayed sign-in callback in another browser: %d\n%s", resp.StatusCode, body)
	}
	// Hanako's card is linked to no one; the other tenant's staff stays unlinked.
	h := newUser(t, e)
	h.do("GET", "/console/login", nil)
	cb = h.card("/console/card/login", hanako)
	if resp, _ := h.abs("GET", cb, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an unlinked card signed in: %d", resp.StatusCode)
	}

	// A tampered or missing state: refused before any token exchange.
	for _, q := range []string{"?code=x", "?code=x&state=", "?code=x&state=forged", ""} {
		u := newUser(t, e)
		u.do("GET", "/console/login", nil)
		u.do("POST", "/console/card/login", url.Values{})
		if resp, body := u.do("GET", "/console/card/callback"+q, nil); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "expired or was already used") {
			t.Errorf("callback %q: %d", q, resp.StatusCode)
		}
		if resp, _ := u.do("GET", "/console", nil); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("callback %q signed in", q)
		}
	}
	// The right state but a forged code: the exchange fails.
	u := newUser(t, e)
	u.do("GET", "/console/login", nil)
	resp, _ = u.do("POST", "/console/card/login", url.Values{})
	au, _ := url.Parse(resp.Header.Get("Location"))
	state := au.Query().Get("state")
	if resp, body := u.do("GET", "/console/card/callback?code=forged&state="+url.QueryEscape(state), nil); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "could not be confirmed") {
		t.Errorf("forged code: %d\n%s", resp.StatusCode, body)
	}
	// Linking needs a signed-in staff member.
	anon := newUser(t, e)
	anon.do("GET", "/console/login", nil)
	if resp, _ := anon.do("POST", "/console/card/link", url.Values{}); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login") {
		t.Errorf("linking without sign-in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Only one console client was registered for the platform itself.
	portal, err := e.plat.PortalTenant(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cs, err := e.oidc.Clients(ctx, portal.ID); err != nil || len(cs) != 1 {
		t.Errorf("the console's clients: %v %v", cs, err)
	}
}
