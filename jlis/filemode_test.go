package jlis_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
)

// The simulator's data directory holds the CA keys and the residents' facts: after Open and an
// issuance and a CRL, nothing in it is readable by anyone but its owner — also when the
// directory and the database were left readable by an earlier run.
func TestDataDirectoryIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sim")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jlis.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sim, err := jlis.Open(context.Background(), dir, jlis.WithKeyGenerator(testkit.Key))
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	iss := testkit.Issue(t, sim, testkit.Taro())
	if _, err := sim.RevokeCard(context.Background(), iss.Card, jlis.CauseLost, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.CRL(context.Background(), "sign"); err != nil {
		t.Fatal(err)
	}
	n := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n++
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v: others can read the simulator's keys or residents", path, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Fatalf("walked %d entries; the test saw no database", n)
	}
}
