package evidence_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"modernc.org/sqlite"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/evidence/evidencetest"
)

// sqliteStorage is a small SQLite evidence.Storage for this package's crash test and
// benchmarks, written the way package store writes SQL (one writer connection whose
// transactions start with BEGIN IMMEDIATE, a read-only pool beside it, WAL, synchronous=FULL,
// times as UTC nanoseconds, $n placeholders), so that its numbers stand for the store's. Sealed
// personal data lives in a table of its own: integration then rewrites only the small entry row,
// and shredding is a DELETE (with secure_delete, the freed pages are zeroed). The
// platform's evidence tables live in package store; this one exists so that the log's protocol
// is measured and crash-tested on a real database within this package.
type sqliteStorage struct {
	w, r *sql.DB
}

const sqliteSchema = `
CREATE TABLE IF NOT EXISTS evidence_entries (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT    NOT NULL UNIQUE,
	tenant_id  TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	leaf       BLOB    NOT NULL,
	leaf_hash  BLOB    NOT NULL,
	idx        INTEGER UNIQUE
) STRICT;
CREATE INDEX IF NOT EXISTS evidence_pending ON evidence_entries (seq) WHERE idx IS NULL;
CREATE INDEX IF NOT EXISTS evidence_by_tenant ON evidence_entries (tenant_id, idx) WHERE idx IS NOT NULL;
CREATE TABLE IF NOT EXISTS evidence_sealed (
	seq         INTEGER PRIMARY KEY REFERENCES evidence_entries (seq),
	sealed      BLOB    NOT NULL,
	wrapped_key BLOB    NOT NULL,
	shred_after INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS evidence_due ON evidence_sealed (shred_after);
CREATE TABLE IF NOT EXISTS evidence_tree (
	one  INTEGER PRIMARY KEY CHECK (one = 1),
	size INTEGER NOT NULL,
	root BLOB    NOT NULL
) STRICT;
INSERT INTO evidence_tree (one, size, root) VALUES (1, 0, x'') ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS evidence_tiles (
	level  INTEGER NOT NULL,
	idx    INTEGER NOT NULL,
	hashes BLOB    NOT NULL,
	PRIMARY KEY (level, idx)
) STRICT;
CREATE TABLE IF NOT EXISTS evidence_checkpoints (
	size      INTEGER PRIMARY KEY,
	root      BLOB    NOT NULL,
	note      BLOB    NOT NULL,
	signed_at INTEGER NOT NULL
) STRICT;
`

func openSQLite(t testing.TB, path string) *sqliteStorage {
	t.Helper()
	s, err := openSQLiteFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.w.Close(); s.r.Close() })
	return s
}

func openSQLiteFile(path string) (*sqliteStorage, error) {
	w, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=secure_delete(1)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	if _, err := w.Exec(sqliteSchema); err != nil {
		return nil, err
	}
	r, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	r.SetMaxOpenConns(4)
	return &sqliteStorage{w: w, r: r}, nil
}

func (s *sqliteStorage) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func unique(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == 2067 || se.Code() == 1555)
}

func (s *sqliteStorage) AddEntries(ctx context.Context, recs []evidence.Record) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		entry, err := tx.PrepareContext(ctx, `INSERT INTO evidence_entries (id, tenant_id, created_at, leaf, leaf_hash)
			VALUES ($1, $2, $3, $4, $5) RETURNING seq`)
		if err != nil {
			return err
		}
		defer entry.Close()
		sealed, err := tx.PrepareContext(ctx, `INSERT INTO evidence_sealed (seq, sealed, wrapped_key, shred_after) VALUES ($1, $2, $3, $4)`)
		if err != nil {
			return err
		}
		defer sealed.Close()
		for _, r := range recs {
			var seq int64
			err := entry.QueryRowContext(ctx, r.ID, r.TenantID, r.Time.UnixNano(), r.LeafData, r.LeafHash[:]).Scan(&seq)
			if unique(err) {
				return fmt.Errorf("sqlite: entry %s: %w", r.ID, evidence.ErrDuplicate)
			}
			if err != nil {
				return err
			}
			if len(r.Sealed) > 0 {
				if _, err := sealed.ExecContext(ctx, seq, r.Sealed, r.WrappedKey, r.ShredAfter.UnixNano()); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (s *sqliteStorage) Unsequenced(ctx context.Context, max int) ([]evidence.Pending, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, leaf_hash FROM evidence_entries WHERE idx IS NULL ORDER BY seq LIMIT $1`, max)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []evidence.Pending
	for rows.Next() {
		var p evidence.Pending
		var h []byte
		if err := rows.Scan(&p.ID, &h); err != nil {
			return nil, err
		}
		p.LeafHash = [32]byte(h)
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *sqliteStorage) Integrate(ctx context.Context, in evidence.Integration) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE evidence_tree SET size = $1, root = $2 WHERE one = 1 AND size = $3`, in.To, in.Root[:], in.From)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 || in.To-in.From != uint64(len(in.IDs)) {
			return fmt.Errorf("sqlite: integrate from %d: %w", in.From, evidence.ErrTreeMoved)
		}
		st, err := tx.PrepareContext(ctx, `UPDATE evidence_entries SET idx = $1 WHERE id = $2 AND idx IS NULL`)
		if err != nil {
			return err
		}
		defer st.Close()
		for i, id := range in.IDs {
			res, err := st.ExecContext(ctx, in.From+uint64(i), id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("sqlite: integrate %s: %w", id, evidence.ErrTreeMoved)
			}
		}
		for _, t := range in.Tiles {
			_, err := tx.ExecContext(ctx, `INSERT INTO evidence_tiles (level, idx, hashes) VALUES ($1, $2, $3)
				ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes`, t.Level, t.Index, t.Hashes)
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *sqliteStorage) Tree(ctx context.Context) (evidence.TreeState, error) {
	var ts evidence.TreeState
	var root []byte
	err := s.r.QueryRowContext(ctx, `SELECT size, root FROM evidence_tree WHERE one = 1`).Scan(&ts.Size, &root)
	copy(ts.Root[:], root)
	return ts, err
}

func (s *sqliteStorage) Tiles(ctx context.Context, ids []evidence.TileID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		err := s.r.QueryRowContext(ctx, `SELECT hashes FROM evidence_tiles WHERE level = $1 AND idx = $2`, id.Level, id.Index).Scan(&out[i])
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
	}
	return out, nil
}

const entryColumns = `e.id, e.tenant_id, e.created_at, e.leaf, e.leaf_hash, s.sealed, s.wrapped_key, s.shred_after, e.idx`

const entryFrom = ` FROM evidence_entries e LEFT JOIN evidence_sealed s ON s.seq = e.seq `

func scanEntries(rows *sql.Rows) ([]evidence.StoredEntry, error) {
	defer rows.Close()
	var out []evidence.StoredEntry
	for rows.Next() {
		var e evidence.StoredEntry
		var created int64
		var shred sql.NullInt64
		var h []byte
		var idx sql.NullInt64
		if err := rows.Scan(&e.ID, &e.TenantID, &created, &e.LeafData, &h, &e.Sealed, &e.WrappedKey, &shred, &idx); err != nil {
			return nil, err
		}
		e.Time = time.Unix(0, created).UTC()
		if shred.Valid {
			e.ShredAfter = time.Unix(0, shred.Int64).UTC()
		}
		e.LeafHash = [32]byte(h)
		e.Sequenced, e.Index = idx.Valid, uint64(idx.Int64)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *sqliteStorage) Entry(ctx context.Context, id string) (*evidence.StoredEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+entryColumns+entryFrom+`WHERE e.id = $1`, id)
	if err != nil {
		return nil, err
	}
	es, err := scanEntries(rows)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("sqlite: entry %s: %w", id, evidence.ErrNotFound)
	}
	return &es[0], nil
}

