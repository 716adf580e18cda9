package ui_test

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"os"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/web/ui"
)

var msgs = map[string]map[string]string{
	"en": {"t.title": "Test form", "t.name": "Name", "t.password": "Password", "t.kind": "Kind", "t.kind.a": "Kind A", "t.submit": "Send", "t.bad": "Names cannot contain %q."},
	"ja": {"t.title": "テスト", "t.name": "名前", "t.password": "パスワード", "t.kind": "種類", "t.kind.a": "種類A", "t.submit": "送信", "t.bad": "名前に %q は使えません。"},
}

type fixture struct {
	u     *ui.UI
	clk   *clockwork.FakeClock
	srv   *httptest.Server
	posts int
}

func newFixture(t *testing.T, key string) *fixture {
	t.Helper()
	f := &fixture{clk: clockwork.NewFakeClockAt(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))}
	var err error
	f.u, err = ui.New(ui.Config{Key: []byte(key), Messages: msgs, Clock: f.clk, SessionTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := f.u.Parse(os.DirFS("testdata"), "*.html")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ui/static/", f.u.Assets())
	app := http.NewServeMux()
	app.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		f.u.Render(w, r, pages["form.html"], http.StatusOK, &ui.Page{Form: ui.NewForm()})
	})
	app.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		s := ui.SessionOf(r)
		w.Write([]byte(ui.LangOf(r) + " " + s.ID() + " " + s.CSRF() + " " + s.Get("user")))
	})
	app.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := ui.SessionOf(r)
		s.Renew()
		s.Set("user", "alice")
		f.posts++
		w.Write([]byte("ok"))
	})
	app.HandleFunc("POST /form", func(w http.ResponseWriter, r *http.Request) {
		f.posts++
		fm := ui.ParseForm(r)
		fm.Required("name", "password")
		fm.MaxLen("name", 20)
		if strings.Contains(fm.Get("name"), "<") {
			fm.Fail("name", "t.bad", "<")
		}
		if !fm.OK() {
			f.u.Render(w, r, pages["form.html"], http.StatusUnprocessableEntity, &ui.Page{Form: fm})
			return
		}
		w.Write([]byte("stored"))
	})
	app.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		s, err := ui.NewStream(w, r)
		if err != nil {
			t.Error(err)
			return
		}
		s.Send("text", "one\ntwo")
		s.Ping()
		s.Send("go", "/next")
	})
	mux.Handle("/", f.u.Protect(app))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

const key1 = "0123456789abcdef0123456789abcdef"

func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.String()
}

func post(t *testing.T, c *http.Client, u string, form url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.String()
}

// session returns the id and CSRF token of c's session (starting one).
func session(t *testing.T, f *fixture, c *http.Client) (string, string) {
	_, body := get(t, c, f.srv.URL+"/whoami")
	parts := strings.Fields(body)
	if len(parts) < 3 {
		t.Fatalf("whoami: %q", body)
	}
	return parts[1], parts[2]
}

