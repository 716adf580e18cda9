package evidence

import (
	"context"
	"fmt"
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

// tileCache keeps full tiles, which never change. Partial tiles are read every time.
type tileCache struct {
	mu    sync.Mutex
	max   int
	tiles map[TileID][]byte
	order []TileID // FIFO eviction of level-0 tiles; upper levels are few and always kept
}

func newTileCache(max int) *tileCache {
	return &tileCache{max: max, tiles: map[TileID][]byte{}}
}

func (c *tileCache) get(id TileID) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tiles[id]
	return t, ok
}

func (c *tileCache) put(id TileID, t []byte) {
	if len(t) != fullTile {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.tiles[id]; ok {
		return
	}
	c.tiles[id] = t
	if id.Level == 0 {
		c.order = append(c.order, id)
		for len(c.order) > c.max {
			delete(c.tiles, c.order[0])
			c.order = c.order[1:]
		}
	}
}

// nodeReader computes node hashes from stored tiles.
type nodeReader struct {
	store Storage
	cache *tileCache
}

// hashes returns the hashes of nodes ids, all of which MUST be complete subtrees of the
// integrated tree. Tiles are fetched in one Storage call.
func (r *nodeReader) hashes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	tiles := map[TileID][]byte{}
	var missing []TileID
	for _, id := range ids {
		t, _, _ := tileOf(id)
		if _, ok := tiles[t]; ok {
			continue
		}
		if b, ok := r.cache.get(t); ok {
			tiles[t] = b
			continue
		}
		tiles[t] = nil
		missing = append(missing, t)
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
			tiles[t] = got[i]
			r.cache.put(t, got[i])
		}
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		t, pos, n := tileOf(id)
		b := tiles[t]
		if len(b) < (pos+n)*hashSize {
			return nil, fmt.Errorf("%w: tile %s has %d hashes, node (level %d, index %d) needs %d", ErrCorrupt, t, len(b)/hashSize, id.Level, id.Index, pos+n)
		}
		out[i] = subtreeHash(b[pos*hashSize : (pos+n)*hashSize])
	}
	return out, nil
}

// subtreeHash returns the root of the perfect subtree over a power-of-two number of
// concatenated hashes.
func subtreeHash(hs []byte) []byte {
	n := len(hs) / hashSize
	if n == 1 {
		return hs[:hashSize:hashSize]
	}
	level := make([][]byte, n)
	for i := range level {
		level[i] = hs[i*hashSize : (i+1)*hashSize]
	}
	for len(level) > 1 {
		next := level[:len(level)/2]
		for i := range next {
			next[i] = hashChildren(level[2*i], level[2*i+1])
		}
		level = next
	}
	return level[0]
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
