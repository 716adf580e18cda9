// Package revocation answers whether a JPKI certificate has been revoked, from the CRLs that
// J-LIS publishes, at national scale.
//
// This part owns reading a CRL and indexing it. Read (from bytes) and ReadFile (from a
// memory-mapped file) check a DER CRL strictly against its issuer (structure, issuer name and
// key identifier, signature, cRLNumber progression, thisUpdate against the caller's clock) and
// build an Index: a compact, immutable table of serials, revocation times and reasons, about
// 14 bytes per entry with no pointers, so a CRL of ten million entries costs about 135 MB and no
// garbage-collector work. Diff compares the indexes of two consecutive CRLs and returns the newly
// revoked entries, the changed ones and the ones that disappeared. A refused CRL is an *Error
// whose Reason (malformed, bad-signature, wrong-issuer, number-went-backwards, ...) says what to
// do about it; the caller keeps its previous index.
//
// Why not x509.ParseRevocationList: it materialises a big.Int, a slice of extensions and two
// structs per entry, which for a national CRL means gigabytes of heap and seconds of garbage
// collection. This package reads with golang.org/x/crypto/cryptobyte straight from the DER
// bytes and allocates only the index. x509.ParseRevocationList remains the reference its tests
// compare against.
//
// It does not own fetching CRLs on a schedule, OCSP, the watch list of certificates that tenants
// follow, or turning changes into events; those build on this part. It does not verify
// certificate chains (package verify) and reads no clock: the current time is an Options field.
//
// [RFC 5280 §5]: https://www.rfc-editor.org/rfc/rfc5280#section-5
package revocation
