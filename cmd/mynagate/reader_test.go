package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mynagate/mynagate/card/cardtest"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/reader"
)

// readerCards writes the card files every reader script starts with: card.json (a card),
// phone.json (an Android credential), kid.json (no signing certificate), and the PIN files
// auth.pin, sign.pin, support.pin and bad.pin.
func readerCards(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{
		"auth.pin":    []byte(cardtest.AuthPIN + "\n"),
		"sign.pin":    []byte(cardtest.SignPassword + "\n"),
		"support.pin": []byte(cardtest.SupportPIN + "\n"),
		"bad.pin":     []byte("9999\n"),
	}
	for name, medium := range map[string]jpki.Medium{"card.json": jpki.MediumCard, "phone.json": jpki.MediumAndroid, "kid.json": jpki.MediumCard} {
		cf := cardtest.CardFile(t, medium)
		if name == "kid.json" {
			cf.Sign = nil
		}
		b, err := json.MarshalIndent(cf, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	return files
}

func writeFiles(dir string, files map[string][]byte) error {
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// TestReaderScripts runs the `mynagate reader` scenarios against card files in-process
// (testdata/reader/*.txtar).
func TestReaderScripts(t *testing.T) {
	files := readerCards(t)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/reader",
		Setup: func(env *testscript.Env) error {
			// No pcscd here: a command that forgets --card must not find one.
			env.Setenv("PCSCLITE_CSOCK_NAME", filepath.Join(env.WorkDir, "no-pcscd.comm"))
			return writeFiles(env.WorkDir, files)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitlock": waitLock,
		},
	})
}

// TestReaderScriptsPCSC runs the scenarios of testdata/reader-pcscd through a private pcscd with
// vpcd, each script with its own daemon: $PCSCLITE_CSOCK_NAME names its socket, $VPCD the
// address where `mynagate card insert --vpcd $VPCD` inserts a card (reader $READER), $VPCD2 the
// second, empty slot. The script command `waitreader READER empty|card|busy` waits for a reader
// state. Under CI=true a missing pcscd fails the test.
func TestReaderScriptsPCSC(t *testing.T) {
	files := readerCards(t)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/reader-pcscd",
		Setup: func(env *testscript.Env) error {
			tb, ok := env.T().(testing.TB)
			if !ok {
				tb = t
			}
			d := pcsctest.Start(tb)
			env.Setenv("PCSCLITE_CSOCK_NAME", d.Socket)
			env.Setenv("VPCD", d.VPCDAddr)
			env.Setenv("VPCD2", d.VPCDAddr2)
			env.Setenv("READER", pcsctest.ReaderName(0))
			return writeFiles(env.WorkDir, files)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitreader": waitReader,
		},
	})
}

// waitReader is the script command `waitreader READER empty|card|busy`: wait (up to 15 s) until
// pcscd reports that state for READER. After busy it waits 300 ms more, so that the background
// command that took the card is inside its card session before the script acts.
func waitReader(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitreader READER empty|card|busy")
	}
	want := args[1]
	if want != "empty" && want != "card" && want != "busy" {
		ts.Fatalf("waitreader: unknown state %q", want)
	}
	ctx := context.Background()
	p, err := reader.DialPCSC(ctx, reader.WithSocket(ts.Getenv("PCSCLITE_CSOCK_NAME")))
	ts.Check(err)
	defer p.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		rs, err := p.Readers(ctx)
		ts.Check(err)
		for _, r := range rs {
			if r.Name != args[0] {
				continue
			}
			state := "empty"
			switch {
			case r.Busy:
				state = "busy"
			case r.CardPresent:
				state = "card"
			}
			if state == want {
				if want == "busy" {
					time.Sleep(300 * time.Millisecond)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s never became %s", args[0], want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLock is the script command `waitlock CARD`: wait (up to 15 s) until a process holds the
// card file's lock (the lock file names its pid).
func waitLock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitlock CARD")
	}
	path := jpki.LockPath(ts.MkAbs(args[0]))
	deadline := time.Now().Add(15 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("nobody took the lock of %s", args[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
