package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

// openCacheTest opens a one-connection caching pool on a fresh SQLite file with a table t.
func openCacheTest(t *testing.T) (*sql.DB, *sql.Conn) {
	t.Helper()
	db, err := openCachingSQLite(filepath.Join(t.TempDir(), "c.db") + "?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.ExecContext(ctx, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return db, conn
}

// cacheState reports the connection's cached statements and how many are busy.
func cacheState(t *testing.T, conn *sql.Conn) (n, busy int) {
	t.Helper()
	err := conn.Raw(func(dc any) error {
		cc, ok := dc.(*cachingConn)
		if !ok {
			return fmt.Errorf("driver connection is %T, not *cachingConn", dc)
		}
		for _, st := range cc.stmts {
			n++
			if st.busy {
				busy++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, busy
}

func TestStmtCacheReusesAndReleases(t *testing.T) {
	_, conn := openCacheTest(t)
	ctx := context.Background()
	base, _ := cacheState(t, conn)
	for i := range 10 {
		if _, err := conn.ExecContext(ctx, `INSERT INTO t (k, v) VALUES ($1, $2)`, i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n, busy := cacheState(t, conn); n != base+1 || busy != 0 {
		t.Fatalf("after 10 inserts of one text: %d cached (%d busy), want %d (0 busy)", n, busy, base+1)
	}
	// Each query sees its own arguments: nothing of an earlier binding leaks into a later use.
	for i := range 10 {
		var v string
		if err := conn.QueryRowContext(ctx, `SELECT v FROM t WHERE k = $1`, i).Scan(&v); err != nil || v != fmt.Sprint("v", i) {
			t.Fatalf("k=%d: %q, %v", i, v, err)
		}
	}
	if _, busy := cacheState(t, conn); busy != 0 {
		t.Fatalf("%d statements still busy after their rows were closed", busy)
	}
	// A constraint failure leaves the cached statement usable.
	if _, err := conn.ExecContext(ctx, `INSERT INTO t (k, v) VALUES ($1, $2)`, 1, "dup"); err == nil {
		t.Fatal("duplicate key inserted")
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO t (k, v) VALUES ($1, $2)`, 11, "v11"); err != nil {
		t.Fatalf("insert after a failed one: %v", err)
	}
}

func TestStmtCacheBusyStatementGetsAFreshOne(t *testing.T) {
	_, conn := openCacheTest(t)
	ctx := context.Background()
	for i := range 3 {
		if _, err := conn.ExecContext(ctx, `INSERT INTO t (k, v) VALUES ($1, 'x')`, i); err != nil {
			t.Fatal(err)
		}
	}
	const q = `SELECT k FROM t WHERE k >= $1 ORDER BY k`
	outer, err := conn.QueryContext(ctx, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for outer.Next() {
		var k int
		if err := outer.Scan(&k); err != nil {
			t.Fatal(err)
		}
		// The same text again while the outer rows are open.
		var inner int
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM (`+q+`)`, k).Scan(&inner); err != nil {
			t.Fatal(err)
		}
		rows, err := conn.QueryContext(ctx, q, k)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if n != 3-k || inner != 3-k {
			t.Fatalf("nested query from %d: %d and %d rows, want %d", k, n, inner, 3-k)
		}
		got = append(got, k)
	}
	if err := outer.Close(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("outer rows %v, want [0 1 2]", got)
	}
	if _, busy := cacheState(t, conn); busy != 0 {
		t.Fatalf("%d statements busy after all rows closed", busy)
	}
}

func TestStmtCacheBoundedAndSchemaChanges(t *testing.T) {
	_, conn := openCacheTest(t)
	ctx := context.Background()
	for i := range maxCachedStmts + 50 {
		var n int
		if err := conn.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d + count(*) FROM t`, i)).Scan(&n); err != nil || n != i {
			t.Fatalf("query %d: %d, %v", i, n, err)
		}
	}
	if n, _ := cacheState(t, conn); n > maxCachedStmts {
		t.Fatalf("%d statements cached, bound %d", n, maxCachedStmts)
	}
	// A cached statement survives a change of the schema it was compiled against.
	if _, err := conn.ExecContext(ctx, `INSERT INTO t (k, v) VALUES (1, 'a')`); err != nil {
		t.Fatal(err)
	}
	const q = `SELECT * FROM t WHERE k = 1`
	var k int
	var v string
	if err := conn.QueryRowContext(ctx, q).Scan(&k, &v); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `ALTER TABLE t ADD COLUMN w TEXT NOT NULL DEFAULT 'new'`); err != nil {
		t.Fatal(err)
	}
	var w string
	if err := conn.QueryRowContext(ctx, q).Scan(&k, &v, &w); err != nil || w != "new" {
		t.Fatalf("after ALTER TABLE: %q, %v", w, err)
	}
}
