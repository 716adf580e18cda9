package evidence

import (
	"context"
	"time"
)

// Record is an entry ready for storage: what Prepare returns. A Storage keeps it as an entry
// that is not in the tree until the integrator integrates it.
type Record struct {
	ID       string    // the entry id (the verification id); unique
	TenantID string    // for tenant queries and exports
	Time     time.Time // the entry's time, for tenant queries and exports
	// LeafData is the canonical leaf, the bytes the tree commits to. Kept forever.
	LeafData []byte
	// LeafHash is the RFC 6962 leaf hash of LeafData: SHA-256(0x00 ‖ LeafData).
	LeafHash [32]byte
	// Sealed is the encrypted personal data; WrappedKey is its data key wrapped by the log
	// master key. Both are deleted by Shred once ShredAfter has passed.
	Sealed     []byte
	WrappedKey []byte
	ShredAfter time.Time
}

// StoredEntry is a record as storage returns it.
type StoredEntry struct {
	Record
	// Sequenced is true once the integrator integrated the entry at Index.
	Sequenced bool
	Index     uint64
	// Served is the verification the entry records, as stored beside it (nil for an entry
	// that records none). The audit checks it against the leaf.
	Served *Served
}

// Pending is an unsequenced entry as the integrator needs it.
type Pending struct {
	ID       string
	LeafHash [32]byte
}

// TileID names a tile of the tree, as in C2SP tlog-tiles: tile (L, N) holds the hashes of the
// nodes at tree level 8·L with indexes 256·N to 256·N+255. Level-0 tiles hold leaf hashes.
type TileID struct {
	Level uint64
	Index uint64
}

// Tile is a tile's content: up to 256 concatenated 32-byte hashes. A tile only ever grows
// (every hash in it is final once written), so a partial tile is a prefix of the full one.
type Tile struct {
	TileID
	Hashes []byte
}

// TreeState is the integrated tree: its size and root hash.
type TreeState struct {
	Size uint64
	Root [32]byte
}

// Integration is one batch of the integrator, written by Storage.Integrate in one transaction.
type Integration struct {
	From, To uint64   // tree sizes before and after
	Root     [32]byte // root hash at To
	// IDs[i] gets index From+i; len(IDs) == To-From.
	IDs []string
	// Tiles holds the whole new content of every tile the batch touched.
	Tiles []Tile
}

// StoredCheckpoint is a signed checkpoint as the log keeps it.
type StoredCheckpoint struct {
	Size     uint64
	Root     [32]byte
	Note     []byte    // the signed note, as published
	SignedAt time.Time // when the log signed it (not part of the signed text)
}

// TenantQuery selects a tenant's sequenced entries for an export.
type TenantQuery struct {
	TenantID string
	From, To time.Time // From ≤ Time < To
	// StartIndex skips entries with a smaller index (for paging).
	StartIndex uint64
	Limit      int
}

// Storage is what a Log needs from its database. Package store implements it on SQLite and
// PostgreSQL, in the same database as the verification rows, so that an entry can be added in the
// transaction that records its verification; package evidence/memory implements it in memory for
// tests. See docs/design/evidence.md for the life of a leaf through these methods.
//
// Every method MUST be safe for concurrent use, by several processes sharing one database too.
// Storage never interprets leaves, tiles or notes: it keeps bytes.
//
// How records get in is not part of it: the platform stores a Prepare'd record in the
// transaction of its verification (package store, CompleteSession) and calls Log.Notify; the
// conformance suite fills a storage through evidencetest.Storage's AddEntries.
type Storage interface {
	// Unsequenced returns up to max entries that are not in the tree yet, in the order they
	// will be integrated: a Storage MAY give an entry its index when it is added (when its
	// writes are serial, as SQLite's are, the next index is dense and in commit order) and then
	// MUST return the entries from the tree size on, by index; otherwise in the order they were
	// added (as far as the database can tell across concurrent transactions: any order is
	// correct, FIFO is fair).
	Unsequenced(ctx context.Context, max int) ([]Pending, error)

	// Integrate applies one integrator batch atomically: it MUST verify that the tree size is
	// in.From and that in.IDs are entries not yet in the tree (and, for entries indexed when
	// added, that they are the entries at in.From … in.To-1), and otherwise write nothing and
	// return ErrTreeMoved; then give each id its index From+i (unless it has it), replace the
	// content of each tile, and set the tree state to (in.To, in.Root). The size check MUST be a
	// guarded write (UPDATE … WHERE size = from), so two integrators cannot both succeed.
	Integrate(ctx context.Context, in Integration) error

	// Tree returns the integrated tree state; a new log has size 0 (and any root: the log
	// ignores the root of an empty tree).
	Tree(ctx context.Context) (TreeState, error)

	// Tiles returns the content of each tile in ids, in order; a tile never written is nil.
	Tiles(ctx context.Context, ids []TileID) ([][]byte, error)

	// Entry returns an entry by id, Sequenced once the tree includes it. ErrNotFound if
	// unknown.
	Entry(ctx context.Context, id string) (*StoredEntry, error)

	// EntriesByIndex returns up to limit entries in the tree with index ≥ start, by ascending
	// index.
	EntriesByIndex(ctx context.Context, start uint64, limit int) ([]StoredEntry, error)

	// TenantEntries returns up to q.Limit sequenced entries of q.TenantID with q.From ≤ Time <
	// q.To and index ≥ q.StartIndex, by ascending index.
	TenantEntries(ctx context.Context, q TenantQuery) ([]StoredEntry, error)

	// CountTenantEntries returns how many entries TenantEntries would return for q, ignoring
	// q.StartIndex and q.Limit: an export shows its progress as a fraction of it.
	CountTenantEntries(ctx context.Context, q TenantQuery) (int64, error)

	// AddCheckpoint stores a signed checkpoint. ErrCheckpointNotNewer (nothing written) unless
	// its size is larger than every stored checkpoint's; the check MUST be atomic with the
	// insert.
	AddCheckpoint(ctx context.Context, c StoredCheckpoint) error

	// LatestCheckpoint returns the checkpoint with the largest size. ErrNotFound if none.
	LatestCheckpoint(ctx context.Context) (*StoredCheckpoint, error)

	// Checkpoints returns up to limit checkpoints with size ≥ start, by ascending size.
	Checkpoints(ctx context.Context, start uint64, limit int) ([]StoredCheckpoint, error)

	// Shred deletes the sealed personal data and the wrapped data key of up to limit entries
	// whose ShredAfter is at or before now and that still have them, and returns how many it
	// shredded. Leaf data, leaf hashes and indexes stay.
	Shred(ctx context.Context, now time.Time, limit int) (int, error)
}
