package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/card/vpcd"
	"github.com/mynagate/mynagate/internal/pcsctest"
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

	stdinR, stdinW := io.Pipe()
	outR, outW := io.Pipe()
	root := newRoot()
	root.SetArgs([]string{"gate", "run", "--event", "ev1", "--lane", "1", "--manifest", mf, "--service-key", filepath.Join(dir, "svc.pem"),
		"--gate-key", filepath.Join(dir, "gate.pem"), "--journal", filepath.Join(dir, "journal"),
		"--reader", pcsctest.ReaderName(0), "--pcsc-socket", d.Socket, "--tap-wait", "3s"})
	root.SetIn(stdinR)
	root.SetOut(outW)
	exited := make(chan error, 1)
	go func() { err := root.Execute(); outW.Close(); exited <- err }()
	lines := bufio.NewScanner(outR)
	next := func(input string) string {
		t.Helper()
		if _, err := io.WriteString(stdinW, input+"\n"); err != nil {
			t.Fatal(err)
		}
		if !lines.Scan() {
			t.Fatalf("the lane stopped after %q: %v", input, <-exited)
		}
		return lines.Text()
	}

	remove := insertCard(t, d.VPCDAddr, cardA)
	if got := next("tap 1234"); !strings.HasPrefix(got, "ADMIT  ticket t1  seat A-1") {
		t.Fatalf("first tap: %s", got)
	}
	if got := next("tap 1234"); !strings.Contains(got, "still in the reader") {
		t.Fatalf("a tap with the last card still on the reader: %s", got)
	}
	if got := next("tap 1 1234"); !strings.Contains(got, "the PIN is 4 digits") {
		t.Fatalf("a card-file tap line on a reader lane: %s", got)
	}
	remove()
	insertCard(t, d.VPCDAddr, cardA)
	if got := next("tap 1234"); !strings.HasPrefix(got, "REJECT already-entered") {
		t.Fatalf("the same card again: %s", got)
	}
	if got := next("count"); got != "admitted 1" {
		t.Fatalf("count: %s", got)
	}
	stdinW.Close()
	if err := <-exited; err != nil {
		t.Fatal(err)
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
