package pages_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/platform"
)

// TestBrowser tells the stories of the issue in a real browser, on one platform: the console
// story, the holder story, the operator's pages, the forms' refusals, CSRF and CSP; every page
// it opens is checked with axe-core.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	browser(t)
	e := newEnv(t)
	taro := e.issue(testkit.Taro())
	receiver := testkit.NewHookReceiver(t, e.clk)

	t.Run("landing", func(t *testing.T) {
		tb := newTab(t, e)
		tb.open("/")
		for _, want := range []string{"/console", "/holder", "/operator", staffEmail, "mynagate reader verify", "Log in with My Number Card", "Ticketing"} {
			if !strings.Contains(tb.mainText(), want) {
				t.Errorf("landing page lacks %q", want)
			}
		}
		tb.check("landing")
		// The language switch: Japanese on request, and it sticks.
		tb.clickAndWait(`a[hreflang="ja"]`)
		tb.run(chromedp.WaitVisible(css(`.langs .cur[lang="ja"]`)))
		if h := tb.text("h1"); h != "マイナンバーカードによる本人確認" {
			t.Errorf("after switching to Japanese: %q", h)
		}
		tb.check("landing-ja")
		tb.open("/console/login")
		if h := tb.text("h1"); h != "コンソールにログイン" {
			t.Errorf("the language did not stick: %q", h)
		}
	})

	t.Run("console", func(t *testing.T) {
		tb := newTab(t, e)
		tb.open("/console")
		tb.run(chromedp.WaitVisible(css(`input[name="email"]`)))
		tb.check("console-login")
		// Wrong password: a message next to the field, the email kept, no session.
		tb.submit("form.stack", map[string]string{"email": staffEmail, "password": "not the password"})
		tb.wantFieldError("password", "")
		if got := tb.value("#f-email"); got != staffEmail {
			t.Errorf("email not kept: %q", got)
		}
		if v := tb.value("#f-password"); v != "" {
			t.Error("the password was sent back")
		}
		tb.check("console-login-error")
		tb.submit("form.stack", map[string]string{"email": "", "password": ""})
		tb.wantFieldError("email", "")
		tb.submit("form.stack", map[string]string{"email": staffEmail, "password": staffPW})
		if h := tb.text("h1"); h != "Overview" {
			t.Fatalf("after signing in: %q", h)
		}
		tb.check("console-overview")

		// API keys: an empty label is refused; a key is shown once.
		tb.open("/console/keys")
		tb.submit("form.stack", map[string]string{"name": "   "})
		tb.wantFieldError("name", "")
		tb.submit("form.stack", map[string]string{"name": strings.Repeat("k", 101)})
		tb.wantFieldError("name", strings.Repeat("k", 101))
		tb.submit("form.stack", map[string]string{"name": "back end"})
		key := tb.text("#new-key-value")
		if !regexp.MustCompile(`^mgk_[0-9a-f]{16}_[0-9a-f]{64}$`).MatchString(key) {
			t.Fatalf("new key %q", key)
		}
		tb.check("console-keys")
		tb.open("/console/keys")
		if strings.Contains(tb.mainText(), key) {
			t.Error("the key is shown a second time")
		}

		// Webhook endpoints: a bad URL is refused and kept; a good one gives its secret once.
		tb.open("/console/webhooks")
		tb.submit("form.stack", map[string]string{"url": "ftp://files.example/x", "description": "kept too"})
		tb.wantFieldError("url", "ftp://files.example/x")
		if got := tb.value("#f-description"); got != "kept too" {
			t.Errorf("description not kept: %q", got)
		}
		tb.check("console-webhooks-error")
		tb.submit("form.stack", map[string]string{"url": receiver.URL() + "/hooks", "description": "bank"})
		secret := tb.text(".secret code")
		if !strings.HasPrefix(secret, "whsec_") {
			t.Fatalf("webhook secret %q", secret)
		}
		receiver.SetSecrets(secret)
		tb.check("console-webhooks")

		// A verification arrives while the page is open: it reloads by itself.
		tb.open("/console/verifications")
		tb.check("console-verifications-empty")
		rp := client.New(e.srv.URL, client.WithAPIKey(key))
		s, err := rp.CreateSession(ctx, client.SessionRequest{Purpose: "identity"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := taro.answer(s.HolderURL, "basic4_updates"); err != nil {
			t.Fatal(err)
		}
		done, err := rp.Session(ctx, s.ID)
		if err != nil || done.Verification == nil {
			t.Fatalf("session %+v %v", done, err)
		}
		vid := done.Verification.ID
		tb.run(chromedp.WaitVisible(css(`a[href="/console/evidence?id=` + vid + `"]`)))
		if !strings.Contains(tb.mainText(), "accepted") {
			t.Error("the new verification is not shown accepted")
		}
		tb.check("console-verifications")

		// Its evidence, verified against the log's public key.
		e.publish()
		tb.clickAndWait(`a[href="/console/evidence?id=` + vid + `"]`)
		tb.run(chromedp.WaitVisible(css("#res-h")))
		if got := tb.text("#res-h"); !strings.Contains(got, "Verified") {
			t.Fatalf("evidence result %q", got)
		}
		if m := tb.mainText(); !strings.Contains(m, "山田　太郎") || !strings.Contains(m, vid) {
			t.Errorf("the evidence page does not show the disclosed facts of %s", vid)
		}
		tb.check("console-evidence")
		// Bad ids are refused next to the field and kept.
		tb.open("/console/evidence?id=v_nothex")
		tb.wantFieldError("id", "v_nothex")
		tb.open("/console/evidence?id=v_" + strings.Repeat("0", 32))
		tb.wantFieldError("id", "v_"+strings.Repeat("0", 32))

		// The webhook arrived; the endpoint's page lists its delivery.
		e.drain()
		if got := receiver.Since(0, platform.EventVerificationCompleted); len(got) != 1 {
			t.Fatalf("receiver got %d verification.completed", len(got))
		}
		tb.open("/console/webhooks")
		tb.clickAndWait(`a[href^="/console/webhooks/we_"]`)
		tb.run(chromedp.WaitVisible(css("table")))
		if m := tb.mainText(); !strings.Contains(m, "delivered") || !strings.Contains(m, platform.EventVerificationCompleted) {
			t.Errorf("deliveries page: %s", m)
		}
		tb.submit(`form[action$="/rotate"]`, map[string]string{"grace": "9999"})
		tb.wantFieldError("grace", "9999")
		tb.submit(`form[action$="/rotate"]`, map[string]string{"grace": "1"})
		if s := tb.text(".secret code"); !strings.HasPrefix(s, "whsec_") || s == secret {
			t.Errorf("rotated secret %q", s)
		} else {
			receiver.AddSecret(s)
		}
		tb.check("console-webhook")
		tb.clickAndWait(`form[action$="/redeliver"] input[name="event"] + button`)
		tb.run(chromedp.WaitVisible(css(".flash")))
		if f := tb.text(".flash"); !strings.Contains(f, "queued again") {
			t.Errorf("redelivery: %q", f)
		}
		e.drain()
		if got := receiver.Since(0, platform.EventVerificationCompleted); len(got) != 2 || got[0].ID != got[1].ID {
			t.Errorf("redelivered: %+v", got)
		}

		// An OpenID client: bad redirect URIs are refused and kept; the secret is shown once.
		tb.open("/console/oidc")
		tb.submit("form.stack", map[string]string{"name": "Bank app", "redirects": "not a uri"})
		tb.wantFieldError("redirects", "not a uri")
		if got := tb.value("#f-name"); got != "Bank app" {
			t.Errorf("client name not kept: %q", got)
		}
		tb.check("console-oidc-error")
		tb.submit("form.stack", map[string]string{"name": "Bank app", "redirects": "https://bank.example/callback"})
		if s := tb.text("#client-secret"); !strings.HasPrefix(s, "mgs_") {
			t.Errorf("client secret %q", s)
		}
		if cs, _ := e.oidc.Clients(ctx, e.tenant.ID); len(cs) != 1 || cs[0].Name != "Bank app" || cs[0].Redirects[0] != "https://bank.example/callback" {
			t.Errorf("clients after registering one: %+v", cs)
		}
		tb.check("console-oidc")

		tb.open("/console/usage")
		tb.run(chromedp.WaitVisible(css("svg.chart rect")))
		tb.check("console-usage")

		// Revoke the key: the API refuses it at once.
		tb.open("/console/keys")
		tb.clickAndWait(`form[action$="/revoke"] button`)
		tb.run(chromedp.WaitVisible(css(".flash")))
		if _, err := rp.CreateSession(ctx, client.SessionRequest{Purpose: "login"}); err == nil {
			t.Error("a revoked key still works")
		}
	})

	// The console's sign-in with one's own card: link it from the overview, then sign in with
	// it, the provider's pages answered by the virtual card as the phone would.
	t.Run("console-card", func(t *testing.T) {
		tb := newTab(t, e)
		viaCard := func(start string) {
			tb.clickAndWait(start)
			tb.run(chromedp.WaitVisible(css("p.url code")))
			if _, err := taro.answer(tb.text("p.url code")); err != nil {
				t.Fatal(err)
			}
			tb.run(chromedp.WaitVisible(css(`button[value="allow"]`)))
			tb.clickAndWait(`button[value="allow"]`)
		}
		tb.login(staffEmail, staffPW)
		viaCard(`form[action="/console/card/link"] button`)
		if m := tb.mainText(); !strings.Contains(m, "linked to a My Number Card") {
			t.Fatalf("after linking:\n%s", m)
		}
		tb.clickAndWait(`form[action="/console/logout"] button`)
		tb.open("/console/login")
		viaCard(`form[action="/console/card/login"] button`)
		if h := tb.text("h1"); h != "Overview" || !strings.Contains(tb.text("header"), staffEmail) {
			t.Fatalf("after signing in with the card: %q", h)
		}
	})

	t.Run("holder", func(t *testing.T) {
		tb := newTab(t, e)
		tb.open("/holder")
		tb.check("holder-signin")
		tb.clickAndWait(`form[action="/holder/signin"] button`)
		tb.run(chromedp.WaitVisible(css("#holder-url")))
		holderURL := tb.attr("#holder-url", "href")
		if !strings.Contains(tb.text("#reader-cmd"), holderURL) {
			t.Error("the page does not give the reader command with the holder URL")
		}
		if !get(tb, chromedp.Evaluate[bool](`(() => { const i = document.querySelector(".qr img"); return i.complete && i.naturalWidth > 0 })()`)) {
			t.Error("the QR code does not show")
		}
		tb.check("holder-wait")
		if _, err := taro.answer(holderURL); err != nil {
			t.Fatal(err)
		}
		// The page moves on by itself (server-sent events).
		tb.run(chromedp.WaitVisible(css("section.company")))
		m := tb.mainText()
		for _, want := range []string{"Example Bank", "name, date of birth, sex, address", "in force"} {
			if !strings.Contains(m, want) {
				t.Errorf("holder page lacks %q:\n%s", want, m)
			}
		}
		if strings.Contains(m, platform.PortalTenantName) {
			t.Error("the portal itself is listed as a company")
		}
		tb.check("holder-companies")
		tb.clickAndWait(`form[action="/holder/consents/revoke"] button`)
		tb.run(chromedp.WaitVisible(css(".flash")))
		if f := tb.text(".flash"); !strings.Contains(f, "withdrawn") || !strings.Contains(tb.mainText(), "withdrawn") {
			t.Errorf("after revoking: %q", f)
		}
		// A move now: the bank hears of the revoked certificate, but gets no new facts.
		seen := len(receiver.Messages())
		e.move(taro, "大阪府大阪市北区梅田１丁目１番")
		e.drain()
		got := receiver.Since(seen)
		var types []string
		for _, m := range got {
			types = append(types, m.Type)
		}
		if !slices.Contains(types, platform.EventCertificateRevoked) || slices.Contains(types, platform.EventBasic4Updated) {
			t.Errorf("after the move the bank got %v; want certificate.revoked and no person.basic4_updated", types)
		}
		tb.clickAndWait(`header form[action="/holder/logout"] button`)
		tb.run(chromedp.WaitVisible(css(`form[action="/holder/signin"]`)))
	})

	t.Run("operator", func(t *testing.T) {
		tb := newTab(t, e)
		tb.login(opEmail, opPW)
		if h := tb.text("h1"); h != "Tenants" {
			t.Fatalf("operator lands on %q", h)
		}
		tb.submit("form.stack", map[string]string{"name": ""})
		tb.wantFieldError("name", "")
		before, _ := e.plat.Tenants(ctx)
		tb.run(chromedp.Click(css("#fact-birthdate")))
		tb.submit("form.stack", map[string]string{"name": "Example Tickets"})
		after, _ := e.plat.Tenants(ctx)
		if len(after) != len(before)+1 || after[len(after)-1].Name != "Example Tickets" || !slices.Equal(after[len(after)-1].Facts, []platform.Fact{platform.FactBirth}) {
			t.Errorf("tenants after creating one: %+v", after)
		}
		tb.check("operator-tenants")
		// The operator widens the new tenant's allowance on its own page.
		created := after[len(after)-1]
		tb.open("/operator/tenants/" + created.ID)
		tb.check("operator-tenant")
		tb.run(chromedp.Click(css("#fact-name")))
		tb.submit("form.stack", nil)
		if got, _ := e.plat.Tenant(ctx, created.ID); len(got.Facts) != 2 || !slices.Contains(got.Facts, platform.FactName) || !slices.Contains(got.Facts, platform.FactBirth) || got.FactsWidenedAt.IsZero() {
			t.Errorf("after the operator widened: %+v", got)
		}
		tb.open("/operator/health")
		m := tb.mainText()
		if !strings.Contains(m, "fresh") || !strings.Contains(m, "sign") {
			t.Errorf("health page: %s", m)
		}
		if tb.text("#log-size") == "0" {
			t.Error("the evidence log size is 0 after verifications")
		}
		tb.check("operator-health")
		// Staff cannot open the operator's pages.
		tb2 := newTab(t, e)
		tb2.login(staffEmail, staffPW)
		tb2.open("/operator")
		if h := tb2.text("h1"); h == "Tenants" {
			t.Error("staff reached the operator's pages")
		}
		tb2.check("error-page")
	})

	t.Run("csrf-and-csp", func(t *testing.T) {
		tb := newTab(t, e)
		tb.login(staffEmail, staffPW)
		keys := func() int {
			ks, err := e.plat.APIKeys(ctx, e.tenant.ID)
			if err != nil {
				t.Fatal(err)
			}
			return len(ks)
		}
		n := keys()
		evil := crossSite(t, e.srv.URL+"/console/keys", map[string]string{"name": "planted"})
		tb.run(chromedp.Navigate(evil), chromedp.WaitVisible(css("body > footer")))
		if h := tb.text("h1"); h != "Request refused" {
			t.Errorf("cross-site POST answered with %q", h)
		}
		if keys() != n {
			t.Error("a cross-site POST created a key")
		}
		// An inline script added to a page does not run, and the browser reports the violation.
		tb.open("/console/keys")
		ran := get(tb, chromedp.Evaluate[bool](`document.addEventListener("securitypolicyviolation", e => { window.__csp = e.violatedDirective });
			const s = document.createElement("script"); s.textContent = "window.__inline = true"; document.body.appendChild(s);
			window.__inline === true`))
		if ran {
			t.Error("an inline script ran")
		}
		var directive string
		for i := 0; i < 50 && directive == ""; i++ {
			directive = get(tb, chromedp.Evaluate[string](`window.__csp || ""`))
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.HasPrefix(directive, "script-src") {
			t.Errorf("no CSP violation reported for the inline script (got %q)", directive)
		}
	})

	t.Run("every page checked", func(t *testing.T) {
		for _, name := range []string{"landing", "landing-ja", "console-login", "console-login-error", "console-overview", "console-keys",
			"console-webhooks", "console-webhooks-error", "console-webhook", "console-verifications", "console-verifications-empty",
			"console-evidence", "console-usage", "console-oidc", "console-oidc-error", "holder-signin", "holder-wait", "holder-companies", "operator-tenants",
			"operator-tenant", "operator-health", "error-page"} {
			if _, ok := checkedPages.Load(name); !ok {
				t.Errorf("page %s was not checked for accessibility", name)
			}
		}
	})
}
