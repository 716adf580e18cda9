package pages_test

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/mynagate/mynagate/internal/browsertest"
)

// The browser tests drive Debian's chromium through chromedp: one browser for the package, a
// fresh tab (and no cookies) per story. Without chromium they skip, except under CI=true, where
// they fail.

var screenshots = flag.Bool("screenshots", false, "write a screenshot of every page checked to docs/screenshots/")

//go:embed testdata/axe/axe.min.js
var axeSource string

var (
	browserOnce   sync.Once
	browserCtx    context.Context
	browserCancel func()
	browserErr    error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if browserCancel != nil {
		browserCancel()
	}
	os.Exit(code)
}

// browser returns the package's browser, starting it on first use.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := browsertest.Chromium(t)
	browserOnce.Do(func() {
		browserCtx, browserCancel, browserErr = browsertest.Launch(exe,
			chromedp.Flag("lang", "en-US"), chromedp.Flag("accept-lang", "en-US,en"), chromedp.WindowSize(1200, 900))
	})
	if browserErr != nil {
		t.Fatalf("start chromium: %v", browserErr)
	}
	return browserCtx
}

// tab is a browser tab for one story.
type tab struct {
	t   *testing.T
	ctx context.Context
	e   *env
	// checked names the pages already run through axe (and photographed).
	checked map[string]bool
}

func newTab(t *testing.T, e *env) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser(t))
	t.Cleanup(cancel)
	// The tab's first run has no timeout: a timeout there would close the tab with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	tb := &tab{t: t, ctx: ctx, e: e, checked: map[string]bool{}}
	tb.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
		return err
	}))
	return tb
}

// run runs actions with a time bound, failing the test on error.
func (tb *tab) run(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	get(tb, chromedp.Steps(actions...))
}

// get runs one action with a time bound and returns its value, failing the test on error.
func get[T any](tb *tab, a chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		loc, _ := chromedp.Run(tb.ctx, chromedp.Location())
		tb.t.Fatalf("browser at %s: %v", loc, err)
	}
	return v
}

// css is a CSS selector.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

func (tb *tab) open(path string) { tb.t.Helper(); tb.run(chromedp.Navigate(tb.e.srv.URL + path)) }

// text returns the text of the first element matching sel.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return get(tb, chromedp.Text(css(sel)))
}

func (tb *tab) value(sel string) string {
	tb.t.Helper()
	return get(tb, chromedp.Value(css(sel)))
}

// attr returns an attribute of the first element matching sel.
func (tb *tab) attr(sel, name string) string {
	tb.t.Helper()
	return get(tb, chromedp.AttributeValue(css(sel), name)).Value
}

// mainText is the text of <main>.
func (tb *tab) mainText() string { tb.t.Helper(); return tb.text("main") }

// submit types values into fields (by name) and clicks the form's submit button; the page that
// comes back is waited for.
func (tb *tab) submit(form string, values map[string]string) {
	tb.t.Helper()
	for name, v := range values {
		sel := form + ` [name="` + name + `"]`
		get(tb, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const el = document.querySelector(%q); el.value = ""; return true })()`, sel)))
		if v != "" {
			tb.run(chromedp.SendKeys(css(sel), v))
		}
	}
	tb.clickAndWait(form + ` button[type="submit"]`)
}

// clickAndWait clicks an element that leads to a new page and waits until that page has loaded.
func (tb *tab) clickAndWait(sel string) {
	tb.t.Helper()
	get(tb, chromedp.Evaluate[bool](`window.__old = true`))
	tb.run(chromedp.Click(css(sel)))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
		done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__old !== true && document.readyState === "complete" && !!document.querySelector("body > footer")`))
		cancel()
		if err == nil && done {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	loc, _ := chromedp.Run(tb.ctx, chromedp.Location())
	tb.t.Fatalf("clicking %s led to no new page (at %s)", sel, loc)
}

// wantFieldError asserts that a field shows a message next to it and kept what was typed.
func (tb *tab) wantFieldError(field, typed string) {
	tb.t.Helper()
	tb.run(chromedp.WaitVisible(css("#f-" + field + "-err")))
	if msg := tb.text("#f-" + field + "-err"); strings.TrimSpace(msg) == "" {
		tb.t.Errorf("field %s: empty message", field)
	}
	if invalid := tb.attr("#f-"+field, "aria-invalid"); invalid != "true" {
		tb.t.Errorf("field %s: aria-invalid=%q", field, invalid)
	}
	if typed != "" {
		if got := tb.value("#f-" + field); got != typed {
			tb.t.Errorf("field %s kept %q, want what was typed, %q", field, got, typed)
		}
	}
	if !strings.Contains(tb.text(".errsum"), tb.text("#f-"+field+"-err")) {
		tb.t.Errorf("field %s: the error summary does not repeat its message", field)
	}
}

// check runs axe-core on the page and fails on serious or critical violations; with
// -screenshots it also writes docs/screenshots/NAME.png.
func (tb *tab) check(name string) {
	tb.t.Helper()
	if tb.checked[name] {
		return
	}
	tb.checked[name] = true
	checkedPages.Store(name, true)
	if !get(tb, chromedp.Evaluate[bool](`typeof axe !== "undefined"`)) {
		get(tb, chromedp.Evaluate[bool](axeSource+";true"))
	}
	violations := get(tb, chromedp.Evaluate[[]string](`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
		.filter(v => v.impact === "serious" || v.impact === "critical")
		.map(v => v.impact + " " + v.id + ": " + v.help + " at " + v.nodes.map(n => n.target.join(" ")).join(", ")))`,
		chromedp.EvalAwaitPromise))
	for _, v := range violations {
		tb.t.Errorf("accessibility of %s: %s", name, v)
	}
	if *screenshots {
		png := get(tb, chromedp.FullScreenshot(100))
		dir := filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			tb.t.Fatal(err)
		}
	}
}

// checkedPages records every page run through axe, to assert that none was left out.
var checkedPages sync.Map

// login signs in to the console.
func (tb *tab) login(email, pw string) {
	tb.t.Helper()
	tb.open("/console/login")
	tb.submit("form.stack", map[string]string{"email": email, "password": pw})
}

// crossSite serves a page on another site (localhost instead of 127.0.0.1) that posts a form
// to the platform as soon as it loads.
func crossSite(t *testing.T, target string, fields map[string]string) string {
	var inputs strings.Builder
	for k, v := range fields {
		fmt.Fprintf(&inputs, `<input type="hidden" name="%s" value="%s">`, k, v)
	}
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><html><body><form id="f" method="post" action="%s">%s</form>
<script>document.getElementById("f").submit()</script></body></html>`, target, inputs.String())
	}))
	t.Cleanup(evil.Close)
	return strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)
}
