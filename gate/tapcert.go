package gate

import (
	"crypto/rsa"
	"crypto/x509"
	encasn1 "encoding/asn1"
	"errors"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// tapCert is what a decision needs of a tapped certificate that the manifest vouches for: its
// serial number (the CRL), validity, the authority key id (which CA's CRL) and the RSA key (the
// card's signature).
//
// parseTapCert reads just these with cryptobyte instead of crypto/x509.ParseCertificate, which
// decodes every name and extension of a JPKI certificate and cost as much as the RSA
// verification itself (docs/design/gate.md, "Where the time goes"). It is used only for
// certificate bytes whose SHA-256 the manifest's holder commitment covers, that is bytes the
// platform verified in full (chain, profile) before the ticket service committed to them; any
// other certificate goes through package verify and crypto/x509 as before.
type tapCert struct {
	serial              *big.Int
	notBefore, notAfter time.Time
	authorityKeyID      []byte
	pub                 *rsa.PublicKey
}

var oidAuthorityKeyID = encasn1.ObjectIdentifier{2, 5, 29, 35}

var errTapCert = errors.New("gate: malformed certificate")

func parseTapCert(der []byte) (*tapCert, error) {
	in := cryptobyte.String(der)
	var cert, tbs, validity, spki cryptobyte.String
	c := &tapCert{serial: new(big.Int)}
	if !in.ReadASN1(&cert, asn1.SEQUENCE) || !in.Empty() ||
		!cert.ReadASN1(&tbs, asn1.SEQUENCE) ||
		!tbs.SkipOptionalASN1(asn1.Tag(0).Constructed().ContextSpecific()) || // version
		!tbs.ReadASN1Integer(c.serial) ||
		!tbs.SkipASN1(asn1.SEQUENCE) || // signature algorithm
		!tbs.SkipASN1(asn1.SEQUENCE) || // issuer
		!tbs.ReadASN1(&validity, asn1.SEQUENCE) ||
		!tbs.SkipASN1(asn1.SEQUENCE) || // subject
		!tbs.ReadASN1Element(&spki, asn1.SEQUENCE) {
		return nil, errTapCert
	}
	var err error
	if c.notBefore, err = readTime(&validity); err != nil {
		return nil, err
	}
	if c.notAfter, err = readTime(&validity); err != nil {
		return nil, err
	}
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return nil, err
	}
	var ok bool
	if c.pub, ok = pub.(*rsa.PublicKey); !ok {
		return nil, errors.New("gate: the certificate's key is not RSA")
	}
	var outer, exts cryptobyte.String
	var present bool
	if !tbs.SkipOptionalASN1(asn1.Tag(1).ContextSpecific()) || // issuer unique id
		!tbs.SkipOptionalASN1(asn1.Tag(2).ContextSpecific()) || // subject unique id
		!tbs.ReadOptionalASN1(&outer, &present, asn1.Tag(3).Constructed().ContextSpecific()) ||
		!tbs.Empty() || !present || !outer.ReadASN1(&exts, asn1.SEQUENCE) {
		return nil, errTapCert
	}
	for !exts.Empty() {
		var ext, val, aki cryptobyte.String
		var oid encasn1.ObjectIdentifier
		if !exts.ReadASN1(&ext, asn1.SEQUENCE) || !ext.ReadASN1ObjectIdentifier(&oid) ||
			!ext.SkipOptionalASN1(asn1.BOOLEAN) || !ext.ReadASN1(&val, asn1.OCTET_STRING) {
			return nil, errTapCert
		}
		if !oid.Equal(oidAuthorityKeyID) {
			continue
		}
		var id cryptobyte.String
		if !val.ReadASN1(&aki, asn1.SEQUENCE) || !aki.ReadOptionalASN1(&id, &present, asn1.Tag(0).ContextSpecific()) || !present {
			return nil, errTapCert
		}
		c.authorityKeyID = id
	}
	if c.authorityKeyID == nil {
		return nil, errors.New("gate: the certificate has no authority key id")
	}
	return c, nil
}

func readTime(s *cryptobyte.String) (time.Time, error) {
	var t time.Time
	switch {
	case s.PeekASN1Tag(asn1.UTCTime):
		if s.ReadASN1UTCTime(&t) {
			return t, nil
		}
	case s.PeekASN1Tag(asn1.GeneralizedTime):
		if s.ReadASN1GeneralizedTime(&t) {
			return t, nil
		}
	}
	return t, errTapCert
}
