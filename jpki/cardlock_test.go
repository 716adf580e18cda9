package jpki_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mynagate/mynagate/jpki"
)

func TestLockCardFile(t *testing.T) {
	card := filepath.Join(t.TempDir(), "taro.json")
	l, err := jpki.LockCardFile(card, "mynagate card insert")
	if err != nil {
		t.Fatal(err)
	}
	// A second user is refused, and told who holds the card (flock conflicts between two open
	// files even in one process).
	_, err = jpki.LockCardFile(card, "mynagate reader")
	var inUse *jpki.CardInUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("second lock: %v, want a CardInUseError", err)
	}
	if inUse.PID != os.Getpid() || inUse.By != "mynagate card insert" || inUse.Path != card {
		t.Errorf("in use: %+v", inUse)
	}
	want := "card file " + card + " is in use by pid "
	if got := err.Error(); len(got) < len(want) || got[:len(want)] != want {
		t.Errorf("message %q", got)
	}
	l.Unlock()
	l.Unlock() // twice is harmless
	if _, err := os.Stat(jpki.LockPath(card)); !os.IsNotExist(err) {
		t.Errorf("lock file left after Unlock: %v", err)
	}
	l2, err := jpki.LockCardFile(card, "mynagate reader")
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l2.Unlock()
}

// A lock file left by a process that died holds no lock: the next user takes the card.
func TestLockCardFileStale(t *testing.T) {
	card := filepath.Join(t.TempDir(), "taro.json")
	if err := os.WriteFile(jpki.LockPath(card), []byte("999999999\nmynagate card insert\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := jpki.LockCardFile(card, "mynagate reader")
	if err != nil {
		t.Fatalf("stale lock file refused: %v", err)
	}
	defer l.Unlock()
	_, err = jpki.LockCardFile(card, "x")
	var inUse *jpki.CardInUseError
	if !errors.As(err, &inUse) || inUse.PID != os.Getpid() || inUse.By != "mynagate reader" {
		t.Fatalf("lock file not rewritten for its new holder: %v", err)
	}
}

func TestLockCardFileUnwritableDir(t *testing.T) {
	if _, err := jpki.LockCardFile(filepath.Join(t.TempDir(), "no", "such", "taro.json"), "x"); err == nil {
		t.Fatal("locked a card file in a directory that does not exist")
	}
}
