package pages

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mynagate/mynagate/internal/browsertest"
)

// TestBrowserBuyTicket drives Debian's chromium through the buyer's pages: create an account,
// verify for an over-20 event (the stand-in platform answers as the card would), buy two
// tickets, and see them with their holder's name, seat and the entry code's QR image (which
// must load: the CSP and the session cookie let it through). Screenshots are test artifacts.
func TestBrowserBuyTicket(t *testing.T) {
	browsertest.Chromium(t)
	if testing.Short() {
		t.Skip("starts a browser")
	}
	_, plat, srv, _, ev := newShop(t)

	bctx := browsertest.Start(t, 90*time.Second, chromedp.WindowSize(900, 1200), chromedp.Flag("lang", "en"))
	artifacts := browsertest.Artifacts(t)
	shot := func(name string) chromedp.Action[chromedp.Void] { return browsertest.Screenshot(name, artifacts) }
	t.Logf("screenshots in %s", artifacts)

	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/signup?lang=en"),
		chromedp.SendKeys("#f-name", "Taro"),
		chromedp.SendKeys("#f-email", "taro@example.jp"),
		chromedp.SendKeys("#f-password", "correct horse"),
		chromedp.Click(`main form button[type="submit"]`),
		chromedp.WaitVisible(`//h1[text()="My tickets"]`),
		chromedp.Navigate(srv.URL+"/events/"+ev.ID),
		chromedp.Click(`form[action$="/verify"] button`),
		chromedp.WaitVisible(`pre code`),
		shot("ticket-verify.png"),
	); err != nil {
		t.Fatalf("sign up and start verifying: %v", err)
	}
	line, err := chromedp.Run(bctx, chromedp.Text(`pre code`))
	if err != nil {
		t.Fatal(err)
	}
	holderURL := strings.Trim(strings.TrimPrefix(strings.TrimSpace(line), "mynagate reader verify "), "'")
	if err := plat.Answer(holderURL, "sub-taro", map[string]string{"name": "山田　太郎", "birthdate": "1985-04-02", "address": "東京都千代田区"}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx,
		chromedp.Click(`form[action$="/complete"] button`),
		chromedp.WaitVisible(`p.flash`),
	); err != nil {
		t.Fatalf("complete the verification: %v", err)
	}
	if msg, _ := chromedp.Run(bctx, chromedp.Text(`p.flash`)); !strings.Contains(msg, "Verified: 山田　太郎") {
		t.Fatalf("after the verification: %q", msg)
	}
	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/events/"+ev.ID),
		chromedp.SetValue(`#quantity`, "2"),
		chromedp.Click(`form[action$="/purchase"] button`),
		chromedp.WaitVisible(`img.qr`),
		shot("ticket-mine.png"),
	); err != nil {
		t.Fatalf("buy: %v", err)
	}
	body, err := chromedp.Run(bctx, chromedp.Text(`main`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Sake Night", "GA-1", "GA-2", "山田　太郎", "Shibuya", "2026-03-02", "Resale without the organiser's consent"} {
		if !strings.Contains(body, want) {
			t.Errorf("my tickets page lacks %q", want)
		}
	}
	loaded, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`Array.from(document.querySelectorAll("img.qr")).every(i => i.complete && i.naturalWidth > 0)`))
	if err != nil {
		t.Fatal(err)
	}
	if !loaded {
		t.Fatal("the QR images did not load")
	}
}
