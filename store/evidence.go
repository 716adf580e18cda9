package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/mynagate/mynagate/evidence"
)

// Store implements evidence.Storage (the evidence log's tables, migration 00002) in the same
// database as the verification rows, so that an entry can be written in the transaction that
// records its verification (AddEvidenceTx). See docs/design/evidence.md for the protocol.
var _ evidence.Storage = (*Store)(nil)
var _ evidence.TenantCounter = (*Store)(nil)

// maxIndex bounds tree sizes and indexes to what a BIGINT holds.
const maxIndex = math.MaxInt64

func validateRecords(op string, recs []evidence.Record) error {
	v := validate(op).check("recs", len(recs) > 0, "is empty")
	for i, r := range recs {
		f := fmt.Sprintf("recs[%d].", i)
		v.str(f+"ID", r.ID).str(f+"TenantID", r.TenantID).time(f+"Time", r.Time).bytes(f+"LeafData", r.LeafData).
			check(f+"Sealed", (len(r.Sealed) > 0) == (len(r.WrappedKey) > 0), "and WrappedKey must be both present or both absent")
		if len(r.Sealed) > 0 {
			v.time(f+"ShredAfter", r.ShredAfter)
		}
	}
	return v.done()
}

// AddEvidenceTx adds evidence records in a transaction of the caller's, so that an entry is
// committed with the row it is evidence of (CompleteSession writes the verification's entry this
// way) and nothing else. It validates first; ErrDuplicate (evidence's) if an id exists.
func AddEvidenceTx(ctx context.Context, tx *sql.Tx, recs []evidence.Record) error {
	if err := validateRecords("AddEvidenceTx", recs); err != nil {
		return err
	}
	return insertEvidence(ctx, tx, recs)
}

func insertEvidence(ctx context.Context, tx *sql.Tx, recs []evidence.Record) error {
	return execSteps(ctx, tx, evidenceSteps(recs), nil)
}

// evidenceSteps are the inserts of records: each entry row, then its sealed data keyed by the
// entry's seq (found by id, so that no step needs another's result).
func evidenceSteps(recs []evidence.Record) []step {
	var steps []step
	for _, r := range recs {
		steps = append(steps, step{
			query: `INSERT INTO evidence_entries (id, tenant_id, created_at, leaf, leaf_hash) VALUES ($1, $2, $3, $4, $5)`,
			args:  []any{r.ID, r.TenantID, nanos(r.Time), r.LeafData, r.LeafHash[:]},
			check: func(_ int64, err error) error {
				if violated(err) == uniqueViolation {
					return fmt.Errorf("store: evidence entry %s exists: %w", r.ID, evidence.ErrDuplicate)
				}
				if err != nil {
					return fmt.Errorf("store: add evidence entry %s: %w", r.ID, err)
				}
				return nil
			},
		})
		if len(r.Sealed) == 0 {
			continue
		}
		steps = append(steps, step{
			query: `INSERT INTO evidence_sealed (seq, sealed, wrapped_key, shred_after)
				SELECT seq, $2, $3, $4 FROM evidence_entries WHERE id = $1`,
			args: []any{r.ID, r.Sealed, r.WrappedKey, nanos(r.ShredAfter)},
			check: func(n int64, err error) error {
				if err == nil && n != 1 {
					err = fmt.Errorf("%d rows written", n)
				}
				if err != nil {
					return fmt.Errorf("store: add sealed data of evidence entry %s: %w", r.ID, err)
				}
				return nil
			},
		})
	}
	return steps
}

// AddEntries implements evidence.Storage: the records in one transaction.
func (s *Store) AddEntries(ctx context.Context, recs []evidence.Record) error {
	if err := validateRecords("AddEntries", recs); err != nil {
		return err
	}
	return s.inTx(ctx, "AddEntries", func(tx *sql.Tx) error { return insertEvidence(ctx, tx, recs) })
}

