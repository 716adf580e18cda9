package revocation

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Metadata is what a CRL says about itself.
type Metadata struct {
	Issuer         []byte   // DER Name of the issuer, as in the CRL
	AuthorityKeyID []byte   // keyIdentifier of the authorityKeyIdentifier extension
	Number         *big.Int // cRLNumber
	// ThisUpdate and NextUpdate are in UTC. A CRL whose NextUpdate has passed is still read:
	// deciding whether it is too old to rely on is the caller's policy.
	ThisUpdate, NextUpdate time.Time
	SignatureAlgorithm     x509.SignatureAlgorithm
	// IssuingDistributionPoint is the DER value of that extension, nil when absent. The reader
	// refuses indirect and partial (onlySomeReasons) CRLs; matching the distribution point name
	// against a certificate's cRLDistributionPoints is the caller's job.
	IssuingDistributionPoint []byte
	// TBSDigest is the SHA-256 of the signed part (TBSCertList). Two CRLs with one number and
	// different digests are a CA error (ReasonNumberReused).
	TBSDigest [sha256.Size]byte
	Size      int64 // bytes of the whole CRL
	Entries   int   // entries in the CRL, duplicates included
	// Duplicates counts entries whose serial appeared earlier in the CRL. The index keeps one
	// entry per serial, the one with the earliest revocation time.
	Duplicates int
}

// Options are the checks that need more than the CRL and its issuer. The zero value checks
// nothing beyond the CRL itself.
type Options struct {
	// At is the current time. When not zero, a CRL whose thisUpdate is later than At plus
	// ClockSkew is refused with ReasonThisUpdateInFuture.
	At        time.Time
	ClockSkew time.Duration
	// Previous is the metadata of the last CRL accepted from the same issuer, or nil. When set,
	// a lower cRLNumber is refused with ReasonNumberWentBackwards, and the same number with other
	// contents with ReasonNumberReused. The same CRL again is accepted.
	Previous *Metadata
}

// Read reads a DER CRL from der, checks it against issuer and opts, and indexes its entries.
//
// The order of checks is: DER structure and profile (ReasonMalformed), issuer name and key
// identifier (ReasonWrongIssuer), signature over the TBSCertList (ReasonBadSignature), features
// (ReasonUnsupported), then opts, then the entries (ReasonMalformed, ReasonUnsupported). So a
// forged CRL is reported as such even when it also carries something unsupported.
//
// The index keeps no reference to der. Read is strict: anything that is not DER, or breaks a
// MUST of RFC 5280 §5 that matters for a relying party, is refused; it accepts less than
// x509.ParseRevocationList, never more.
func Read(der []byte, issuer *x509.Certificate, opts Options) (*Index, error) {
	f, err := parseFrame(der)
	if err != nil {
		return nil, err
	}
	if err := f.checkIssuer(issuer); err != nil {
		return nil, err
	}

	// The signature, a hash over nearly all the bytes, is checked while the entries are read,
	// on another core when there is one. Nothing is returned before it is known, and its
	// failure is reported before anything else.
	type result struct {
		digest [sha256.Size]byte
		err    error
	}
	sig := make(chan result, 1)
	go func() {
		var r result
		r.err = guardFaults(func() error {
			var err error
			r.digest, err = f.verifySignature(issuer)
			return err
		})
		sig <- r
	}()
	waited := false
	defer func() {
		if !waited { // index panicked (a fault on a mapped file): let the hash finish first
			<-sig
		}
	}()

	refused := f.unsupported
	if refused == nil {
		refused = f.check(opts, nil)
	}
	var ix *Index
	var ixErr error
	if refused == nil {
		ix, ixErr = f.index()
	}

	r := <-sig
	waited = true
	switch {
	case r.err != nil:
		return nil, r.err
	case refused != nil:
		return nil, refused
	}
	f.meta.TBSDigest = r.digest
	if err := f.check(opts, &r.digest); err != nil {
		return nil, err
	}
	if ixErr != nil {
		return nil, ixErr
	}
	ix.meta.TBSDigest = r.digest
	return ix, nil
}

// frame is a CRL whose outer structure, header and extensions have been read.
type frame struct {
	der         []byte
	tbs         []byte // the TBSCertList element, tag and length included
	hash        crypto.Hash
	sig         []byte
	meta        Metadata
	entries     cryptobyte.String // contents of revokedCertificates
	unsupported error             // a feature found before the signature was checked
}

