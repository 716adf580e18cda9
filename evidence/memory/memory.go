// Package memory is an in-memory evidence.Storage: the reference driver that the shared
// conformance suite (evidence/evidencetest) is written against, and the storage of unit tests
// and of the offline demo. Nothing survives the process. See README.md for its protocol.
package memory

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/mynagate/mynagate/evidence"
)

var _ evidence.Storage = (*Storage)(nil)

// Storage keeps an evidence log in memory. It is safe for concurrent use. The zero value is not
// usable; call New.
type Storage struct {
	mu          sync.Mutex
	entries     map[string]*evidence.StoredEntry
	pending     []string            // unsequenced ids, in the order they were added
	byIndex     []string            // sequenced ids; byIndex[i] has index i
	byTenant    map[string][]uint64 // sequenced indexes of each tenant, ascending
	tree        evidence.TreeState
	tiles       map[evidence.TileID][]byte
	checkpoints []evidence.StoredCheckpoint // ascending size
}

// New returns an empty storage.
func New() *Storage {
	return &Storage{entries: map[string]*evidence.StoredEntry{}, byTenant: map[string][]uint64{}, tiles: map[evidence.TileID][]byte{}}
}

func clone(e *evidence.StoredEntry) evidence.StoredEntry {
	c := *e
	c.LeafData, c.Sealed, c.WrappedKey = bytes.Clone(e.LeafData), bytes.Clone(e.Sealed), bytes.Clone(e.WrappedKey)
	return c
}

// AddEntries implements evidencetest.Storage: how tests fill the log.
func (s *Storage) AddEntries(ctx context.Context, recs []evidence.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range recs {
		if r.ID == "" || len(r.LeafData) == 0 {
			return fmt.Errorf("memory: AddEntries: record without id or leaf")
		}
		if _, ok := s.entries[r.ID]; ok || seen[r.ID] {
			return fmt.Errorf("memory: entry %s: %w", r.ID, evidence.ErrDuplicate)
		}
		seen[r.ID] = true
	}
	for _, r := range recs {
		e := clone(&evidence.StoredEntry{Record: r})
		e.Time, e.ShredAfter = r.Time.UTC(), r.ShredAfter.UTC()
		s.entries[r.ID] = &e
		s.pending = append(s.pending, r.ID)
	}
	return nil
}

// Unsequenced implements evidence.Storage.
func (s *Storage) Unsequenced(ctx context.Context, max int) ([]evidence.Pending, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]evidence.Pending, 0, min(max, len(s.pending)))
	for _, id := range s.pending[:min(max, len(s.pending))] {
		out = append(out, evidence.Pending{ID: id, LeafHash: s.entries[id].LeafHash})
	}
	return out, nil
}

// Integrate implements evidence.Storage.
func (s *Storage) Integrate(ctx context.Context, in evidence.Integration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tree.Size != in.From || in.To-in.From != uint64(len(in.IDs)) {
		return fmt.Errorf("memory: integrate from %d: tree is at %d: %w", in.From, s.tree.Size, evidence.ErrTreeMoved)
	}
	for _, id := range in.IDs {
		e, ok := s.entries[id]
		if !ok || e.Sequenced {
			return fmt.Errorf("memory: integrate %s: unknown or sequenced: %w", id, evidence.ErrTreeMoved)
		}
	}
	done := map[string]bool{}
	for i, id := range in.IDs {
		e := s.entries[id]
		e.Sequenced, e.Index = true, in.From+uint64(i)
		s.byIndex = append(s.byIndex, id)
		s.byTenant[e.TenantID] = append(s.byTenant[e.TenantID], e.Index)
		done[id] = true
	}
	s.pending = slices.DeleteFunc(s.pending, func(id string) bool { return done[id] })
	for _, t := range in.Tiles {
		s.tiles[t.TileID] = bytes.Clone(t.Hashes)
	}
	s.tree = evidence.TreeState{Size: in.To, Root: in.Root}
	return nil
}

