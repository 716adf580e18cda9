package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/internal/wiring"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/revocation"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// TestOldCRLAfterRestart: the platform read CRL n+1, which lists a lost card; after a restart
// someone between the platform and J-LIS serves the older, genuinely signed CRL n, which does
// not. The CRL-number high-water mark recorded in the store refuses it, and the mark is left as
// it was. Without the mark (the behaviour before) the old CRL is taken.
func TestOldCRLAfterRestart(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			e := newEnv(t, storetest.DSN(t, d))
			_, srcs, err := wiring.Trust(ctx, jlisapi.New(e.jlisSrv.URL), e.jlisSrv.URL)
			if err != nil {
				t.Fatal(err)
			}
			fetcher := func(srcs []revocation.Source, hw bool) *revocation.Fetcher {
				opts := []revocation.FetcherOption{revocation.WithClock(e.clk), revocation.WithTempDir(t.TempDir())}
				if hw {
					opts = append(opts, revocation.WithHighWater(e.st))
				}
				return revocation.NewFetcher(srcs, opts...)
			}
			if err := fetcher(srcs, true).Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			old := get(t, e.jlisSrv.URL+"/crl/sign.crl")

			taro := e.issue(testkit.Taro())
			cf, _ := jpki.LoadCardFile(taro.path)
			if _, err := e.sim.RevokeCard(ctx, cf, jlis.CauseLost, time.Time{}); err != nil {
				t.Fatal(err)
			}
			e.clk.Advance(time.Minute)
			before := fetcher(srcs, true)
			if err := before.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			st, _ := before.State("sign")
			signCA := srcs[0].Issuer
			mark, digest, err := e.st.CRLHighWater(ctx, revocation.CAKey(signCA))
			if err != nil || mark == nil || mark.Cmp(st.Index.Metadata().Number) != 0 {
				t.Fatalf("recorded mark %v (%v), want the CRL in force %v", mark, err, st.Index.Metadata().Number)
			}

			// The restart, with the old CRL served in place of the new one.
			replay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(old) }))
			defer replay.Close()
			stale := append([]revocation.Source(nil), srcs...)
			stale[0].CRLURL = replay.URL
			after := fetcher(stale[:1], true)
			err = after.Refresh(ctx)
			if err == nil || !strings.Contains(err.Error(), "backwards") {
				t.Fatalf("old CRL after a restart: %v, want refused as going backwards", err)
			}
			if st, _ := after.State("sign"); st.Index != nil {
				t.Error("the refused CRL is in force")
			}
			if m, dg, _ := e.st.CRLHighWater(ctx, revocation.CAKey(signCA)); m.Cmp(mark) != 0 || !bytes.Equal(dg, digest) {
				t.Errorf("the refusal changed the mark: %v, was %v", m, mark)
			}
			// Without the recorded mark the replay works: what the mark prevents.
			if err := fetcher(stale[:1], false).Refresh(ctx); err != nil {
				t.Errorf("without a high-water mark the old CRL is refused too (%v): the test shows nothing", err)
			}
		})
	}
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return b
}

// TestServeTrustPinned runs `mynagate serve`: J-LIS must be https unless --insecure-jlis; the CAs
// J-LIS serves are recorded at the first start; a restart against a J-LIS serving other CAs (a
// swapped or spoofed service) is refused with one line, whether the reference is that record or
// a --trust file, and the record is left as it was.
func TestServeTrustPinned(t *testing.T) {
	bin := buildMynagate(t)
	simulator := func() (*jlis.Simulator, *httptest.Server) {
		sim, _, _ := testkit.Simulator(t, jlis.WithClock(clockwork.NewRealClock()))
		srv := httptest.NewServer(sim.Handler())
		t.Cleanup(srv.Close)
		return sim, srv
	}
	simA, jlisA := simulator()
	simB, jlisB := simulator()
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "p.db")
	pemOf := func(sim *jlis.Simulator, file string) string {
		var b bytes.Buffer
		for _, name := range sim.CANames() {
			c, err := sim.CACertificate(name)
			if err != nil {
				t.Fatal(err)
			}
			pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	pemA, pemB := pemOf(simA, "a.pem"), pemOf(simB, "b.pem")
	serve := func(jlisURL string, extra ...string) *exec.Cmd {
		args := append([]string{"serve", "--db", db, "--jlis", jlisURL, "--data", filepath.Join(dir, "data"), "--addr", "127.0.0.1:0"}, extra...)
		return exec.Command(bin, args...)
	}
	refused := func(cmd *exec.Cmd, want string) {
		t.Helper()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		c, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("serve %v started, want refused with %q", cmd.Args[1:], want)
			}
		case <-c.Done():
			cmd.Process.Kill()
			t.Fatalf("serve %v did not stop, want refused with %q", cmd.Args[1:], want)
		}
		var last string
		for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			if strings.HasPrefix(l, "mynagate: ") {
				last = l
			}
		}
		if !strings.Contains(last, want) {
			t.Errorf("serve %v: error line %q, want %q (stderr:\n%s)", cmd.Args[1:], last, want, stderr.String())
		}
	}
	started := func(cmd *exec.Cmd) {
		t.Helper()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				cmd.Process.Kill()
				t.Fatalf("serve %v did not start: %v", cmd.Args[1:], err)
			}
			if strings.HasPrefix(line, "mynagate platform on ") {
				break
			}
		}
		go io.Copy(io.Discard, r)
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("serve after SIGTERM: %v", err)
		}
	}
	anchors := func() map[string][]byte {
		t.Helper()
		st, err := store.Open(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		a, err := st.TrustAnchors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	refused(serve(jlisA.URL), "is not https")
	started(serve(jlisA.URL, "--insecure-jlis"))
	recorded := anchors()
	if len(recorded) == 0 {
		t.Fatal("the first start recorded no CA")
	}
	for name, der := range recorded {
		c, err := simA.CACertificate(name)
		if err != nil || !bytes.Equal(c.Raw, der) {
			t.Errorf("recorded CA %s is not J-LIS A's", name)
		}
	}
	// J-LIS swapped: refused against the record, and against a --trust file of A's CAs.
	refused(serve(jlisB.URL, "--insecure-jlis"), "changed since it was first trusted")
	refused(serve(jlisB.URL, "--insecure-jlis", "--trust", pemA), "is not pinned by --trust")
	fp := wiring.Fingerprint(mustCA(t, simA, "sign"))
	refused(serve(jlisB.URL, "--insecure-jlis", "--trust-sha256", fp), "is not pinned")
	if got := anchors(); !equalAnchors(got, recorded) {
		t.Error("a refused start changed the recorded CAs")
	}
	// Malformed pins are refused before anything is read.
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	refused(serve(jlisA.URL, "--insecure-jlis", "--trust", bad), "not PEM")
	refused(serve(jlisA.URL, "--insecure-jlis", "--trust-sha256", "abcd"), "not a SHA-256 fingerprint")
	// The honest path with pins, and the operator accepting a genuine change by pinning it.
	started(serve(jlisA.URL, "--insecure-jlis", "--trust", pemA))
	started(serve(jlisB.URL, "--insecure-jlis", "--trust", pemB))
	for name, der := range anchors() {
		if c := mustCA(t, simB, name); !bytes.Equal(c.Raw, der) {
			t.Errorf("after pinning B, recorded CA %s is not B's", name)
		}
	}
}

func mustCA(t *testing.T, sim *jlis.Simulator, name string) *x509.Certificate {
	t.Helper()
	c, err := sim.CACertificate(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func equalAnchors(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(b[k], v) {
			return false
		}
	}
	return true
}
