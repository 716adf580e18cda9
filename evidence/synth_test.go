package evidence_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/mynagate/mynagate/evidence"
)

// treeOnly is a Storage that keeps only the tree (tiles, state, checkpoints) and hands out
// synthetic pending leaves 0, 1, 2, … up to limit, whose hashes are synthLeafHash(i). It lets
// tests and benchmarks build trees of millions of leaves without storing entries.
type treeOnly struct {
	mu    sync.Mutex
	limit uint64
	tree  evidence.TreeState
	tiles map[evidence.TileID][]byte
	cps   []evidence.StoredCheckpoint
}

func newTreeOnly() *treeOnly { return &treeOnly{tiles: map[evidence.TileID][]byte{}} }

func synthLeaf(i uint64) []byte { return binary.BigEndian.AppendUint64(nil, i) }

func synthLeafHash(i uint64) [32]byte { return [32]byte(rfc6962.DefaultHasher.HashLeaf(synthLeaf(i))) }

// grow lets the integrator take leaves up to n.
func (s *treeOnly) grow(n uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = n
}

var errTreeOnly = errors.New("treeOnly keeps no entries")

func (s *treeOnly) AddEntries(context.Context, []evidence.Record) error { return errTreeOnly }

func (s *treeOnly) Unsequenced(_ context.Context, max int) ([]evidence.Pending, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []evidence.Pending
	for i := s.tree.Size; i < s.limit && len(out) < max; i++ {
		out = append(out, evidence.Pending{ID: strconv.FormatUint(i, 10), LeafHash: synthLeafHash(i)})
	}
	return out, nil
}

func (s *treeOnly) Integrate(_ context.Context, in evidence.Integration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.From != s.tree.Size {
		return evidence.ErrTreeMoved
	}
	for i, id := range in.IDs {
		if id != strconv.FormatUint(in.From+uint64(i), 10) {
			return fmt.Errorf("treeOnly: id %s at index %d: %w", id, in.From+uint64(i), evidence.ErrTreeMoved)
		}
	}
	for _, t := range in.Tiles {
		s.tiles[t.TileID] = bytes.Clone(t.Hashes)
	}
	s.tree = evidence.TreeState{Size: in.To, Root: in.Root}
	return nil
}

func (s *treeOnly) Tree(context.Context) (evidence.TreeState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tree, nil
}

func (s *treeOnly) Tiles(_ context.Context, ids []evidence.TileID) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(ids))
	for i, id := range ids {
		out[i] = s.tiles[id] // never modified in place: Integrate replaces
	}
	return out, nil
}

func (s *treeOnly) Entry(context.Context, string) (*evidence.StoredEntry, error) {
	return nil, errTreeOnly
}

func (s *treeOnly) EntriesByIndex(context.Context, uint64, int) ([]evidence.StoredEntry, error) {
	return nil, errTreeOnly
}

func (s *treeOnly) TenantEntries(context.Context, evidence.TenantQuery) ([]evidence.StoredEntry, error) {
	return nil, errTreeOnly
}

func (s *treeOnly) CountTenantEntries(context.Context, evidence.TenantQuery) (int64, error) {
	return 0, errTreeOnly
}

func (s *treeOnly) AddCheckpoint(_ context.Context, c evidence.StoredCheckpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cps) > 0 && c.Size <= s.cps[len(s.cps)-1].Size {
		return evidence.ErrCheckpointNotNewer
	}
	s.cps = append(s.cps, c)
	return nil
}

func (s *treeOnly) LatestCheckpoint(context.Context) (*evidence.StoredCheckpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cps) == 0 {
		return nil, evidence.ErrNotFound
	}
	c := s.cps[len(s.cps)-1]
	return &c, nil
}

func (s *treeOnly) Checkpoints(_ context.Context, start uint64, limit int) ([]evidence.StoredCheckpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []evidence.StoredCheckpoint
	for _, c := range s.cps {
		if c.Size >= start && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *treeOnly) Shred(context.Context, time.Time, int) (int, error) { return 0, nil }

// mth is the Merkle tree hash of RFC 9162 §2.1.1, written from the RFC independently of the
// package under test: MTH({d(0)}) = leaf; MTH(D[n]) = HASH(0x01 ‖ MTH(D[0:k]) ‖ MTH(D[k:n]))
// with k the largest power of two smaller than n.
func mth(leaves [][32]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := mth(leaves[:k]), mth(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}
