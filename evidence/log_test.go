package evidence_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/evidence/evidencetest"
	"github.com/mynagate/mynagate/evidence/memory"
)

// TestTreeAcrossTileLevels grows a tree through every tile boundary up to level-2 tiles
// (65,536 leaves), integrating in batches and restarting the log between steps, and checks each
// root against RFC 9162's definition and proofs against the roots.
func TestTreeAcrossTileLevels(t *testing.T) {
	c := bg(t)
	s := newTreeOnly()
	sizes := []uint64{1, 2, 3, 7, 255, 256, 257, 511, 512, 513, 4095, 4097, 65535, 65536, 65537, 70001}
	leaves := make([][32]byte, sizes[len(sizes)-1])
	for i := range leaves {
		leaves[i] = synthLeafHash(uint64(i))
	}
	roots := map[uint64][32]byte{}
	var l *evidence.Log
	for step, size := range sizes {
		if step%2 == 0 { // a restart: the new log reloads its view from the tiles
			l = evidencetest.NewLog(t, s, evidence.WithBatchSize(1000), evidence.WithTileCache(4))
		}
		s.grow(size)
		cp, err := l.Publish(c)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		want := mth(leaves[:size])
		if cp.Size != size || cp.Root != want {
			t.Fatalf("size %d: checkpoint (%d, %x), want root %x", size, cp.Size, cp.Root, want)
		}
		roots[size] = want
		check := []uint64{0, 1, size / 2, size - 2, size - 1}
		if size == 4097 { // every leaf once: every node height, from cached and uncached tiles
			check = check[:0]
			for i := uint64(0); i < size; i++ {
				check = append(check, i)
			}
		}
		for _, i := range check {
			if i >= size {
				continue
			}
			p, err := l.InclusionProof(c, i, size)
			if err != nil {
				t.Fatalf("inclusion %d/%d: %v", i, size, err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, size, leaves[i][:], p, want[:]); err != nil {
				t.Fatalf("inclusion proof %d in %d does not verify: %v", i, size, err)
			}
		}
		for old, oldRoot := range roots {
			if old > size {
				continue
			}
			p, err := l.ConsistencyProof(c, old, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old, size, p, oldRoot[:], want[:]); err != nil {
				t.Fatalf("consistency %d → %d does not verify: %v", old, size, err)
			}
		}
	}
	// A proof at an older size, from the grown tree.
	p, err := l.InclusionProof(c, 300, 513)
	if err != nil {
		t.Fatal(err)
	}
	r := roots[513]
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, 300, 513, leaves[300][:], p, r[:]); err != nil {
		t.Errorf("inclusion proof at an older size: %v", err)
	}
	// Tiles are what C2SP tlog-tiles serves: level 2 holds the root of the first 65,536 leaves.
	tile, err := l.Tile(c, evidence.TileID{Level: 2, Index: 0}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if sub := mth(leaves[:65536]); !bytes.Equal(tile, sub[:]) {
		t.Error("tile 2/000 does not hold the hash of the first 65,536 leaves")
	}
	if _, err := l.Tile(c, evidence.TileID{Level: 2, Index: 0}, 2); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("Tile beyond the tree = %v, want ErrNotFound", err)
	}
	if _, err := l.InclusionProof(c, 0, 70002); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("InclusionProof beyond the tree = %v, want ErrNotFound", err)
	}
}

