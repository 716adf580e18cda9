package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/card/vpcd"
	"github.com/mynagate/mynagate/gate/kiosk"
	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/jpki"
)

// insertCard serves the card file into vpcd at addr until the returned remove is called, and
// waits until the card is in the reader.
func insertCard(t *testing.T, addr, file string) (remove func()) {
	t.Helper()
	c, err := card.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	in := make(chan struct{}, 1)
	go func() {
		defer close(done)
		vpcd.Serve(ctx, addr, c, vpcd.WithStateHook(func(s vpcd.State) {
			if s == vpcd.Inserted {
				select {
				case in <- struct{}{}:
				default:
				}
			}
		}))
	}()
	removed := false
	remove = func() {
		if !removed {
			removed = true
			cancel()
			<-done
		}
	}
	t.Cleanup(remove)
	select {
	case <-in:
	case <-time.After(15 * time.Second):
		t.Fatal("the card never connected to vpcd")
	}
	return remove
}

// A lane with --reader taps the virtual card through a private pcscd: ADMIT, then a second tap
// with the card still lying on the reader is refused until it is removed, and the same card put
// back is already-entered.
func TestGateRunPCSCReader(t *testing.T) {
	d := pcsctest.Start(t)
	dir, cardA, _, mf, _, _ := gateRunFixture(t)

	next, stop := pipeCLI(t, "gate", "run", "--event", "ev1", "--lane", "1", "--manifest", mf, "--service-key", filepath.Join(dir, "svc.pem"),
		"--gate-key", filepath.Join(dir, "gate.pem"), "--journal", filepath.Join(dir, "journal"),
		"--reader", pcsctest.ReaderName(0), "--pcsc-socket", d.Socket, "--tap-wait", "3s")
	tapTwice(t, d, cardA, next, "ADMIT  ticket t1  seat A-1", "REJECT already-entered")
	if got := next("count"); got != "admitted 1" {
		t.Fatalf("count: %s", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// tapTwice inserts card into the reader and taps it (first), taps again with it still on the
// reader (refused), sends a card-file tap line (refused before the card is touched), then puts
// the card back and taps it (again).
func tapTwice(t *testing.T, d *pcsctest.Daemon, card string, next func(string) string, first, again string) {
	t.Helper()
	remove := insertCard(t, d.VPCDAddr, card)
	if got := next("tap 1234"); !strings.HasPrefix(got, first) {
		t.Fatalf("first tap: %s", got)
	}
	if got := next("tap 1234"); !strings.Contains(got, "still in the reader") {
		t.Fatalf("a tap with the last card still on the reader: %s", got)
	}
	if got := next("tap 1 1234"); !strings.Contains(got, "the PIN is 4 digits") {
		t.Fatalf("a card-file tap line with --reader: %s", got)
	}
	remove()
	insertCard(t, d.VPCDAddr, card)
	if got := next("tap 1234"); !strings.HasPrefix(got, again) {
		t.Fatalf("the same card again: %s", got)
	}
}

// pipeCLI runs the CLI with argv in the background; next writes one line to its stdin and
// returns the next line of its stdout, stop closes stdin and returns the command's error.
func pipeCLI(t *testing.T, argv ...string) (next func(string) string, stop func() error) {
	stdinR, stdinW := io.Pipe()
	outR, outW := io.Pipe()
	root := newRoot()
	root.SetArgs(argv)
	root.SetIn(stdinR)
	root.SetOut(outW)
	exited := make(chan error, 1)
	go func() { err := root.Execute(); outW.Close(); exited <- err }()
	lines := bufio.NewScanner(outR)
	next = func(input string) string {
		t.Helper()
		if _, err := io.WriteString(stdinW, input+"\n"); err != nil {
			t.Fatal(err)
		}
		if !lines.Scan() {
			t.Fatalf("%s stopped after %q: %v", argv[1], input, <-exited)
		}
		return lines.Text()
	}
	stop = func() error { stdinW.Close(); return <-exited }
	t.Cleanup(func() { stdinW.Close() })
	return next, stop
}

// A kiosk with --reader: a tap through pcscd is an arrival, a tap with that card still on the
// reader is refused, and the card put back is the departure.
func TestGateKioskPCSCReader(t *testing.T) {
	d := pcsctest.Start(t)
	dir, _, cardA, _, _, crlPath := kioskFixture(t)
	cfA, err := jpki.LoadCardFile(cardA)
	if err != nil {
		t.Fatal(err)
	}
	ckey := bytes.Repeat([]byte{3}, 32)
	ro := kiosk.Roster{Format: kiosk.RosterFormat, Site: "office", Mode: kiosk.ModeRoster, CommitKey: ckey,
		Entries: []kiosk.Person{{ID: "e-1", Holder: manifest.Commit(ckey, sha256.Sum256(cfA.Auth.Cert)), Name: "山田　太郎"}}}
	rb, _ := json.Marshal(ro)
	os.WriteFile(filepath.Join(dir, "roster.json"), rb, 0o600)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	writePEM(t, filepath.Join(dir, "kiosk.pem"), "PRIVATE KEY", p8)
	next, stop := pipeCLI(t, "gate", "kiosk", "--roster", filepath.Join(dir, "roster.json"), "--ca-cert", filepath.Join(dir, "ca.pem"), "--crl", crlPath,
		"--kiosk-key", filepath.Join(dir, "kiosk.pem"), "--journal", filepath.Join(dir, "journal"),
		"--reader", pcsctest.ReaderName(0), "--pcsc-socket", d.Socket, "--tap-wait", "3s")

	tapTwice(t, d, cardA, next, "ARRIVE  e-1", "LEAVE  e-1")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Without its reader the kiosk does not start.
	_, _, err = runCLI("", "gate", "kiosk", "--roster", filepath.Join(dir, "roster.json"), "--ca-cert", filepath.Join(dir, "ca.pem"), "--crl", crlPath,
		"--kiosk-key", filepath.Join(dir, "kiosk.pem"), "--journal", filepath.Join(dir, "journal"), "--reader", "No Such Reader", "--pcsc-socket", d.Socket)
	if err == nil || !strings.Contains(err.Error(), `no reader named "No Such Reader"`) {
		t.Errorf("a kiosk without its reader: %v", err)
	}
}

// A lane whose reader is missing, or whose pcscd is not running, stops at start with one line
// naming the problem.
func TestGateRunPCSCNoReader(t *testing.T) {
	dir, cardA, _, mf, _, _ := gateRunFixture(t)
	run := func(extra ...string) error {
		root := newRoot()
		root.SetArgs(append([]string{"gate", "run", "--event", "ev1", "--lane", "1", "--manifest", mf, "--service-key", filepath.Join(dir, "svc.pem"),
			"--gate-key", filepath.Join(dir, "gate.pem"), "--journal", filepath.Join(dir, "journal")}, extra...))
		root.SetIn(strings.NewReader("tap 1234\n"))
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		return root.Execute()
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--reader", "Any", "--pcsc-socket", filepath.Join(dir, "no-pcscd.comm")}, `PC/SC reader "Any": reader: connect to pcscd`},
		{[]string{"--reader", "Any", "--card", cardA}, "--reader and --card exclude each other"},
		{[]string{"--pcsc-socket", filepath.Join(dir, "no-pcscd.comm")}, "--pcsc-socket needs --reader"},
	} {
		err := run(c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v, want one line with %q", c.args, err, c.want)
		}
	}
	d := pcsctest.Start(t)
	err := run("--reader", "No Such Reader", "--pcsc-socket", d.Socket)
	if err == nil || !strings.Contains(err.Error(), `no reader named "No Such Reader"`) || strings.Contains(err.Error(), "\n") {
		t.Errorf("an unknown reader: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "journal")); len(bytes.TrimSpace(b)) != 0 {
		t.Errorf("a lane that did not start wrote its journal: %q", b)
	}
}
