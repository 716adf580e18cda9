package revocation

// OCSP as RFC 6960 demands it of a client. golang.org/x/crypto/ocsp parses responses and checks
// that they are signed by the issuer or by a certificate the issuer signed, but no more: it does
// not look at the responder certificate's extended key usage, validity or revocation (§4.2.2.2),
// and it neither writes a request nonce nor reads the response's (§4.4.1, RFC 8954). So any
// certificate the CA ever issued — a holder's own, revoked one included — could sign "good".
// The checks it lacks are written here, on top of its parser, with cryptobyte for the two
// structures it does not expose (request and response extensions).

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"
)

var (
	// oidOCSPNonce is id-pkix-ocsp-nonce (RFC 6960 §4.4.1).
	oidOCSPNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
	// oidOCSPNoCheck is id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1).
	oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}
)

// nonceSize is the size of the nonces the checker sends (RFC 8954: 1 to 32 octets).
const nonceSize = 16

// ocspRequest makes a DER OCSP request for cert with a random nonce; it returns the request and
// the nonce extension's value (the DER OCTET STRING the response must echo).
func ocspRequest(cert, issuer *x509.Certificate, rand io.Reader) (req, nonce []byte, err error) {
	plain, err := ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		return nil, nil, fmt.Errorf("revocation: OCSP request: %w", err)
	}
	n := make([]byte, nonceSize)
	if _, err := io.ReadFull(rand, n); err != nil {
		return nil, nil, fmt.Errorf("revocation: OCSP nonce: %w", err)
	}
	var nb cryptobyte.Builder
	nb.AddASN1OctetString(n)
	nonce = nb.BytesOrPanic()
	// OCSPRequest ::= SEQUENCE { tbsRequest TBSRequest, ... }; x/crypto/ocsp writes a TBSRequest
	// without requestExtensions [2], which is appended here.
	in := cryptobyte.String(plain)
	var outer, tbs cryptobyte.String
	if !in.ReadASN1(&outer, cbasn1.SEQUENCE) || !outer.ReadASN1(&tbs, cbasn1.SEQUENCE) || !outer.Empty() {
		return nil, nil, errors.New("revocation: OCSP request: unexpected encoding from x/crypto/ocsp")
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddBytes(tbs)
			b.AddASN1(cbasn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidOCSPNonce)
						b.AddASN1OctetString(nonce)
					})
				})
			})
		})
	})
	req, err = b.Bytes()
	return req, nonce, err
}

// responseNonce returns the value of the nonce among the responseExtensions of a response's
// tbsResponseData, or nil when there is none.
//
//	ResponseData ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1, responderID ResponderID
//	    ([1] or [2] EXPLICIT), producedAt GeneralizedTime, responses SEQUENCE OF SingleResponse,
//	    responseExtensions [1] EXPLICIT Extensions OPTIONAL }
func responseNonce(tbs []byte) ([]byte, error) {
	in := cryptobyte.String(tbs)
	var rd cryptobyte.String
	malformed := errors.New("malformed tbsResponseData")
	if !in.ReadASN1(&rd, cbasn1.SEQUENCE) || !rd.SkipOptionalASN1(cbasn1.Tag(0).ContextSpecific().Constructed()) {
		return nil, malformed
	}
	var tag cbasn1.Tag
	var skip cryptobyte.String
	if !rd.ReadAnyASN1(&skip, &tag) || (tag != cbasn1.Tag(1).ContextSpecific().Constructed() && tag != cbasn1.Tag(2).ContextSpecific().Constructed()) ||
		!rd.SkipASN1(cbasn1.GeneralizedTime) || !rd.SkipASN1(cbasn1.SEQUENCE) {
		return nil, malformed
	}
	var exts cryptobyte.String
	var present bool
	if !rd.ReadOptionalASN1(&exts, &present, cbasn1.Tag(1).ContextSpecific().Constructed()) || !rd.Empty() {
		return nil, malformed
	}
	if !present {
		return nil, nil
	}
	var list cryptobyte.String
	if !exts.ReadASN1(&list, cbasn1.SEQUENCE) || !exts.Empty() {
		return nil, malformed
	}
	var nonce []byte
	for !list.Empty() {
		var e cryptobyte.String
		var oid asn1.ObjectIdentifier
		var value []byte
		if !list.ReadASN1(&e, cbasn1.SEQUENCE) || !e.ReadASN1ObjectIdentifier(&oid) ||
			!e.SkipOptionalASN1(cbasn1.BOOLEAN) || !e.ReadASN1Bytes(&value, cbasn1.OCTET_STRING) || !e.Empty() {
			return nil, malformed
		}
		if oid.Equal(oidOCSPNonce) {
			if nonce != nil {
				return nil, errors.New("two nonce extensions")
			}
			nonce = value
		}
	}
	return nonce, nil
}

