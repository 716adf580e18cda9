package evidence

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/tlog"
)

// Log is the evidence log over a Storage. It is safe for concurrent use, and several Logs (on
// several nodes) may share one database: the storage's guarded writes keep one tree.
type Log struct {
	store  Storage
	keys   *Keys
	origin string
	clk    clockwork.Clock
	rand   io.Reader

	retention       func(tenantID string, at time.Time) time.Time
	batchSize       int
	integrateEvery  time.Duration
	checkpointEvery time.Duration
	shredEvery      time.Duration

	nodes  *nodeReader
	notify chan struct{}

	integMu sync.Mutex
	tree    *liveTree // nil until loaded, and after any failed integration

	pubMu sync.Mutex

	genMu sync.Mutex
	genCh chan struct{} // closed and replaced after every integration

	health health // what Ready reports (health.go)
}

// Option configures a Log.
type Option func(*Log)

// WithClock sets the clock (default real).
func WithClock(c clockwork.Clock) Option { return func(l *Log) { l.clk = c } }

// WithRand sets the randomness for data keys and wrapping nonces (default crypto/rand). Calls
// are serialized, so any io.Reader will do.
func WithRand(r io.Reader) Option { return func(l *Log) { l.rand = &lockedReader{r: r} } }

// WithRetention sets when the personal data of a tenant's entry made at a time is shredded
// (default: 7 years after it, the record-keeping period of 犯罪収益移転防止法 art. 6). The time
// is fixed when the entry is prepared.
func WithRetention(f func(tenantID string, at time.Time) time.Time) Option {
	return func(l *Log) { l.retention = f }
}

// WithBatchSize sets how many entries one integration transaction takes at most (default 4096).
func WithBatchSize(n int) Option { return func(l *Log) { l.batchSize = n } }

// WithIntervals sets how often Run integrates (default 100 ms: an append of this process wakes
// the integrator at once unless it ran less than that ago, and entries of other processes are
// picked up within it; so under load each integration takes a batch instead of a commit per
// append), publishes a checkpoint if the tree grew (default 10 s), and shreds expired personal
// data (default 1 h).
func WithIntervals(integrate, checkpoint, shred time.Duration) Option {
	return func(l *Log) { l.integrateEvery, l.checkpointEvery, l.shredEvery = integrate, checkpoint, shred }
}

// WithTileCache sets how many full leaf tiles (8 KiB each) are kept in memory for proofs
// (default 1024). Tiles above the leaves are always kept: 1.3 MB at 10 M leaves.
func WithTileCache(n int) Option { return func(l *Log) { l.nodes.cache.max = n } }

// DefaultRetention is the retention of personal data unless WithRetention says otherwise.
func DefaultRetention(_ string, at time.Time) time.Time { return at.AddDate(7, 0, 0) }

// New returns the log over store with its keys. It does no I/O; the tree is loaded by the first
// integration, and background work starts with Run.
func New(store Storage, keys *Keys, opts ...Option) (*Log, error) {
	if store == nil || keys == nil || keys.Signer == nil || keys.Public == nil || keys.Wrap == nil {
		return nil, errors.New("evidence: a storage, a signing key, its public key and a master keyring are required")
	}
	if keys.Signer.Name() != keys.Public.Origin() || keys.Signer.KeyHash() != keys.Public.v.KeyHash() {
		return nil, errors.New("evidence: the signing key and the public key do not match")
	}
	l := &Log{
		store: store, keys: keys, origin: keys.Public.Origin(),
		clk: clockwork.NewRealClock(), rand: &lockedReader{r: rand.Reader},
		retention: DefaultRetention, batchSize: 4096,
		integrateEvery: 100 * time.Millisecond, checkpointEvery: 10 * time.Second, shredEvery: time.Hour,
		nodes:  &nodeReader{store: store, cache: newTileCache(1024)},
		notify: make(chan struct{}, 1),
		genCh:  make(chan struct{}),
	}
	for _, o := range opts {
		o(l)
	}
	if l.batchSize < 1 || l.integrateEvery <= 0 || l.checkpointEvery <= 0 || l.shredEvery <= 0 {
		return nil, errors.New("evidence: batch size and intervals must be positive")
	}
	return l, nil
}

// Origin returns the log's origin, the first line of its checkpoints.
func (l *Log) Origin() string { return l.origin }

// PublicKey returns the log's public key.
func (l *Log) PublicKey() *PublicKey { return l.keys.Public }

type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (r *lockedReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.r.Read(p)
}

