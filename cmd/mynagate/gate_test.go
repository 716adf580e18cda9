package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jpki"
)

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// gateRunFixture writes what a lane needs into a temporary directory: two cards (A holds
// ticket t1), the signed manifest, the service's public key (svc.pem) and the gate's key
// (gate.pem).
func gateRunFixture(t *testing.T) (dir, cardA, cardB, mf string, m *manifest.Manifest, env []byte) {
	sim, clk, _ := testkit.Simulator(t)
	dir = t.TempDir()
	cardA, cardB = testkit.CardFile(t, sim, testkit.Taro()), testkit.CardFile(t, sim, testkit.Hanako())
	cfA, err := jpki.LoadCardFile(cardA)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := sim.CRL(t.Context(), "auth")
	if err != nil {
		t.Fatal(err)
	}
	crlDER, _ := os.ReadFile(crl.Path)
	ca, _ := sim.CACertificate("auth")
	// The simulator's clock is fake; the lane runs on the real one, so the manifest covers both.
	now := time.Now()
	m = &manifest.Manifest{Event: "ev1", IssuedAt: now, NotBefore: clk.Now().Add(-time.Hour), NotAfter: now.Add(time.Hour),
		CommitKey: bytes.Repeat([]byte{1}, 32), CardKey: bytes.Repeat([]byte{3}, 32), CodeKey: bytes.Repeat([]byte{2}, 32), CACerts: [][]byte{ca.Raw}, CRLs: [][]byte{crlDER}}
	m.Tickets = []manifest.Ticket{{ID: "t1", Event: "ev1", Seat: "A-1", Status: "valid", Name: "山田　太郎", Holder: m.HolderOf(cfA.Auth.Cert)}}
	svcPub, svc, _ := ed25519.GenerateKey(rand.Reader)
	env, err = manifest.Sign(m, svc)
	if err != nil {
		t.Fatal(err)
	}
	mf = filepath.Join(dir, "manifest.json")
	os.WriteFile(mf, env, 0o600)
	spki, _ := x509.MarshalPKIXPublicKey(svcPub)
	writePEM(t, filepath.Join(dir, "svc.pem"), "PUBLIC KEY", spki)
	_, gk, _ := ed25519.GenerateKey(rand.Reader)
	p8, _ := x509.MarshalPKCS8PrivateKey(gk)
	writePEM(t, filepath.Join(dir, "gate.pem"), "PRIVATE KEY", p8)

	return dir, cardA, cardB, mf, m, env
}

// gate run drives a lane from stdin with in-process card taps, journals its admissions and
// remembers them across a restart; a tampered or other event's manifest stops it at once.
func TestGateRun(t *testing.T) {
	dir, cardA, cardB, mf, m, env := gateRunFixture(t)

	lane := func(event, manifestPath, stdin string) (string, error) {
		root := newRoot()
		var out bytes.Buffer
		root.SetArgs([]string{"gate", "run", "--event", event, "--lane", "1", "--manifest", manifestPath, "--service-key", filepath.Join(dir, "svc.pem"),
			"--gate-key", filepath.Join(dir, "gate.pem"), "--journal", filepath.Join(dir, "journal"), "--card", cardA, "--card", cardB})
		root.SetIn(strings.NewReader(stdin))
		root.SetOut(&out)
		err := root.Execute()
		return out.String(), err
	}
	step := time.Now().Unix() / 15
	code := "MGT1.t1." + strconv.FormatInt(step, 10) + "." + manifest.CodeMAC(m.CodeKey, "t1", 0, step)
	out, err := lane("ev1", mf, "tap 2 1234\ncode "+code+" tap 2 1234\ntap 1 1234\ntap 1 1234\ncount\nhello\ntap 9 1234\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"REJECT no-ticket", "REJECT not-the-holder", "ADMIT  ticket t1  seat A-1  山田　太郎", "REJECT already-entered", "admitted 1", "REJECT malformed: cannot read \"hello\"", "REJECT malformed: no card \"9\""} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	// Restarted, the lane still knows t1 is in.
	if out, err = lane("ev1", mf, "code "+code+"\n"); err != nil || !strings.Contains(out, "REJECT already-entered") {
		t.Fatalf("after a restart: %v\n%s", err, out)
	}
	if _, err = lane("ev2", mf, ""); err == nil || !strings.Contains(err.Error(), "manifest-wrong-event") {
		t.Fatalf("another event's manifest: %v", err)
	}
	tampered := filepath.Join(dir, "tampered.json")
	bad := bytes.Clone(env)
	i := bytes.Index(bad, []byte(`"payload":"`)) + 40 // a character inside the base64 payload
	if bad[i] == 'A' {
		bad[i] = 'B'
	} else {
		bad[i] = 'A'
	}
	os.WriteFile(tampered, bad, 0o600)
	if _, err = lane("ev1", tampered, ""); err == nil || !strings.Contains(err.Error(), "manifest-bad-signature") {
		t.Fatalf("a tampered manifest: %v", err)
	}
}