// Unsequenced implements evidence.Storage, in seq order (the partial index evidence_pending).
func (s *Store) Unsequenced(ctx context.Context, max int) ([]evidence.Pending, error) {
	if err := validate("Unsequenced").check("max", max > 0, "is not positive").done(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, leaf_hash FROM evidence_entries WHERE idx IS NULL ORDER BY seq LIMIT $1`, max)
	if err != nil {
		return nil, fmt.Errorf("store: unsequenced evidence: %w", err)
	}
	defer rows.Close()
	var out []evidence.Pending
	for rows.Next() {
		var p evidence.Pending
		var h []byte
		if err := rows.Scan(&p.ID, &h); err != nil {
			return nil, fmt.Errorf("store: unsequenced evidence: %w", err)
		}
		if len(h) != 32 {
			return nil, fmt.Errorf("store: evidence entry %s has a %d-byte leaf hash", p.ID, len(h))
		}
		p.LeafHash = [32]byte(h)
		out = append(out, p)
	}
	return out, rows.Err()
}

// Integrate implements evidence.Storage in one transaction: the tree row is moved first with a
// guarded UPDATE (… WHERE size = from), which also serializes integrators on PostgreSQL; each
// entry gets its index with … WHERE idx IS NULL; then the tiles are upserted.
func (s *Store) Integrate(ctx context.Context, in evidence.Integration) error {
	v := validate("Integrate").check("To", in.To >= in.From && in.To <= maxIndex, "is before From or too large").
		check("IDs", uint64(len(in.IDs)) == in.To-in.From, "do not number To-From")
	for i, t := range in.Tiles {
		v.check(fmt.Sprintf("Tiles[%d].Hashes", i), len(t.Hashes) > 0 && len(t.Hashes)%32 == 0 && len(t.Hashes) <= 256*32, "is not 1 to 256 hashes").
			check(fmt.Sprintf("Tiles[%d]", i), t.Level <= 8 && t.Index <= maxIndex, "is out of range")
	}
	if err := v.done(); err != nil {
		return err
	}
	return s.inTx(ctx, "Integrate", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE evidence_tree SET size = $1, root = $2 WHERE one = 1 AND size = $3`,
			int64(in.To), in.Root[:], int64(in.From))
		if err != nil {
			return fmt.Errorf("store: integrate evidence: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("store: integrate evidence from size %d: the tree is at another size: %w", in.From, evidence.ErrTreeMoved)
		}
		st, err := tx.PrepareContext(ctx, `UPDATE evidence_entries SET idx = $1 WHERE id = $2 AND idx IS NULL`)
		if err != nil {
			return fmt.Errorf("store: integrate evidence: %w", err)
		}
		defer st.Close()
		for i, id := range in.IDs {
			res, err := st.ExecContext(ctx, int64(in.From)+int64(i), id)
			if err != nil {
				return fmt.Errorf("store: integrate evidence entry %s: %w", id, err)
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return fmt.Errorf("store: integrate evidence entry %s: unknown or already sequenced: %w", id, evidence.ErrTreeMoved)
			}
		}
		for _, t := range in.Tiles {
			_, err := tx.ExecContext(ctx, `
				INSERT INTO evidence_tiles (level, idx, hashes) VALUES ($1, $2, $3)
				ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes`, int64(t.Level), int64(t.Index), t.Hashes)
			if err != nil {
				return fmt.Errorf("store: write evidence tile %s: %w", t.TileID, err)
			}
		}
		return nil
	})
}

// Tree implements evidence.Storage.
func (s *Store) Tree(ctx context.Context) (evidence.TreeState, error) {
	var size int64
	var root []byte
	if err := s.r.QueryRowContext(ctx, `SELECT size, root FROM evidence_tree WHERE one = 1`).Scan(&size, &root); err != nil {
		return evidence.TreeState{}, fmt.Errorf("store: evidence tree: %w", err)
	}
	ts := evidence.TreeState{Size: uint64(size)}
	copy(ts.Root[:], root)
	return ts, nil
}

// Tiles implements evidence.Storage, one primary-key lookup per tile (a proof needs at most
// four).
func (s *Store) Tiles(ctx context.Context, ids []evidence.TileID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		if id.Level > 8 || id.Index > maxIndex {
			continue
		}
		err := s.r.QueryRowContext(ctx, `SELECT hashes FROM evidence_tiles WHERE level = $1 AND idx = $2`, int64(id.Level), int64(id.Index)).Scan(&out[i])
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("store: evidence tile %s: %w", id, err)
		}
	}
	return out, nil
}