// Prepare turns an entry into the record storage keeps: it seals the personal data under a
// fresh data key, wraps the key, and encodes and hashes the leaf. It stores nothing: the caller
// stores the record in its own transaction (package store does it in the transaction that
// records the verification) and then calls Notify. An entry it
// cannot encode is refused with an *EntryError.
func (l *Log) Prepare(e Entry) (*Record, error) {
	if err := e.Header.validate(); err != nil {
		return nil, err
	}
	if err := e.Personal.validate(e.Method); err != nil {
		return nil, err
	}
	plain, err := encodePersonal(&e.Personal)
	if err != nil {
		return nil, fmt.Errorf("evidence: encode personal data: %w", err)
	}
	shredAfter := l.retention(e.TenantID, e.Time).UTC()
	if !shredAfter.After(e.Time) || !validTime(shredAfter) {
		return nil, &EntryError{Field: "Time", Reason: fmt.Sprintf("gives a retention end %s that is not after it", shredAfter.Format(time.RFC3339))}
	}
	sealed, key, err := seal(l.rand, e.ID, plain)
	if err != nil {
		return nil, err
	}
	lf := Leaf{Version: leafVersion, Header: e.Header, SealedHash: sha256.Sum256(sealed), KeyCommitment: keyCommitment(key),
		RetainUntil: shredAfter, Disclosures: disclosures(key, &e.Personal)}
	if e.Served != nil {
		lf.Served = l.keys.Wrap.servedMAC(e.ID, e.Served)
	}
	leaf, err := encodeLeaf(&lf)
	if err != nil {
		return nil, fmt.Errorf("evidence: encode leaf: %w", err)
	}
	wrapped, err := l.keys.Wrap.wrap(l.rand, e.ID, key)
	if err != nil {
		return nil, err
	}
	clear(key)
	return &Record{
		ID: e.ID, TenantID: e.TenantID, Time: e.Time.UTC(),
		LeafData: leaf, LeafHash: [32]byte(hasher.HashLeaf(leaf)),
		Sealed: sealed, WrappedKey: wrapped, ShredAfter: shredAfter,
	}, nil
}