func TestTilePath(t *testing.T) {
	tests := []struct {
		id    evidence.TileID
		width int
		want  string
	}{
		{evidence.TileID{Level: 0, Index: 0}, 256, "tile/0/000"},
		{evidence.TileID{Level: 0, Index: 1234067}, 0, "tile/0/x001/x234/067"},
		{evidence.TileID{Level: 1, Index: 999}, 17, "tile/1/999.p/17"},
		{evidence.TileID{Level: 3, Index: 1000}, 256, "tile/3/x001/000"},
	}
	for _, tt := range tests {
		if got := evidence.TilePath(tt.id, tt.width); got != tt.want {
			t.Errorf("TilePath(%v, %d) = %q, want %q", tt.id, tt.width, got, tt.want)
		}
		id, w, err := evidence.ParseTilePath(tt.want)
		if tt.width == 0 {
			tt.width = 256
		}
		if err != nil || id != tt.id || w != tt.width {
			t.Errorf("ParseTilePath(%q) = %v, %d, %v", tt.want, id, w, err)
		}
	}
	for _, bad := range []string{"", "tile/0", "tile/0/1", "tile/0/0001", "tile/00/000", "tile/9/000", "tile/0/001/002", "tile/0/x000/002",
		"tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/07", "tile/entries/000", "tile/0/-01", "tile/0/x1000/000",
		// golang.org/x/mod/sumdb/tlog's own forms, which name the height, and its data tiles
		"tile/8/0/000", "tile/8/0/x001/234", "tile/data/000", "tile/8/data/000", "tile/-1/000",
		// an index beyond int64, trailing and doubled slashes, a partial marker without width
		"tile/0/x009/x223/x372/x036/x854/x775/x808/000", "tile/0/000/", "tile//000", "tile/0/000.p/", "tile/0/000.p"} {
		if _, _, err := evidence.ParseTilePath(bad); !errors.Is(err, evidence.ErrNotFound) {
			t.Errorf("ParseTilePath(%q) = %v, want ErrNotFound", bad, err)
		}
	}
}

// FuzzTilePath checks that ParseTilePath accepts exactly the paths TilePath writes.
func FuzzTilePath(f *testing.F) {
	for _, p := range []string{"tile/0/000", "tile/0/x001/x234/067", "tile/1/999.p/17", "tile/8/0/000", "tile/data/000"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		id, w, err := evidence.ParseTilePath(p)
		if err != nil {
			if !errors.Is(err, evidence.ErrNotFound) {
				t.Fatalf("ParseTilePath(%q) = %v, want ErrNotFound", p, err)
			}
			return
		}
		if w < 1 || w > 256 || id.Level > 8 {
			t.Fatalf("ParseTilePath(%q) = %v, %d", p, id, w)
		}
		if back := evidence.TilePath(id, w); back != p {
			t.Fatalf("ParseTilePath(%q) = %v, %d, which TilePath writes as %q", p, id, w, back)
		}
	})
}

// lying wraps a storage and lies about selected things.
type lying struct {
	evidence.Storage
	tree  func(evidence.TreeState) evidence.TreeState
	tiles func(id evidence.TileID, b []byte) []byte
	entry func(e *evidence.StoredEntry) bool // false drops the entry
	cps   func(c *evidence.StoredCheckpoint)
}

func (s *lying) Tree(ctx context.Context) (evidence.TreeState, error) {
	ts, err := s.Storage.Tree(ctx)
	if s.tree != nil {
		ts = s.tree(ts)
	}
	return ts, err
}

func (s *lying) Tiles(ctx context.Context, ids []evidence.TileID) ([][]byte, error) {
	got, err := s.Storage.Tiles(ctx, ids)
	if s.tiles != nil {
		for i := range got {
			got[i] = s.tiles(ids[i], bytes.Clone(got[i]))
		}
	}
	return got, err
}

func (s *lying) EntriesByIndex(ctx context.Context, start uint64, limit int) ([]evidence.StoredEntry, error) {
	got, err := s.Storage.EntriesByIndex(ctx, start, limit)
	if s.entry == nil {
		return got, err
	}
	var out []evidence.StoredEntry
	for _, e := range got {
		if s.entry(&e) {
			out = append(out, e)
		}
	}
	return out, err
}

func (s *lying) Checkpoints(ctx context.Context, start uint64, limit int) ([]evidence.StoredCheckpoint, error) {
	got, err := s.Storage.Checkpoints(ctx, start, limit)
	if s.cps != nil {
		for i := range got {
			s.cps(&got[i])
		}
	}
	return got, err
}

