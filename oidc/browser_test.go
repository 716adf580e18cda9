package oidc_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/oidc"
	"github.com/mynagate/mynagate/rpdemo"
)

// chromium returns the browser's path; without it the test skips, and under CI=true fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is missing (CI=true): .ci/run installs Debian's chromium")
	}
	t.Skip("chromium is not installed")
	return ""
}

// TestBrowserLogin drives Debian's chromium through the demo relying party: click "Log in with
// My Number Card", the QR page, the virtual card answering in the background as the phone
// would, the page moving on by itself (server-sent events), consent, and the relying party's
// page with the verified claims. Screenshots are kept as test artifacts (and in docs/images
// with MYNAGATE_SCREENSHOTS=1).
func TestBrowserLogin(t *testing.T) {
	exe := chromium(t)
	if testing.Short() {
		t.Skip("starts a browser")
	}
	e := newEnv(t)
	card := testkit.CardFile(t, e.sim, testkit.Taro())
	var h http.Handler
	rps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer rps.Close()
	c, secret, err := e.prov.CreateClient(ctx, e.bank.ID, oidc.ClientRequest{Name: "Demo Bank", RedirectURIs: []string{rps.URL + "/callback"}, LogoutURIs: []string{rps.URL + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	app, err := rpdemo.New(ctx, rpdemo.Config{Issuer: e.issuer, ClientID: c.ID, ClientSecret: secret, BaseURL: rps.URL})
	if err != nil {
		t.Fatal(err)
	}
	h = app.Handler()

	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(900, 1000), chromedp.Flag("lang", "en")}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	bctx, cancelT := context.WithTimeout(bctx, 90*time.Second)
	defer cancelT()

	artifacts := t.TempDir()
	docs := os.Getenv("MYNAGATE_SCREENSHOTS") == "1"
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return chromedp.Void{}, err
			}
			os.WriteFile(filepath.Join(artifacts, name), png, 0o644)
			if docs {
				return chromedp.Void{}, os.WriteFile(filepath.Join("..", "docs", "images", name), png, 0o644)
			}
			return chromedp.Void{}, nil
		}
	}
	if err := chromedp.Do(bctx,
		chromedp.Navigate(rps.URL+"/?lang=en"),
		chromedp.Click("#login"),
		chromedp.WaitVisible(`img[alt="QR code to scan with the app"]`),
		shot("oidc-qr-login.png"),
	); err != nil {
		t.Fatalf("to the QR page: %v", err)
	}
	holder, err := chromedp.Run(bctx, chromedp.Text(`p.url code`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", artifacts)
	// The phone: the reader code with the virtual card, in the background; the provider's
	// clock ticks so that the page's event stream looks again.
	answered := make(chan error, 1)
	go func() { answered <- e.holder(card, strings.TrimSpace(holder)) }()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				e.oclk.Advance(time.Second)
			}
		}
	}()
	if err := <-answered; err != nil {
		t.Fatalf("the holder's answer: %v", err)
	}
	if err := chromedp.Do(bctx,
		chromedp.WaitVisible(`button[value="allow"]`), // the page moved on by itself
		shot("oidc-consent.png"),
		chromedp.Click(`button[value="allow"]`),
		chromedp.WaitVisible(`dl.claims`),
		shot("oidc-rp-claims.png"),
	); err != nil {
		t.Fatalf("consent and back to the relying party: %v", err)
	}
	claims, err := chromedp.Run(bctx, chromedp.Text(`dl.claims`))
	if err != nil {
		t.Fatal(err)
	}
	taro := testkit.Taro()
	for _, want := range []string{taro.Name, taro.Address, taro.Birth.String(), oidc.ACRIdentity} {
		if !strings.Contains(claims, want) {
			t.Errorf("the relying party shows %q, without %q", claims, want)
		}
	}
}