// off returns the offset of s (a suffix-capacity subslice of der) in der, for error details.
func (f *frame) off(s []byte) int { return cap(f.der) - cap(s) }

func (f *frame) malformed(at []byte, format string, args ...any) error {
	return errorf(ReasonMalformed, "%s (at byte %d)", fmt.Sprintf(format, args...), f.off(at))
}

func (f *frame) deferUnsupported(format string, args ...any) {
	if f.unsupported == nil {
		f.unsupported = errorf(ReasonUnsupported, format, args...)
	}
}

func parseFrame(der []byte) (*frame, error) {
	f := &frame{der: der}
	f.meta.Size = int64(len(der))
	in := cryptobyte.String(der)
	var crl cryptobyte.String
	if !in.ReadASN1(&crl, cbasn1.SEQUENCE) {
		return nil, f.malformed(der, "not a DER SEQUENCE, or truncated")
	}
	if !in.Empty() {
		return nil, f.malformed(in, "%d bytes after the CertificateList", len(in))
	}
	var tbsElem, outerAI, sig cryptobyte.String
	if !crl.ReadASN1Element(&tbsElem, cbasn1.SEQUENCE) {
		return nil, f.malformed(crl, "bad tbsCertList")
	}
	if !crl.ReadASN1Element(&outerAI, cbasn1.SEQUENCE) {
		return nil, f.malformed(crl, "bad signatureAlgorithm")
	}
	if !crl.ReadASN1(&sig, cbasn1.BIT_STRING) || len(sig) < 2 || sig[0] != 0 {
		return nil, f.malformed(crl, "bad signatureValue")
	}
	if !crl.Empty() {
		return nil, f.malformed(crl, "trailing data in CertificateList")
	}
	f.tbs, f.sig = tbsElem, sig[1:]

	var tbs cryptobyte.String
	if !tbsElem.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, f.malformed(tbsElem, "bad tbsCertList")
	}
	if !tbs.PeekASN1Tag(cbasn1.INTEGER) {
		return nil, errorf(ReasonUnsupported, "version 1 CRL (no extensions, so no cRLNumber)")
	}
	var version int64
	if !tbs.ReadASN1Integer(&version) {
		return nil, f.malformed(tbs, "bad version")
	}
	if version != 1 {
		return nil, errorf(ReasonUnsupported, "CRL version %d", version+1)
	}
	var innerAI cryptobyte.String
	if !tbs.ReadASN1Element(&innerAI, cbasn1.SEQUENCE) {
		return nil, f.malformed(tbs, "bad signature algorithm in tbsCertList")
	}
	if !bytes.Equal(innerAI, outerAI) {
		return nil, f.malformed(innerAI, "inner and outer signature algorithms differ")
	}
	alg, hash, ok := lookupSigAlg(innerAI)
	if !ok {
		return nil, errorf(ReasonUnsupported, "signature algorithm %x", []byte(innerAI))
	}
	f.meta.SignatureAlgorithm, f.hash = alg, hash

	var name cryptobyte.String
	if !tbs.ReadASN1Element(&name, cbasn1.SEQUENCE) || !validName(name) {
		return nil, f.malformed(tbs, "bad issuer name")
	}
	f.meta.Issuer = name
	thisUpdate, ok := readTime(&tbs)
	if !ok {
		return nil, f.malformed(tbs, "bad thisUpdate")
	}
	if !tbs.PeekASN1Tag(cbasn1.UTCTime) && !tbs.PeekASN1Tag(cbasn1.GeneralizedTime) {
		return nil, f.malformed(tbs, "no nextUpdate (RFC 5280 §5.1.2.5 requires it)")
	}
	nextUpdate, ok := readTime(&tbs)
	if !ok {
		return nil, f.malformed(tbs, "bad nextUpdate")
	}
	if nextUpdate < thisUpdate {
		return nil, f.malformed(tbs, "nextUpdate before thisUpdate")
	}
	f.meta.ThisUpdate, f.meta.NextUpdate = time.Unix(thisUpdate, 0).UTC(), time.Unix(nextUpdate, 0).UTC()

	if tbs.PeekASN1Tag(cbasn1.SEQUENCE) && !tbs.ReadASN1(&f.entries, cbasn1.SEQUENCE) {
		return nil, f.malformed(tbs, "bad revokedCertificates")
	}
	var exts cryptobyte.String
	var present bool
	if !tbs.ReadOptionalASN1(&exts, &present, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, f.malformed(tbs, "bad crlExtensions")
	}
	if !present {
		return nil, f.malformed(tbs, "no crlExtensions (RFC 5280 §5.2 requires authorityKeyIdentifier and cRLNumber)")
	}
	if !tbs.Empty() {
		return nil, f.malformed(tbs, "trailing data in tbsCertList")
	}
	if err := f.extensions(exts); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *frame) extensions(outer cryptobyte.String) error {
	var exts cryptobyte.String
	if !outer.ReadASN1(&exts, cbasn1.SEQUENCE) || !outer.Empty() || exts.Empty() {
		return f.malformed(outer, "bad crlExtensions")
	}
	var seen [][]byte
	for !exts.Empty() {
		at := exts
		oid, critical, value, ok := readExtension(&exts)
		if !ok {
			return f.malformed(at, "bad CRL extension")
		}
		for _, s := range seen {
			if bytes.Equal(s, oid) {
				return f.malformed(at, "duplicate CRL extension %s", oidString(oid))
			}
		}
		seen = append(seen, oid)
		switch {
		case bytes.Equal(oid, oidAuthorityKeyID):
			// AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING
			// OPTIONAL, authorityCertIssuer [1] OPTIONAL, authorityCertSerialNumber [2] OPTIONAL }
			var aki, kid cryptobyte.String
			var has bool
			if !value.ReadASN1(&aki, cbasn1.SEQUENCE) || !value.Empty() ||
				!aki.ReadOptionalASN1(&kid, &has, cbasn1.Tag(0).ContextSpecific()) ||
				!aki.SkipOptionalASN1(cbasn1.Tag(1).Constructed().ContextSpecific()) ||
				!aki.SkipOptionalASN1(cbasn1.Tag(2).ContextSpecific()) || !aki.Empty() {
				return f.malformed(at, "bad authorityKeyIdentifier")
			}
			if !has || len(kid) == 0 {
				return f.malformed(at, "authorityKeyIdentifier without keyIdentifier (RFC 5280 §5.2.1 requires it)")
			}
			f.meta.AuthorityKeyID = kid
		case bytes.Equal(oid, oidCRLNumber):
			// CRLNumber ::= INTEGER (0..MAX), at most 20 octets (RFC 5280 §5.2.3).
			var n cryptobyte.String
			if !value.ReadASN1(&n, cbasn1.INTEGER) || !value.Empty() || !minimalInteger(n) || n[0]&0x80 != 0 || len(n) > 20 {
				return f.malformed(at, "bad cRLNumber")
			}
			f.meta.Number = new(big.Int).SetBytes(n)
		case bytes.Equal(oid, oidDeltaCRLIndicator):
			f.deferUnsupported("delta CRL")
		case bytes.Equal(oid, oidIssuingDistribution):
			if err := f.issuingDistributionPoint(at, value); err != nil {
				return err
			}
		case critical:
			f.deferUnsupported("unknown critical CRL extension %s", oidString(oid))
		}
	}
	if f.meta.AuthorityKeyID == nil {
		return f.malformed(outer, "no authorityKeyIdentifier (RFC 5280 §5.2.1 requires it)")
	}
	if f.meta.Number == nil {
		return f.malformed(outer, "no cRLNumber (RFC 5280 §5.2.3 requires it)")
	}
	return nil
}

