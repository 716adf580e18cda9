package evidence_test

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/evidence/evidencetest"
	"github.com/mynagate/mynagate/evidence/memory"
)

func TestLoadKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "evidence")
	k1, err := evidence.LoadKeys(dir, evidence.DefaultOrigin, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{evidence.SigningKeyFile: 0o600, evidence.MasterKeyFile: 0o600, evidence.PublicKeyFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	pub, _ := os.ReadFile(filepath.Join(dir, evidence.PublicKeyFile))
	if strings.TrimSpace(string(pub)) != k1.Public.String() || !strings.HasPrefix(k1.Public.String(), evidence.DefaultOrigin+"+") {
		t.Errorf("log.pub = %q, key %q", pub, k1.Public)
	}

	// A second start reads the same keys: a data key wrapped by the first opens with the second.
	c := bg(t)
	s := memory.New()
	l1, err := evidence.New(s, k1)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l1, s, 0, 2)
	k2, err := evidence.LoadKeys(dir, evidence.DefaultOrigin, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := evidence.New(s, k2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l2.Bundle(c, "t_a", evidencetest.Entry(1, "t_a").ID, true)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := b.Marshal()
	if v, err := evidence.VerifyBundle(data, k1.Public); err != nil || v.Personal == nil {
		t.Fatalf("bundle made with reloaded keys: %v", err)
	}

	// A missing log.pub is rewritten; a wrong one, or another origin, is refused.
	os.Remove(filepath.Join(dir, evidence.PublicKeyFile))
	if _, err := evidence.LoadKeys(dir, evidence.DefaultOrigin, rand.Reader); err != nil {
		t.Errorf("LoadKeys without log.pub: %v", err)
	}
	if _, err := evidence.LoadKeys(dir, "other.example/log", rand.Reader); err == nil || !strings.Contains(err.Error(), "is the key of log") {
		t.Errorf("LoadKeys(another origin) = %v", err)
	}
	os.WriteFile(filepath.Join(dir, evidence.PublicKeyFile), []byte(otherLogKeys(t).Public.String()+"\n"), 0o644)
	if _, err := evidence.LoadKeys(dir, evidence.DefaultOrigin, rand.Reader); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("LoadKeys(mismatched log.pub) = %v", err)
	}
}

func TestLoadKeysConcurrentFirstStart(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	keys := make([]*evidence.Keys, 8)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := evidence.LoadKeys(dir, evidence.DefaultOrigin, rand.Reader)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	if keys[0] == nil {
		t.Fatal("the first node has no keys")
	}
	for _, k := range keys[1:] {
		if k == nil || k.Public.String() != keys[0].Public.String() || k.Wrap.CurrentID() != keys[0].Wrap.CurrentID() {
			t.Fatal("nodes starting together ended up with different keys")
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestKeyringRotation(t *testing.T) {
	old := bytes.Repeat([]byte{1}, 32)
	oldRing, err := evidence.NewKeyring(old)
	if err != nil {
		t.Fatal(err)
	}
	k := *evidencetest.Keys(t)
	k.Wrap = oldRing
	s := memory.New()
	l, err := evidence.New(s, &k)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, s, 0, 1)
	// Rotate: a new current key, the old one kept for unwrapping.
	newRing, err := evidence.NewKeyring(bytes.Repeat([]byte{2}, 32), old)
	if err != nil {
		t.Fatal(err)
	}
	k.Wrap = newRing
	l, _ = evidence.New(s, &k)
	fill(t, l, s, 1, 1)
	for i := 0; i < 2; i++ {
		b, err := l.Bundle(bg(t), "t_a", evidencetest.Entry(i, "t_a").ID, true)
		if err != nil || b.DataKey == nil {
			t.Errorf("entry %d after rotation: %v", i, err)
		}
	}
	// Without the old key the old entry's data key cannot be unwrapped.
	k.Wrap, _ = evidence.NewKeyring(bytes.Repeat([]byte{2}, 32))
	l, _ = evidence.New(s, &k)
	if _, err := l.Bundle(bg(t), "t_a", evidencetest.Entry(0, "t_a").ID, true); err == nil || !strings.Contains(err.Error(), "not in the keyring") {
		t.Errorf("Bundle without the old master key = %v", err)
	}
	if _, err := evidence.NewKeyring(make([]byte, 16)); err == nil {
		t.Error("NewKeyring accepted a 16-byte key")
	}
}

func TestParsePublicKey(t *testing.T) {
	k := evidencetest.Keys(t).Public
	got, err := evidence.ParsePublicKey("  " + k.String() + "\n")
	if err != nil || got.String() != k.String() || got.Origin() != evidence.DefaultOrigin || !strings.HasPrefix(got.ID(), evidence.DefaultOrigin+"+") {
		t.Errorf("ParsePublicKey = %v, %v", got, err)
	}
	for _, bad := range []string{"", "nope", "PRIVATE+KEY+x+00000000+AQ=="} {
		if _, err := evidence.ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) succeeded", bad)
		}
	}
}
