package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/mynagate/mynagate/gate/kiosk"
	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jpki"
)

// kioskFixture issues cards A (Taro), B (Hanako) and C (Taro) and writes the CA certificate
// (ca.pem) and a CRL snapshot made now (the kiosk runs on the real clock; the simulator's starts
// earlier) into a temporary directory.
func kioskFixture(t *testing.T) (dir string, clk *clockwork.FakeClock, cardA, cardB, cardC, crlPath string) {
	t.Helper()
	sim, clk, _ := testkit.Simulator(t)
	dir = t.TempDir()
	cardA, cardB, cardC = testkit.CardFile(t, sim, testkit.Taro()), testkit.CardFile(t, sim, testkit.Hanako()), testkit.CardFile(t, sim, testkit.Taro())
	clk.Advance(time.Until(clk.Now()) * -1)
	ca, _, crlPath := testkit.AuthTrust(t, sim)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca)
	return dir, clk, cardA, cardB, cardC, crlPath
}

// run runs the CLI with stdin and returns its stdout and stderr.
func runCLI(stdin string, argv ...string) (string, string, error) {
	root := newRoot()
	var out, errs bytes.Buffer
	root.SetArgs(argv)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errs)
	err := root.Execute()
	return out.String(), errs.String(), err
}

// gate kiosk at a shelter: a known resident (on the roster) and a walk-in (named from the card's
// support application) arrive, the resident leaves; the count and the exports say so, a
// restarted kiosk remembers who is in, the staff page shows the taps and serves the CSV to
// signed-in staff, and reconcile merges the journal (refusing a journal no key given signed).
// A malformed roster stops the kiosk before anything starts.
func TestGateKiosk(t *testing.T) {
	dir, clk, cardA, cardB, _, crlPath := kioskFixture(t)
	cfA, err := jpki.LoadCardFile(cardA)
	if err != nil {
		t.Fatal(err)
	}
	ckey := bytes.Repeat([]byte{3}, 32)
	ro := kiosk.Roster{Format: kiosk.RosterFormat, Site: "shelter-1", Name: "第一小学校", Mode: kiosk.ModeOpen, CommitKey: ckey,
		Entries: []kiosk.Person{{ID: "r-001", Holder: manifest.Commit(ckey, sha256.Sum256(cfA.Auth.Cert)), Name: "=山田　太郎"}}}
	rb, _ := json.Marshal(ro)
	rosterFile := filepath.Join(dir, "roster.json")
	os.WriteFile(rosterFile, rb, 0o600)
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	writePEM(t, filepath.Join(dir, "kiosk.pem"), "PRIVATE KEY", p8)
	spki, _ := x509.MarshalPKIXPublicKey(pub)
	writePEM(t, filepath.Join(dir, "kiosk.pub"), "PUBLIC KEY", spki)
	journal := filepath.Join(dir, "journal")
	args := func(roster string, extra ...string) []string {
		return append([]string{"gate", "kiosk", "--roster", roster, "--ca-cert", filepath.Join(dir, "ca.pem"), "--crl", crlPath,
			"--kiosk-key", filepath.Join(dir, "kiosk.pem"), "--journal", journal, "--card", cardA, "--card", cardB, "--facts"}, extra...)
	}
	run := runCLI
	out, _, err := run("tap 1 1234\ntap 2 1234\ntap 1 1234\ncount\nexport reconcile\nexport bogus\nhello\n", args(rosterFile)...)
	if err != nil {
		t.Fatal(err)
	}
	b4 := testkit.Hanako()
	for _, w := range []string{"ARRIVE  r-001  =山田　太郎", "ARRIVE  " + b4.Name + "  " + kiosk.AgeBand(b4.Birth, clk.Now()), "(card-support-ap)",
		"LEAVE  r-001", "present 1  arrivals 2  departures 1", "site,person,name,age_band", "shelter-1,r-001,'=山田　太郎",
		`REJECT malformed: no export "bogus"`, `REJECT malformed: cannot read "hello"`} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	// Restarted: A left, so A's tap is an arrival again and B's a departure.
	if out, _, err = run("tap 1 1234\ntap 2 1234\ncount\n", args(rosterFile)...); err != nil || !strings.Contains(out, "ARRIVE  r-001") ||
		!strings.Contains(out, "LEAVE") || !strings.Contains(out, "present 1  arrivals 3  departures 2") {
		t.Fatalf("after a restart: %v\n%s", err, out)
	}
	csvOut, errs, err := run("", "gate", "kiosk", "reconcile", "--site", "shelter-1", "--kiosk-pub", filepath.Join(dir, "kiosk.pub"), journal, journal)
	if err != nil || !strings.Contains(errs, "5 lines seen twice") {
		t.Fatalf("reconcile: %v %s", err, errs)
	}
	rows := strings.Split(strings.TrimSpace(csvOut), "\n")
	if len(rows) != 3 || !strings.Contains(rows[1], "'=山田　太郎") || !strings.Contains(rows[1], ",yes,2,1,") || !strings.Contains(rows[2], b4.Name) {
		t.Errorf("reconcile CSV:\n%s", csvOut)
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	spki, _ = x509.MarshalPKIXPublicKey(otherKey.Public())
	writePEM(t, filepath.Join(dir, "other.pub"), "PUBLIC KEY", spki)
	if _, errs, err = run("", "gate", "kiosk", "reconcile", "--site", "shelter-1", "--kiosk-pub", filepath.Join(dir, "other.pub"), journal); err == nil ||
		!strings.Contains(errs, "rejected "+journal+" line 1: unknown kiosk") {
		t.Errorf("reconcile with another kiosk's key: %v %s", err, errs)
	}

	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, bytes.Replace(rb, []byte(`"mode":"open"`), []byte(`"mode":"everyone"`), 1), 0o600)
	if _, _, err = run("", args(bad)...); err == nil || !strings.Contains(err.Error(), `mode "everyone"`) {
		t.Errorf("a malformed roster: %v", err)
	}
	big := filepath.Join(dir, "big.json")
	os.WriteFile(big, append(rb, bytes.Repeat([]byte(" "), kiosk.MaxRosterSize)...), 0o600)
	if _, _, err = run("", args(big)...); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("an oversized roster: %v", err)
	}

	// The staff page: the live count and the exports, for signed-in staff only.
	in, feed := io.Pipe()
	var sout, serrs lockedBuffer
	root := newRoot()
	root.SetArgs(args(rosterFile, "--listen", "127.0.0.1:0"))
	root.SetIn(in)
	root.SetOut(&sout)
	root.SetErr(&serrs)
	done := make(chan error, 1)
	go func() { done <- root.Execute() }()
	var base, code string
	waitFor(t, "the staff page's address and code", func() bool {
		m := regexp.MustCompile(`staff page: (http://\S+)/\nstaff sign-in code: (\S+)\n`).FindStringSubmatch(serrs.String())
		if m != nil {
			base, code = m[1], m[2]
		}
		return m != nil
	})
	if r, err := (&httpClientNoJar).Get(base + "/export/records.csv"); err != nil || r.StatusCode != 403 {
		t.Errorf("export without sign-in: %v %v", err, r)
	}
	c := staffSession(t, base, code)
	io.WriteString(feed, "tap 2 1234\n")
	waitFor(t, "the tap on the page", func() bool { return strings.Contains(body(t, c, base+"/status.json"), `"latest":1`) })
	page := body(t, c, base+"/")
	for _, w := range []string{"受付", "ADMIT", b4.Name, "到着を記録しました", "/export/reconcile.csv"} {
		if !strings.Contains(page, w) {
			t.Errorf("the kiosk page lacks %q", w)
		}
	}
	if got := body(t, c, base+"/export/records.csv"); !strings.Contains(got, "'=山田　太郎") || strings.Count(got, "\n") != 7 {
		t.Errorf("records export:\n%s", got)
	}
	feed.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// gate kiosk enroll creates a roster with a fresh key, adds a card's holder named from the card
