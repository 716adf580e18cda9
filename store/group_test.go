package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// groupOf runs fs as one group of the committer (they are queued before it starts) and returns
// each one's result.
func groupOf(t *testing.T, s *Store, fs []*writeReq) []error {
	t.Helper()
	group := make([]*writeReq, len(fs))
	for i, r := range fs {
		r.ctx, r.done = context.Background(), make(chan error, 1)
		group[i] = r
	}
	s.commitGroup(group)
	out := make([]error, len(fs))
	for i, r := range group {
		out[i] = <-r.done
	}
	return out
}

func openGroupTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "g.db"), WithoutGroupCommit())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.w.Exec(`CREATE TABLE g (k TEXT NOT NULL PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return s
}

func insertG(k string) func(tx *sql.Tx) error {
	return func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO g (k) VALUES ($1)`, k)
		return err
	}
}

func keysOf(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	rows, err := s.w.Query(`SELECT k FROM g`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		out[k] = true
	}
	return out
}

// TestGroupWrites: in a group, a write refused by a statement leaves nothing and fails alone,
// and so does one that fails after it wrote: its savepoint is rolled back, the others commit.
func TestGroupWrites(t *testing.T) {
	s := openGroupTest(t)
	errs := groupOf(t, s, []*writeReq{
		{op: "a", f: insertG("a")},
		{op: "dup", f: insertG("a")}, // refused by the primary key
		{op: "b", f: insertG("b")},
	})
	if errs[0] != nil || errs[2] != nil || violated(errs[1]) != uniqueViolation {
		t.Fatalf("results %v, want the duplicate alone refused", errs)
	}
	if got := keysOf(t, s); len(got) != 2 || !got["a"] || !got["b"] {
		t.Fatalf("rows %v, want a and b", got)
	}

	// A foreign key refuses at the end of its statement, after the row was written.
	if _, err := s.w.Exec(`CREATE TABLE gp (k TEXT NOT NULL PRIMARY KEY REFERENCES g (k))`); err != nil {
		t.Fatal(err)
	}
	insertGP := func(k string) func(tx *sql.Tx) error {
		return func(tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO gp (k) VALUES ($1)`, k)
			return err
		}
	}
	errs = groupOf(t, s, []*writeReq{
		{op: "gp a", f: insertGP("a")},
		{op: "gp none", f: insertGP("none")}, // no such g
		{op: "gp b", f: insertGP("b")},
	})
	if errs[0] != nil || errs[2] != nil || violated(errs[1]) != foreignKeyViolation {
		t.Fatalf("results %v, want the orphan alone refused", errs)
	}
	var orphans, kept int
	if err := s.w.QueryRow(`SELECT count(*) FILTER (WHERE k = 'none'), count(*) FROM gp`).Scan(&orphans, &kept); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 || kept != 2 {
		t.Fatalf("gp holds %d orphans and %d rows, want 0 and 2", orphans, kept)
	}

	late := errors.New("second statement failed")
	errs = groupOf(t, s, []*writeReq{
		{op: "c", f: insertG("c")},
		{op: "partial", f: func(tx *sql.Tx) error {
			if err := insertG("d")(tx); err != nil {
				return err
			}
			return late
		}},
		{op: "e", f: insertG("e")},
	})
	if errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], late) {
		t.Fatalf("results %v, want the partial write alone failed", errs)
	}
	if got := keysOf(t, s); len(got) != 4 || got["d"] || !got["c"] || !got["e"] {
		t.Fatalf("rows %v, want a, b, c and e (d rolled back to its savepoint)", got)
	}
}

// TestStepsRefusedInAGroup runs many racing completions of few sessions through the group
// committer: one completion per session commits, every other is refused with nothing written,
// and none is lost.
func TestStepsRefusedInAGroup(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.w.Exec(`CREATE TABLE b (k TEXT NOT NULL PRIMARY KEY, n INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	steps := func(k string, n int) []step {
		return []step{{query: `INSERT INTO b (k, n) VALUES ($1, $2)`, args: []any{k, n},
			check: func(_ int64, err error) error { return err }}}
	}
	const keys, tries = 8, 16
	var wg sync.WaitGroup
	results := make([]error, keys*tries)
	for i := range keys * tries {
		wg.Go(func() { results[i] = s.runSteps(ctx, "b", steps(fmt.Sprint(i%keys), i), nil) })
	}
	wg.Wait()
	won := 0
	for _, err := range results {
		switch {
		case err == nil:
			won++
		case violated(err) != uniqueViolation:
			t.Errorf("a refused insert failed with %v", err)
		}
	}
	var rows int
	if err := s.w.QueryRow(`SELECT count(*) FROM b`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if won != keys || rows != keys {
		t.Errorf("%d inserts succeeded and %d rows stored, want %d of each", won, rows, keys)
	}
}
