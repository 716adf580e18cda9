package jpki

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A card file holds the card's mutable state (PIN retry counters, PINs), and every program that
// runs the card writes it back after each change. Two programs running the same card file at
// once would each write its own copy, the second undoing the first (a blocked PIN unblocked, a
// wrong try forgotten). LockCardFile makes one program at a time the card's user.
//
// The lock is flock(2) on a file next to the card file, CARD.lock (the card file itself is
// replaced by rename on every save, so it cannot carry the lock). The kernel releases it when its
// holder exits however it exits, so a lock left by a dead process never blocks anyone; the lock
// file only tells a refused program who holds the card. x/sys/unix's Flock is the whole
// mechanism: no library adds more than this for a single-host, advisory lock.

// CardInUseError says that another process holds a card file's lock.
type CardInUseError struct {
	Path string // the card file
	PID  int    // the holder's process id; 0 when it could not be read
	By   string // what the holder is doing (e.g. "mynagate card insert"), if it said
}

func (e *CardInUseError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "pid " + strconv.Itoa(e.PID)
	}
	if e.By != "" {
		who += " (" + e.By + ")"
	}
	return fmt.Sprintf("card file %s is in use by %s; one program at a time may use a card", e.Path, who)
}

// CardLock is a held lock on a card file.
type CardLock struct {
	f    *os.File
	path string
}

// LockPath returns the lock file of a card file.
func LockPath(cardPath string) string { return cardPath + ".lock" }

// LockCardFile takes the lock of the card file at path for this process, or returns a
// *CardInUseError naming the process that holds it. by says what this process does with the
// card; it is shown to the processes it refuses. The card file need not exist yet (issuance locks
// the file it is about to create).
func LockCardFile(path, by string) (*CardLock, error) {
	lp := LockPath(path)
	for attempt := 0; attempt < 10; attempt++ {
		f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("jpki: lock card file: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, inUse(path, lp)
			}
			return nil, fmt.Errorf("jpki: lock card file %s: %w", lp, err)
		}
		// The holder before us removes the lock file while it still holds the lock; if that
		// happened between our open and our flock, we hold a lock on a file nobody else sees:
		// start again with the file now at the path.
		held, err1 := f.Stat()
		now, err2 := os.Stat(lp)
		if err1 != nil || err2 != nil || !os.SameFile(held, now) {
			f.Close()
			continue
		}
		// Who holds the lock is only told to those refused: the lock holds even if this fails.
		if f.Truncate(0) == nil {
			_, _ = f.WriteAt([]byte(fmt.Sprintf("%d\n%s\n", os.Getpid(), by)), 0)
		}
		return &CardLock{f: f, path: lp}, nil
	}
	return nil, fmt.Errorf("jpki: lock card file %s: it keeps being replaced", lp)
}

// inUse reads who holds the lock file lp.
func inUse(path, lp string) error {
	e := &CardInUseError{Path: path}
	b, err := os.ReadFile(lp)
	if err != nil {
		return e
	}
	lines := strings.SplitN(string(b), "\n", 3)
	if pid, err := strconv.Atoi(strings.TrimSpace(lines[0])); err == nil && pid > 0 {
		e.PID = pid
	}
	if len(lines) > 1 {
		e.By = strings.TrimSpace(lines[1])
	}
	return e
}

// Unlock releases the lock and removes the lock file. It may be called more than once.
func (l *CardLock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	os.Remove(l.path) // while still holding the lock: see LockCardFile
	l.f.Close()
	l.f = nil
}
