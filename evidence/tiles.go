package evidence

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
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

// tileOf returns the tile that holds node id (or the hashes it is computed from), and the
// position of the first of those hashes and how many there are.
func tileOf(id compact.NodeID) (TileID, int, int) {
	level := uint64(id.Level) / tileHeight
	h := id.Level % tileHeight
	first := id.Index << h
	return TileID{Level: level, Index: first / tileWidth}, int(first % tileWidth), 1 << h
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

// nodeReader computes node hashes from stored tiles.
type nodeReader struct {
	store Storage
	cache *tileCache
}

// hashes returns the hashes of nodes ids, all of which MUST be complete subtrees of the
// integrated tree. Tiles not cached wide enough are fetched in one Storage call.
func (r *nodeReader) hashes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	need := map[TileID]int{}
	for _, id := range ids {
		t, pos, n := tileOf(id)
		need[t] = max(need[t], pos+n)
	}
	tiles := map[TileID]*tileData{}
	var missing []TileID
	for t, w := range need {
		if d, ok := r.cache.get(t, w); ok {
			tiles[t] = d
		} else {
			missing = append(missing, t)
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
			if len(got[i])%hashSize != 0 || len(got[i]) > fullTile {
				return nil, fmt.Errorf("%w: tile %s has %d bytes", ErrCorrupt, t, len(got[i]))
			}
			if len(got[i]) < need[t]*hashSize {
				return nil, fmt.Errorf("%w: tile %s has %d hashes, the tree needs %d", ErrCorrupt, t, len(got[i])/hashSize, need[t])
			}
			tiles[t] = r.cache.put(t, got[i])
		}
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		t, pos, n := tileOf(id)
		out[i] = tiles[t].node(pos, n)
	}
	return out, nil
}

// String formats a tile id as its C2SP tlog-tiles path, e.g. "tile/0/x001/234".
func (t TileID) String() string { return TilePath(t, 0) }

// TilePath returns the C2SP tlog-tiles path of a tile: "tile/<L>/<N>" with N in groups of
// three digits ("x001/x234/067"), and ".p/<W>" for a partial tile of width W (0 < W < 256).
func TilePath(t TileID, width int) string {
	p := fmt.Sprintf("tile/%d/%s", t.Level, tileIndexPath(t.Index))
	if width > 0 && width < tileWidth {
		p += fmt.Sprintf(".p/%d", width)
	}
	return p
}

func tileIndexPath(n uint64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/", n%1000) + s
	}
	return s
}

// ParseTilePath parses a C2SP tlog-tiles tile path as TilePath writes it ("tile/0/x001/234",
// "tile/1/005.p/17") and returns the tile and its width (256 for a full tile). It refuses
// non-canonical paths, so one tile has one path.
func ParseTilePath(p string) (TileID, int, error) {
	bad := fmt.Errorf("evidence: %q is not a tile path: %w", p, ErrNotFound)
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return TileID{}, 0, bad
	}
	levelStr, rest, ok := strings.Cut(rest, "/")
	level, err := strconv.ParseUint(levelStr, 10, 8)
	if !ok || err != nil || strconv.FormatUint(level, 10) != levelStr || level > 8 {
		return TileID{}, 0, bad
	}
	width := tileWidth
	if i := strings.Index(rest, ".p/"); i >= 0 {
		w, err := strconv.Atoi(rest[i+3:])
		if err != nil || w < 1 || w >= tileWidth || strconv.Itoa(w) != rest[i+3:] {
			return TileID{}, 0, bad
		}
		width, rest = w, rest[:i]
	}
	var index uint64
	parts := strings.Split(rest, "/")
	for i, part := range parts {
		last := i == len(parts)-1
		if !last {
			var found bool
			if part, found = strings.CutPrefix(part, "x"); !found {
				return TileID{}, 0, bad
			}
		}
		if len(part) != 3 || strings.Trim(part, "0123456789") != "" || index > (1<<63)/1000 {
			return TileID{}, 0, bad
		}
		n, _ := strconv.ParseUint(part, 10, 64)
		index = index*1000 + n
	}
	id := TileID{Level: level, Index: index}
	if TilePath(id, width) != p {
		return TileID{}, 0, bad
	}
	return id, width, nil
}
