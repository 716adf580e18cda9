package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
)

// startJLISServe runs `jlis serve` in-process on a free port and returns its base URL, the
// output it printed first, and its end.
func startJLISServe(t *testing.T, args ...string) (string, string, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	cmd := newJLISServeCmd()
	cmd.SetArgs(append([]string{"--addr", "127.0.0.1:0"}, args...))
	cmd.SetOut(pw)
	cmd.SetErr(pw)
	done := make(chan error, 1)
	go func() { err := cmd.ExecuteContext(ctx); pw.CloseWithError(io.EOF); done <- err }()
	t.Cleanup(func() { cancel(); <-done })
	var out strings.Builder
	addr := regexp.MustCompile(`on (http://127\.0\.0\.1:[0-9]+)`)
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if m := addr.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, pr)
			return m[1], out.String(), done
		}
	}
	return "", out.String(), done
}

// The simulator's status, links and basic 4 answer only the platform: `jlis serve` makes a
// token of its own (DATA/platform-token, 0600) unless given one, and serves them openly only
// with --open.
func TestJLISServeNeedsATokenByDefault(t *testing.T) {
	data := filepath.Join(t.TempDir(), "sim")
	sim, err := jlis.Open(context.Background(), data, jlis.WithKeyGenerator(testkit.Key))
	if err != nil {
		t.Fatal(err)
	}
	sim.Close()
	get := func(url, token string) int {
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	base, out, _ := startJLISServe(t, "--data", data)
	if base == "" {
		t.Fatalf("jlis serve did not start:\n%s", out)
	}
	tokFile := filepath.Join(data, "platform-token")
	if !strings.Contains(out, tokFile) {
		t.Errorf("jlis serve does not say where the token is:\n%s", out)
	}
	fi, err := os.Stat(tokFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v, want mode 0600", fi, err)
	}
	b, _ := os.ReadFile(tokFile)
	tok := strings.TrimSpace(string(b))
	for _, path := range []string{"/links/sign/1", "/status/sign/1"} {
		if st := get(base+path, ""); st != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", path, st)
		}
		if st := get(base+path, "wrong-token-of-the-right-length-0000"); st != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d, want 401", path, st)
		}
		if st := get(base+path, tok); st == http.StatusUnauthorized {
			t.Errorf("GET %s with the token: %d", path, st)
		}
	}
	if st := get(base+"/ca/sign.pem", ""); st != http.StatusOK {
		t.Errorf("CA certificates stay open: %d", st)
	}

	openBase, out, _ := startJLISServe(t, "--data", data, "--open")
	if openBase == "" || !strings.Contains(out, "warning: --open") {
		t.Fatalf("jlis serve --open:\n%s", out)
	}
	if st := get(openBase+"/links/sign/1", ""); st == http.StatusUnauthorized {
		t.Errorf("--open still asks for a token")
	}
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	for _, args := range [][]string{{"--open", "--platform-token-file", tokFile}, {"--platform-token-file", short}} {
		cmd := newJLISServeCmd()
		cmd.SetArgs(append([]string{"--data", data, "--addr", "127.0.0.1:0"}, args...))
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		if err := cmd.Execute(); err == nil {
			t.Errorf("jlis serve %v started", args)
		}
	}
}
