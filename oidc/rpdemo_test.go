package oidc_test

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/oidc"
	"github.com/mynagate/mynagate/rpdemo"
)

// demoRP serves the demo relying party, registered with the provider as a client of the bank.
func (e *env) demoRP(t *testing.T) *httptest.Server {
	t.Helper()
	var h http.Handler
	rps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(rps.Close)
	c, secret, err := e.prov.CreateClient(ctx, e.bank.ID, oidc.ClientRequest{Name: "Demo Bank", RedirectURIs: []string{rps.URL + "/callback"}, LogoutURIs: []string{rps.URL + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	signCA, err := e.sim.CACertificate("sign")
	if err != nil {
		t.Fatal(err)
	}
	app, err := rpdemo.New(ctx, rpdemo.Config{Issuer: e.issuer, ClientID: c.ID, ClientSecret: secret, BaseURL: rps.URL, SignCAs: []*x509.Certificate{signCA}})
	if err != nil {
		t.Fatal(err)
	}
	h = app.Handler()
	return rps
}

// TestRPDemo logs in to the demo relying party (go-oidc + x/oauth2 only) through the provider:
// the button, the QR page, the card step by the reader code, consent, and the RP's page with
// the verified claims; then its logout.
func TestRPDemo(t *testing.T) {
	e := newEnv(t)
	card := testkit.CardFile(t, e.sim, testkit.Taro())
	rps := e.demoRP(t)
	b := e.browser()
	status, _, page := b.get(rps.URL + "/?lang=en")
	if status != 200 || !strings.Contains(page, "Log in with My Number Card") {
		t.Fatalf("RP home: %d\n%s", status, page)
	}
	status, _, page = b.get(rps.URL + "/login")
	if status != 200 || !strings.Contains(page, "login/qr.png") {
		t.Fatalf("login page: %d\n%s", status, page)
	}
	if err := e.holder(card, holderURL(t, page)); err != nil {
		t.Fatal(err)
	}
	_, _, page = b.get(e.loginURL(page))
	status, _, page = b.consent(page, "allow")
	taro := testkit.Taro()
	for _, want := range []string{taro.Name, taro.Address, taro.Birth.String(), oidc.ACRIdentity, "hwk pin sc"} {
		if !strings.Contains(page, want) {
			t.Errorf("the RP's page lacks %q (status %d)", want, status)
		}
	}
	if t.Failed() {
		t.Fatalf("page:\n%s", page)
	}
	// Logout: the RP forgets the claims and the provider's logout brings the browser back.
	resp, err := b.hc.PostForm(rps.URL+"/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without the CSRF token: %d, want 403", resp.StatusCode)
	}
	m := inputRE.FindStringSubmatch(page)
	if m == nil || m[1] != "csrf" {
		t.Fatalf("no logout form on the RP's page")
	}
	status, _, page = b.post(rps.URL+"/logout", url.Values{"csrf": {html.UnescapeString(m[2])}})
	if status != 200 || strings.Contains(page, taro.Name) || !strings.Contains(page, `id="login"`) {
		t.Errorf("after logout: %d\n%s", status, page)
	}
}

// TestRPDemoSignedDocument: the demo relying party's signed-document example asks for the sign
// scope over its sample contract in a request object (go-jose), the holder signs with the card,
// and the RP's page shows the contract, its hash, the CMS, and that openssl verifies it with the
// J-LIS signing CA.
func TestRPDemoSignedDocument(t *testing.T) {
	testkit.OpenSSL(t)
	e := newEnv(t)
	card := testkit.CardFile(t, e.sim, testkit.Taro())
	rps := e.demoRP(t)
	b := e.browser()
	status, _, page := b.get(rps.URL + "/?lang=en")
	if status != 200 || !strings.Contains(page, `href="/sign"`) {
		t.Fatalf("RP home has no signed-document example: %d\n%s", status, page)
	}
	status, _, page = b.get(rps.URL + "/sign")
	sum := sha256.Sum256([]byte(rpdemo.Contract))
	if status != 200 || !strings.Contains(page, hex.EncodeToString(sum[:])) {
		t.Fatalf("the login page does not show the contract's hash: %d\n%s", status, page)
	}
	if err := e.holder(card, holderURL(t, page)); err != nil {
		t.Fatal(err)
	}
	_, _, page = b.get(e.loginURL(page))
	status, _, page = b.consent(page, "allow")
	for _, want := range []string{"Signed document", hex.EncodeToString(sum[:]), "-----BEGIN CMS-----",
		"the signature verifies (trust anchor: the J-LIS signing CA)", "Verification successful", testkit.Taro().Name} {
		if !strings.Contains(page, want) {
			t.Errorf("the RP's page lacks %q (status %d)", want, status)
		}
	}
	if t.Failed() {
		t.Fatalf("page:\n%s", page)
	}
}
