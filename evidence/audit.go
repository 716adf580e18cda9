package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/transparency-dev/merkle/compact"
)

// AuditReport is what Audit checked.
type AuditReport struct {
	Size        uint64   // entries in the tree
	Root        [32]byte // its root, recomputed from the leaves
	Checkpoints int      // signed checkpoints verified against the recomputed tree
	// Latest is the latest checkpoint (nil if none was published yet).
	Latest *Checkpoint
	// Sealed counts entries whose personal data and data key were checked against their
	// commitments; Shredded counts entries whose personal data is gone; Overdue counts entries
	// past their retention that still have it (Shred has not run since).
	Sealed, Shredded, Overdue int64
}

// Audit recomputes the whole tree from the stored leaves and compares it with everything the log
// stored or signed: each leaf with its stored hash and its record's id, tenant and time; every
// tile hash; the root; and every stored checkpoint, whose signature is verified and whose root
// must be the recomputed root at its size. Personal data that is still there is checked against
// its leaf's commitments. The first discrepancy is returned as a *VerifyError with
// ReasonStorageMismatch (or the reason of a bad checkpoint). progress, if not nil, is called
// after each page of entries.
func (l *Log) Audit(ctx context.Context, progress func(done, total uint64)) (*AuditReport, error) {
	ts, err := l.store.Tree(ctx)
	if err != nil {
		return nil, fmt.Errorf("evidence: read tree state: %w", err)
	}
	if ts.Size == 0 {
		ts.Root = emptyRoot
	}
	rep := &AuditReport{Size: ts.Size}

	// The checkpoints, verified and in ascending size.
	var cps []Checkpoint
	for start := uint64(0); ; {
		page, err := l.store.Checkpoints(ctx, start, 1000)
		if err != nil {
			return nil, fmt.Errorf("evidence: read checkpoints: %w", err)
		}
		for _, sc := range page {
			c, err := openCheckpoint(sc.Note, l.keys.Public, fmt.Sprintf("stored checkpoint of size %d", sc.Size))
			if err != nil {
				return nil, err
			}
			if c.Size != sc.Size || c.Root != sc.Root {
				return nil, verifyErr(ReasonStorageMismatch, "the stored checkpoint of size %d signs size %d and another root", sc.Size, c.Size)
			}
			if c.Size > ts.Size {
				return nil, verifyErr(ReasonStorageMismatch, "a checkpoint was signed at size %d but the tree has only %d entries: signed entries were lost", c.Size, ts.Size)
			}
			if len(cps) > 0 && c.Size <= cps[len(cps)-1].Size {
				return nil, verifyErr(ReasonStorageMismatch, "checkpoints are not stored in ascending size (%d after %d)", c.Size, cps[len(cps)-1].Size)
			}
			cps = append(cps, c)
		}
		if len(page) < 1000 {
			break
		}
		start = page[len(page)-1].Size + 1
	}
	if len(cps) > 0 {
		rep.Latest = &cps[len(cps)-1]
	}
	nextCP := 0
	rng := rangeFactory.NewEmptyRange(0)
	checkCPs := func() error {
		for nextCP < len(cps) && cps[nextCP].Size == rng.End() {
			root, err := rootOf(rng)
			if err != nil {
				return err
			}
			if root != cps[nextCP].Root {
				return verifyErr(ReasonStorageMismatch, "the signed checkpoint of size %d has root %x, the stored leaves give %x: entries were altered, removed or reordered", cps[nextCP].Size, cps[nextCP].Root, root)
			}
			nextCP++
			rep.Checkpoints++
		}
		return nil
	}
	if err := checkCPs(); err != nil {
		return nil, err
	}

	tiles := &auditTiles{store: l.store, cur: map[uint64]Tile{}}
	now := l.clk.Now()
	const page = 1000
	for start := uint64(0); start < ts.Size; {
		es, err := l.store.EntriesByIndex(ctx, start, page)
		if err != nil {
			return nil, fmt.Errorf("evidence: read entries from %d: %w", start, err)
		}
		if len(es) == 0 {
			return nil, verifyErr(ReasonStorageMismatch, "the tree has %d entries but storage has none from index %d", ts.Size, start)
		}
		for i := range es {
			e := &es[i]
			if e.Sequenced && e.Index >= ts.Size {
				break // integrated after the audit started
			}
			if !e.Sequenced || e.Index != rng.End() {
				return nil, verifyErr(ReasonStorageMismatch, "entry %s has index %d where %d was expected: an entry is missing or duplicated", e.ID, e.Index, rng.End())
			}
			if err := auditEntry(l.keys.Wrap, e, now, rep); err != nil {
				return nil, err
			}
			if err := rng.Append(e.LeafHash[:], tiles.visit); err != nil {
				return nil, err
			}
			if err := tiles.refresh(ctx); err != nil {
				return nil, err
			}
			if err := checkCPs(); err != nil {
				return nil, err
			}
		}
		start = es[len(es)-1].Index + 1
		if progress != nil {
			progress(min(start, ts.Size), ts.Size)
		}
	}
	root, err := rootOf(rng)
	if err != nil {
		return nil, err
	}
	if rng.End() != ts.Size || root != ts.Root {
		return nil, verifyErr(ReasonStorageMismatch, "the stored leaves give root %x at size %d, the stored tree state is size %d root %x", root, rng.End(), ts.Size, ts.Root)
	}
	if nextCP != len(cps) {
		return nil, verifyErr(ReasonStorageMismatch, "the checkpoint of size %d was not reached by the stored leaves", cps[nextCP].Size)
	}
	rep.Root = root
	return rep, nil
}

