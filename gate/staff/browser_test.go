package staff_test

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/internal/browsertest"
)

var screenshots = flag.Bool("screenshots", false, "write a screenshot of the staff page to docs/screenshots/")

// A tablet signs in with the lane token, then the page follows the taps by itself: a holder's
// tap shows ADMIT with the name, seat and photo and the counter at 1; a second tap of the same
// card shows REJECT already-entered in Japanese and English. Every page passes axe-core.
func TestBrowserStaffPage(t *testing.T) {
	l := newLane(t) // first, so that its server closes after the browser (whose stream it holds) is gone
	ctx := browsertest.Start(t, 2*time.Minute, chromedp.WindowSize(1024, 768), chromedp.Flag("lang", "ja"), chromedp.Flag("accept-lang", "ja"))
	axe, err := os.ReadFile(filepath.Join("..", "..", "web", "pages", "testdata", "axe", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(a ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c := ctx
		if _, err := chromedp.Run(c, chromedp.Steps(a...)); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		c := ctx
		s, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return s
	}
	check := func(name string) {
		t.Helper()
		c := ctx
		if _, err := chromedp.Run(c, chromedp.Evaluate[bool](string(axe)+";true")); err != nil {
			t.Fatal(err)
		}
		vs, err := chromedp.Run(c, chromedp.Evaluate[[]string](`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
			.filter(v => v.impact === "serious" || v.impact === "critical")
			.map(v => v.impact + " " + v.id + ": " + v.help + " at " + v.nodes.map(n => n.target.join(" ")).join(", ")))`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			t.Errorf("accessibility of %s: %s", name, v)
		}
		if *screenshots {
			png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("..", "..", "docs", "screenshots", name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Not signed in: the page sends the tablet to sign in.
	run(chromedp.Navigate(l.srv.URL + "/"))
	run(chromedp.WaitVisible(chromedp.CSS(`#f-token`)))
	check("gate-staff-signin")
	run(chromedp.SendKeys(chromedp.CSS(`#f-token`), "WRONG-TOKEN"), chromedp.Click(chromedp.CSS(`form.stack button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#f-token-err`)))
	run(chromedp.SendKeys(chromedp.CSS(`#f-token`), token), chromedp.Click(chromedp.CSS(`form.stack button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.waiting`)))

	// The first tap: the page moves to the decision by itself (server-sent events).
	if d := l.tap(t); !d.Admit {
		t.Fatalf("first tap: %s %s", d.Reason, d.Detail)
	}
	run(chromedp.WaitVisible(chromedp.CSS(`section.verdict.admit`)))
	if got := text(".verdict .word"); got != "ADMIT" {
		t.Errorf("verdict %q, want ADMIT", got)
	}
	if got := text(".verdict .name"); got != "山田　太郎" {
		t.Errorf("name %q", got)
	}
	if got := text(".verdict .seat"); got != "A-12" {
		t.Errorf("seat %q", got)
	}
	if got := text("ul.counts"); !strings.Contains(got, "1") {
		t.Errorf("counter %q, want 1 admitted", got)
	}
	// The photo: a PNG the browser decoded (with OpenJPEG installed), or the JPEG 2000 as is.
	c := ctx
	width, err := chromedp.Run(c, chromedp.Evaluate[int](`(() => { const i = document.querySelector("img.photo"); return i && i.complete ? i.naturalWidth : -1 })()`))
	if err != nil || width < 0 {
		t.Errorf("no face photo on the page (%v)", err)
	} else if _, err := exec.LookPath("opj_decompress"); err == nil && width != 96 {
		t.Errorf("the face photo is %d pixels wide, want the card's 96 decoded to PNG", width)
	} else if width == 0 {
		t.Logf("the face photo stayed JPEG 2000 (opj_decompress missing): the browser shows its alt text")
	}
	check("gate-staff-admit")

	// The second tap of the same card: REJECT, already entered, in both languages.
	if d := l.tap(t); d.Reason != gate.AlreadyEntered {
		t.Fatalf("second tap: %v %s", d.Admit, d.Reason)
	}
	run(chromedp.WaitVisible(chromedp.CSS(`section.verdict.reject`)))
	if got := text(".verdict .big"); !strings.Contains(got, "REJECT") || !strings.Contains(got, "入場済み") {
		t.Errorf("verdict %q, want REJECT 入場済み", got)
	}
	if got := text(".verdict .seat"); got != "A-12" {
		t.Errorf("seat on the refusal %q, want the ticket's", got)
	}
	if got := text(".verdict .reason-en"); got != "Already entered" {
		t.Errorf("English reason %q", got)
	}
	check("gate-staff-reject")
}
