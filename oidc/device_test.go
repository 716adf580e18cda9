package oidc_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/oidc"
	"golang.org/x/oauth2"
)

// poll asks the token endpoint once for a device code's tokens and returns the OAuth error
// code ("" on success) and the body.
func (e *env) poll(t *testing.T, c *rp, deviceCode string) (string, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(c.cfg.Endpoint.TokenURL, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {deviceCode}, "client_id": {c.id}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	code, _ := out["error"].(string)
	return code, out
}

// TestDeviceGrant runs RFC 8628 as a TV would with golang.org/x/oauth2: the device shows the
// user code, the holder opens the verification URI on a phone, verifies with the card and
// consents; the device's polls get authorization_pending, slow_down when too fast, and then
// the tokens. A second device authorization expires unanswered.
func TestDeviceGrant(t *testing.T) {
	e := newEnv(t)
	card := testkit.CardFile(t, e.sim, testkit.Taro())
	tv := e.client(e.bank, true, "name")
	da, err := tv.cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("device authorization: %v", err)
	}
	if da.UserCode == "" || !strings.HasPrefix(da.VerificationURI, e.issuer+"/device") || !strings.Contains(da.VerificationURIComplete, "user_code=") {
		t.Fatalf("device authorization %+v", da)
	}
	if code, _ := e.poll(t, tv, da.DeviceCode); code != "authorization_pending" {
		t.Fatalf("first poll: %s, want authorization_pending", code)
	}
	if code, _ := e.poll(t, tv, da.DeviceCode); code != "slow_down" {
		t.Fatalf("immediate second poll: %s, want slow_down", code)
	}
	e.oclk.Advance(6 * time.Second)
	if code, _ := e.poll(t, tv, da.DeviceCode); code != "authorization_pending" {
		t.Fatalf("poll after the interval: %s, want authorization_pending", code)
	}

	// The holder, on a phone: the code typed by hand (lower case, without the dash).
	b := e.browser()
	typed := strings.ToLower(strings.ReplaceAll(da.UserCode, "-", ""))
	status, _, page := b.get(e.issuer + "/device?user_code=" + typed)
	if status != http.StatusOK || !strings.Contains(page, "Example Bank web") || !strings.Contains(page, "login/qr.png") {
		t.Fatalf("device login page: %d\n%s", status, page)
	}
	if status, _, _ := e.browser().get(e.issuer + "/device?user_code=BBBB-BBBB"); status != http.StatusBadRequest {
		t.Errorf("a wrong user code: %d, want 400", status)
	}
	if err := e.holder(card, holderURL(t, page)); err != nil {
		t.Fatal(err)
	}
	_, _, page = b.get(e.loginURL(page))
	status, _, page = b.consent(page, "allow")
	if status != http.StatusOK || !strings.Contains(page, "deviceDone") && !strings.Contains(page, "画面に戻って") {
		t.Fatalf("after consent: %d\n%s", status, page)
	}
	e.oclk.Advance(6 * time.Second)
	code, body := e.poll(t, tv, da.DeviceCode)
	if code != "" {
		t.Fatalf("poll after consent: %s %v", code, body)
	}
	raw, _ := body["id_token"].(string)
	idt, err := tv.verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	var cl idClaims
	idt.Claims(&cl)
	if cl.ACR != oidc.ACRIdentity || len(cl.AMR) != 3 {
		t.Errorf("device ID token acr %q amr %v", cl.ACR, cl.AMR)
	}
	ui, err := e.discover.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: body["access_token"].(string), TokenType: "Bearer"}))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var facts struct{ Name string }
	ui.Claims(&facts)
	if facts.Name != testkit.Taro().Name || ui.Subject != idt.Subject {
		t.Errorf("userinfo %s %+v", ui.Subject, facts)
	}
	e.oclk.Advance(6 * time.Second)
	if code, _ := e.poll(t, tv, da.DeviceCode); code == "" {
		t.Error("the device code gave tokens twice")
	}

	// A device authorization nobody answers expires.
	da2, err := tv.cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.oclk.Advance(11 * time.Minute)
	if code, _ := e.poll(t, tv, da2.DeviceCode); code != "expired_token" {
		t.Errorf("poll after expiry: %s, want expired_token", code)
	}
	if status, _, _ := e.browser().get(e.issuer + "/device?user_code=" + da2.UserCode); status != http.StatusBadRequest {
		t.Errorf("an expired user code: %d, want 400", status)
	}

	// A device may not ask beyond the tenant's allowance.
	tix := e.client(e.tickets, true, "name")
	if _, err := tix.cfg.DeviceAuth(ctx); err == nil || !strings.Contains(err.Error(), "invalid_scope") {
		t.Errorf("device authorization beyond the allowance: %v, want invalid_scope", err)
	}
}
