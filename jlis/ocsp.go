package jlis

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"github.com/mynagate/mynagate/internal/ocspnonce"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"
)

// ocspValidity is how long an OCSP response stays fresh (its nextUpdate).
const ocspValidity = time.Hour

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
		// x/crypto/ocsp writes only singleExtensions, while RFC 6960 §4.4.1 puts the nonce in
		// responseExtensions, where clients (openssl ocsp among them) look for it.
		if resp, err = ocspnonce.AddToResponse(resp, nonce, a.ocspKey); err != nil {
			return nil, fmt.Errorf("jlis: %w", err)
		}
	}
	return resp, nil
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

// requestNonce returns the value of the nonce extension of an OCSP request, or nil; a nonce
// outside RFC 8954's 1 to 32 octets is refused.
func requestNonce(der []byte) ([]byte, error) {
	value, err := ocspnonce.FromRequest(der)
	if err != nil {
		return nil, fmt.Errorf("jlis: %w", err)
	}
	if value == nil {
		return nil, nil
	}
	var inner []byte
	v := cryptobyte.String(value)
	if !v.ReadASN1Bytes(&inner, cbasn1.OCTET_STRING) || len(inner) < 1 || len(inner) > 32 {
		return nil, errors.New("jlis: OCSP nonce must be an OCTET STRING of 1 to 32 octets")
	}
	return value, nil
}
