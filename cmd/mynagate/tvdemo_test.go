package main

import (
	"bytes"
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/oidc"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/web"
)

// tvWorld is J-LIS, the platform with the provider under /oidc on loopback, a bank's public
// client and Taro's virtual card. The provider runs on oclk and tv-demo polls on tvclk; the
// test moves both, so no poll waits on the wall clock.
type tvWorld struct {
	clk, oclk, tvclk *clockwork.FakeClock
	issuer, clientID string
	card             string
	polls            atomic.Int32 // requests to the token endpoint
}

func newTVWorld(t *testing.T) *tvWorld {
	t.Helper()
	ctx := context.Background()
	sim, clk, _ := testkit.Simulator(t)
	now := time.Now()
	w := &tvWorld{clk: clk, oclk: clockwork.NewFakeClockAt(now), tvclk: clockwork.NewFakeClockAt(now), card: testkit.CardFile(t, sim, testkit.Taro())}
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oidc/oauth/token" {
			w.polls.Add(1)
		}
		h.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	master := bytes.Repeat([]byte{7}, 32)
	p, st, _ := testkit.JLISPlatform(t, sim, clk, srv.URL, master)
	w.issuer = srv.URL + "/oidc"
	pr, err := oidc.New(p, st, oidc.Config{Issuer: w.issuer, Master: master, Clock: w.oclk, DeviceInterval: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h = web.New(p, web.WithRoutes(func(m *http.ServeMux) { m.Handle("/oidc/", pr.Handler()) }), web.WithTenantRoutes(pr.APIRoutes))
	bank, err := p.CreateTenant(ctx, "Example Bank", platform.AllFacts)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := pr.CreateClient(ctx, bank.ID, oidc.ClientRequest{Name: "Living room TV", Public: true, RedirectURIs: []string{"http://127.0.0.1:9/callback"}})
	if err != nil {
		t.Fatal(err)
	}
	w.clientID = c.ID
	return w
}

var userCodeRE = regexp.MustCompile(`(?m)^      ([A-Z]{4}-[A-Z]{4})$`)

// start runs tv-demo with args on the test's clock and returns its output, the user code it
// shows and its result.
func (w *tvWorld) start(t *testing.T, args ...string) (*lockedBuffer, string, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := tvDemoCmd(w.tvclk)
	out := &lockedBuffer{}
	cmd.SetArgs(append([]string{"--issuer", w.issuer, "--client-id", w.clientID}, args...))
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	var code string
	waitFor(t, "tv-demo to show the user code", func() bool {
		if m := userCodeRE.FindStringSubmatch(out.String()); m != nil {
			code = m[1]
			return true
		}
		select {
		case err := <-done:
			t.Fatalf("tv-demo ended before showing a code: %v\n%s", err, out.String())
		default:
		}
		return false
	})
	return out, code, done
}

// poll lets tv-demo's wait run out (once it waits) and moves the provider's clock by provider.
func (w *tvWorld) poll(t *testing.T, provider time.Duration) { w.wait(t, provider, 5*time.Second) }

// wait moves tv-demo's clock by tv once it waits, and the provider's by provider.
func (w *tvWorld) wait(t *testing.T, provider, tv time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.tvclk.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal("tv-demo does not wait for its next poll")
	}
	w.oclk.Advance(provider)
	w.tvclk.Advance(tv)
}

var (
	tvHolderRE = regexp.MustCompile(`<code>([^<]+)</code>`)
	tvLoginRE  = regexp.MustCompile(`login/events\?id=([a-z0-9_]+)`)
	tvInputRE  = regexp.MustCompile(`name="(id|csrf)" value="([^"]+)"`)
)

// phone is the holder: types the code on /oidc/device, answers the login's session with the
// virtual card as `mynagate reader verify` does, and allows or denies on the consent page.
func (w *tvWorld) phone(t *testing.T, userCode, action string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	read := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d\n%s", resp.Request.Method, resp.Request.URL, resp.StatusCode, b)
		}
		return string(b)
	}
	page := read(hc.Get(w.issuer + "/device?user_code=" + url.QueryEscape(userCode)))
	m, id := tvHolderRE.FindStringSubmatch(page), tvLoginRE.FindStringSubmatch(page)
	if m == nil || id == nil {
		t.Fatalf("no holder URL or login id on the device login page:\n%s", page)
	}
	if _, err := testkit.AnswerWithCard(context.Background(), w.card, w.clk, html.UnescapeString(m[1])); err != nil {
		t.Fatalf("the card: %v", err)
	}
	page = read(hc.Get(w.issuer + "/login?id=" + id[1]))
	form := url.Values{"action": {action}}
	for _, m := range tvInputRE.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if form.Get("csrf") == "" {
		t.Fatalf("no consent form:\n%s", page)
	}
	return read(hc.PostForm(w.issuer+"/login/consent", form))
}

