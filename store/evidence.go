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

// Store implements evidence.Storage (the evidence log's tables) in
// the same database as the rest of the platform: an entry is one row of evidence_entries, with
// its sealed personal data, written with its verification (a row of verifications with the same
// id) by CompleteSession. See docs/design/evidence.md for the protocol, and there for the one
// difference between the dialects: when an entry gets its index.
//
//   - SQLite: when it is added. The one writer adds rows one transaction after the other, so the
//     next index (MAX(idx) + 1, taken in the adding transaction) is dense and in commit order.
//     Unsequenced returns the entries at and above the tree size, and Integrate checks that the
//     batch is exactly those entries instead of writing each one's index.
//   - PostgreSQL: by the integrator (Integrate writes idx of each entry, guarded by WHERE idx IS
//     NULL), since its writers commit in parallel and out of the order they began.
//
// In both, an entry counts as integrated (Sequenced, in EntriesByIndex and TenantEntries) once
// idx < the tree size.
var _ evidence.Storage = (*Store)(nil)

// maxIndex bounds tree sizes and indexes to what a BIGINT holds.
const maxIndex = math.MaxInt64

// Unsequenced implements evidence.Storage: on SQLite the entries from the tree size on, by
// index; on PostgreSQL the entries without one, in the order they were added (the partial index
// evidence_pending).
func (s *Store) Unsequenced(ctx context.Context, max int) ([]evidence.Pending, error) {
	if err := validate("Unsequenced").check("max", max > 0, "is not positive").done(); err != nil {
		return nil, err
	}
	query := `SELECT id, leaf_hash FROM evidence_entries WHERE idx IS NULL ORDER BY seq LIMIT $1`
	if s.dialect == DialectSQLite {
		query = `SELECT id, leaf_hash FROM evidence_entries WHERE idx >= (SELECT size FROM evidence_tree WHERE one = 1) ORDER BY idx LIMIT $1`
	}
	rows, err := s.r.QueryContext(ctx, query, max)
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
// guarded UPDATE (… WHERE size = from), which also serializes integrators on PostgreSQL; then
// the batch's entries are checked (SQLite: they are the entries at From … To-1) or given their
// index (PostgreSQL: … WHERE idx IS NULL); then the tiles are upserted.
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
		if s.dialect == DialectSQLite {
			err = checkIndexed(ctx, tx, in)
		} else {
			err = assignIndexes(ctx, tx, in)
		}
		if err != nil {
			return err
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

// checkIndexed checks a batch against the entries at in.From … in.To-1 (SQLite, where entries
// carry their index from the start): as many, starting and ending with the batch's first and
// last ids. The rows at an index never change, and the guarded tree update has already shown
// that no other integrator went first, so the ends are enough to catch a batch that is not the
// storage's own (Unsequenced's) without reading every entry again.
func checkIndexed(ctx context.Context, tx *sql.Tx, in evidence.Integration) error {
	if len(in.IDs) == 0 {
		return nil
	}
	var n int64
	var first, last string
	err := tx.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM evidence_entries WHERE idx >= $1 AND idx < $2),
			COALESCE((SELECT id FROM evidence_entries WHERE idx = $1), ''),
			COALESCE((SELECT id FROM evidence_entries WHERE idx = $2 - 1), '')`, int64(in.From), int64(in.To)).Scan(&n, &first, &last)
	if err != nil {
		return fmt.Errorf("store: integrate evidence: %w", err)
	}
	if n != int64(len(in.IDs)) || first != in.IDs[0] || last != in.IDs[len(in.IDs)-1] {
		return fmt.Errorf("store: integrate evidence: entries %d to %d are %d from %q to %q, not the batch's %d from %q to %q: %w",
			in.From, in.To, n, first, last, len(in.IDs), in.IDs[0], in.IDs[len(in.IDs)-1], evidence.ErrTreeMoved)
	}
	return nil
}

// assignIndexes gives each entry of a batch its index (PostgreSQL), in one statement: the ids
// go as one array, numbered from in.From, so that a batch of thousands of entries costs one
// round trip rather than one each.
func assignIndexes(ctx context.Context, tx *sql.Tx, in evidence.Integration) error {
	res, err := tx.ExecContext(ctx, `
		UPDATE evidence_entries e SET idx = b.idx
		FROM (SELECT id, $2::bigint + ord - 1 AS idx FROM unnest($1::text[]) WITH ORDINALITY AS u (id, ord)) AS b
		WHERE e.id = b.id AND e.idx IS NULL AND e.leaf IS NOT NULL`, in.IDs, int64(in.From))
	if err != nil {
		return fmt.Errorf("store: integrate evidence: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: integrate evidence: %w", err)
	}
	if n != int64(len(in.IDs)) {
		return fmt.Errorf("store: integrate evidence: %d of the batch's %d entries are stored and unsequenced: %w", n, len(in.IDs), evidence.ErrTreeMoved)
	}
	return nil
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

// evidenceColumns reads entries with the tree size, which says whether each is integrated yet,
// and the verification each records.
const evidenceColumns = `e.id, e.tenant_id, e.created_at, e.leaf, e.leaf_hash, e.sealed, e.wrapped_key, e.shred_after, e.idx, t.size,
	v.session_id, COALESCE(v.purpose, ''), COALESCE(v.decision, ''), COALESCE(v.reason, ''), COALESCE(v.detail, ''), COALESCE(v.person_id, ''),
	COALESCE(v.cert_ca, ''), COALESCE(v.cert_serial, ''), COALESCE(v.method, ''), COALESCE(v.revocation_ref, '')
	FROM evidence_entries e CROSS JOIN evidence_tree t LEFT JOIN verifications v ON v.id = e.id WHERE t.one = 1`

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
			size    int64
			session sql.NullString
			sv      evidence.Served
		)
		if err := rows.Scan(&e.ID, &e.TenantID, &created, &e.LeafData, &h, &e.Sealed, &e.WrappedKey, &shred, &idx, &size,
			&session, &sv.Purpose, &sv.Decision, &sv.Reason, &sv.Detail, &sv.PersonID, &sv.CertCA, &sv.CertSerial, &sv.Method, &sv.RevocationRef,
		); err != nil {
			return nil, fmt.Errorf("store: read evidence entry: %w", err)
		}
		if len(h) != 32 {
			return nil, fmt.Errorf("store: evidence entry %s has a %d-byte leaf hash", e.ID, len(h))
		}
		e.LeafHash, e.Time = [32]byte(h), fromNanos(created)
		if shred.Valid {
			e.ShredAfter = fromNanos(shred.Int64)
		}
		if idx.Valid && idx.Int64 < size {
			e.Sequenced, e.Index = true, uint64(idx.Int64)
		}
		if session.Valid {
			sv.SessionID = session.String
			e.Served = &sv
		}
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
	rows, err := s.r.QueryContext(ctx, `SELECT `+evidenceColumns+` AND e.id = $1`, id)
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
	rows, err := s.r.QueryContext(ctx, `SELECT `+evidenceColumns+` AND e.idx >= $1 AND e.idx < t.size ORDER BY e.idx LIMIT $2`, int64(start), limit)
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
		AND e.tenant_id = $1 AND e.idx IS NOT NULL AND e.idx >= $2 AND e.idx < t.size AND e.created_at >= $3 AND e.created_at < $4
		ORDER BY e.idx LIMIT $5`, q.TenantID, int64(q.StartIndex), nanos(q.From), nanos(q.To), q.Limit)
	if err != nil {
		return nil, fmt.Errorf("store: evidence entries of tenant %s: %w", q.TenantID, err)
	}
	return scanEvidence(rows)
}

