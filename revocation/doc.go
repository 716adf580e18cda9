// Package revocation answers whether a JPKI certificate has been revoked, from the CRLs that
// J-LIS publishes, at national scale, and from OCSP.
//
// Reading and indexing: Read (from bytes) and ReadFile (from a memory-mapped file) check a DER
// CRL strictly against its issuer (structure, issuer name and key identifier, signature,
// cRLNumber progression, thisUpdate against the caller's clock) and build an Index: a compact,
// immutable table of serials, revocation times and reasons, about 14 bytes per entry with no
// pointers, so a CRL of ten million entries costs about 135 MB and no garbage-collector work.
// Diff compares the indexes of two consecutive CRLs and returns the newly revoked entries, the
// changed ones and the ones that disappeared. A refused CRL is an *Error whose Reason
// (malformed, bad-signature, wrong-issuer, number-went-backwards, ...) says what to do about it;
// the caller keeps its previous index.
//
// Why not x509.ParseRevocationList: it materialises a big.Int, a slice of extensions and two
// structs per entry, which for a national CRL means gigabytes of heap and minutes of garbage
// collection. Read uses golang.org/x/crypto/cryptobyte straight on the DER bytes and allocates
// only the index. x509.ParseRevocationList remains the reference its tests compare against.
// docs/design/crl.md has the design and the measurements.
//
// Fetching and answering: Fetcher keeps each CA's last good CRL fresh (on a schedule and on
// demand) through ReadFile, and Checker answers status queries from it and from OCSP as the
// relying party's Policy asks (crl, ocsp, both); a certificate on any CRL held is revoked
// whatever OCSP says. OCSP answers are verified as RFC 6960 §4.2.2.2 demands (ocsp.go says why
// that is written here rather than taken from x/crypto/ocsp) and cached in a bounded LRU.
//
// The package does not verify certificate chains (package verify), and the reader reads no
// clock: the current time is an Options field.
//
// [RFC 5280 §5]: https://www.rfc-editor.org/rfc/rfc5280#section-5
package revocation