// issuingDistributionPoint reads RFC 5280 §5.2.5 IssuingDistributionPoint:
//
//	SEQUENCE { distributionPoint [0] OPTIONAL, onlyContainsUserCerts [1] BOOLEAN DEFAULT FALSE,
//	  onlyContainsCACerts [2] BOOLEAN DEFAULT FALSE, onlySomeReasons [3] ReasonFlags OPTIONAL,
//	  indirectCRL [4] BOOLEAN DEFAULT FALSE, onlyContainsAttributeCerts [5] BOOLEAN DEFAULT FALSE }
func (f *frame) issuingDistributionPoint(at, value cryptobyte.String) error {
	raw := value
	var idp cryptobyte.String
	if !value.ReadASN1(&idp, cbasn1.SEQUENCE) || !value.Empty() ||
		!idp.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return f.malformed(at, "bad issuingDistributionPoint")
	}
	var flags [6]bool
	for _, i := range []int{1, 2, 3, 4, 5} {
		tag := cbasn1.Tag(i).ContextSpecific()
		if !idp.PeekASN1Tag(tag) {
			continue
		}
		var v cryptobyte.String
		if !idp.ReadASN1(&v, tag) {
			return f.malformed(at, "bad issuingDistributionPoint")
		}
		// A DEFAULT FALSE BOOLEAN is present only when TRUE in DER.
		if i != 3 && (len(v) != 1 || v[0] != 0xff) {
			return f.malformed(at, "bad issuingDistributionPoint flag [%d]", i)
		}
		flags[i] = true
	}
	if !idp.Empty() {
		return f.malformed(at, "bad issuingDistributionPoint")
	}
	switch {
	case flags[3]:
		f.deferUnsupported("partial CRL (onlySomeReasons)")
	case flags[4]:
		f.deferUnsupported("indirect CRL")
	case flags[5]:
		f.deferUnsupported("attribute certificate CRL")
	}
	f.meta.IssuingDistributionPoint = raw
	return nil
}

