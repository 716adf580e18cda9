// Package evidence is mynagate's tamper-evident evidence log (証跡データ保管): one entry per
// verification attempt, accepted or rejected, appended to an RFC 9162 Merkle tree whose signed
// checkpoints let an auditor or a relying party check offline that a record existed and was
// never altered or removed.
//
// It owns:
//   - the entry and its canonical, versioned leaf encoding (Prepare, ParseLeaf);
//   - the holder's personal data sealed under a per-entry AES-256-GCM data key, the key wrapped
//     by the log master key (Keyring), and crypto-shredding when the tenant's retention ends
//     (Shred): the leaf commits to the ciphertext's hash and to the key, not to the plaintext,
//     so shredding changes no leaf, no root and no proof;
//   - the integrator that gives pending entries their indexes in batches and keeps the tree as
//     C2SP tlog-tiles (Integrate);
//   - signed checkpoints in the C2SP signed-note format (Publish, Checkpoint), inclusion and
//     consistency proofs, bundles and exports for auditors (Bundle, ConsistencyBundle, Export);
//   - the offline verifier (VerifyBundle, VerifyConsistency, VerifyExport) and the audit that
//     recomputes the tree from storage (Audit).
//
// It does not own the database: it declares Storage, which package store implements on SQLite
// and PostgreSQL beside the verification rows (so that an entry is written in the same
// transaction as its verification), and evidence/memory implements in memory for tests. It does
// not decide what a verification is (package platform builds the Entry) and speaks no HTTP
// (package web serves bundles and checkpoints).
//
// The tree is RFC 6962 hashing in two libraries, which agree byte for byte (TestTreeGolden pins
// tiles and proofs made before the second was brought in):
//   - golang.org/x/mod/sumdb/tlog addresses and reads tiles and makes proofs: TileForIndex and
//     StoredHashIndex name the tile and position of a node, Tile.Path and ParseTilePath write
//     and read tile paths, and ProveRecord and ProveTree build inclusion and consistency proofs
//     over a HashReader on the stored tiles.
//   - github.com/transparency-dev/merkle stays for what tlog lacks or does differently: the
//     integrator's and the audit's compact range (tlog's writer, StoredHashes, asks a HashReader
//     for every earlier node at every level, while the tiles keep only levels 0, 8, 16, …: a
//     compact range keeps the right edge in memory and reports each completed node), and the
//     offline verifier (VerifyBundle, VerifyConsistency, and Publish's check before it signs),
//     so that a proof is checked by another implementation than the one that made it.
//
// Written here: the tile path layout clients see, C2SP tlog-tiles ("tile/0/x001/234"), which
// is tlog's ("tile/8/0/x001/234") without the height; the cache of tiles expanded to all their
// 511 nodes (tlog's HashFromTile rehashes up to 127 hashes for every node it reads); partial
// tiles as prefixes of one stored row. TileHashReader is not used: it re-authenticates every
// tile against a tree hash, which a log reading its own database does not need (the audit
// recomputes the whole tree instead); nor ReadTileData, which assembles a tile from single
// hashes where storage keeps whole tiles. Signatures are golang.org/x/mod/sumdb/note
// (Ed25519). The bundle formats and the audit are written here too, because tessera, which has
// tiles and more, brings its own storage drivers and cannot append inside another package's SQL
// transaction.
//
// See docs/design/evidence.md for the design: the life of a leaf, why the formats are what they
// are, and the numbers.
//
// [RFC 9162]: https://www.rfc-editor.org/rfc/rfc9162
// [C2SP checkpoint]: https://c2sp.org/tlog-checkpoint
// [C2SP signed note]: https://c2sp.org/signed-note
// [C2SP tlog-tiles]: https://c2sp.org/tlog-tiles
package evidence