// responderStatus returns an error when a delegated responder certificate without
// id-pkix-ocsp-nocheck is revoked or its status cannot be established (see Checker: the fresh
// CRL of its issuer decides).
type responderStatus func(responder *x509.Certificate) error

// verifyResponse checks a parsed response beyond what x/crypto/ocsp did (the signature by the
// issuer or by an embedded certificate the issuer signed, and the serial): RFC 6960 §4.2.2.2's
// authorised responders, the responder id, the times, and the nonce.
func verifyResponse(r *ocsp.Response, issuer *x509.Certificate, nonce []byte, now time.Time, skew time.Duration, revoked responderStatus) error {
	signer := issuer
	if r.Certificate != nil && !bytes.Equal(r.Certificate.Raw, issuer.Raw) {
		rc := r.Certificate
		signer = rc
		// x/crypto/ocsp checked the issuer's signature on it; the names must chain as well.
		if !bytes.Equal(rc.RawIssuer, issuer.RawSubject) ||
			(len(rc.AuthorityKeyId) > 0 && len(issuer.SubjectKeyId) > 0 && !bytes.Equal(rc.AuthorityKeyId, issuer.SubjectKeyId)) {
			return fmt.Errorf("the responder certificate %q was not issued by the CA", rc.Subject)
		}
		ocspSigning := false
		for _, u := range rc.ExtKeyUsage {
			ocspSigning = ocspSigning || u == x509.ExtKeyUsageOCSPSigning
		}
		if !ocspSigning {
			return fmt.Errorf("the responder certificate %q (serial %X) lacks id-kp-OCSPSigning: it is not an authorised responder", rc.Subject, rc.SerialNumber)
		}
		if rc.KeyUsage != 0 && rc.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
			return fmt.Errorf("the responder certificate %q may not sign (no digitalSignature key usage)", rc.Subject)
		}
		if now.Before(rc.NotBefore) || now.After(rc.NotAfter) {
			return fmt.Errorf("the responder certificate %q is not valid at %s (valid %s to %s)", rc.Subject,
				now.Format(time.RFC3339), rc.NotBefore.Format(time.RFC3339), rc.NotAfter.Format(time.RFC3339))
		}
		noCheck := false
		for _, e := range rc.Extensions {
			noCheck = noCheck || e.Id.Equal(oidOCSPNoCheck)
		}
		if !noCheck {
			if err := revoked(rc); err != nil {
				return fmt.Errorf("the responder certificate %q (serial %X) has no id-pkix-ocsp-nocheck and %w", rc.Subject, rc.SerialNumber, err)
			}
		}
	}
	// The responder id names the certificate that signed (§4.2.1).
	switch {
	case len(r.RawResponderName) > 0:
		if !bytes.Equal(r.RawResponderName, signer.RawSubject) {
			return errors.New("the responder id does not name the certificate that signed the response")
		}
	case len(r.ResponderKeyHash) > 0:
		var spki struct {
			Algorithm asn1.RawValue
			PublicKey asn1.BitString
		}
		if _, err := asn1.Unmarshal(signer.RawSubjectPublicKeyInfo, &spki); err != nil {
			return fmt.Errorf("responder key: %v", err)
		}
		h := sha1.Sum(spki.PublicKey.RightAlign())
		if !bytes.Equal(r.ResponderKeyHash, h[:]) {
			return errors.New("the responder id does not match the key that signed the response")
		}
	default:
		return errors.New("the response has no responder id")
	}
	if r.ThisUpdate.After(now.Add(skew)) {
		return fmt.Errorf("thisUpdate %s is in the future (now %s)", r.ThisUpdate.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if !r.NextUpdate.IsZero() && !now.Before(r.NextUpdate) {
		return fmt.Errorf("nextUpdate %s has passed (now %s)", r.NextUpdate.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if !r.NextUpdate.IsZero() && r.NextUpdate.Before(r.ThisUpdate) {
		return errors.New("nextUpdate is before thisUpdate")
	}
	if nonce != nil {
		got, err := responseNonce(r.TBSResponseData)
		if err != nil {
			return err
		}
		if got == nil {
			return errors.New("the response does not echo the request's nonce")
		}
		if !bytes.Equal(got, nonce) {
			return errors.New("the response's nonce is not the one sent (a replayed or foreign answer)")
		}
	}
	return nil
}
