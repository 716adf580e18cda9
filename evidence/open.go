package evidence

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// Opened is an entry as the platform serves it: its leaf and, until its retention ends, its
// personal data, opened from the seal. The platform keeps the facts a tenant received nowhere
// else, so what it serves about them is what the entry commits to.
type Opened struct {
	Leaf *Leaf
	// Personal is the opened personal data; nil once shredded.
	Personal *Personal
	// RetainUntil is when the personal data is (or was) shredded.
	RetainUntil time.Time
	// Sequenced and Index say whether and where the entry is in the tree yet.
	Sequenced bool
	Index     uint64
}

// Shredded reports whether the entry's personal data was shredded.
func (o *Opened) Shredded() bool { return o.Personal == nil }

// Open reads a tenant's entry and opens its personal data (one unwrap and one AES-GCM open, no
// new seal). ErrNotFound if the entry does not exist or is another tenant's. The personal data
// is checked against the leaf's commitments before it is returned, so a stored seal that is not
// the committed one is an error, never served.
func (l *Log) Open(ctx context.Context, tenantID, id string) (*Opened, error) {
	e, err := l.store.Entry(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && e.TenantID != tenantID) {
		return nil, fmt.Errorf("evidence: entry %s of tenant %s: %w", id, tenantID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: entry %s: %w", id, err)
	}
	return l.open(e)
}

func (l *Log) open(e *StoredEntry) (*Opened, error) {
	leaf, err := ParseLeaf(e.LeafData)
	if err != nil {
		return nil, fmt.Errorf("evidence: entry %s: %w", e.ID, err)
	}
	o := &Opened{Leaf: leaf, RetainUntil: e.ShredAfter, Sequenced: e.Sequenced, Index: e.Index}
	if len(e.Sealed) == 0 || len(e.WrappedKey) == 0 {
		return o, nil
	}
	key, err := l.keys.Wrap.unwrap(e.ID, e.WrappedKey)
	if err != nil {
		return nil, fmt.Errorf("evidence: entry %s: %w", e.ID, err)
	}
	defer clear(key)
	if sha256.Sum256(e.Sealed) != leaf.SealedHash || keyCommitment(key) != leaf.KeyCommitment {
		return nil, fmt.Errorf("evidence: entry %s: the stored personal data or key is not what the leaf commits to: %w", e.ID, ErrCorrupt)
	}
	plain, err := open(e.ID, key, e.Sealed)
	if err != nil {
		return nil, fmt.Errorf("evidence: entry %s: open personal data: %w", e.ID, err)
	}
	p, err := parsePersonal(plain, leaf.Method)
	if err != nil {
		return nil, fmt.Errorf("evidence: entry %s: %w", e.ID, err)
	}
	o.Personal = p
	return o, nil
}
