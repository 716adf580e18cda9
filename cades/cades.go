// Package cades builds a detached CMS SignedData (RFC 5652) in the CAdES-BES form (ETSI EN
// 319 122-1) for a document signature made by a My Number Card's signing key: the signer signs
// SHA-256 of the DER of the signed attributes — content-type (id-data), message-digest (the
// document's SHA-256), signing-time, signingCertificateV2 (RFC 5035, the SHA-256 of the signer's
// certificate with its issuer and serial) and any extra attribute the caller binds in — with
// RSASSA-PKCS1-v1_5, and the SignedData carries the signed attributes, the signature and the
// certificate, without the document. `openssl cms -verify -binary -content DOC -inform DER`
// verifies it.
//
// The signing is split in two so that the card can sign somewhere else: SignedAttributes gives
// the exact bytes to sign (a holder's app signs them as it signs a challenge), and SignedData
// assembles the CMS from those bytes and the card's signature, after checking that the
// signature is over them.
//
// It is written here on golang.org/x/crypto/cryptobyte rather than taken from a library: the
// kept Go CMS library (github.com/digitorus/pkcs7) needs a newer Go than the project's in its
// current version, and its signing API expects the private key (a crypto.Signer) at hand when the
// CMS is built, whereas here the signed attributes are made first, signed by a card reached
// through a holder's app, and the CMS is assembled afterwards. What is built is small and fixed:
// one signer, SHA-256, RSA.
package cades

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers (RFC 5652, RFC 5035, RFC 5754, RFC 8017).
var (
	OIDData                 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	OIDSignedData           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	OIDContentType          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	OIDMessageDigest        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	OIDSigningTime          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	OIDSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	OIDSHA256               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	OIDRSAEncryption        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	// OIDContentIdentifier is ESS id-aa-contentIdentifier (RFC 2634 §2.7, an OCTET STRING):
	// a document signature made through the platform carries the holder's challenge in it.
	OIDContentIdentifier = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 7}
)

// ChallengeAttribute is the extra signed attribute that binds a document signature to the
// platform's signing challenge (its origin, session, nonce, expiry, document hash and relying
// party): an ESS content identifier whose value is the exact challenge bytes. The holder's app
// and the platform both build the signed attributes with it, so they get the same bytes.
func ChallengeAttribute(challenge []byte) Attribute {
	var b cryptobyte.Builder
	b.AddASN1OctetString(challenge)
	return Attribute{Type: OIDContentIdentifier, Value: b.BytesOrPanic()}
}

// ChallengeAttributes are the signed attributes of a document signature through the platform:
// SignedAttributes over the document's SHA-256 at the signing time the challenge states, with
// the challenge as ChallengeAttribute.
func ChallengeAttributes(digest []byte, cert *x509.Certificate, at time.Time, challenge []byte) ([]byte, error) {
	if len(challenge) == 0 {
		return nil, fmt.Errorf("%w: no challenge", ErrInput)
	}
	return SignedAttributes(digest, cert, at, ChallengeAttribute(challenge))
}

// Attribute is an extra signed attribute: its type and the DER of its one value.
type Attribute struct {
	Type  asn1.ObjectIdentifier
	Value []byte
}

// Errors, wrapped with the details.
var (
	ErrInput     = errors.New("cades: bad input")
	ErrSignature = errors.New("cades: the signature is not over these signed attributes by this certificate's key")
)