// Notify wakes Run's integrator: call it after storing a prepared record.
func (l *Log) Notify() {
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

// liveTree is the integrator's view of the tree: the compact range of [0, size) and the
// rightmost tile of each level.
type liveTree struct {
	rng   *compact.Range
	edges map[uint64]*edgeTile
}

type edgeTile struct {
	index  uint64
	hashes []byte
}

func rootOf(r *compact.Range) ([32]byte, error) {
	if r.End() == 0 {
		return emptyRoot, nil
	}
	h, err := r.GetRootHash(nil)
	if err != nil {
		return [32]byte{}, err
	}
	return [32]byte(h), nil
}

// load rebuilds the integrator's view from storage and checks it against the stored root.
func (l *Log) load(ctx context.Context) error {
	ts, err := l.store.Tree(ctx)
	if err != nil {
		return fmt.Errorf("evidence: read tree state: %w", err)
	}
	hs, err := l.nodes.hashes(ctx, storedIndexes(compact.RangeNodes(0, ts.Size, nil)))
	if err != nil {
		return err
	}
	rng, err := rangeFactory.NewRange(0, ts.Size, hashSlices(hs))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	root, err := rootOf(rng)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if ts.Size > 0 && root != ts.Root {
		return fmt.Errorf("%w: the stored tiles hash to %x at size %d, the stored root is %x", ErrCorrupt, root, ts.Size, ts.Root)
	}
	t := &liveTree{rng: rng, edges: map[uint64]*edgeTile{}}
	for level := uint64(0); ts.Size>>(tileHeight*level) > 0; level++ {
		n := ts.Size >> (tileHeight * level)
		if n%tileWidth == 0 {
			continue // the next hash starts a new tile
		}
		id := TileID{Level: level, Index: n / tileWidth}
		got, err := l.store.Tiles(ctx, []TileID{id})
		if err != nil {
			return fmt.Errorf("evidence: read tile %s: %w", id, err)
		}
		// The tile may hold more: another node may have integrated since the tree state was
		// read. Its first hashes are final; the guarded Integrate catches the moved tree.
		want := (n % tileWidth) * hashSize
		if len(got) != 1 || uint64(len(got[0])) < want {
			return fmt.Errorf("%w: tile %s does not hold the %d hashes of a tree of size %d", ErrCorrupt, id, n%tileWidth, ts.Size)
		}
		t.edges[level] = &edgeTile{index: id.Index, hashes: append(make([]byte, 0, fullTile), got[0][:want]...)}
	}
	l.tree = t
	return nil
}

// Integrate gives indexes to pending entries, in batches of one transaction each, until none
// is left, and returns how many it integrated. Run calls it; tests and tools may call it
// directly.
func (l *Log) Integrate(ctx context.Context) (int, error) {
	l.integMu.Lock()
	defer l.integMu.Unlock()
	total, moved := 0, 0
	for {
		if l.tree == nil {
			if err := l.load(ctx); err != nil {
				return total, err
			}
		}
		pend, err := l.store.Unsequenced(ctx, l.batchSize)
		if err != nil {
			return total, fmt.Errorf("evidence: read pending entries: %w", err)
		}
		if len(pend) == 0 {
			return total, nil
		}
		err = l.integrateBatch(ctx, pend)
		if errors.Is(err, ErrTreeMoved) && moved < 10 {
			// Another integrator (another node) went first: start again from what it wrote.
			l.tree, moved = nil, moved+1
			continue
		}
		if err != nil {
			l.tree = nil
			return total, err
		}
		total += len(pend)
		l.broadcast()
		if len(pend) < l.batchSize {
			return total, nil
		}
	}
}

func (l *Log) integrateBatch(ctx context.Context, pend []Pending) error {
	t := l.tree
	from := t.rng.End()
	touched := map[TileID][]byte{}
	var order []TileID
	var visitErr error
	visit := func(id compact.NodeID, h []byte) {
		if id.Level%tileHeight != 0 || visitErr != nil {
			return
		}
		tid, pos := tileAt(id)
		e := t.edges[tid.Level]
		if e == nil || e.index != tid.Index {
			e = &edgeTile{index: tid.Index, hashes: make([]byte, 0, fullTile)}
			t.edges[tid.Level] = e
		}
		if len(e.hashes)/hashSize != pos {
			visitErr = fmt.Errorf("%w: tile %s has %d hashes, the next node is at %d", ErrCorrupt, tid, len(e.hashes)/hashSize, pos)
			return
		}
		e.hashes = append(e.hashes, h...)
		if _, ok := touched[tid]; !ok {
			order = append(order, tid)
		}
		touched[tid] = e.hashes
	}
	ids := make([]string, len(pend))
	for i, p := range pend {
		ids[i] = p.ID
		if err := t.rng.Append(p.LeafHash[:], visit); err != nil {
			return fmt.Errorf("evidence: append leaf: %w", err)
		}
	}
	if visitErr != nil {
		return visitErr
	}
	root, err := rootOf(t.rng)
	if err != nil {
		return err
	}
	in := Integration{From: from, To: t.rng.End(), Root: root, IDs: ids}
	for _, tid := range order {
		in.Tiles = append(in.Tiles, Tile{TileID: tid, Hashes: touched[tid]})
	}
	if err := l.store.Integrate(ctx, in); err != nil {
		return fmt.Errorf("evidence: integrate %d entries at size %d: %w", len(ids), from, err)
	}
	// The tiles just written are the ones proofs for recent entries read (and the upper and
	// edge tiles every proof reads): cache them.
	for _, tile := range in.Tiles {
		l.nodes.cache.put(tile.TileID, bytes.Clone(tile.Hashes))
	}
	return nil
}

func (l *Log) generation() chan struct{} {
	l.genMu.Lock()
	defer l.genMu.Unlock()
	return l.genCh
}

func (l *Log) broadcast() {
	l.genMu.Lock()
	defer l.genMu.Unlock()
	close(l.genCh)
	l.genCh = make(chan struct{})
}

// Wait returns the index of entry id once it is integrated. The entry MUST be stored. It
// polls storage (entries may be integrated by another node) and wakes the local integrator.
func (l *Log) Wait(ctx context.Context, id string) (uint64, error) {
	for {
		gen := l.generation()
		e, err := l.store.Entry(ctx, id)
		if err != nil {
			return 0, fmt.Errorf("evidence: entry %s: %w", id, err)
		}
		if e.Sequenced {
			return e.Index, nil
		}
		l.Notify()
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-gen:
		case <-l.clk.After(l.integrateEvery):
		}
	}
}

