package jlis

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"
)

// ocspValidity is how long an OCSP response stays fresh (its nextUpdate).
const ocspValidity = time.Hour

// oidOCSPNonce is id-pkix-ocsp-nonce (RFC 6960 §4.4.1).
var oidOCSPNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}

// maxOCSPRequest bounds the size of a request the responder reads.
const maxOCSPRequest = 16 << 10

// RespondOCSP answers a DER OCSP request for the named CA (RFC 6960): good, revoked with time
// and reason, or unknown for a serial the CA never issued; malformedRequest for bytes that are
// not an OCSP request and unauthorized for a request about another issuer. The response is
// signed by the CA's delegated responder and echoes the request's nonce extension.
func (s *Simulator) RespondOCSP(ctx context.Context, name string, der []byte) ([]byte, error) {
	a, err := s.authority(name)
	if err != nil {
		return nil, err
	}
	req, err := ocsp.ParseRequest(der)
	if err != nil {
		return ocsp.MalformedRequestErrorResponse, nil
	}
	nonce, err := requestNonce(der)
	if err != nil {
		return ocsp.MalformedRequestErrorResponse, nil
	}
	if !req.HashAlgorithm.Available() || !issuerMatches(req, a.cert) {
		return ocsp.UnauthorizedErrorResponse, nil
	}
	now := s.clk.Now().UTC().Truncate(time.Second)
	tmpl := ocsp.Response{
		SerialNumber: req.SerialNumber,
		ThisUpdate:   now,
		NextUpdate:   now.Add(ocspValidity),
		Certificate:  a.ocspCert,
		IssuerHash:   req.HashAlgorithm,
		Status:       ocsp.Unknown,
	}
	if req.SerialNumber.Sign() > 0 && req.SerialNumber.IsInt64() {
		st, err := s.Status(ctx, CertRef{CA: name, Serial: req.SerialNumber.Int64()})
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return nil, err
		case st.Revoked:
			tmpl.Status = ocsp.Revoked
			tmpl.RevokedAt = *st.RevokedAt
			tmpl.RevocationReason = int(*st.Reason)
		default:
			tmpl.Status = ocsp.Good
		}
	}
	resp, err := ocsp.CreateResponse(a.cert, a.ocspCert, tmpl, a.ocspKey)
	if err != nil {
		return nil, fmt.Errorf("jlis: sign OCSP response: %w", err)
	}
	if nonce != nil {
		return withResponseNonce(resp, nonce, a.ocspKey)
	}
	return resp, nil
}

// withResponseNonce adds the nonce to the responseExtensions of a signed response and signs it
// again. x/crypto/ocsp can only write singleExtensions, while RFC 6960 §4.4.1 puts the nonce in
// responseExtensions, where clients (openssl ocsp among them) look for it.
//
//	OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, responseBytes [0] EXPLICIT SEQUENCE {
//	    responseType OID, response OCTET STRING (BasicOCSPResponse) } }
//	BasicOCSPResponse ::= SEQUENCE { tbsResponseData ResponseData, signatureAlgorithm, signature BIT STRING,
//	    certs [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
//	ResponseData ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1, responderID, producedAt, responses,
//	    responseExtensions [1] EXPLICIT Extensions OPTIONAL }
func withResponseNonce(resp, nonce []byte, key crypto.Signer) ([]byte, error) {
	malformed := errors.New("jlis: re-encode OCSP response: unexpected structure")
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
					b.AddASN1ObjectIdentifier(oidOCSPNonce)
					b.AddASN1OctetString(nonce)
				})
			})
		})
	})
	newTBS, err := nb.Bytes()
	if err != nil {
		return nil, fmt.Errorf("jlis: re-encode OCSP response: %w", err)
	}
	digest := sha256.Sum256(newTBS)
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("jlis: sign OCSP response: %w", err)
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
						b.AddBytes(algo) // sha256WithRSAEncryption, as ocsp.CreateResponse chose for an RSA key
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

// issuerMatches checks the request's issuer name and key hashes against the CA.
func issuerMatches(req *ocsp.Request, ca *x509.Certificate) bool {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(ca.RawSubjectPublicKeyInfo, &spki); err != nil {
		return false
	}
	h := req.HashAlgorithm.New()
	h.Write(ca.RawSubject)
	nameHash := h.Sum(nil)
	h.Reset()
	h.Write(spki.PublicKey.RightAlign())
	return bytes.Equal(nameHash, req.IssuerNameHash) && bytes.Equal(h.Sum(nil), req.IssuerKeyHash)
}

// requestNonce returns the value of the nonce extension of an OCSP request, or nil. The
// x/crypto/ocsp parser does not expose request extensions, so they are read here:
//
//	OCSPRequest ::= SEQUENCE { tbsRequest TBSRequest, optionalSignature [0] EXPLICIT ... OPTIONAL }
//	TBSRequest  ::= SEQUENCE { version [0] EXPLICIT ... DEFAULT v1, requestorName [1] EXPLICIT ... OPTIONAL,
//	                           requestList SEQUENCE OF Request, requestExtensions [2] EXPLICIT Extensions OPTIONAL }
func requestNonce(der []byte) ([]byte, error) {
	in := cryptobyte.String(der)
	var req, tbs cryptobyte.String
	if !in.ReadASN1(&req, cbasn1.SEQUENCE) || !req.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, errors.New("jlis: malformed OCSP request")
	}
	var skip cryptobyte.String
	tagV, tagN := cbasn1.Tag(0).ContextSpecific().Constructed(), cbasn1.Tag(1).ContextSpecific().Constructed()
	if !tbs.SkipOptionalASN1(tagV) || !tbs.SkipOptionalASN1(tagN) || !tbs.ReadASN1(&skip, cbasn1.SEQUENCE) {
		return nil, errors.New("jlis: malformed OCSP request")
	}
	var exts cryptobyte.String
	var present bool
	if !tbs.ReadOptionalASN1(&exts, &present, cbasn1.Tag(2).ContextSpecific().Constructed()) || !tbs.Empty() {
		return nil, errors.New("jlis: malformed OCSP request extensions")
	}
	if !present {
		return nil, nil
	}
	var list cryptobyte.String
	if !exts.ReadASN1(&list, cbasn1.SEQUENCE) {
		return nil, errors.New("jlis: malformed OCSP request extensions")
	}
	for !list.Empty() {
		var e cryptobyte.String
		var oid asn1.ObjectIdentifier
		var value []byte
		if !list.ReadASN1(&e, cbasn1.SEQUENCE) || !e.ReadASN1ObjectIdentifier(&oid) ||
			!e.SkipOptionalASN1(cbasn1.BOOLEAN) || !e.ReadASN1Bytes(&value, cbasn1.OCTET_STRING) {
			return nil, errors.New("jlis: malformed OCSP request extension")
		}
		if oid.Equal(oidOCSPNonce) {
			// RFC 8954: the nonce is 1 to 32 octets.
			var inner []byte
			v := cryptobyte.String(value)
			if !v.ReadASN1Bytes(&inner, cbasn1.OCTET_STRING) || len(inner) < 1 || len(inner) > 32 {
				return nil, errors.New("jlis: OCSP nonce must be an OCTET STRING of 1 to 32 octets")
			}
			return value, nil
		}
	}
	return nil, nil
}
