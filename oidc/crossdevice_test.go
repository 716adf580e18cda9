package oidc_test

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/skip2/go-qrcode"
	"golang.org/x/oauth2"
)

// TestCrossDeviceLoginAndLogout is the PC-and-phone login: the page shows which service asks
// and for what, a QR code of the holder URL (served only to the browser that opened the
// login) and the URL's text; the holder's app — the reader code, with a virtual card —
// completes the session; the page's event stream says "done" by itself; consent; tokens; then
// RP-initiated logout revokes them.
func TestCrossDeviceLoginAndLogout(t *testing.T) {
	e := newEnv(t)
	card := testkit.CardFile(t, e.sim, testkit.Taro())
	c := e.client(e.bank, true, "birthdate", "offline_access")
	v, state, nonce := oauth2.GenerateVerifier(), random(), random()
	b := e.browser()
	resp, err := b.hc.Get(c.cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(v), gooidc.Nonce(nonce), oauth2.SetAuthURLParam("ui_locales", "en")))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("login page %d, CSP %q", resp.StatusCode, csp)
	}
	for _, want := range []string{"Example Bank web", "Date of birth", "User identifier", `<noscript><meta http-equiv="refresh"`, "mynagate://verify?url=", "never enter your PIN"} {
		if !strings.Contains(page, want) {
			t.Errorf("the login page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "style=") || strings.Contains(strings.ToLower(page), `type="password"`) {
		t.Error("the login page has inline script or style, or a password field")
	}
	hu := holderURL(t, page)
	loginURL := e.loginURL(page)
	id := loginURL[strings.Index(loginURL, "id=")+3:]

	qr, err := b.hc.Get(e.issuer + "/login/qr.png?id=" + id)
	if err != nil {
		t.Fatal(err)
	}
	png, _ := io.ReadAll(qr.Body)
	qr.Body.Close()
	want, _ := qrcode.Encode(hu, qrcode.Medium, 320)
	if qr.StatusCode != 200 || qr.Header.Get("Content-Type") != "image/png" || !bytes.Equal(png, want) {
		t.Fatalf("QR code: %d %s, %d bytes; want the PNG of %s", qr.StatusCode, qr.Header.Get("Content-Type"), len(png), hu)
	}
	other := e.browser()
	if status, _, _ := other.get(e.issuer + "/login/qr.png?id=" + id); status != http.StatusForbidden {
		t.Errorf("another browser gets the QR code: %d", status)
	}
	if status, _, _ := other.get(loginURL); status != http.StatusForbidden {
		t.Errorf("another browser gets the login page: %d", status)
	}

	// The page's live update: the stream says "done" once the phone has answered.
	ev, err := b.hc.Get(e.issuer + "/login/events?id=" + id)
	if err != nil || ev.StatusCode != 200 || !strings.HasPrefix(ev.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("event stream: %v %v", err, ev)
	}
	defer ev.Body.Close()
	events := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(ev.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "event: ") {
				events <- strings.TrimPrefix(sc.Text(), "event: ")
			}
		}
		close(events)
	}()
	select {
	case got := <-events:
		t.Fatalf("event %q before the holder answered", got)
	case <-time.After(200 * time.Millisecond):
	}
	if err := e.holder(card, hu); err != nil {
		t.Fatal(err)
	}
	done := false
	for i := 0; i < 50 && !done; i++ {
		e.oclk.Advance(time.Second)
		select {
		case got := <-events:
			if got != "go" {
				t.Fatalf("event %q, want go", got)
			}
			done = true
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !done {
		t.Fatal("the event stream never said go")
	}

	status, _, page := b.get(loginURL)
	if status != 200 || !strings.Contains(page, testkit.Taro().Birth.String()) || strings.Contains(page, testkit.Taro().Name) {
		t.Fatalf("the consent page must show the birth date and nothing more: %d\n%s", status, page)
	}
	if st, _, _ := other.consent(page, "allow"); st != http.StatusForbidden {
		t.Errorf("another browser answers the consent: %d", st)
	}
	_, loc, _ := b.consent(page, "allow")
	u, _ := url.Parse(loc)
	if u.Query().Get("state") != state {
		t.Fatalf("redirect %s", loc)
	}
	tok, err := c.cfg.Exchange(ctx, u.Query().Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if _, err := c.verifier.Verify(ctx, raw); err != nil {
		t.Fatal(err)
	}

	// RP-initiated logout with the ID token as hint: back to the registered URI, tokens gone.
	var endSession struct {
		EndSession string `json:"end_session_endpoint"`
	}
	e.discover.Claims(&endSession)
	q := url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {"http://127.0.0.1:9/bye"}, "state": {"s1"}}
	_, loc, _ = e.browser().get(endSession.EndSession + "?" + q.Encode())
	if !strings.HasPrefix(loc, "http://127.0.0.1:9/bye") {
		t.Fatalf("logout redirect %q", loc)
	}
	if _, err := e.discover.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("the access token works after logout")
	}
	_, err = c.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	expectOAuth(t, err, "invalid_grant")
	q.Set("post_logout_redirect_uri", "https://evil.example/")
	if _, loc, _ := e.browser().get(endSession.EndSession + "?" + q.Encode()); strings.HasPrefix(loc, "https://evil.example") {
		t.Error("logout redirects to an unregistered URI")
	}
}
