package verify

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
)

// Signature checks that sig is an RSASSA-PKCS1-v1_5 signature with SHA-256 by cert's key over
// msg: the card's JPKI AP signs the DigestInfo of SHA-256(msg) (RFC 8017 §8.2, §9.2). A
// signature of the wrong length, over other bytes or by another key is a ReasonSignatureInvalid
// *Error. A nil cert is ErrUsage.
//
// It checks the signature only. The certificate must have passed Certificate first, and the
// caller decides whether msg is the challenge it expects.
func Signature(cert *x509.Certificate, msg, sig []byte) error {
	if cert == nil {
		return usagef("nil certificate")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return reject(ReasonSignatureInvalid, cert, "certificate key is %v, want RSA", cert.PublicKeyAlgorithm)
	}
	if len(sig) != pub.Size() {
		return reject(ReasonSignatureInvalid, cert, "signature is %d bytes, want %d", len(sig), pub.Size())
	}
	digest := sha256.Sum256(msg)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		return reject(ReasonSignatureInvalid, cert, "signature does not verify with the certificate's key")
	}
	return nil
}