// Publish integrates what is pending and signs a checkpoint of the tree, unless the latest
// checkpoint already has its size, and returns the latest checkpoint. Before signing it checks
// that the new tree extends the previous checkpoint's (a consistency proof from its own tiles),
// so the log never signs a checkpoint that contradicts one it signed before.
func (l *Log) Publish(ctx context.Context) (*StoredCheckpoint, error) {
	if _, err := l.Integrate(ctx); err != nil {
		return nil, err
	}
	return l.publishTree(ctx)
}

func (l *Log) publishTree(ctx context.Context) (*StoredCheckpoint, error) {
	l.pubMu.Lock()
	defer l.pubMu.Unlock()
	// The checkpoint is read before the tree: the tree only grows and a checkpoint is only ever
	// of a tree that existed, so a tree read after it is at least as large. Read the other way
	// round, another node could integrate and publish in between, and a consistent log would be
	// reported corrupt.
	latest, err := l.store.LatestCheckpoint(ctx)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("evidence: read latest checkpoint: %w", err)
	}
	ts, err := l.store.Tree(ctx)
	if err != nil {
		return nil, fmt.Errorf("evidence: read tree state: %w", err)
	}
	if ts.Size == 0 {
		ts.Root = emptyRoot
	}
	if latest != nil {
		switch {
		case latest.Size == ts.Size && latest.Root == ts.Root:
			return latest, nil
		case latest.Size >= ts.Size:
			return nil, fmt.Errorf("%w: the tree (size %d, root %x) is not ahead of the latest checkpoint (size %d, root %x)", ErrCorrupt, ts.Size, ts.Root, latest.Size, latest.Root)
		}
		p, err := l.ConsistencyProof(ctx, latest.Size, ts.Size)
		if err != nil {
			return nil, err
		}
		if err := proof.VerifyConsistency(hasher, latest.Size, ts.Size, p, latest.Root[:], ts.Root[:]); err != nil {
			return nil, fmt.Errorf("%w: the tree at size %d does not extend the checkpoint at size %d: %v", ErrCorrupt, ts.Size, latest.Size, err)
		}
	}
	msg, err := signCheckpoint(Checkpoint{Origin: l.origin, Size: ts.Size, Root: ts.Root}, l.keys.Signer)
	if err != nil {
		return nil, fmt.Errorf("evidence: sign checkpoint: %w", err)
	}
	c := StoredCheckpoint{Size: ts.Size, Root: ts.Root, Note: msg, SignedAt: l.clk.Now().UTC()}
	err = l.store.AddCheckpoint(ctx, c)
	if errors.Is(err, ErrCheckpointNotNewer) {
		// Another node published this size or a larger one first.
		return l.store.LatestCheckpoint(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: store checkpoint: %w", err)
	}
	slog.DebugContext(ctx, "evidence: checkpoint published", "size", c.Size)
	return &c, nil
}

// Checkpoint returns the latest signed checkpoint, publishing the first one if there is none.
func (l *Log) Checkpoint(ctx context.Context) (*StoredCheckpoint, error) {
	c, err := l.store.LatestCheckpoint(ctx)
	if errors.Is(err, ErrNotFound) {
		return l.Publish(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: read latest checkpoint: %w", err)
	}
	return c, nil
}

// checkSize refuses sizes beyond the integrated tree.
func (l *Log) checkSize(ctx context.Context, size uint64) error {
	ts, err := l.store.Tree(ctx)
	if err != nil {
		return fmt.Errorf("evidence: read tree state: %w", err)
	}
	if size > ts.Size {
		return fmt.Errorf("evidence: tree size %d is beyond the log's %d: %w", size, ts.Size, ErrNotFound)
	}
	return nil
}

// InclusionProof returns the RFC 9162 §2.1.3 inclusion proof of leaf index in the tree of the
// given size.
func (l *Log) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	if err := l.checkSize(ctx, size); err != nil {
		return nil, err
	}
	if index >= size {
		return nil, fmt.Errorf("evidence: leaf %d is not in a tree of size %d", index, size)
	}
	p, err := tlog.ProveRecord(int64(size), int64(index), l.nodes.at(ctx))
	if err != nil {
		return nil, fmt.Errorf("evidence: inclusion proof of %d in %d: %w", index, size, err)
	}
	return hashSlices(p), nil
}

