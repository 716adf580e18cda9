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
// Hashing is github.com/transparency-dev/merkle (RFC 6962 hasher, compact ranges, proof
// node lists); signatures are golang.org/x/mod/sumdb/note (Ed25519). Tiles,
// the bundle formats and the audit are written here, because tessera, which has them, brings
// its own storage drivers and cannot append inside another package's SQL transaction.
//
// See docs/design/evidence.md for the design: the life of a leaf, why the formats are what they
// are, and the numbers.
//
// [RFC 9162]: https://www.rfc-editor.org/rfc/rfc9162
// [C2SP checkpoint]: https://c2sp.org/tlog-checkpoint
// [C2SP signed note]: https://c2sp.org/signed-note
// [C2SP tlog-tiles]: https://c2sp.org/tlog-tiles
package evidence