func TestCSRF(t *testing.T) {
	f := newFixture(t, key1)
	c := client(t)
	_, tok := session(t, f, c)
	other := client(t)
	_, otherTok := session(t, f, other)
	same := []string{"Sec-Fetch-Site", "same-origin", "Origin", f.srv.URL}
	tests := []struct {
		name   string
		c      *http.Client
		form   url.Values
		hdr    []string
		status int
	}{
		{"cross-site with a valid token", c, url.Values{"csrf": {tok}}, []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 403},
		{"foreign Origin, no fetch metadata", c, url.Values{"csrf": {tok}}, []string{"Origin", "https://evil.example"}, 403},
		{"same-site subdomain", c, url.Values{"csrf": {tok}}, []string{"Sec-Fetch-Site", "same-site"}, 403},
		{"no token", c, url.Values{}, same, 403},
		{"wrong token", c, url.Values{"csrf": {strings.Repeat("0", len(tok))}}, same, 403},
		{"another session's token", c, url.Values{"csrf": {otherTok}}, same, 403},
		{"token without a session cookie", &http.Client{}, url.Values{"csrf": {tok}}, same, 403},
		{"same origin with the token", c, url.Values{"csrf": {tok}}, same, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.posts
			resp, body := post(t, tt.c, f.srv.URL+"/login", tt.form, tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 403 {
				if f.posts != before {
					t.Error("the handler ran for a refused request")
				}
				if !strings.Contains(body, `role="alert"`) || !strings.Contains(body, "別のサイトから送信されたか") {
					t.Errorf("refusal page does not say why: %s", body)
				}
			}
		})
	}
	// The token changes at login: the pre-login token no longer works.
	_, newTok := session(t, f, c)
	if resp, body := post(t, c, f.srv.URL+"/login", url.Values{}, "X-CSRF-Token", newTok); resp.StatusCode != 200 {
		t.Errorf("token in the header: %d %s", resp.StatusCode, body)
	}
	if newTok == tok {
		t.Fatal("login kept the CSRF token")
	}
	if resp, _ := post(t, c, f.srv.URL+"/login", url.Values{"csrf": {tok}}, same...); resp.StatusCode != 403 {
		t.Errorf("old token after renewal: %d, want 403", resp.StatusCode)
	}
}

func TestCSP(t *testing.T) {
	f := newFixture(t, key1)
	c := client(t)
	want := []string{"default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"}
	check := func(name string, resp *http.Response) {
		csp := resp.Header.Get("Content-Security-Policy")
		for _, d := range want {
			if !strings.Contains(csp, d) {
				t.Errorf("%s: CSP %q lacks %q", name, csp, d)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows inline script: %q", name, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", name)
		}
	}
	resp, body := get(t, c, f.srv.URL+"/form")
	check("page", resp)
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("page headers: %v", resp.Header)
	}
	if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(body) || strings.Contains(body, " style=") || strings.Contains(body, " on") && regexp.MustCompile(` on[a-z]+=`).MatchString(body) {
		t.Errorf("page has inline script or style:\n%s", body)
	}
	resp, _ = post(t, c, f.srv.URL+"/login", url.Values{}, "Sec-Fetch-Site", "cross-site")
	check("refusal", resp)
	resp, css := get(t, c, f.srv.URL+"/ui/static/ui.css")
	check("asset", resp)
	if resp.StatusCode != 200 || !strings.Contains(css, ":focus-visible") {
		t.Errorf("ui.css: %d", resp.StatusCode)
	}
}

