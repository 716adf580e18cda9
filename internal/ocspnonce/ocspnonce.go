// Package ocspnonce reads the nonce of an OCSP request and writes it into a signed response
// (RFC 6960 §4.4.1, RFC 8954), the two structures golang.org/x/crypto/ocsp does not expose: it
// parses requests without their requestExtensions and writes responses with singleExtensions
// only. The J-LIS simulator's responder uses it to echo the nonce, and the tests that forge
// responses use it to do the same with keys of their choosing. It is written with cryptobyte
// because no maintained library offers it.
package ocspnonce

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// OID is id-pkix-ocsp-nonce (RFC 6960 §4.4.1).
var OID = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}

// FromRequest returns the value of the nonce extension of a DER OCSP request (the DER OCTET
// STRING that a response echoes), or nil when the request has none. It does not check the
// nonce's length.
//
//	OCSPRequest ::= SEQUENCE { tbsRequest TBSRequest, optionalSignature [0] EXPLICIT ... OPTIONAL }
//	TBSRequest  ::= SEQUENCE { version [0] EXPLICIT ... DEFAULT v1, requestorName [1] EXPLICIT ... OPTIONAL,
//	                           requestList SEQUENCE OF Request, requestExtensions [2] EXPLICIT Extensions OPTIONAL }
func FromRequest(der []byte) ([]byte, error) {
	in := cryptobyte.String(der)
	var req, tbs cryptobyte.String
	if !in.ReadASN1(&req, cbasn1.SEQUENCE) || !req.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, errors.New("malformed OCSP request")
	}
	var skip cryptobyte.String
	tagV, tagN := cbasn1.Tag(0).ContextSpecific().Constructed(), cbasn1.Tag(1).ContextSpecific().Constructed()
	if !tbs.SkipOptionalASN1(tagV) || !tbs.SkipOptionalASN1(tagN) || !tbs.ReadASN1(&skip, cbasn1.SEQUENCE) {
		return nil, errors.New("malformed OCSP request")
	}
	var exts cryptobyte.String
	var present bool
	if !tbs.ReadOptionalASN1(&exts, &present, cbasn1.Tag(2).ContextSpecific().Constructed()) || !tbs.Empty() {
		return nil, errors.New("malformed OCSP request extensions")
	}
	if !present {
		return nil, nil
	}
	var list cryptobyte.String
	if !exts.ReadASN1(&list, cbasn1.SEQUENCE) {
		return nil, errors.New("malformed OCSP request extensions")
	}
	for !list.Empty() {
		var e cryptobyte.String
		var oid asn1.ObjectIdentifier
		var value []byte
		if !list.ReadASN1(&e, cbasn1.SEQUENCE) || !e.ReadASN1ObjectIdentifier(&oid) ||
			!e.SkipOptionalASN1(cbasn1.BOOLEAN) || !e.ReadASN1Bytes(&value, cbasn1.OCTET_STRING) {
			return nil, errors.New("malformed OCSP request extension")
		}
		if oid.Equal(OID) {
			return value, nil
		}
	}
	return nil, nil
}

// AddToResponse puts nonce (a DER OCTET STRING, as FromRequest returns it) in the
// responseExtensions of a signed DER OCSP response and signs the response data again with key
// over SHA-256, keeping the response's signature algorithm identifier: key must be of the kind
// that signed it (sha256WithRSAEncryption or ecdsa-with-SHA256, as ocsp.CreateResponse chooses).
//
//	OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, responseBytes [0] EXPLICIT SEQUENCE {
//	    responseType OID, response OCTET STRING (BasicOCSPResponse) } }
//	BasicOCSPResponse ::= SEQUENCE { tbsResponseData ResponseData, signatureAlgorithm, signature BIT STRING,
//	    certs [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
//	ResponseData ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1, responderID, producedAt, responses,
//	    responseExtensions [1] EXPLICIT Extensions OPTIONAL }
func AddToResponse(resp, nonce []byte, key crypto.Signer) ([]byte, error) {
	malformed := errors.New("re-encode OCSP response: unexpected structure")
	in := cryptobyte.String(resp)
	var outer, rb, rbSeq, basicDER cryptobyte.String
	var status []byte
	var typ asn1.ObjectIdentifier
	if !in.ReadASN1(&outer, cbasn1.SEQUENCE) || !outer.ReadASN1Element((*cryptobyte.String)(&status), cbasn1.ENUM) ||
		!outer.ReadASN1(&rb, cbasn1.Tag(0).ContextSpecific().Constructed()) || !rb.ReadASN1(&rbSeq, cbasn1.SEQUENCE) ||
		!rbSeq.ReadASN1ObjectIdentifier(&typ) || !rbSeq.ReadASN1(&basicDER, cbasn1.OCTET_STRING) {
		return nil, malformed
	}
	var basic, tbs, algo, certs cryptobyte.String
	var hasCerts bool
	if !basicDER.ReadASN1(&basic, cbasn1.SEQUENCE) || !basic.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!basic.ReadASN1Element(&algo, cbasn1.SEQUENCE) || !basic.SkipASN1(cbasn1.BIT_STRING) ||
		!basic.ReadOptionalASN1(&certs, &hasCerts, cbasn1.Tag(0).ContextSpecific().Constructed()) {
		return nil, malformed
	}
	var nb cryptobyte.Builder
	nb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddASN1(cbasn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(OID)
					b.AddASN1OctetString(nonce)
				})
			})
		})
	})
	newTBS, err := nb.Bytes()
	if err != nil {
		return nil, fmt.Errorf("re-encode OCSP response: %w", err)
	}
	digest := sha256.Sum256(newTBS)
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign OCSP response: %w", err)
	}
	var out cryptobyte.Builder
	out.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(status)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(typ)
				b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddBytes(newTBS)
						b.AddBytes(algo)
						b.AddASN1BitString(sig)
						if hasCerts {
							b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(certs) })
						}
					})
				})
			})
		})
	})
	return out.Bytes()
}