const evidenceColumns = `e.id, e.tenant_id, e.created_at, e.leaf, e.leaf_hash, s.sealed, s.wrapped_key, s.shred_after, e.idx
	FROM evidence_entries e LEFT JOIN evidence_sealed s ON s.seq = e.seq`

func scanEvidence(rows *sql.Rows) ([]evidence.StoredEntry, error) {
	defer rows.Close()
	var out []evidence.StoredEntry
	for rows.Next() {
		var (
			e       evidence.StoredEntry
			created int64
			h       []byte
			shred   sql.NullInt64
			idx     sql.NullInt64
		)
		if err := rows.Scan(&e.ID, &e.TenantID, &created, &e.LeafData, &h, &e.Sealed, &e.WrappedKey, &shred, &idx); err != nil {
			return nil, fmt.Errorf("store: read evidence entry: %w", err)
		}
		if len(h) != 32 {
			return nil, fmt.Errorf("store: evidence entry %s has a %d-byte leaf hash", e.ID, len(h))
		}
		e.LeafHash, e.Time = [32]byte(h), fromNanos(created)
		if shred.Valid {
			e.ShredAfter = fromNanos(shred.Int64)
		}
		e.Sequenced, e.Index = idx.Valid, uint64(idx.Int64)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read evidence entries: %w", err)
	}
	return out, nil
}

// Entry implements evidence.Storage.
func (s *Store) Entry(ctx context.Context, id string) (*evidence.StoredEntry, error) {
	if err := validate("Entry").str("id", id).done(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+evidenceColumns+` WHERE e.id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("store: evidence entry %s: %w", id, err)
	}
	es, err := scanEvidence(rows)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("store: evidence entry %s: %w", id, evidence.ErrNotFound)
	}
	return &es[0], nil
}

// EntriesByIndex implements evidence.Storage.
func (s *Store) EntriesByIndex(ctx context.Context, start uint64, limit int) ([]evidence.StoredEntry, error) {
	if err := validate("EntriesByIndex").check("limit", limit > 0, "is not positive").done(); err != nil {
		return nil, err
	}
	if start > maxIndex {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+evidenceColumns+` WHERE e.idx >= $1 ORDER BY e.idx LIMIT $2`, int64(start), limit)
	if err != nil {
		return nil, fmt.Errorf("store: evidence entries from %d: %w", start, err)
	}
	return scanEvidence(rows)
}

func validateTenantQuery(op string, q evidence.TenantQuery) error {
	return validate(op).str("TenantID", q.TenantID).time("From", q.From).time("To", q.To).done()
}

// TenantEntries implements evidence.Storage, walking the partial index evidence_by_tenant.
func (s *Store) TenantEntries(ctx context.Context, q evidence.TenantQuery) ([]evidence.StoredEntry, error) {
	if err := validateTenantQuery("TenantEntries", q); err != nil {
		return nil, err
	}
	if err := validate("TenantEntries").check("Limit", q.Limit > 0, "is not positive").done(); err != nil {
		return nil, err
	}
	if q.StartIndex > maxIndex {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+evidenceColumns+`
		WHERE e.tenant_id = $1 AND e.idx IS NOT NULL AND e.idx >= $2 AND e.created_at >= $3 AND e.created_at < $4
		ORDER BY e.idx LIMIT $5`, q.TenantID, int64(q.StartIndex), nanos(q.From), nanos(q.To), q.Limit)
	if err != nil {
		return nil, fmt.Errorf("store: evidence entries of tenant %s: %w", q.TenantID, err)
	}
	return scanEvidence(rows)
}

// CountTenantEntries implements evidence.TenantCounter.
func (s *Store) CountTenantEntries(ctx context.Context, q evidence.TenantQuery) (int64, error) {
	if err := validateTenantQuery("CountTenantEntries", q); err != nil {
		return 0, err
	}
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM evidence_entries
		WHERE tenant_id = $1 AND idx IS NOT NULL AND created_at >= $2 AND created_at < $3`,
		q.TenantID, nanos(q.From), nanos(q.To)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count evidence entries of tenant %s: %w", q.TenantID, err)
	}
	return n, nil
}

