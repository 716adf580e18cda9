package staff_test

import (
	"crypto/rand"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/gate/staff"
)

// client is a browser without script: a cookie jar, no redirects followed.
func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	r, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	return r, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn posts token with the form's CSRF token and returns the status.
func signIn(t *testing.T, c *http.Client, base, tok string) int {
	t.Helper()
	_, page := get(t, c, base+"/login")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF field on the sign-in page")
	}
	r, err := c.PostForm(base+"/login", url.Values{"csrf": {m[1]}, "token": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	return r.StatusCode
}

// Nobody signed in sees nothing of the lane: the page sends them to sign in, the stream, the
// status, the photos and the exports answer 403; a sign-in needs the CSRF token, a wrong code
// is refused and after five failures a minute even the right one waits; an oversized code is
// refused. Signed in, unknown or garbage decision numbers go back to the latest.
func TestStaffHostile(t *testing.T) {
	clk := clockwork.NewFakeClockAt(time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC))
	b := staff.NewBoard(clk)
	exported := false
	s, err := staff.New(staff.Config{Board: b, Token: token, Clock: clk, Rand: rand.Reader,
		Downloads: []staff.Download{{Path: "/export/x.csv", Label: "export.roster", Serve: func(w http.ResponseWriter, _ *http.Request) { exported = true }}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, s)
	b.Publish(staff.Entry{Admit: true, Reason: "admit", Name: "山田　太郎", Photo: []byte("\x89PNG"), PhotoType: "image/png"})

	anon := client(t)
	if r, _ := get(t, anon, srv+"/"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Errorf("/ without sign-in: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	for _, p := range []string{"/d/1", "/events", "/status.json", "/photo/1", "/export/x.csv"} {
		r, body := get(t, anon, srv+p)
		if r.StatusCode != http.StatusForbidden && !(p == "/d/1" && r.StatusCode == http.StatusSeeOther) {
			t.Errorf("%s without sign-in: %d", p, r.StatusCode)
		}
		if strings.Contains(body, "山田") {
			t.Errorf("%s without sign-in shows the name", p)
		}
	}
	if exported {
		t.Error("the export ran without sign-in")
	}
	// No CSRF token: refused.
	r, err := anon.PostForm(srv+"/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without CSRF token: %d", r.StatusCode)
	}
	if got := signIn(t, anon, srv, strings.Repeat("A", 300)); got != http.StatusUnprocessableEntity {
		t.Errorf("oversized code: %d", got)
	}
	for i := 0; i < 5; i++ {
		if got := signIn(t, anon, srv, "WRONG-"+strings.Repeat("x", i+3)); got != http.StatusUnprocessableEntity {
			t.Fatalf("wrong code %d: %d", i, got)
		}
	}
	if got := signIn(t, anon, srv, token); got != http.StatusUnprocessableEntity {
		t.Errorf("right code after five failures within a minute: %d, want refused", got)
	}
	clk.Advance(time.Minute)
	if got := signIn(t, anon, srv, token); got != http.StatusSeeOther {
		t.Fatalf("right code a minute later: %d", got)
	}
	_, page := get(t, anon, srv+"/")
	if !strings.Contains(page, "山田　太郎") || !strings.Contains(page, "ADMIT") {
		t.Errorf("signed in, the page does not show the decision")
	}
	for _, p := range []string{"/d/999", "/d/x"} {
		if r, _ := get(t, anon, srv+p); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
			t.Errorf("%s: %d %s", p, r.StatusCode, r.Header.Get("Location"))
		}
	}
	if r, _ := get(t, anon, srv+"/photo/x"); r.StatusCode != http.StatusNotFound {
		t.Errorf("/photo/x: %d", r.StatusCode)
	}
	if r, body := get(t, anon, srv+"/status.json?after=0"); r.StatusCode != 200 || !strings.Contains(body, `"go":"/d/1"`) {
		t.Errorf("status after 0: %d %s", r.StatusCode, body)
	}
	if _, body := get(t, anon, srv+"/status.json?after=1"); strings.Contains(body, `"go"`) {
		t.Errorf("status after the latest moves on: %s", body)
	}
	if get(t, anon, srv+"/export/x.csv"); !exported {
		t.Error("signed in, the export did not run")
	}
	// Signing out ends it.
	_, page = get(t, anon, srv+"/")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no sign-out form")
	}
	if r, err = anon.PostForm(srv+"/logout", url.Values{"csrf": {m[1]}}); err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r, _ := get(t, anon, srv+"/status.json"); r.StatusCode != http.StatusForbidden {
		t.Errorf("after sign-out: %d", r.StatusCode)
	}
}

// A short token, an oversized photo: refused or dropped.
func TestStaffConfig(t *testing.T) {
	clk := clockwork.NewFakeClock()
	if _, err := staff.New(staff.Config{Board: staff.NewBoard(clk), Token: "short", Clock: clk, Rand: rand.Reader}); err == nil {
		t.Error("a 5-character token was accepted")
	}
	b := staff.NewBoard(clk)
	e := b.Publish(staff.Entry{Photo: make([]byte, staff.MaxPhoto+1), PhotoType: "image/png"})
	if got, _ := b.Get(e.Seq); got.Photo != nil {
		t.Error("an oversized photo was kept")
	}
	tok, err := staff.Token(rand.Reader)
	if err != nil || len(tok) != 20 || strings.ContainsAny(tok, "IO01") {
		t.Errorf("Token() = %q, %v", tok, err)
	}
}