// auditEntry checks one stored entry against its own leaf.
func auditEntry(kr *Keyring, e *StoredEntry, now time.Time, rep *AuditReport) error {
	if [32]byte(hasher.HashLeaf(e.LeafData)) != e.LeafHash {
		return verifyErr(ReasonStorageMismatch, "entry %s (index %d): the stored leaf does not hash to the stored leaf hash: the leaf was altered", e.ID, e.Index)
	}
	leaf, err := ParseLeaf(e.LeafData)
	if err != nil {
		return &VerifyError{Reason: ReasonStorageMismatch, Detail: fmt.Sprintf("entry %s (index %d): the leaf does not decode", e.ID, e.Index), Err: err}
	}
	if leaf.ID != e.ID || leaf.TenantID != e.TenantID || !leaf.Time.Equal(e.Time) {
		return verifyErr(ReasonStorageMismatch, "entry %s (index %d): the stored id, tenant or time (%s, %s, %s) differ from the leaf's (%s, %s, %s)",
			e.ID, e.Index, e.ID, e.TenantID, e.Time.Format(time.RFC3339Nano), leaf.ID, leaf.TenantID, leaf.Time.Format(time.RFC3339Nano))
	}
	switch {
	case len(e.Sealed) == 0 && len(e.WrappedKey) == 0:
		rep.Shredded++
		return nil
	case len(e.Sealed) == 0 || len(e.WrappedKey) == 0:
		return verifyErr(ReasonStorageMismatch, "entry %s (index %d): half shredded (sealed data and data key must go together)", e.ID, e.Index)
	}
	if sha256.Sum256(e.Sealed) != leaf.SealedHash {
		return verifyErr(ReasonStorageMismatch, "entry %s (index %d): the stored personal data is not what the leaf commits to", e.ID, e.Index)
	}
	key, err := kr.unwrap(e.ID, e.WrappedKey)
	if err != nil {
		return &VerifyError{Reason: ReasonStorageMismatch, Detail: fmt.Sprintf("entry %s (index %d): the data key does not unwrap", e.ID, e.Index), Err: err}
	}
	if keyCommitment(key) != leaf.KeyCommitment {
		return verifyErr(ReasonStorageMismatch, "entry %s (index %d): the stored data key is not the one the leaf commits to", e.ID, e.Index)
	}
	rep.Sealed++
	if !now.Before(e.ShredAfter) {
		rep.Overdue++
	}
	return nil
}

// auditTiles compares every recomputed tile hash with the stored tiles, reading each tile once.
type auditTiles struct {
	store Storage
	cur   map[uint64]Tile // per tile level, the stored tile being compared
	queue []auditNode     // nodes waiting for their tile
}

type auditNode struct {
	id   compact.NodeID
	hash []byte
}

func (a *auditTiles) visit(id compact.NodeID, h []byte) {
	if id.Level%tileHeight == 0 {
		a.queue = append(a.queue, auditNode{id: id, hash: bytes.Clone(h)})
	}
}

// refresh compares the queued nodes, reading the tiles they are in.
func (a *auditTiles) refresh(ctx context.Context) error {
	for _, n := range a.queue {
		tid, pos, _ := tileOf(n.id)
		t, ok := a.cur[tid.Level]
		if !ok || t.TileID != tid {
			got, err := a.store.Tiles(ctx, []TileID{tid})
			if err != nil {
				return fmt.Errorf("evidence: read tile %s: %w", tid, err)
			}
			if len(got) != 1 {
				return verifyErr(ReasonStorageMismatch, "tile %s is missing", tid)
			}
			t = Tile{TileID: tid, Hashes: got[0]}
			a.cur[tid.Level] = t
		}
		if len(t.Hashes) < (pos+1)*hashSize || !bytes.Equal(t.Hashes[pos*hashSize:(pos+1)*hashSize], n.hash) {
			return verifyErr(ReasonStorageMismatch, "tile %s, hash %d (tree level %d, index %d) differs from the recomputed node: proofs served from it would be wrong", tid, pos, n.id.Level, n.id.Index)
		}
	}
	a.queue = a.queue[:0]
	return nil
}
