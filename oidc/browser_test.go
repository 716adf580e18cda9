package oidc_test

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mynagate/mynagate/internal/browsertest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/oidc"
)

// screenshots: go test ./oidc -run TestBrowserLogin -screenshots refreshes docs/screenshots/oidc-*.png,
// the repository's one place for screenshots.
var screenshots = flag.Bool("screenshots", false, "also write the screenshots to docs/screenshots")

// TestBrowserLogin drives Debian's chromium through the demo relying party: click "Log in with
// My Number Card", the QR page, the virtual card answering in the background as the phone
// would, the page moving on by itself (server-sent events), consent, and the relying party's
// page with the verified claims. Screenshots go to the test's artifact directory (kept with
// go test -artifacts), and to docs/screenshots with -screenshots (as in web/pages).
func TestBrowserLogin(t *testing.T) {
	browsertest.Chromium(t)
	if testing.Short() {
		t.Skip("starts a browser")
	}
	e := newEnv(t)
	card := testkit.CardFile(t, e.sim, testkit.Taro())
	rps := e.demoRP(t)

	bctx := browsertest.Start(t, 90*time.Second, chromedp.WindowSize(900, 1000), chromedp.Flag("lang", "en"))
	artifacts := browsertest.Artifacts(t)
	dirs := []string{artifacts}
	if *screenshots {
		dirs = append(dirs, filepath.Join("..", "docs", "screenshots"))
	}
	shot := func(name string) chromedp.Action[chromedp.Void] { return browsertest.Screenshot(name, dirs...) }
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
