//go:build linux

package revocation

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestFaultOnTruncatedMapping truncates a mapped file and checks that touching the vanished
// pages is an error, not a crash.
func TestFaultOnTruncatedMapping(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.crl")
	if err := os.WriteFile(path, make([]byte, 3*os.Getpagesize()), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, unmap, err := mapFile(f, int64(3*os.Getpagesize()))
	if err != nil {
		t.Fatal(err)
	}
	defer unmap()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	var sink byte
	err = guardFaults(func() error {
		sink = b[2*os.Getpagesize()]
		return nil
	})
	var fe *faultError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (read %d); want a *faultError", err, sink)
	}
}