// CountTenantEntries implements evidence.Storage.
func (s *Store) CountTenantEntries(ctx context.Context, q evidence.TenantQuery) (int64, error) {
	if err := validateTenantQuery("CountTenantEntries", q); err != nil {
		return 0, err
	}
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM evidence_entries
		WHERE tenant_id = $1 AND idx IS NOT NULL AND idx < (SELECT size FROM evidence_tree WHERE one = 1) AND created_at >= $2 AND created_at < $3`,
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

// Shred implements evidence.Storage: it clears the sealed data and wrapped key of the entries
// that are due. On SQLite the writer connection runs with secure_delete, so the cleared keys
// are overwritten in the file, not only unlinked, and the WAL is checkpointed and truncated.
// On PostgreSQL the UPDATE leaves the old row versions in the table's pages, and a plain
// VACUUM only marks their space free without overwriting it, so once a pass is over (a call
// that finds fewer than limit entries due) the table is rewritten with VACUUM (FULL): the new
// file holds only the live rows and the old one is truncated. What this does not reach (WAL
// segments not yet overwritten, archives, backups) is in docs/design/evidence.md.
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
		res, err := tx.ExecContext(ctx, `UPDATE evidence_entries SET sealed = NULL, wrapped_key = NULL
			WHERE seq IN (SELECT seq FROM evidence_entries WHERE sealed IS NOT NULL AND shred_after <= $1 ORDER BY shred_after LIMIT $2)`, nanos(now), limit)
		if err != nil {
			return fmt.Errorf("store: shred: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return int(n), err
	}
	switch s.dialect {
	case DialectSQLite:
		// The shredded rows' old pages are still in the WAL until a checkpoint copies the new
		// ones over them; TRUNCATE then empties the WAL file.
		err = checkpointWAL(ctx, s.w)
	case DialectPostgres:
		if n > 0 {
			s.compactDue.Store(true)
		}
		if n < int64(limit) && s.compactDue.Load() {
			err = s.compactEvidence(ctx)
		}
	}
	return int(n), err
}

// compactEvidence rewrites evidence_entries (and its TOAST table and indexes) on PostgreSQL so
// that the row versions a shredding pass left behind are gone from the database files. VACUUM
// cannot run in a transaction, so it runs on its own after the pass committed. VACUUM (FULL)
// holds an ACCESS EXCLUSIVE lock on the table while it copies the live rows: appends and reads
// of the log wait for it (docs/design/evidence.md says what that costs). If it fails the next
// Shred call retries it.
func (s *Store) compactEvidence(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `VACUUM (FULL) evidence_entries`); err != nil {
		return fmt.Errorf("store: shred: rewrite evidence_entries without the shredded row versions: %w", err)
	}
	s.compactDue.Store(false)
	return nil
}

// checkpointWAL copies every WAL frame into the SQLite database file and truncates the WAL to
// zero bytes, so that page images written before (a shredded seal) are gone from both files. A
// reader holding an old snapshot makes the checkpoint incomplete; it is retried a few times
// (the busy timeout waits for each), then reported.
func checkpointWAL(ctx context.Context, db *sql.DB) error {
	var busy, frames, done int64
	for try := 0; try < 5; try++ {
		if err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done); err != nil {
			return fmt.Errorf("store: checkpoint the WAL: %w", err)
		}
		if busy == 0 {
			return nil
		}
	}
	return fmt.Errorf("store: checkpoint the WAL: readers kept %d of %d frames in it; the next shred retries", frames-done, frames)
}
