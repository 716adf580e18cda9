package evidence_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/evidence/evidencetest"
)

// goldenSizes cross every tile boundary up to a level-2 tile.
var goldenSizes = []uint64{1, 2, 3, 255, 256, 257, 513, 4097, 65536, 65537, 70001}

// TestTreeGolden pins the bytes the log serves for a tree of known leaves (synthLeaf 0 … 70,000):
// every stored tile under its C2SP path, the root at each size, and inclusion and consistency
// proofs between those sizes. testdata/tree.golden was written by the log before its tiles and
// proofs went through golang.org/x/mod/sumdb/tlog, when they were computed with
// transparency-dev/merkle's proof node lists: the two must agree byte for byte, or every bundle
// and tile handed out before would stop matching. Each proof is also checked with
// transparency-dev/merkle's verifier, the one VerifyBundle and `mynagate evidence verify` use.
func TestTreeGolden(t *testing.T) {
	c := bg(t)
	s := newTreeOnly()
	l := evidencetest.NewLog(t, s, evidence.WithBatchSize(10_000), evidence.WithTileCache(8))
	leaves := make([][32]byte, goldenSizes[len(goldenSizes)-1])
	for i := range leaves {
		leaves[i] = synthLeafHash(uint64(i))
	}
	var out bytes.Buffer
	roots := map[uint64][32]byte{0: sha256.Sum256(nil)}
	for _, size := range goldenSizes {
		s.grow(size)
		cp, err := l.Publish(c)
		if err != nil {
			t.Fatal(err)
		}
		roots[size] = cp.Root
		root := cp.Root
		fmt.Fprintf(&out, "root %d %x\n", size, cp.Root)
		check := []uint64{0, 1, size / 3, size / 2, max(size, 2) - 2, size - 1}
		slices.Sort(check)
		for _, i := range slices.Compact(check) {
			if i >= size {
				continue
			}
			p, err := l.InclusionProof(c, i, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, size, leaves[i][:], p, root[:]); err != nil {
				t.Errorf("inclusion %d in %d does not verify: %v", i, size, err)
			}
			if p == nil { // bundles are canonical JSON: an empty proof is [], never null
				t.Errorf("inclusion %d in %d: nil proof", i, size)
			}
			fmt.Fprintf(&out, "inclusion %d %d %x\n", i, size, bytes.Join(p, nil))
		}
		for _, old := range append([]uint64{0}, goldenSizes...) {
			if old > size {
				break
			}
			p, err := l.ConsistencyProof(c, old, size)
			if err != nil {
				t.Fatal(err)
			}
			o := roots[old]
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old, size, p, o[:], root[:]); err != nil {
				t.Errorf("consistency %d → %d does not verify: %v", old, size, err)
			}
			if p == nil {
				t.Errorf("consistency %d → %d: nil proof", old, size)
			}
			fmt.Fprintf(&out, "consistency %d %d %x\n", old, size, sha256.Sum256(bytes.Join(p, nil)))
		}
	}
	// Every tile of the final tree, as served (full, or partial at the tree's edge).
	size := goldenSizes[len(goldenSizes)-1]
	var ids []evidence.TileID
	for level := uint64(0); size>>(8*level) > 0; level++ {
		for n := uint64(0); n <= (size>>(8*level)-1)/256; n++ {
			ids = append(ids, evidence.TileID{Level: level, Index: n})
		}
	}
	for _, id := range ids {
		width := min(256, int(size>>(8*id.Level)-256*id.Index))
		tile, err := l.Tile(c, id, width)
		if err != nil {
			t.Fatal(err)
		}
		path := evidence.TilePath(id, width)
		if gotID, gotW, err := evidence.ParseTilePath(path); err != nil || gotID != id || gotW != width {
			t.Errorf("ParseTilePath(%q) = %v, %d, %v", path, gotID, gotW, err)
		}
		fmt.Fprintf(&out, "tile %s %x\n", path, sha256.Sum256(tile))
	}

	const golden = "testdata/tree.golden"
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	got := bytes.Split(out.Bytes(), []byte("\n"))
	for i, w := range bytes.Split(want, []byte("\n")) {
		if i >= len(got) || !bytes.Equal(got[i], w) {
			t.Fatalf("line %d: got %q, want %q", i+1, got[min(i, len(got)-1)], w)
		}
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("got %d bytes, want %d", out.Len(), len(want))
	}
}
