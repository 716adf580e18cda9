package evidence

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

// The tree is stored as C2SP tlog-tiles (https://c2sp.org/tlog-tiles): tiles of height 8, so
// tile (L, N) holds up to 256 hashes of tree level 8·L. Any node of the tree is either stored in
// a tile (levels 0, 8, 16, 24, …) or the root of a subtree of at most 128 consecutive hashes of
// one tile, recomputed on read. At 10 M leaves that is 39,063 level-0 tiles, 153 level-1, one
// level-2 and one level-3 tile: 320 MB of leaf hashes, 1.3 MB above them, and an inclusion proof
// reads three or four tiles.
const (
	tileHeight = 8
	tileWidth  = 1 << tileHeight
	hashSize   = 32
	fullTile   = tileWidth * hashSize
)

var hasher = rfc6962.DefaultHasher

func hashChildren(l, r []byte) []byte { return hasher.HashChildren(l, r) }

// emptyRoot is the root hash of the empty tree, SHA-256 of nothing.
var emptyRoot = [32]byte(hasher.EmptyRoot())

var rangeFactory = &compact.RangeFactory{Hash: hashChildren}

// tileAt returns the tile and the position in it of node id, which MUST be at a tile level
// (0, 8, 16, …): the integrator and the audit write and compare those.
func tileAt(id compact.NodeID) (TileID, int) {
	return TileID{Level: uint64(id.Level / tileHeight), Index: id.Index / tileWidth}, int(id.Index % tileWidth)
}

// storedIndexes returns tlog's stored hash indexes of compact-range nodes.
func storedIndexes(ids []compact.NodeID) []int64 {
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = tlog.StoredHashIndex(int(id.Level), int64(id.Index))
	}
	return out
}

// hashSlices returns hashes as the byte slices bundles and compact ranges hold, never nil (an
// empty proof is [] in a bundle's canonical JSON).
func hashSlices(hs []tlog.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// tileData is a tile as the node reader holds it: its hashes and every node of its eight levels
// that they complete (for a full tile 256 + 128 + … + 1 = 511), so that nodes are looked up
// rather than recomputed.
type tileData struct {
	raw      []byte
	expanded []byte // level h starts at node 512 − 512>>h; nodes the width does not complete are zero
}

// expand computes every node the hashes of a tile complete, level by level.
func expand(raw []byte) []byte {
	out := make([]byte, (2*tileWidth-1)*hashSize)
	copy(out, raw)
	var buf [1 + 2*hashSize]byte
	buf[0] = 1 // RFC 6962 node prefix
	width := len(raw) / hashSize
	for start, n := 0, tileWidth; n > 1; start, n = start+n, n/2 {
		for i := 0; i < width/2; i++ {
			copy(buf[1:], out[(start+2*i)*hashSize:(start+2*i+2)*hashSize])
			h := sha256.Sum256(buf[:])
			copy(out[(start+n+i)*hashSize:], h[:])
		}
		width /= 2
	}
	return out
}

// width returns how many hashes the tile holds.
func (t *tileData) width() int { return len(t.raw) / hashSize }

// node returns the root of the subtree over the n hashes from pos; pos+n MUST be within the
// tile's width.
func (t *tileData) node(pos, n int) []byte {
	h := bits.TrailingZeros(uint(n))
	i := 2*tileWidth - (2*tileWidth)>>h + pos>>h
	return t.expanded[i*hashSize : (i+1)*hashSize : (i+1)*hashSize]
}

// tileCache keeps tiles, expanded. A tile only grows and every hash in it is final, so a cached
// tile serves every node within its width, whatever the tree's size now; a node beyond it makes
// the reader fetch the tile again.
type tileCache struct {
	mu    sync.Mutex
	max   int
	tiles map[TileID]*tileData
	order []TileID // FIFO eviction of level-0 tiles; upper levels are few and always kept
}

func newTileCache(max int) *tileCache {
	return &tileCache{max: max, tiles: map[TileID]*tileData{}}
}

// get returns the cached tile if it holds at least width hashes.
func (c *tileCache) get(id TileID, width int) (*tileData, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tiles[id]
	if !ok || t.width() < width {
		return nil, false
	}
	return t, true
}

// put expands a tile, caches it unless a wider version is cached, and returns the widest.
func (c *tileCache) put(id TileID, raw []byte) *tileData {
	t := &tileData{raw: raw, expanded: expand(raw)}
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.tiles[id]
	if ok && old.width() >= t.width() {
		return old
	}
	c.tiles[id] = t
	if id.Level == 0 && !ok {
		c.order = append(c.order, id)
		for len(c.order) > c.max {
			delete(c.tiles, c.order[0])
			c.order = c.order[1:]
		}
	}
	return t
}

// nodeReader reads node hashes from stored tiles, for golang.org/x/mod/sumdb/tlog's proofs and
// for the integrator's reload.
type nodeReader struct {
	store Storage
	cache *tileCache
}

// at returns a tlog.HashReader over the tiles, reading storage with ctx.
func (r *nodeReader) at(ctx context.Context) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) { return r.hashes(ctx, indexes) })
}

