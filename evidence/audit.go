package evidence

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
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
	// Served counts verifications whose stored columns were checked against their leaf's
	// commitment (version-2 leaves); Kept counts the checkpoints kept by others (a tenant, a
	// witness) that the stored log was found to extend.
	Served, Kept int
}

// Audit recomputes the whole tree from the stored leaves and compares it with everything the log
// stored or signed: each leaf with its stored hash and its record's id, tenant and time; every
// tile hash; the root; and every stored checkpoint, whose signature is verified and whose root
// must be the recomputed root at its size. Personal data that is still there is checked against
// its leaf's commitments. The first discrepancy is returned as a *VerifyError with
// ReasonStorageMismatch (or the reason of a bad checkpoint). progress, if not nil, is called
// after each page of entries.
//
// What the platform serves about a verification outside the seal (its decision, reason,
// person, certificate serial, event payload) is checked against the leaf's commitment to it,
// and the retention end against the leaf's: personal data shredded before it is reported. kept
// are checkpoints a tenant or witness kept (signatures already verified, e.g. by
// ParseCheckpoint): the stored log must reach each one's size with its root, and its stored
// checkpoints must reach it too, or checkpoints were deleted or the log rolled back.
func (l *Log) Audit(ctx context.Context, progress func(done, total uint64), kept ...Checkpoint) (*AuditReport, error) {
	ts, err := l.store.Tree(ctx)
	if err != nil {
		return nil, fmt.Errorf("evidence: read tree state: %w", err)
	}
	if ts.Size == 0 {
		ts.Root = emptyRoot
	}
	rep := &AuditReport{Size: ts.Size}
	kept = slices.Clone(kept)
	slices.SortFunc(kept, func(a, b Checkpoint) int { return cmp.Compare(a.Size, b.Size) })
	for _, k := range kept {
		if k.Origin != l.origin {
			return nil, verifyErr(ReasonWrongOrigin, "the kept checkpoint is of log %q, not %q", k.Origin, l.origin)
		}
		if k.Size > ts.Size {
			return nil, verifyErr(ReasonStorageMismatch, "a kept checkpoint signs %d entries but the stored tree has %d: the log was rolled back or entries were deleted", k.Size, ts.Size)
		}
	}

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
	if n := len(kept); n > 0 && (len(cps) == 0 || cps[len(cps)-1].Size < kept[n-1].Size) {
		latest := uint64(0)
		if len(cps) > 0 {
			latest = cps[len(cps)-1].Size
		}
		return nil, verifyErr(ReasonStorageMismatch, "a kept checkpoint signs %d entries but the stored checkpoints stop at %d: the latest checkpoints were deleted or rolled back", kept[n-1].Size, latest)
	}
	nextKept := 0
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
		for nextKept < len(kept) && kept[nextKept].Size == rng.End() {
			root, err := rootOf(rng)
			if err != nil {
				return err
			}
			if root != kept[nextKept].Root {
				return verifyErr(ReasonStorageMismatch, "the kept checkpoint of size %d has root %x, the stored leaves give %x: the log was rewritten", kept[nextKept].Size, kept[nextKept].Root, root)
			}
			nextKept++
			rep.Kept++
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
	if err := auditServed(kr, e, leaf, rep); err != nil {
		return err
	}
	if leaf.Version >= 2 && !e.ShredAfter.Equal(leaf.RetainUntil) {
		return verifyErr(ReasonStorageMismatch, "entry %s (index %d): the stored retention end %s is not the leaf's %s",
			e.ID, e.Index, e.ShredAfter.Format(time.RFC3339), leaf.RetainUntil.Format(time.RFC3339))
	}
	switch {
	case len(e.Sealed) == 0 && len(e.WrappedKey) == 0:
		if leaf.Version >= 2 && now.Before(leaf.RetainUntil) {
			return verifyErr(ReasonStorageMismatch, "entry %s (index %d): its personal data was shredded before its retention end %s",
				e.ID, e.Index, leaf.RetainUntil.Format(time.RFC3339))
		}
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
	if leaf.Version >= 2 {
		plain, err := open(e.ID, key, e.Sealed)
		if err != nil {
			return &VerifyError{Reason: ReasonStorageMismatch, Detail: fmt.Sprintf("entry %s (index %d): the committed key does not open the personal data", e.ID, e.Index), Err: err}
		}
		p, err := parsePersonal(plain, leaf.Method)
		if err != nil {
			return &VerifyError{Reason: ReasonStorageMismatch, Detail: fmt.Sprintf("entry %s (index %d): the personal data does not decode", e.ID, e.Index), Err: err}
		}
		if !slices.Equal(disclosures(key, p), leaf.Disclosures) {
			return verifyErr(ReasonStorageMismatch, "entry %s (index %d): the leaf's item commitments are not those of the personal data", e.ID, e.Index)
		}
	}
	rep.Sealed++
	if !now.Before(e.ShredAfter) {
		rep.Overdue++
	}
	return nil
}

// auditServed checks what the database serves about a verification against the leaf: the
// decision, reason, purpose and session in clear, and (version 2) every stored column, the
// event payload included, against the leaf's keyed commitment.
func auditServed(kr *Keyring, e *StoredEntry, leaf *Leaf, rep *AuditReport) error {
	sv := e.Served
	if sv == nil {
		if len(leaf.Served) > 0 {
			return verifyErr(ReasonStorageMismatch, "entry %s (index %d): the leaf commits to a verification, but its stored columns are gone", e.ID, e.Index)
		}
		return nil
	}
	if sv.SessionID != leaf.SessionID || sv.Purpose != leaf.Purpose || sv.Decision != leaf.Decision.String() || sv.Reason != leaf.Reason {
		return verifyErr(ReasonStorageMismatch, "entry %s (index %d): the stored verification (%s, %s, %s %q) differs from the leaf's (%s, %s, %s %q): the decision or reason served was altered",
			e.ID, e.Index, sv.SessionID, sv.Purpose, sv.Decision, sv.Reason, leaf.SessionID, leaf.Purpose, leaf.Decision, leaf.Reason)
	}
	if leaf.Version < 2 {
		return nil
	}
	ok, err := kr.checkServed(e.ID, sv, leaf.Served)
	if err != nil {
		return &VerifyError{Reason: ReasonStorageMismatch, Detail: fmt.Sprintf("entry %s (index %d): the leaf's commitment to the stored verification cannot be checked", e.ID, e.Index), Err: err}
	}
	if !ok {
		return verifyErr(ReasonStorageMismatch, "entry %s (index %d): the stored verification is not what the leaf commits to: its person, certificate, detail or revocation reference was altered", e.ID, e.Index)
	}
	rep.Served++
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
		tid, pos := tileAt(n.id)
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