// readExtension reads Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER, critical BOOLEAN
// DEFAULT FALSE, extnValue OCTET STRING } and returns the OID element (tag included).
func readExtension(s *cryptobyte.String) ([]byte, bool, cryptobyte.String, bool) {
	var ext, oid, value cryptobyte.String
	if !s.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1Element(&oid, cbasn1.OBJECT_IDENTIFIER) {
		return nil, false, nil, false
	}
	if content := oid; !content.ReadASN1(&content, cbasn1.OBJECT_IDENTIFIER) || !validOID(content) {
		return nil, false, nil, false
	}
	critical := false
	if ext.PeekASN1Tag(cbasn1.BOOLEAN) {
		// DER omits a DEFAULT value, so an explicit critical is TRUE.
		if !ext.ReadASN1Boolean(&critical) || !critical {
			return nil, false, nil, false
		}
	}
	if !ext.ReadASN1(&value, cbasn1.OCTET_STRING) || !ext.Empty() {
		return nil, false, nil, false
	}
	return oid, critical, value, true
}

// validOID reports whether b is the content of a DER OBJECT IDENTIFIER: non-empty, every
// sub-identifier in minimal base 128.
func validOID(b []byte) bool {
	if len(b) == 0 || b[len(b)-1]&0x80 != 0 {
		return false
	}
	start := true
	for _, c := range b {
		if start && c == 0x80 {
			return false
		}
		start = c&0x80 == 0
	}
	return true
}

func oidString(oid []byte) string {
	var id asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(oid, &id); err != nil {
		return fmt.Sprintf("%x", oid)
	}
	return id.String()
}

// validName checks the shape of a Name: SEQUENCE OF SET SIZE (1..MAX) OF SEQUENCE { type OBJECT
// IDENTIFIER, value ANY }. Its bytes are compared with the issuer's, not interpreted.
func validName(name cryptobyte.String) bool {
	var rdns cryptobyte.String
	if !name.ReadASN1(&rdns, cbasn1.SEQUENCE) || !name.Empty() {
		return false
	}
	for !rdns.Empty() {
		var set cryptobyte.String
		if !rdns.ReadASN1(&set, cbasn1.SET) || set.Empty() {
			return false
		}
		for !set.Empty() {
			var atv, oid cryptobyte.String
			var tag cbasn1.Tag
			var v cryptobyte.String
			if !set.ReadASN1(&atv, cbasn1.SEQUENCE) || !atv.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) ||
				!validOID(oid) || !atv.ReadAnyASN1(&v, &tag) || !atv.Empty() {
				return false
			}
		}
	}
	return true
}

func nameString(der []byte) string {
	var rdn pkix.RDNSequence
	if _, err := asn1.Unmarshal(der, &rdn); err != nil {
		return fmt.Sprintf("%x", der)
	}
	var n pkix.Name
	n.FillFromRDNSequence(&rdn)
	return n.String()
}