func TestSessionCookie(t *testing.T) {
	f := newFixture(t, key1)
	c := client(t)
	resp, _ := get(t, c, f.srv.URL+"/whoami")
	var ck *http.Cookie
	for _, x := range resp.Cookies() {
		if x.Name == "mynagate" {
			ck = x
		}
	}
	if ck == nil {
		t.Fatalf("no session cookie on loopback http: %v", resp.Header["Set-Cookie"])
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure || ck.Path != "/" {
		t.Errorf("cookie attributes: %+v", ck)
	}
	_, tok := session(t, f, c)
	post(t, c, f.srv.URL+"/login", url.Values{"csrf": {tok}})
	id, tok := session(t, f, c)
	u, _ := url.Parse(f.srv.URL)
	sealed := c.Jar.Cookies(u)[0].Value

	try := func(name, value string, wantSame bool) {
		t.Helper()
		cj := client(t)
		cj.Jar.SetCookies(u, []*http.Cookie{{Name: "mynagate", Value: value}})
		_, body := get(t, cj, f.srv.URL+"/whoami")
		gotSame := strings.Contains(body, id) && strings.HasSuffix(body, " alice")
		if gotSame != wantSame {
			t.Errorf("%s: session kept = %v, want %v (%q)", name, gotSame, wantSame, body)
		}
		if !wantSame {
			if resp, _ := post(t, cj, f.srv.URL+"/login", url.Values{"csrf": {tok}}); resp.StatusCode != 403 {
				t.Errorf("%s: POST with the stolen token under a bad cookie: %d", name, resp.StatusCode)
			}
		}
	}
	try("intact", sealed, true)
	b := []byte(sealed)
	for i := range []int{0, len(b) / 2, len(b) - 1} {
		tb := slices.Clone(b)
		pos := []int{0, len(b) / 2, len(b) - 1}[i]
		if tb[pos] == 'A' {
			tb[pos] = 'B'
		} else {
			tb[pos] = 'A'
		}
		try("tampered", string(tb), false)
	}
	try("truncated", sealed[:len(sealed)-4], false)
	try("garbage", "not-base64!!", false)
	try("oversized", strings.Repeat("A", 5000), false)

	// A cookie sealed under another key is refused; after a rotation the old key still opens it.
	other := newFixture(t, "ffffffffffffffffffffffffffffffff")
	oc := client(t)
	get(t, oc, other.srv.URL+"/whoami")
	ou, _ := url.Parse(other.srv.URL)
	try("other key", oc.Jar.Cookies(ou)[0].Value, false)
	rot, err := ui.New(ui.Config{Key: []byte("ffffffffffffffffffffffffffffffff"), OldKeys: [][]byte{[]byte(key1)}, Clock: f.clk})
	if err != nil {
		t.Fatal(err)
	}
	h := rot.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(ui.SessionOf(r).Get("user"))) }))
	req := httptest.NewRequest("GET", "http://127.0.0.1/", nil)
	req.AddCookie(&http.Cookie{Name: "mynagate", Value: sealed})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Body.String() != "alice" {
		t.Errorf("old key after rotation: %q", rec.Body.String())
	}

	// Expiry: the session ends after its TTL.
	f.clk.Advance(time.Hour)
	try("expired", sealed, false)

	// On https (or any non-loopback host) the cookie is Secure with the __Host- prefix.
	req = httptest.NewRequest("GET", "https://console.example/", nil)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	sc := rec.Result().Cookies()
	if len(sc) != 1 || sc[0].Name != "__Host-mynagate" || !sc[0].Secure || !sc[0].HttpOnly {
		t.Errorf("https cookie: %+v", sc)
	}
	req = httptest.NewRequest("GET", "http://console.example/", nil)
	if !ui.SecureRequest(req) {
		t.Error("plain http to a public host must still mark cookies Secure")
	}
	if ui.SecureRequest(httptest.NewRequest("GET", "http://[::1]:8080/", nil)) || ui.SecureRequest(httptest.NewRequest("GET", "http://localhost:8080/", nil)) {
		t.Error("loopback http must not mark cookies Secure")
	}
	if _, err := ui.New(ui.Config{Key: []byte("short")}); err == nil {
		t.Error("a short key was accepted")
	}
}

func TestLanguage(t *testing.T) {
	f := newFixture(t, key1)
	tests := []struct {
		accept, cookie, want string
	}{
		{"", "", "ja"},
		{"en-US,en;q=0.9", "", "en"},
		{"ja-JP", "", "ja"},
		{"fr-FR", "", "ja"},
		{"fr-FR, en;q=0.5", "", "en"},
		{"en-GB", "ja", "ja"},
		{"ja", "en", "en"},
		{"ja", "xx", "ja"},
		{"!!garbage;;", "", "ja"},
	}
	for _, tt := range tests {
		t.Run(tt.accept+"/"+tt.cookie, func(t *testing.T) {
			c := client(t)
			if tt.cookie != "" {
				u, _ := url.Parse(f.srv.URL)
				c.Jar.SetCookies(u, []*http.Cookie{{Name: "lang", Value: tt.cookie}})
			}
			_, body := get(t, c, f.srv.URL+"/whoami", "Accept-Language", tt.accept)
			if got := strings.Fields(body)[0]; got != tt.want {
				t.Errorf("lang %q, want %q", got, tt.want)
			}
		})
	}
	// The switch sets the cookie and comes back to the page without the parameter.
	c := client(t)
	resp, _ := get(t, c, f.srv.URL+"/form?lang=en&x=1", "Accept-Language", "ja")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/form?x=1" {
		t.Fatalf("switch: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body := get(t, c, f.srv.URL+"/form?x=1", "Accept-Language", "ja")
	if !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, "Test form") || !strings.Contains(body, `href="/form?lang=ja&amp;x=1"`) {
		t.Errorf("after switching to English:\n%s", body)
	}
	// An open redirect through the switch is impossible: it only ever returns to the path.
	resp, _ = get(t, c, f.srv.URL+"//evil.example/?lang=en")
	if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, "//") {
		t.Errorf("switch redirected to %q", loc)
	}
}