// AddCheckpoint implements evidence.Storage: the tree row's checkpoint_size is raised with a
// guarded UPDATE (… WHERE checkpoint_size < size) before the insert, so concurrent publishers
// store strictly ascending sizes.
func (s *Store) AddCheckpoint(ctx context.Context, c evidence.StoredCheckpoint) error {
	err := validate("AddCheckpoint").check("Size", c.Size <= maxIndex, "is too large").bytes("Note", c.Note).
		time("SignedAt", c.SignedAt).done()
	if err != nil {
		return err
	}
	return s.inTx(ctx, "AddCheckpoint", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE evidence_tree SET checkpoint_size = $1 WHERE one = 1 AND checkpoint_size < $1`, int64(c.Size))
		if err != nil {
			return fmt.Errorf("store: add checkpoint: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("store: checkpoint of size %d: %w", c.Size, evidence.ErrCheckpointNotNewer)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO evidence_checkpoints (size, root, note, signed_at) VALUES ($1, $2, $3, $4)`,
			int64(c.Size), c.Root[:], c.Note, nanos(c.SignedAt))
		if err != nil {
			return fmt.Errorf("store: add checkpoint of size %d: %w", c.Size, err)
		}
		return nil
	})
}

func (s *Store) queryCheckpoints(ctx context.Context, query string, args ...any) ([]evidence.StoredCheckpoint, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: checkpoints: %w", err)
	}
	defer rows.Close()
	var out []evidence.StoredCheckpoint
	for rows.Next() {
		var c evidence.StoredCheckpoint
		var size, at int64
		var root []byte
		if err := rows.Scan(&size, &root, &c.Note, &at); err != nil {
			return nil, fmt.Errorf("store: checkpoints: %w", err)
		}
		c.Size, c.SignedAt = uint64(size), fromNanos(at)
		copy(c.Root[:], root)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: checkpoints: %w", err)
	}
	return out, nil
}

// LatestCheckpoint implements evidence.Storage.
func (s *Store) LatestCheckpoint(ctx context.Context) (*evidence.StoredCheckpoint, error) {
	cs, err := s.queryCheckpoints(ctx, `SELECT size, root, note, signed_at FROM evidence_checkpoints ORDER BY size DESC LIMIT 1`)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("store: no checkpoint yet: %w", evidence.ErrNotFound)
	}
	return &cs[0], nil
}

// Checkpoints implements evidence.Storage.
func (s *Store) Checkpoints(ctx context.Context, start uint64, limit int) ([]evidence.StoredCheckpoint, error) {
	if err := validate("Checkpoints").check("limit", limit > 0, "is not positive").done(); err != nil {
		return nil, err
	}
	if start > maxIndex {
		return nil, nil
	}
	return s.queryCheckpoints(ctx, `SELECT size, root, note, signed_at FROM evidence_checkpoints WHERE size >= $1 ORDER BY size LIMIT $2`, int64(start), limit)
}

// Shred implements evidence.Storage: it deletes the sealed rows that are due. On SQLite the
// writer connection runs with secure_delete, so the deleted keys are overwritten in the file,
// not only unlinked; on PostgreSQL the space is reclaimed by VACUUM (and old WAL segments and
// backups expire on their own schedule: see docs/design/evidence.md).
func (s *Store) Shred(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := validate("Shred").time("now", now).check("limit", limit > 0, "is not positive").done(); err != nil {
		return 0, err
	}
	var n int64
	err := s.inTx(ctx, "Shred", func(tx *sql.Tx) error {
		if s.dialect == DialectSQLite {
			if _, err := tx.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
				return fmt.Errorf("store: shred: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM evidence_sealed
			WHERE seq IN (SELECT seq FROM evidence_sealed WHERE shred_after <= $1 ORDER BY shred_after LIMIT $2)`, nanos(now), limit)
		if err != nil {
			return fmt.Errorf("store: shred: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
