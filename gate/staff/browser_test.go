package staff_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/gate/kiosk"
	"github.com/mynagate/mynagate/gate/staff"
	"github.com/mynagate/mynagate/internal/browsertest"
	"github.com/mynagate/mynagate/internal/gatetest"
	"github.com/mynagate/mynagate/internal/testkit"
)

var screenshots = flag.Bool("screenshots", false, "write a screenshot of the staff page to docs/screenshots/")

// tablet is a headless chromium tab with the few actions the staff tests need.
type tablet struct {
	t   *testing.T
	ctx context.Context
	axe string
}

func newTablet(t *testing.T) *tablet {
	t.Helper()
	ctx := browsertest.Start(t, 2*time.Minute, chromedp.WindowSize(1024, 768), chromedp.Flag("lang", "ja"), chromedp.Flag("accept-lang", "ja"))
	axe, err := os.ReadFile(filepath.Join("..", "..", "web", "pages", "testdata", "axe", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	return &tablet{t: t, ctx: ctx, axe: string(axe)}
}

func (tb *tablet) run(a ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if _, err := chromedp.Run(tb.ctx, chromedp.Steps(a...)); err != nil {
		tb.t.Fatal(err)
	}
}

func (tb *tablet) text(sel string) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("%s: %v", sel, err)
	}
	return s
}

// check runs axe-core on the page and fails on serious or critical violations; with
// -screenshots it writes docs/screenshots/NAME.png.
func (tb *tablet) check(name string) {
	t := tb.t
	t.Helper()
	if _, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](tb.axe+";true")); err != nil {
		t.Fatal(err)
	}
	vs, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]string](`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
		.filter(v => v.impact === "serious" || v.impact === "critical")
		.map(v => v.impact + " " + v.id + ": " + v.help + " at " + v.nodes.map(n => n.target.join(" ")).join(", ")))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("accessibility of %s: %s", name, v)
	}
	if *screenshots {
		png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "screenshots", name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// signIn opens base and signs in with the token.
func (tb *tablet) signIn(base string) {
	tb.t.Helper()
	tb.run(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#f-token`)))
	tb.run(chromedp.SendKeys(chromedp.CSS(`#f-token`), token), chromedp.Click(chromedp.CSS(`form.stack button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.waiting`)))
}

// A tablet signs in with the lane token, then the page follows the taps by itself: a holder's
// tap shows ADMIT with the name, seat and photo and the counter at 1; a second tap of the same
// card shows REJECT already-entered in Japanese and English. Every page passes axe-core.
func TestBrowserStaffPage(t *testing.T) {
	l := newLane(t) // first, so that its server closes after the browser (whose stream it holds) is gone
	tb := newTablet(t)
	run, text, check := tb.run, tb.text, tb.check
	ctx := tb.ctx
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

// A shelter's kiosk page: headed 受付, a walk-in's tap appears as an arrival with the name and
// age band read from the card and where they came from, the live count says one present; the
// second tap is a departure and the count drops to none. axe-core clean.
func TestBrowserKioskPage(t *testing.T) {
	clk, cf, ca, crl := trust(t)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	k, err := kiosk.New(kiosk.Config{Roster: &kiosk.Roster{Format: kiosk.RosterFormat, Site: "shelter-1", Name: "第一小学校 避難所", Mode: kiosk.ModeOpen,
		CommitKey: bytes.Repeat([]byte{4}, 32)}, CACerts: [][]byte{ca}, CRLs: [][]byte{crl}, ID: "kiosk-1", Key: key, Clock: clk, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	board := staff.NewBoard(clk)
	s, err := staff.New(staff.Config{Board: board, Title: "第一小学校 避難所", Kiosk: true, Token: token, Counts: staff.KioskCounts(k), Clock: clk, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	base := newServer(t, s)
	tb := newTablet(t)
	tb.signIn(base)
	tap := func() kiosk.Result {
		ch, err := k.NewChallenge()
		if err != nil {
			t.Fatal(err)
		}
		tp, facts := gatetest.TapCardWithFacts(t, cf, ch, false)
		r := k.Tap(tp, facts)
		board.Publish(staff.FromKiosk(r))
		return r
	}
	if r := tap(); !r.Admit || r.Record.Kind != kiosk.Arrive {
		t.Fatalf("first tap: %+v", r)
	}
	tb.run(chromedp.WaitVisible(chromedp.CSS(`section.verdict.admit`)))
	if got := tb.text("h1"); !strings.Contains(got, "受付") {
		t.Errorf("heading %q", got)
	}
	if got := tb.text(".verdict"); !strings.Contains(got, "到着を記録しました") || !strings.Contains(got, "Arrival recorded") ||
		!strings.Contains(got, testkit.Taro().Name) || !strings.Contains(got, "18-64") || !strings.Contains(got, "券面事項入力補助AP") {
		t.Errorf("arrival shows %q", got)
	}
	if got := tb.text("ul.counts li:first-child"); !strings.HasPrefix(got, "1") {
		t.Errorf("present count %q, want 1", got)
	}
	tb.check("kiosk-arrival")
	if r := tap(); r.Record == nil || r.Record.Kind != kiosk.Leave {
		t.Fatalf("second tap: %+v", r)
	}
	tb.run(chromedp.WaitVisible(chromedp.CSS(`section.verdict.admit`)))
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(tb.text(".verdict"), "退出を記録しました") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := tb.text(".verdict"); !strings.Contains(got, "退出を記録しました") {
		t.Errorf("departure shows %q", got)
	}
	if got := tb.text("ul.counts li:first-child"); !strings.HasPrefix(got, "0") {
		t.Errorf("present count %q, want 0", got)
	}
}