// ConsistencyProof returns the RFC 9162 §2.1.4 consistency proof between tree sizes size1 ≤
// size2.
func (l *Log) ConsistencyProof(ctx context.Context, size1, size2 uint64) ([][]byte, error) {
	if err := l.checkSize(ctx, size2); err != nil {
		return nil, err
	}
	if size1 > size2 {
		return nil, fmt.Errorf("evidence: no consistency proof from size %d to the smaller %d", size1, size2)
	}
	if size1 == 0 { // every tree extends the empty one: the proof is empty (tlog does not take 0)
		return [][]byte{}, nil
	}
	p, err := tlog.ProveTree(int64(size2), int64(size1), l.nodes.at(ctx))
	if err != nil {
		return nil, fmt.Errorf("evidence: consistency proof from %d to %d: %w", size1, size2, err)
	}
	return hashSlices(p), nil
}

// Tile returns a tile as C2SP tlog-tiles serves it: the first width hashes (width 256 for a
// full tile) of tile id. ErrNotFound if the tree does not have that many yet. Witnesses and
// mirrors can fetch the whole tree this way.
func (l *Log) Tile(ctx context.Context, id TileID, width int) ([]byte, error) {
	if width < 1 || width > tileWidth {
		return nil, fmt.Errorf("evidence: tile width %d is not 1 to 256: %w", width, ErrNotFound)
	}
	got, err := l.store.Tiles(ctx, []TileID{id})
	if err != nil {
		return nil, fmt.Errorf("evidence: read tile %s: %w", id, err)
	}
	if len(got) != 1 || len(got[0]) < width*hashSize {
		return nil, fmt.Errorf("evidence: tile %s has fewer than %d hashes: %w", id, width, ErrNotFound)
	}
	return got[0][: width*hashSize : width*hashSize], nil
}

// Shred deletes the personal data and data keys whose retention ended, and returns how many
// entries it shredded. Their leaves, and so the tree and every proof, stay as they are.
func (l *Log) Shred(ctx context.Context) (int, error) {
	const page = 1000
	now := l.clk.Now().UTC()
	total := 0
	for {
		n, err := l.store.Shred(ctx, now, page)
		total += n
		if err != nil {
			return total, fmt.Errorf("evidence: shred: %w", err)
		}
		if n < page {
			if total > 0 {
				slog.InfoContext(ctx, "evidence: shredded personal data past retention", "entries", total)
			}
			return total, nil
		}
	}
}

// Run does the log's background work until ctx ends: it integrates pending entries when an
// append wakes it and on a timer, publishes a checkpoint on a timer if the tree grew, and
// shreds expired personal data. Errors are logged and retried on the next tick.
//
// Shutdown protocol: first stop the callers that add entries (the HTTP server), then cancel
// ctx. Run then integrates what is pending and publishes a last checkpoint (within 5 s) before it
// returns, so a clean shutdown leaves every committed entry covered by a signed checkpoint.
func (l *Log) Run(ctx context.Context) error {
	it := l.clk.NewTicker(l.integrateEvery)
	defer it.Stop()
	cp := l.clk.NewTicker(l.checkpointEvery)
	defer cp.Stop()
	sh := l.clk.NewTicker(l.shredEvery)
	defer sh.Stop()
	l.health.start(l.clk.Now())
	defer l.health.stop()
	l.logErr(ctx, "shred", l.shredOnly(ctx))
	var last time.Time
	var soon <-chan time.Time // armed when a notification came too early
	integrate := func() {
		soon, last = nil, l.clk.Now()
		_, err := l.Integrate(ctx)
		if err == nil {
			l.health.mark(&l.health.integrated, l.clk.Now())
		}
		l.logErr(ctx, "integrate", err)
	}
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, err := l.Publish(fctx)
			cancel()
			l.logErr(ctx, "final checkpoint", err)
			return nil
		case <-l.notify:
			if soon != nil {
				continue
			}
			if wait := l.integrateEvery - l.clk.Since(last); wait > 0 {
				soon = l.clk.After(wait)
				continue
			}
			integrate()
		case <-soon:
			integrate()
		case <-it.Chan():
			integrate()
		case <-cp.Chan():
			_, err := l.Publish(ctx)
			if err == nil {
				l.health.mark(&l.health.published, l.clk.Now())
			}
			l.logErr(ctx, "publish checkpoint", err)
		case <-sh.Chan():
			l.logErr(ctx, "shred", l.shredOnly(ctx))
		}
	}
}

func (l *Log) shredOnly(ctx context.Context) error {
	_, err := l.Shred(ctx)
	return err
}

func (l *Log) logErr(ctx context.Context, what string, err error) {
	if err != nil && ctx.Err() == nil {
		slog.ErrorContext(ctx, "evidence: "+what+" failed", "err", err)
	}
}