func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("tv-demo did not finish")
		return nil
	}
}

// TestTVDemo runs `mynagate tv-demo` against the provider: it shows the user code and the QR,
// polls (authorization_pending while nobody has answered), and once the holder has verified
// with the card on the phone and allowed, prints the verified subject and the facts asked for
// (name and birth date, not address) and succeeds. A holder who declines, a code left to
// expire and a client the provider does not know end it with a one-line error.
func TestTVDemo(t *testing.T) {
	w := newTVWorld(t)

	out, code, done := w.start(t)
	if !strings.Contains(out.String(), "/oidc/device") || !strings.Contains(out.String(), "█") {
		t.Errorf("tv-demo's screen lacks the verification URI or the QR code:\n%s", out.String())
	}
	w.poll(t, 5*time.Second) // nobody has answered yet: authorization_pending
	w.poll(t, time.Second)   // the provider's interval has not passed: slow_down
	w.wait(t, 0, 5*time.Second)
	w.wait(t, 0, 0) // tv-demo waits on: ten seconds now, not five
	if n := w.polls.Load(); n != 2 {
		t.Errorf("tv-demo polled %d times after its first wait, a pending and a too-soon poll; want 2 (it must wait 10 s after slow_down)", n)
	}
	w.phone(t, strings.ToLower(strings.ReplaceAll(code, "-", "")), "allow")
	w.wait(t, 10*time.Second, 5*time.Second)
	if err := result(t, done); err != nil {
		t.Fatalf("tv-demo after the holder allowed: %v\n%s", err, out.String())
	}
	screen := out.String()
	for _, want := range []string{`(?m)^Logged in\.$`, `(?m)^  sub  [A-Za-z0-9_-]{20,}$`, `(?m)^  acr  \S+`,
		`(?m)^  name\s+` + regexp.QuoteMeta(testkit.Taro().Name) + `$`, `(?m)^  birthdate\s+\d{4}-\d{2}-\d{2}$`} {
		if !regexp.MustCompile(want).MatchString(screen) {
			t.Errorf("tv-demo's output lacks %s\n%s", want, screen)
		}
	}
	if strings.Contains(screen, "address") || strings.Contains(screen, "gender") {
		t.Errorf("tv-demo shows facts it did not ask for:\n%s", screen)
	}

	t.Run("holder declines", func(t *testing.T) {
		out, code, done := w.start(t, "--json")
		w.phone(t, code, "deny")
		w.poll(t, 5*time.Second)
		err := result(t, done)
		if err == nil || !strings.Contains(err.Error(), "declined") || strings.Contains(err.Error(), "\n") {
			t.Errorf("tv-demo after the holder declined: %v, want a one-line error saying so\n%s", err, out.String())
		}
		if strings.Contains(out.String(), `"sub"`) {
			t.Errorf("claims printed after a refusal:\n%s", out.String())
		}
	})
	t.Run("code expires", func(t *testing.T) {
		out, code, done := w.start(t)
		w.poll(t, 11*time.Minute) // the provider's code expires while the TV waits
		err := result(t, done)
		if err == nil || !strings.Contains(err.Error(), "expired") || !strings.Contains(err.Error(), code) {
			t.Errorf("tv-demo with an expired code: %v, want an error naming the code as expired\n%s", err, out.String())
		}
	})
	t.Run("unknown client", func(t *testing.T) {
		_, _, err := runCLI("", "tv-demo", "--issuer", w.issuer, "--client-id", "c_nosuchclient")
		if err == nil || !strings.Contains(err.Error(), "device authorization") {
			t.Errorf("tv-demo with an unknown client: %v", err)
		}
		if status := run([]string{"tv-demo", "--issuer", w.issuer, "--client-id", "c_nosuchclient"}); status == 0 {
			t.Error("tv-demo with an unknown client exits 0")
		}
		if _, _, err := runCLI("", "tv-demo", "--issuer", w.issuer); err == nil || !strings.Contains(err.Error(), "--client-id is required") {
			t.Errorf("tv-demo without a client: %v", err)
		}
	})
}
