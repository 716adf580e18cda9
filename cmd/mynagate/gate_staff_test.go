package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer written by the command and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// waitFor polls f every 20 ms for at most 20 s.
func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// staffSession signs in to a staff page at base with the code and returns the client.
func staffSession(t *testing.T, base, code string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	r, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(r.Body)
	r.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF field")
	}
	if r, err = c.PostForm(base+"/login", url.Values{"csrf": {string(m[1])}, "token": {code}}); err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.Request.URL.Path != "/" {
		t.Fatalf("sign-in with the printed code ended at %s (%d)", r.Request.URL, r.StatusCode)
	}
	return c
}

func body(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	r, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// gate run --listen serves the staff page: the code printed at start signs in, a tap typed on
// the terminal shows on the page with the holder's name, seat and (--face) photo, and the
// counter; a staff code file too short is refused before anything starts.
func TestGateRunStaffPage(t *testing.T) {
	dir, cardA, _, mf, _, _ := gateRunFixture(t)
	args := func(extra ...string) []string {
		return append([]string{"gate", "run", "--event", "ev1", "--lane", "1", "--manifest", mf, "--service-key", filepath.Join(dir, "svc.pem"),
			"--gate-key", filepath.Join(dir, "gate.pem"), "--journal", filepath.Join(dir, "journal"), "--card", cardA}, extra...)
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	root := newRoot()
	root.SetArgs(args("--listen", "127.0.0.1:0", "--staff-token-file", short))
	root.SetIn(strings.NewReader(""))
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "at least 8 characters") {
		t.Fatalf("a 3-character staff code: %v", err)
	}

	in, feed := io.Pipe()
	var out, errs lockedBuffer
	root = newRoot()
	root.SetArgs(args("--listen", "127.0.0.1:0", "--face"))
	root.SetIn(in)
	root.SetOut(&out)
	root.SetErr(&errs)
	done := make(chan error, 1)
	go func() { done <- root.Execute() }()
	var base, code string
	waitFor(t, "the staff page's address and code", func() bool {
		m := regexp.MustCompile(`staff page: (http://\S+)/\nstaff sign-in code: (\S+)\n`).FindStringSubmatch(errs.String())
		if m != nil {
			base, code = m[1], m[2]
		}
		return m != nil
	})
	c := staffSession(t, base, code)
	io.WriteString(feed, "tap 1 1234\n")
	waitFor(t, "the decision on the page", func() bool { return strings.Contains(body(t, c, base+"/status.json"), `"latest":1`) })
	page := body(t, c, base+"/")
	for _, w := range []string{"ADMIT", "山田　太郎", "A-1", `src="/photo/1"`, `<span class="n">1</span>`} {
		if !strings.Contains(page, w) {
			t.Errorf("the staff page lacks %q", w)
		}
	}
	feed.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ADMIT  ticket t1") {
		t.Errorf("terminal: %s", out.String())
	}
}

// httpClientNoJar is a client without a session.
var httpClientNoJar = http.Client{Timeout: 10 * time.Second}