func (s *sqliteStorage) EntriesByIndex(ctx context.Context, start uint64, limit int) ([]evidence.StoredEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+entryColumns+entryFrom+`WHERE e.idx >= $1 ORDER BY e.idx LIMIT $2`, start, limit)
	if err != nil {
		return nil, err
	}
	return scanEntries(rows)
}

func (s *sqliteStorage) TenantEntries(ctx context.Context, q evidence.TenantQuery) ([]evidence.StoredEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+entryColumns+entryFrom+`
		WHERE e.tenant_id = $1 AND e.idx IS NOT NULL AND e.idx >= $2 AND e.created_at >= $3 AND e.created_at < $4 ORDER BY e.idx LIMIT $5`,
		q.TenantID, q.StartIndex, q.From.UnixNano(), q.To.UnixNano(), q.Limit)
	if err != nil {
		return nil, err
	}
	return scanEntries(rows)
}

func (s *sqliteStorage) AddCheckpoint(ctx context.Context, c evidence.StoredCheckpoint) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO evidence_checkpoints (size, root, note, signed_at)
			SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM evidence_checkpoints WHERE size >= $1)`,
			c.Size, c.Root[:], c.Note, c.SignedAt.UnixNano())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("sqlite: checkpoint of size %d: %w", c.Size, evidence.ErrCheckpointNotNewer)
		}
		return nil
	})
}

func (s *sqliteStorage) checkpoints(ctx context.Context, query string, args ...any) ([]evidence.StoredCheckpoint, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []evidence.StoredCheckpoint
	for rows.Next() {
		var c evidence.StoredCheckpoint
		var root []byte
		var at int64
		if err := rows.Scan(&c.Size, &root, &c.Note, &at); err != nil {
			return nil, err
		}
		c.Root, c.SignedAt = [32]byte(root), time.Unix(0, at).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *sqliteStorage) LatestCheckpoint(ctx context.Context) (*evidence.StoredCheckpoint, error) {
	cs, err := s.checkpoints(ctx, `SELECT size, root, note, signed_at FROM evidence_checkpoints ORDER BY size DESC LIMIT 1`)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("sqlite: no checkpoint: %w", evidence.ErrNotFound)
	}
	return &cs[0], nil
}

func (s *sqliteStorage) Checkpoints(ctx context.Context, start uint64, limit int) ([]evidence.StoredCheckpoint, error) {
	return s.checkpoints(ctx, `SELECT size, root, note, signed_at FROM evidence_checkpoints WHERE size >= $1 ORDER BY size LIMIT $2`, start, limit)
}

func (s *sqliteStorage) Shred(ctx context.Context, now time.Time, limit int) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM evidence_sealed
		WHERE seq IN (SELECT seq FROM evidence_sealed WHERE shred_after <= $1 LIMIT $2)`, now.UnixNano(), limit)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func TestSQLiteConformance(t *testing.T) {
	evidencetest.Run(t, func(t *testing.T) evidence.Storage {
		return openSQLite(t, filepath.Join(t.TempDir(), "evidence.db"))
	})
}