// hashes returns the hashes of the nodes at tlog's stored hash indexes, all of which MUST be
// complete subtrees of the integrated tree. A node is in the tile tlog.TileForIndex names: the
// last 2^(level mod 8) of the W hashes it needs are the node's subtree. Tiles not cached wide
// enough are fetched in one Storage call.
func (r *nodeReader) hashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	// A proof touches a handful of tiles: a slice searched linearly beats maps here.
	type need struct {
		id    TileID
		width int
		data  *tileData
	}
	var needs []need
	type at struct {
		need   int // in needs
		end, n int // the node is the subtree of hashes [end-n, end) of the tile
	}
	ats := make([]at, len(indexes))
	for i, x := range indexes {
		level, _ := tlog.SplitStoredHashIndex(x)
		t := tlog.TileForIndex(tileHeight, x)
		id := TileID{Level: uint64(t.L), Index: uint64(t.N)}
		k := slices.IndexFunc(needs, func(n need) bool { return n.id == id })
		if k < 0 {
			k = len(needs)
			needs = append(needs, need{id: id})
		}
		needs[k].width = max(needs[k].width, t.W)
		ats[i] = at{need: k, end: t.W, n: 1 << (level % tileHeight)}
	}
	var missing []TileID
	var missingAt []int
	for k := range needs {
		if d, ok := r.cache.get(needs[k].id, needs[k].width); ok {
			needs[k].data = d
		} else {
			missing, missingAt = append(missing, needs[k].id), append(missingAt, k)
		}
	}
	if len(missing) > 0 {
		got, err := r.store.Tiles(ctx, missing)
		if err != nil {
			return nil, fmt.Errorf("evidence: read tiles: %w", err)
		}
		if len(got) != len(missing) {
			return nil, fmt.Errorf("%w: asked for %d tiles, storage returned %d", ErrCorrupt, len(missing), len(got))
		}
		for i, t := range missing {
			n := &needs[missingAt[i]]
			if len(got[i])%hashSize != 0 || len(got[i]) > fullTile {
				return nil, fmt.Errorf("%w: tile %s has %d bytes", ErrCorrupt, t, len(got[i]))
			}
			if len(got[i]) < n.width*hashSize {
				return nil, fmt.Errorf("%w: tile %s has %d hashes, the tree needs %d", ErrCorrupt, t, len(got[i])/hashSize, n.width)
			}
			n.data = r.cache.put(t, got[i])
		}
	}
	out := make([]tlog.Hash, len(indexes))
	for i, a := range ats {
		out[i] = tlog.Hash(needs[a.need].data.node(a.end-a.n, a.n))
	}
	return out, nil
}

// String formats a tile id as its C2SP tlog-tiles path, e.g. "tile/0/x001/234".
func (t TileID) String() string { return TilePath(t, 0) }

// sumdbTile is the prefix of golang.org/x/mod/sumdb/tlog's tile paths for tiles of height 8. Its
// paths name the height ("tile/8/0/x001/234"); C2SP tlog-tiles, which fixes the height at 8, does
// not ("tile/0/x001/234"). Otherwise the two encode a tile the same way.
const sumdbTile = "tile/8/"

// TilePath returns the C2SP tlog-tiles path of a tile: "tile/<L>/<N>" with N in groups of
// three digits ("x001/x234/067"), and ".p/<W>" for a partial tile of width W (0 < W < 256).
func TilePath(t TileID, width int) string {
	if width <= 0 || width > tileWidth {
		width = tileWidth
	}
	p := tlog.Tile{H: tileHeight, L: int(t.Level), N: int64(t.Index), W: width}.Path()
	return "tile/" + strings.TrimPrefix(p, sumdbTile)
}

// ParseTilePath parses a C2SP tlog-tiles tile path as TilePath writes it ("tile/0/x001/234",
// "tile/1/005.p/17") and returns the tile and its width (256 for a full tile). It refuses
// non-canonical paths, so one tile has one path, and levels above 8 (a tree of 2^64 leaves has
// none) and tlog's data tiles.
func ParseTilePath(p string) (TileID, int, error) {
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return TileID{}, 0, fmt.Errorf("evidence: %q is not a tile path: %w", p, ErrNotFound)
	}
	t, err := tlog.ParseTilePath(sumdbTile + rest)
	if err != nil || t.L < 0 || t.L > 8 {
		return TileID{}, 0, fmt.Errorf("evidence: %q is not a tile path: %w", p, ErrNotFound)
	}
	return TileID{Level: uint64(t.L), Index: uint64(t.N)}, t.W, nil
}
