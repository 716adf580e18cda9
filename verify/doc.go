// Package verify is the pure verification core of mynagate: it decides whether a certificate
// presented by a My Number Card (or a smartphone credential) is a JPKI certificate of the right
// kind, issued by a trusted J-LIS CA and valid at a given time, and whether a signature was made
// by its key. It is modelled on crypto/x509's Verify: a function, an options struct and a typed
// error with a reason.
//
// [Certificate] runs, in this order, and stops at the first failure:
//
//  1. well-formed: one strict DER X.509 v3 certificate, nothing after it, an RSA key of 2048 to
//     4096 bits, signed with sha256WithRSAEncryption ([ReasonMalformed]);
//  2. declared kind: if the certificate's JPKI policy and key usage say it is the other kind of
//     certificate (an authentication certificate presented for identity, a signing certificate
//     for login), [ReasonWrongKind] at once. Identity and login trust different CAs, so without
//     this step such a certificate would only ever be reported as not chaining, and the holder
//     deserves to hear that they used the wrong certificate. Nothing is trusted on the strength
//     of this step; it only chooses the reason for a rejection;
//  3. chain: the certificate's signature verifies with the key of one of [Options].Roots (or
//     PhoneRoots) whose subject is byte-identical to the certificate's issuer
//     ([ReasonChainInvalid]). JPKI chains are one level deep (leaf under root). Trust is pinned
//     to the root certificates given, never to names: J-LIS's own CA generations share one DN
//     with different keys, and a lookalike CA with the same DN and another key fails. Roots
//     whose subjectKeyIdentifier matches the certificate's authorityKeyIdentifier are tried
//     first, so several generations cost one RSA verification, not one each;
//  4. validity at [Options].At, inclusive at both ends ([ReasonNotYetValid], [ReasonExpired]),
//     then the root's expiry: a root that has expired at At fails the chain
//     ([ReasonChainInvalid]) unless another trusted root with the same key verifies. A root's
//     notBefore is not checked (RFC 5280 §6.1.1 makes a trust anchor a name and a key; J-LIS
//     dates leaves from 00:00 JST of the issue day, which on a CA's first day is before the CA);
//  5. profile: exactly one certificate policy, a JPKI signing or authentication policy
//     (production or test, [jpki.OIDPolicySign] and friends) matching the purpose
//     ([ReasonWrongKind]); keyUsage digitalSignature, plus nonRepudiation for a signing
//     certificate; not a CA; no unknown critical extension; a signing certificate carries the
//     basic 4 facts in its subjectAltName and an authentication certificate carries none
//     ([ReasonProfile]);
//  6. for identity, the basic 4 facts decoded with [jpki.ParseSubjectAltName].
//
// [Signature] checks an RSASSA-PKCS1-v1_5 SHA-256 signature by a certificate's key, which is what
// the card's JPKI AP computes over the DigestInfo of SHA-256(message).
//
// What it does not do:
//   - no revocation checking: a certificate that passes here may be revoked. Package revocation
//     answers that from the CRL index or OCSP, and the caller must ask it;
//   - no clock: the time of verification is [Options].At, and it is required;
//   - no I/O, no database, no logging, no global state: the roots come in through [Options], and
//     the same inputs always give the same answer, so it is safe for concurrent use;
//   - no challenge bookkeeping: whether the signed message is fresh, single-use and bound to the
//     tenant is the caller's concern (package platform);
//   - no path building: JPKI has no intermediates, and CA link certificates (NewWithOld) are not
//     followed. A new CA generation is trusted by adding its certificate to the roots.
//
// Errors are *[Error] with a [Reason] whose String is the API's problem type, or [ErrUsage] when
// the caller broke the contract. Neither carries personal data in its message.
//
// Everything here is the standard library's crypto/x509 and crypto/rsa with stricter rules on
// top; no third-party verifier is used, because the JPKI profile checks are the point.
//
// The certificate profiles are J-LIS 「署名用電子証明書及び利用者証明用電子証明書のプロファイル仕様書」
// as summarised in docs/design/jpki-reference.md §5; see also [RFC 5280] §6 (path validation)
// and [RFC 8017] §8.2 (RSASSA-PKCS1-v1_5).
//
// [RFC 5280]: https://www.rfc-editor.org/rfc/rfc5280
// [RFC 8017]: https://www.rfc-editor.org/rfc/rfc8017
package verify