// Tree implements evidence.Storage.
func (s *Storage) Tree(ctx context.Context) (evidence.TreeState, error) {
	if err := ctx.Err(); err != nil {
		return evidence.TreeState{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tree, nil
}

// Tiles implements evidence.Storage.
func (s *Storage) Tiles(ctx context.Context, ids []evidence.TileID) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(ids))
	for i, id := range ids {
		out[i] = bytes.Clone(s.tiles[id])
	}
	return out, nil
}

// Entry implements evidence.Storage.
func (s *Storage) Entry(ctx context.Context, id string) (*evidence.StoredEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	if !ok {
		return nil, fmt.Errorf("memory: entry %s: %w", id, evidence.ErrNotFound)
	}
	c := clone(e)
	return &c, nil
}

// EntriesByIndex implements evidence.Storage.
func (s *Storage) EntriesByIndex(ctx context.Context, start uint64, limit int) ([]evidence.StoredEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []evidence.StoredEntry
	for i := start; i < uint64(len(s.byIndex)) && len(out) < limit; i++ {
		out = append(out, clone(s.entries[s.byIndex[i]]))
	}
	return out, nil
}

// TenantEntries implements evidence.Storage.
func (s *Storage) TenantEntries(ctx context.Context, q evidence.TenantQuery) ([]evidence.StoredEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.byTenant[q.TenantID]
	var out []evidence.StoredEntry
	for i := sort.Search(len(idx), func(i int) bool { return idx[i] >= q.StartIndex }); i < len(idx) && len(out) < q.Limit; i++ {
		e := s.entries[s.byIndex[idx[i]]]
		if inPeriod(e.Time, q.From, q.To) {
			out = append(out, clone(e))
		}
	}
	return out, nil
}

func inPeriod(t, from, to time.Time) bool { return !t.Before(from) && t.Before(to) }

// CountTenantEntries implements evidence.Storage.
func (s *Storage) CountTenantEntries(ctx context.Context, q evidence.TenantQuery) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, i := range s.byTenant[q.TenantID] {
		if inPeriod(s.entries[s.byIndex[i]].Time, q.From, q.To) {
			n++
		}
	}
	return n, nil
}

// AddCheckpoint implements evidence.Storage.
func (s *Storage) AddCheckpoint(ctx context.Context, c evidence.StoredCheckpoint) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.checkpoints); n > 0 && c.Size <= s.checkpoints[n-1].Size {
		return fmt.Errorf("memory: checkpoint of size %d, latest is %d: %w", c.Size, s.checkpoints[n-1].Size, evidence.ErrCheckpointNotNewer)
	}
	c.Note = bytes.Clone(c.Note)
	c.SignedAt = c.SignedAt.UTC()
	s.checkpoints = append(s.checkpoints, c)
	return nil
}

// LatestCheckpoint implements evidence.Storage.
func (s *Storage) LatestCheckpoint(ctx context.Context) (*evidence.StoredCheckpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.checkpoints) == 0 {
		return nil, fmt.Errorf("memory: no checkpoint: %w", evidence.ErrNotFound)
	}
	c := s.checkpoints[len(s.checkpoints)-1]
	c.Note = bytes.Clone(c.Note)
	return &c, nil
}

// Checkpoints implements evidence.Storage.
func (s *Storage) Checkpoints(ctx context.Context, start uint64, limit int) ([]evidence.StoredCheckpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []evidence.StoredCheckpoint
	for i := sort.Search(len(s.checkpoints), func(i int) bool { return s.checkpoints[i].Size >= start }); i < len(s.checkpoints) && len(out) < limit; i++ {
		c := s.checkpoints[i]
		c.Note = bytes.Clone(c.Note)
		out = append(out, c)
	}
	return out, nil
}

// Shred implements evidence.Storage.
func (s *Storage) Shred(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.entries {
		if n == limit {
			break
		}
		if e.WrappedKey != nil && !e.ShredAfter.After(now) {
			e.Sealed, e.WrappedKey = nil, nil
			n++
		}
	}
	return n, nil
}