// SignedAttributes returns the DER of the signed attributes (a SET OF Attribute, tag 0x31): the
// exact bytes whose SHA-256 the signer signs. digest is the document's SHA-256; cert the
// signer's certificate (an RSA key); at the signing time, to the second (UTCTime until 2049,
// GeneralizedTime after, as RFC 5652 §11.3 asks). The attributes are in DER order (sorted by
// their encodings), so the same input always gives the same bytes.
func SignedAttributes(digest []byte, cert *x509.Certificate, at time.Time, extra ...Attribute) ([]byte, error) {
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("%w: the document digest is %d bytes, not a SHA-256 (32)", ErrInput, len(digest))
	}
	if cert == nil || len(cert.Raw) == 0 {
		return nil, fmt.Errorf("%w: no signer certificate", ErrInput)
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("%w: the signer's key is %T, not RSA", ErrInput, cert.PublicKey)
	}
	at = at.UTC().Truncate(time.Second)
	if at.Year() < 1950 {
		return nil, fmt.Errorf("%w: signing time %s is before 1950", ErrInput, at.Format(time.RFC3339))
	}
	certHash := sha256.Sum256(cert.Raw)
	attrs := []struct {
		oid   asn1.ObjectIdentifier
		value func(*cryptobyte.Builder)
	}{
		{OIDContentType, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(OIDData) }},
		{OIDMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(digest) }},
		{OIDSigningTime, func(b *cryptobyte.Builder) {
			if at.Year() < 2050 {
				b.AddASN1UTCTime(at)
			} else {
				b.AddASN1GeneralizedTime(at)
			}
		}},
		{OIDSigningCertificateV2, func(b *cryptobyte.Builder) {
			// SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2 }
			// ESSCertIDv2 ::= SEQUENCE { hashAlgorithm DEFAULT sha256 (left out), certHash,
			//                            issuerSerial SEQUENCE { GeneralNames, serial } }
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1OctetString(certHash[:])
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // GeneralNames
								b.AddASN1(cbasn1.Tag(4).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { // directoryName
									b.AddBytes(cert.RawIssuer)
								})
							})
							b.AddASN1BigInt(cert.SerialNumber)
						})
					})
				})
			})
		}},
	}
	for _, e := range extra {
		if len(e.Type) == 0 || len(e.Value) == 0 {
			return nil, fmt.Errorf("%w: an extra attribute without type or value", ErrInput)
		}
		for _, a := range attrs {
			if a.oid.Equal(e.Type) {
				return nil, fmt.Errorf("%w: extra attribute %s is one of the built-in ones", ErrInput, e.Type)
			}
		}
		var v cryptobyte.String = e.Value
		var elem cryptobyte.String
		var tag cbasn1.Tag
		if !v.ReadAnyASN1Element(&elem, &tag) || !v.Empty() {
			return nil, fmt.Errorf("%w: the value of extra attribute %s is not one DER element", ErrInput, e.Type)
		}
		value := e.Value
		attrs = append(attrs, struct {
			oid   asn1.ObjectIdentifier
			value func(*cryptobyte.Builder)
		}{e.Type, func(b *cryptobyte.Builder) { b.AddBytes(value) }})
	}
	var encoded [][]byte
	for _, a := range attrs {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(a.oid)
			b.AddASN1(cbasn1.SET, a.value)
		})
		der, err := b.Bytes()
		if err != nil {
			return nil, fmt.Errorf("cades: encode attribute %s: %w", a.oid, err)
		}
		encoded = append(encoded, der)
	}
	slices.SortFunc(encoded, bytes.Compare) // DER: a SET OF is ordered by its elements' encodings
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, e := range encoded {
			b.AddBytes(e)
		}
	})
	return b.Bytes()
}

// CheckSignature reports whether sig is an RSASSA-PKCS1-v1_5 SHA-256 signature over the signed
// attributes by cert's key.
func CheckSignature(cert *x509.Certificate, signedAttrs, sig []byte) error {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: the signer's key is %T, not RSA", ErrInput, cert.PublicKey)
	}
	sum := sha256.Sum256(signedAttrs)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return ErrSignature
	}
	return nil
}

// SignedData assembles the detached CMS (a ContentInfo of SignedData, DER) from the signed
// attributes SignedAttributes gave, the signer's certificate and the signature over the
// attributes, with the certificates in certs (the signer's first, then any chain to include).
// It refuses a signature that is not over these attributes by the certificate's key, so a
// CMS it returns verifies.
func SignedData(signedAttrs []byte, sig []byte, cert *x509.Certificate, chain ...*x509.Certificate) ([]byte, error) {
	if len(signedAttrs) < 2 || signedAttrs[0] != 0x31 {
		return nil, fmt.Errorf("%w: the signed attributes are not a DER SET", ErrInput)
	}
	if cert == nil {
		return nil, fmt.Errorf("%w: no signer certificate", ErrInput)
	}
	if err := CheckSignature(cert, signedAttrs, sig); err != nil {
		return nil, err
	}
	sha256Alg := func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(OIDSHA256) })
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		b.AddASN1ObjectIdentifier(OIDSignedData)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignedData
				b.AddASN1Int64(1)
				b.AddASN1(cbasn1.SET, sha256Alg)                         // digestAlgorithms
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // encapContentInfo, detached
					b.AddASN1ObjectIdentifier(OIDData)
				})
				b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { // certificates
					for _, c := range append([]*x509.Certificate{cert}, chain...) {
						b.AddBytes(c.Raw)
					}
				})
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { // signerInfos
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1Int64(1)
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // issuerAndSerialNumber
							b.AddBytes(cert.RawIssuer)
							b.AddASN1BigInt(cert.SerialNumber)
						})
						sha256Alg(b)
						// signedAttrs [0] IMPLICIT: the same bytes with the SET tag replaced.
						b.AddBytes(append([]byte{0xA0}, signedAttrs[1:]...))
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier(OIDRSAEncryption)
							b.AddASN1NULL()
						})
						b.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	return b.Bytes()
}

// Sign signs a document digest with signer (whose certificate is cert) and returns the detached
// CMS: SignedAttributes, an RSASSA-PKCS1-v1_5 SHA-256 signature over them, SignedData.
func Sign(signer crypto.Signer, rand io.Reader, cert *x509.Certificate, digest []byte, at time.Time, extra ...Attribute) ([]byte, error) {
	attrs, err := SignedAttributes(digest, cert, at, extra...)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(attrs)
	sig, err := signer.Sign(rand, sum[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("cades: sign: %w", err)
	}
	return SignedData(attrs, sig, cert)
}