func TestCatalogsComplete(t *testing.T) {
	u, err := ui.New(ui.Config{Key: []byte(key1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range ui.Languages {
		for _, b := range ui.Languages {
			for _, k := range u.Keys(a) {
				if !u.Has(b, k) {
					t.Errorf("%q is in %s but not in %s", k, a, b)
				}
			}
		}
	}
}

func TestFormKeepsInput(t *testing.T) {
	f := newFixture(t, key1)
	c := client(t)
	_, tok := session(t, f, c)
	resp, body := post(t, c, f.srv.URL+"/form", url.Values{"csrf": {tok}, "name": {`<script>x()`}, "password": {"s3cret-pass"}, "kind": {"b"}}, "Accept-Language", "en")
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{
		`value="&lt;script&gt;x()"`, // kept, escaped
		`aria-invalid="true"`,
		`aria-describedby="f-name-err"`,
		`<p class="err" id="f-name-err">Names cannot contain &#34;&lt;&#34;.</p>`,
		`<a href="#f-name">`, // the summary links to the field
		`<option value="b" selected>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s", want)
		}
	}
	if strings.Contains(body, "s3cret-pass") {
		t.Error("the password was echoed back")
	}
	if strings.Contains(body, "<script>x") {
		t.Error("input rendered unescaped")
	}
	_, body = post(t, c, f.srv.URL+"/form", url.Values{"csrf": {tok}, "name": {strings.Repeat("名", 21)}})
	if !strings.Contains(body, "Use at most 20 characters.") && !strings.Contains(body, "20 文字以内") {
		t.Errorf("too long not reported:\n%s", body)
	}
	if !strings.Contains(body, `id="f-password-err"`) {
		t.Error("missing password not reported next to the field")
	}
	// An oversized body is refused before the handler sees it.
	big := url.Values{"csrf": {tok}, "name": {strings.Repeat("x", ui.MaxForm)}}
	resp, _ = post(t, c, f.srv.URL+"/form", big)
	if resp.StatusCode != 403 && resp.StatusCode != 413 {
		t.Errorf("oversized form: %d", resp.StatusCode)
	}
	_, body = post(t, c, f.srv.URL+"/form", url.Values{"csrf": {tok}, "name": {"ok"}, "password": {"x"}})
	if body != "stored" {
		t.Errorf("valid form: %q", body)
	}
}

func TestStream(t *testing.T) {
	f := newFixture(t, key1)
	resp, err := http.Get(f.srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	got := strings.Join(lines, "|")
	want := "retry: 2000||event: text|data: one|data: two||: ping||event: go|data: /next|"
	if got != want {
		t.Errorf("stream\n got %q\nwant %q", got, want)
	}
}

func TestParseNeedsPages(t *testing.T) {
	u, _ := ui.New(ui.Config{Key: []byte(key1)})
	if _, err := u.Parse(fstest.MapFS{}, "*.html"); err == nil {
		t.Error("no pages accepted")
	}
	if _, err := u.Parse(fstest.MapFS{"a.html": {Data: []byte(`{{define "main"}}{{.Nope}{{end}}`)}}, "*.html"); err == nil {
		t.Error("a broken template accepted")
	}
}