func (s *lying) LatestCheckpoint(ctx context.Context) (*evidence.StoredCheckpoint, error) {
	c, err := s.Storage.LatestCheckpoint(ctx)
	if s.cps != nil && c != nil {
		s.cps(c)
	}
	return c, err
}

// fill appends n entries (tenant t_a) and publishes a checkpoint.
func fill(t testing.TB, l *evidence.Log, s evidencetest.Storage, from, n int) *evidence.StoredCheckpoint {
	t.Helper()
	c := bg(t)
	for i := from; i < from+n; i++ {
		if _, err := evidencetest.Append(c, l, s, evidencetest.Entry(i, "t_a")); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := l.Publish(c)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func TestPublishNeverSignsAContradiction(t *testing.T) {
	c := bg(t)
	s := memory.New()
	fill(t, evidencetest.NewLog(t, s), s, 0, 10)

	// Storage claims another root for the same size: no new checkpoint is signed.
	l := evidencetest.NewLog(t, &lying{Storage: s, tree: func(ts evidence.TreeState) evidence.TreeState { ts.Root[0] ^= 1; return ts }})
	if _, err := l.Publish(c); !errors.Is(err, evidence.ErrCorrupt) {
		t.Errorf("Publish over a changed root = %v, want ErrCorrupt", err)
	}
	// The tree grew, but its tiles no longer extend the signed tree (an old leaf hash changed):
	// the log refuses to integrate, so it signs nothing.
	if err := s.AddEntries(c, []evidence.Record{evidencetest.Record(t, l, 10, "t_a")}); err != nil {
		t.Fatal(err)
	}
	l = evidencetest.NewLog(t, &lying{Storage: s, tiles: func(id evidence.TileID, b []byte) []byte {
		if id.Level == 0 && len(b) > 0 {
			b[0] ^= 1
		}
		return b
	}})
	if _, err := l.Publish(c); !errors.Is(err, evidence.ErrCorrupt) {
		t.Errorf("Publish over altered tiles = %v, want ErrCorrupt", err)
	}
	// A stored tree that grew but does not extend the last checkpoint (a forged tree state
	// with matching tiles is out of reach; lie about the checkpoint's root instead).
	l = evidencetest.NewLog(t, &lying{Storage: s, cps: func(cp *evidence.StoredCheckpoint) { cp.Root[5] ^= 1 }})
	if _, err := l.Publish(c); !errors.Is(err, evidence.ErrCorrupt) {
		t.Errorf("Publish after a checkpoint the tree does not extend = %v, want ErrCorrupt", err)
	}
	cps, _ := s.Checkpoints(c, 0, 100)
	if len(cps) != 1 || cps[0].Size != 10 {
		t.Errorf("checkpoints stored: %d, want only the first one", len(cps))
	}
	// The honest log goes on.
	cp, err := evidencetest.NewLog(t, s).Publish(c)
	if err != nil || cp.Size != 11 {
		t.Errorf("honest Publish = %+v, %v", cp, err)
	}
}

func TestBundleLookup(t *testing.T) {
	c := bg(t)
	l, s := newLog(t)
	fill(t, l, s, 0, 3)
	if _, err := l.Bundle(c, "t_other", evidencetest.Entry(1, "t_a").ID, true); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("Bundle of another tenant's entry = %v, want ErrNotFound", err)
	}
	if _, err := l.Bundle(c, "t_a", "v_missing", false); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("Bundle of an unknown entry = %v, want ErrNotFound", err)
	}
	r := evidencetest.Record(t, l, 3, "t_a")
	if err := s.AddEntries(c, []evidence.Record{r}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Bundle(c, "t_a", r.ID, false); !errors.Is(err, evidence.ErrNotIntegrated) {
		t.Errorf("Bundle of a pending entry = %v, want ErrNotIntegrated", err)
	}
	if _, err := l.Integrate(c); err != nil {
		t.Fatal(err)
	}
	// The latest checkpoint (size 3) does not cover index 3: Bundle publishes one that does.
	b, err := l.Bundle(c, "t_a", r.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := b.Marshal()
	v, err := evidence.VerifyBundle(data, l.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if v.Index != 3 || v.Checkpoint.Size != 4 || v.Personal != nil {
		t.Errorf("bundle: index %d, size %d, personal %v; want 3, 4, not disclosed", v.Index, v.Checkpoint.Size, v.Personal)
	}
}

// TestShredKeepsEveryProof shreds personal data after the retention and checks that bundles
// made before still verify, new ones verify without personal data, the leaf is unchanged and
// later checkpoints extend the earlier ones.
func TestShredKeepsEveryProof(t *testing.T) {
	c := bg(t)
	clk := clockwork.NewFakeClockAt(evidencetest.Base)
	l, s := newLog(t, evidence.WithClock(clk))
	fill(t, l, s, 0, 5)
	id := evidencetest.Entry(2, "t_a").ID
	before, err := l.Bundle(c, "t_a", id, true)
	if err != nil {
		t.Fatal(err)
	}
	beforeData, _ := before.Marshal()
	oldCP, _ := l.Checkpoint(c)

	clk.Advance(7*365*24*time.Hour + 3*24*time.Hour) // past the 7-year retention
	if n, err := l.Shred(c); err != nil || n != 5 {
		t.Fatalf("Shred = %d, %v; want 5", n, err)
	}
	fill(t, l, s, 5, 3)

	if v, err := evidence.VerifyBundle(beforeData, l.PublicKey()); err != nil || v.Personal == nil {
		t.Fatalf("a bundle made before shredding no longer verifies: %v", err)
	}
	after, err := l.Bundle(c, "t_a", id, true)
	if err != nil {
		t.Fatal(err)
	}
	afterData, _ := after.Marshal()
	v, err := evidence.VerifyBundle(afterData, l.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if v.Personal != nil || after.Sealed != nil || after.DataKey != nil {
		t.Error("a bundle after shredding still carries personal data")
	}
	if !bytes.Equal(after.Leaf, before.Leaf) || v.Checkpoint.Size != 8 {
		t.Error("shredding changed the leaf")
	}
	cb, err := l.ConsistencyBundle(c, oldCP.Size)
	if err != nil {
		t.Fatal(err)
	}
	cbData, _ := cb.Marshal()
	if _, _, err := evidence.VerifyConsistency(cbData, l.PublicKey()); err != nil {
		t.Errorf("the checkpoint after shredding does not extend the one before: %v", err)
	}
	e, _ := s.Entry(c, id)
	if e.Sealed != nil || e.WrappedKey != nil {
		t.Error("storage still holds the personal data")
	}
	rep, err := l.Audit(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Entries 5–7 carry times of 2026 too (the clock moved, the entries' times did not), so
	// their retention has ended as well: Shred has not run since they were added.
	if rep.Shredded != 5 || rep.Sealed != 3 || rep.Overdue != 3 {
		t.Errorf("audit: shredded %d, sealed %d, overdue %d; want 5, 3, 3", rep.Shredded, rep.Sealed, rep.Overdue)
	}
}

func TestRunIntegratesAndPublishesOnShutdown(t *testing.T) {
	l, s := newLog(t, evidence.WithIntervals(20*time.Millisecond, time.Hour, time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	c := bg(t)
	for i := 0; i < 20; i++ {
		if _, err := evidencetest.Append(c, l, s, evidencetest.Entry(i, "t_a")); err != nil {
			t.Fatal(err)
		}
	}
	// Wait returns once the running integrator has the entry.
	idx, err := l.Wait(c, evidencetest.Entry(19, "t_a").ID)
	if err != nil || idx >= 20 {
		t.Fatalf("Wait = %d, %v", idx, err)
	}
	// A record stored outside Append (as the store does in the verification's transaction),
	// then Notify.
	r := evidencetest.Record(t, l, 20, "t_a")
	if err := s.AddEntries(c, []evidence.Record{r}); err != nil {
		t.Fatal(err)
	}
	l.Notify()
	if idx, err := l.Wait(c, r.ID); err != nil || idx != 20 {
		t.Fatalf("Wait(stored outside Append) = %d, %v", idx, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cp, err := s.LatestCheckpoint(c)
	if err != nil || cp.Size != 21 {
		t.Fatalf("after shutdown the latest checkpoint is %+v, %v; want size 21", cp, err)
	}
}

func TestIntegrateRefusesCorruptTiles(t *testing.T) {
	c := bg(t)
	l, s := newLog(t)
	fill(t, l, s, 0, 300)
	if err := s.AddEntries(c, []evidence.Record{evidencetest.Record(t, l, 300, "t_a")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		tiles func(evidence.TileID, []byte) []byte
	}{
		// A tree of 300 leaves is the subtrees [0,256) (in tile 1/000), [256,288), [288,296)
		// and [296,300) (in the partial tile 0/001): the integrator reads exactly these.
		{"altered hash in the edge tile", func(id evidence.TileID, b []byte) []byte {
			if id == (evidence.TileID{Level: 0, Index: 1}) {
				b[100] ^= 1
			}
			return b
		}},
		{"altered hash in an upper tile", func(id evidence.TileID, b []byte) []byte {
			if id == (evidence.TileID{Level: 1, Index: 0}) {
				b[0] ^= 1
			}
			return b
		}},
		{"edge tile too short", func(id evidence.TileID, b []byte) []byte {
			if id == (evidence.TileID{Level: 0, Index: 1}) {
				return b[:len(b)-32]
			}
			return b
		}},
		{"missing upper tile", func(id evidence.TileID, b []byte) []byte {
			if id == (evidence.TileID{Level: 1, Index: 0}) {
				return nil
			}
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := evidencetest.NewLog(t, &lying{Storage: s, tiles: tt.tiles})
			if _, err := bad.Integrate(c); !errors.Is(err, evidence.ErrCorrupt) {
				t.Errorf("Integrate = %v, want ErrCorrupt", err)
			}
		})
	}
	if e, _ := s.Entry(c, evidencetest.Entry(300, "t_a").ID); e.Sequenced {
		t.Error("an integrator over corrupt tiles sequenced an entry")
	}
}

func TestNewChecksKeys(t *testing.T) {
	k := evidencetest.Keys(t)
	other, err := evidence.GenerateKeys(zeros{}, "other.example/log")
	if err != nil {
		t.Fatal(err)
	}
	for _, keys := range []*evidence.Keys{nil, {Signer: k.Signer, Public: other.Public, Wrap: k.Wrap}, {Signer: k.Signer, Public: k.Public}} {
		if _, err := evidence.New(memory.New(), keys); err == nil {
			t.Errorf("New accepted keys %+v", keys)
		}
	}
	if _, err := evidence.New(nil, k); err == nil {
		t.Error("New accepted a nil storage")
	}
}

// racing runs before when LatestCheckpoint is called the first time after it is armed: another
// node's work, landing between this node's reads.
type racing struct {
	evidence.Storage
	before func()
}

func (s *racing) LatestCheckpoint(ctx context.Context) (*evidence.StoredCheckpoint, error) {
	if f := s.before; f != nil {
		s.before = nil
		f()
	}
	return s.Storage.LatestCheckpoint(ctx)
}

// TestPublishWhileAnotherNodePublishes: node B appends, integrates and publishes while node A is
// publishing. A consistent log is not reported corrupt: A returns the newer checkpoint (B's)
// rather than comparing it with a tree it read before B's work.
func TestPublishWhileAnotherNodePublishes(t *testing.T) {
	c := bg(t)
	s := memory.New()
	b := evidencetest.NewLog(t, s)
	fill(t, b, s, 0, 5)
	r := &racing{Storage: s}
	a := evidencetest.NewLog(t, r)
	r.before = func() { fill(t, b, s, 5, 3) }
	cp, err := a.Publish(c)
	if err != nil {
		t.Fatalf("Publish while another node published = %v, want its checkpoint", err)
	}
	if cp.Size != 8 {
		t.Errorf("Publish returned the checkpoint of size %d, want 8 (the other node's)", cp.Size)
	}
}
