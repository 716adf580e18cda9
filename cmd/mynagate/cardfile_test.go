package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
)

// failingSave is a card file whose write fails after J-LIS issued the card (a full disk).
type failingSave struct{ got *jpki.CardFile }

func (f *failingSave) commit(cf *jpki.CardFile) error {
	f.got = cf
	return errors.New("write card file x.json: no space left on device")
}
func (f *failingSave) abort() {}

// A card whose file cannot be written after issuance leaves no valid certificate in J-LIS: its
// keys exist nowhere, so its certificates are revoked as discarded before handing over.
func TestIssueToFailedWriteRevokes(t *testing.T) {
	ctx := context.Background()
	sim, _, _ := testkit.Simulator(t)
	save := &failingSave{}
	_, err := issueTo(ctx, sim, jlis.IssueRequest{Basic4: testkit.Taro()}, save)
	if err == nil || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), "revoked (discarded)") {
		t.Fatalf("issueTo: %v", err)
	}
	for _, der := range [][]byte{save.got.Auth.Cert, save.got.Sign.Cert} {
		ref, err := sim.RefOf(der)
		if err != nil {
			t.Fatal(err)
		}
		st, err := sim.Status(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Revoked || st.Reason == nil || *st.Reason != jlis.ReasonUnspecified {
			t.Errorf("%s after a failed write: revoked %v reason %v, want revoked unspecified (discarded)", ref, st.Revoked, st.Reason)
		}
	}
}

// A card file that can be written is written whole, readable only by its owner, and never over
// an existing file.
func TestIssueToWrites(t *testing.T) {
	ctx := context.Background()
	sim, _, _ := testkit.Simulator(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "taro.json")
	p, err := prepareCardFile(out, false)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := issueTo(ctx, sim, jlis.IssueRequest{Basic4: testkit.Taro()}, p)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := jpki.LoadCardFile(out)
	if err != nil || cf.CardSerial != iss.Card.CardSerial {
		t.Fatalf("written card: %v", err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("card file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if _, err := prepareCardFile(out, false); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("prepare over an existing card file: %v", err)
	}
	// The path appears between preparing and writing: the write fails rather than overwrite it.
	other := filepath.Join(dir, "other.json")
	p, err = prepareCardFile(other, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, []byte("someone else's"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.commit(cf); err == nil {
		t.Error("commit overwrote a file that appeared meanwhile")
	}
	if b, _ := os.ReadFile(other); string(b) != "someone else's" {
		t.Errorf("other.json now holds %q", b)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".card-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