// checkIssuer checks that the CRL names issuer and that issuer may sign CRLs.
func (f *frame) checkIssuer(issuer *x509.Certificate) error {
	if issuer == nil {
		return errorf(ReasonWrongIssuer, "no issuer certificate given")
	}
	if !bytes.Equal(f.meta.Issuer, issuer.RawSubject) {
		return errorf(ReasonWrongIssuer, "CRL issuer %q is not %q", nameString(f.meta.Issuer), nameString(issuer.RawSubject))
	}
	if len(issuer.SubjectKeyId) > 0 && !bytes.Equal(f.meta.AuthorityKeyID, issuer.SubjectKeyId) {
		return errorf(ReasonWrongIssuer, "authority key identifier %x is not the issuer's %x", f.meta.AuthorityKeyID, issuer.SubjectKeyId)
	}
	// As x509.RevocationList.CheckSignatureFrom: a CA, with cRLSign if key usage is present.
	if issuer.Version == 3 && !issuer.BasicConstraintsValid || issuer.BasicConstraintsValid && !issuer.IsCA ||
		issuer.KeyUsage != 0 && issuer.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return errorf(ReasonWrongIssuer, "issuer certificate %q may not sign CRLs", issuer.Subject)
	}
	return nil
}

// verifySignature checks the signature over the TBSCertList and returns the SHA-256 of the
// TBSCertList. It does not modify f, so that it can run beside index.
func (f *frame) verifySignature(issuer *x509.Certificate) ([sha256.Size]byte, error) {
	tbsDigest := sha256.Sum256(f.tbs)
	var digest []byte
	switch f.hash {
	case 0:
	case crypto.SHA256:
		digest = tbsDigest[:]
	default:
		h := f.hash.New()
		h.Write(f.tbs)
		digest = h.Sum(nil)
	}
	var err error
	switch pub := issuer.PublicKey.(type) {
	case *rsa.PublicKey:
		if !isRSA(f.meta.SignatureAlgorithm) {
			return tbsDigest, errorf(ReasonBadSignature, "%v signature but the issuer key is RSA", f.meta.SignatureAlgorithm)
		}
		err = rsa.VerifyPKCS1v15(pub, f.hash, digest, f.sig)
	case *ecdsa.PublicKey:
		if !isECDSA(f.meta.SignatureAlgorithm) || !ecdsa.VerifyASN1(pub, digest, f.sig) {
			err = errors.New("ecdsa verification failed")
		}
	case ed25519.PublicKey:
		if f.meta.SignatureAlgorithm != x509.PureEd25519 || !ed25519.Verify(pub, f.tbs, f.sig) {
			err = errors.New("ed25519 verification failed")
		}
	default:
		return tbsDigest, errorf(ReasonUnsupported, "issuer key type %T", issuer.PublicKey)
	}
	if err != nil {
		return tbsDigest, errorf(ReasonBadSignature, "%v signature by %q does not verify: %v", f.meta.SignatureAlgorithm, issuer.Subject, err)
	}
	return tbsDigest, nil
}

func isRSA(a x509.SignatureAlgorithm) bool {
	return a == x509.SHA256WithRSA || a == x509.SHA384WithRSA || a == x509.SHA512WithRSA
}

func isECDSA(a x509.SignatureAlgorithm) bool {
	return a == x509.ECDSAWithSHA256 || a == x509.ECDSAWithSHA384 || a == x509.ECDSAWithSHA512
}

// check applies opts. digest is the TBSCertList's SHA-256, or nil when not known yet: then
// only the checks that do not need it are made.
func (f *frame) check(opts Options, digest *[sha256.Size]byte) error {
	m := &f.meta
	if !opts.At.IsZero() && m.ThisUpdate.After(opts.At.Add(opts.ClockSkew)) {
		return errorf(ReasonThisUpdateInFuture, "thisUpdate %v is after %v (skew %v)", m.ThisUpdate, opts.At, opts.ClockSkew)
	}
	p := opts.Previous
	if p == nil || p.Number == nil {
		return nil
	}
	if p.Issuer != nil && !bytes.Equal(p.Issuer, m.Issuer) {
		return errorf(ReasonWrongIssuer, "previous CRL is from %q, this one from %q", nameString(p.Issuer), nameString(m.Issuer))
	}
	switch m.Number.Cmp(p.Number) {
	case -1:
		return errorf(ReasonNumberWentBackwards, "cRLNumber %v after %v", m.Number, p.Number)
	case 0:
		if digest != nil && *digest != p.TBSDigest {
			return errorf(ReasonNumberReused, "cRLNumber %v reused for different contents", m.Number)
		}
	}
	return nil
}