// and another by --name, refuses the same card twice and a missing roster without --site; the
// kiosk then admits the enrolled cards and refuses the others as not on the roster.
func TestGateKioskEnroll(t *testing.T) {
	dir, _, cardA, cardB, cardC, crlPath := kioskFixture(t)
	roster := filepath.Join(dir, "office.json")
	enroll := func(extra ...string) (string, string, error) {
		return runCLI("", append([]string{"gate", "kiosk", "enroll", "--roster", roster, "--pin", "1234"}, extra...)...)
	}
	if _, _, err := enroll("--card", cardA, "--id", "emp-1"); err == nil || !strings.Contains(err.Error(), "give --site") {
		t.Errorf("a missing roster without --site: %v", err)
	}
	out, _, err := enroll("--card", cardA, "--id", "emp-1", "--site", "office-7")
	if err != nil || !strings.Contains(out, "enrolled emp-1  "+testkit.Taro().Name+"  (1 on the roster of office-7)") {
		t.Fatalf("enroll A: %v %s", err, out)
	}
	if _, _, err = enroll("--card", cardA, "--id", "emp-9"); err == nil || !strings.Contains(err.Error(), "same holder") {
		t.Errorf("the same card twice: %v", err)
	}
	if _, _, err = enroll("--card", cardB, "--id", "emp-2", "--name", "@受付"); err != nil {
		t.Fatal(err)
	}
	if _, _, err = enroll("--card", cardB, "--id", "emp-3", "--pin", "9999"); err == nil {
		t.Errorf("a wrong PIN enrolled a card")
	}
	ro, err := readRoster(roster)
	if err != nil || len(ro.Entries) != 2 || ro.Mode != kiosk.ModeRoster || ro.Entries[1].Name != "@受付" {
		t.Fatalf("roster after enrolment: %v %+v", err, ro)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	writePEM(t, filepath.Join(dir, "kiosk.pem"), "PRIVATE KEY", p8)
	out, _, err = runCLI("tap 1 1234\ntap 2 1234\ntap 3 1234\n", "gate", "kiosk", "--roster", roster, "--ca-cert", filepath.Join(dir, "ca.pem"), "--crl", crlPath,
		"--kiosk-key", filepath.Join(dir, "kiosk.pem"), "--journal", filepath.Join(dir, "journal"), "--card", cardA, "--card", cardB, "--card", cardC)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"ARRIVE  emp-1  " + testkit.Taro().Name, "ARRIVE  emp-2  @受付  (roster)", "REJECT not-on-roster"} {
		if !strings.Contains(out, w) {
			t.Errorf("kiosk output lacks %q:\n%s", w, out)
		}
	}
}
