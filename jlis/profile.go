package jlis

import (
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"

	"github.com/mynagate/mynagate/jpki"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Naming selects the names and policy identifiers the simulator writes into certificates.
type Naming string

// The two namings. NamingTest is the default, so that a simulator certificate can never pass for
// a production one by its names; trust is pinned to keys either way.
const (
	NamingTest       Naming = "test"       // O=JPKI-TEST and the test-environment policy OIDs
	NamingProduction Naming = "production" // O=JPKI and the production policy OIDs
)

// ParseNaming parses "test" or "production".
func ParseNaming(s string) (Naming, error) {
	switch Naming(s) {
	case NamingTest, NamingProduction:
		return Naming(s), nil
	}
	return "", fmt.Errorf("jlis: naming %q is not test or production", s)
}

// caName identifies one of the simulator's certification authorities.
type caName string

// The simulator's CAs. The phone CAs exist only when the profile issues smartphone credentials
// from separate CAs (who issues those in production is not public).
const (
	caSign      caName = "sign"
	caAuth      caName = "auth"
	caSignPhone caName = "sign-phone"
	caAuthPhone caName = "auth-phone"
)

// A later generation of a CA (same DN, new key, see Rollover) is named after its base with
// "-gN" before any "-phone": "sign-g2", "auth-g3-phone". The first generation keeps the plain
// name, so data directories and platform records made before rollovers existed stay valid.

func (c caName) kind() jpki.Kind {
	if strings.HasPrefix(string(c), "sign") {
		return jpki.KindSign
	}
	return jpki.KindAuth
}

func (c caName) phone() bool { return strings.HasSuffix(string(c), "-phone") }

// base is the CA family a generation belongs to: caSign, caAuth, caSignPhone or caAuthPhone.
func (c caName) base() caName {
	n := caName(c.kind())
	if c.phone() {
		n += "-phone"
	}
	return n
}

// generation names generation gen (1, 2, ...) of a base CA.
func (c caName) generation(gen int) caName {
	if gen <= 1 {
		return c
	}
	n := caName(fmt.Sprintf("%s-g%d", c.kind(), gen))
	if c.phone() {
		n += "-phone"
	}
	return n
}

// Object identifiers not exported by crypto/x509.
var (
	oidCountry          = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidOrganization     = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOrganizationUnit = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidLocality         = asn1.ObjectIdentifier{2, 5, 4, 7}
	oidCommonName       = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidExtKeyUsage      = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidExtSAN           = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidExtIAN           = asn1.ObjectIdentifier{2, 5, 29, 18}
	oidExtBasicCons     = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidExtCRLDP         = asn1.ObjectIdentifier{2, 5, 29, 31}
	oidExtPolicies      = asn1.ObjectIdentifier{2, 5, 29, 32}
	oidExtAKI           = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidExtSKI           = asn1.ObjectIdentifier{2, 5, 29, 14}
	oidExtEKU           = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidExtAIA           = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 1}
	oidOCSPNoCheck      = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}
	oidAccessOCSP       = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1}
	oidEKUOCSPSigning   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 9}
	oidPolicyQualCPS    = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 2, 1}
	cpsURI              = "http://www.jpki.go.jp/cps.html"
)

// attr is one attribute of a distinguished name with its ASN.1 string type.
type attr struct {
	oid   asn1.ObjectIdentifier
	tag   cbasn1.Tag
	value string
}

// marshalName encodes a distinguished name with one attribute per RDN and exact string types
// (crypto/x509 would choose PrintableString for any printable value; J-LIS writes C as
// PrintableString and the rest as UTF8String).
func marshalName(attrs []attr) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, a := range attrs {
			b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(a.oid)
					b.AddASN1(a.tag, func(b *cryptobyte.Builder) { b.AddBytes([]byte(a.value)) })
				})
			})
		}
	})
	return b.BytesOrPanic()
}

func country() attr { return attr{oidCountry, cbasn1.PrintableString, "JP"} }
func utf8Attr(oid asn1.ObjectIdentifier, v string) attr {
	return attr{oid, cbasn1.UTF8String, v}
}

// organization returns "JPKI" or "JPKI-TEST".
func (n Naming) organization() string {
	if n == NamingProduction {
		return "JPKI"
	}
	return "JPKI-TEST"
}

// purposeOU is the OU that names the CA's purpose.
func purposeOU(c caName) string {
	s := "JPKI for digital signature"
	if c.kind() == jpki.KindAuth {
		s = "JPKI for user authentication"
	}
	if c.phone() {
		s += " (mobile)"
	}
	return s
}

const jlisOU = "Japan Agency for Local Authority Information Systems"

// caSubject is the DN of a root CA (REFERENCE §5.1): C, O, OU=<purpose>, OU=<J-LIS>.
func (n Naming) caSubject(c caName) []attr {
	return []attr{country(), utf8Attr(oidOrganization, n.organization()), utf8Attr(oidOrganizationUnit, purposeOU(c)), utf8Attr(oidOrganizationUnit, jlisOU)}
}

// caAltName is the directoryName in the root's subjectAltName (Japanese names).
func caAltName(c caName) []attr {
	ou := "公的個人認証サービス署名用"
	if c.kind() == jpki.KindAuth {
		ou = "公的個人認証サービス利用者証明用"
	}
	return []attr{country(), utf8Attr(oidOrganization, "公的個人認証サービス"), utf8Attr(oidOrganizationUnit, ou), utf8Attr(oidOrganizationUnit, "地方公共団体情報システム機構")}
}

// crldpName is the per-municipality CRL distribution point directory name written into
// end-entity certificates.
func (n Naming) crldpName(c caName, m Municipality) []attr {
	return []attr{country(), utf8Attr(oidOrganization, n.organization()), utf8Attr(oidOrganizationUnit, purposeOU(c)),
		utf8Attr(oidOrganizationUnit, "CRL Distribution Points"), utf8Attr(oidOrganizationUnit, m.PrefectureRomaji),
		utf8Attr(oidCommonName, m.CityRomaji+" CRLDP")}
}

// policy returns the certificate policy OID for a CA's end-entity certificates.
func (n Naming) policy(c caName) asn1.ObjectIdentifier {
	switch {
	case n == NamingProduction && c.kind() == jpki.KindSign:
		return jpki.OIDPolicySign
	case n == NamingProduction:
		return jpki.OIDPolicyAuth
	case c.kind() == jpki.KindSign:
		return jpki.OIDPolicySignTest
	}
	return jpki.OIDPolicyAuthTest
}

func ext(oid asn1.ObjectIdentifier, critical bool, value []byte) pkix.Extension {
	return pkix.Extension{Id: oid, Critical: critical, Value: value}
}

func build(f func(b *cryptobyte.Builder)) []byte {
	var b cryptobyte.Builder
	f(&b)
	return b.BytesOrPanic()
}

// keyUsageExt encodes keyUsage as a BIT STRING with the exact byte the profile names
// (06 for keyCertSign|cRLSign, C0 for digitalSignature|nonRepudiation, 80 for digitalSignature).
func keyUsageExt(bits byte, unused byte) pkix.Extension {
	return ext(oidExtKeyUsage, true, build(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) { b.AddUint8(unused); b.AddUint8(bits) })
	}))
}

// directoryNameGN encodes GeneralNames with one directoryName.
func directoryNames(name []byte) []byte {
	return build(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(4).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(name) })
		})
	})
}

// crldpExt encodes cRLDistributionPoints with one fullName directoryName.
func crldpExt(name []byte) pkix.Extension {
	return ext(oidExtCRLDP, false, build(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // CRLDistributionPoints
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // DistributionPoint
				b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { // distributionPoint
					b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { // fullName
						b.AddASN1(cbasn1.Tag(4).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(name) })
					})
				})
			})
		})
	}))
}

func basicConstraintsCA() pkix.Extension {
	return ext(oidExtBasicCons, true, build(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1Boolean(true) })
	}))
}

func skiExt(ski []byte) pkix.Extension {
	return ext(oidExtSKI, false, build(func(b *cryptobyte.Builder) {
		b.AddASN1OctetString(ski)
	}))
}

func akiExt(ski []byte) pkix.Extension {
	return ext(oidExtAKI, false, build(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(ski) })
		})
	}))
}

// policiesExt encodes certificatePolicies with one policy and its CPS URI, critical as in the
// published fixtures.
func policiesExt(policy asn1.ObjectIdentifier) pkix.Extension {
	return ext(oidExtPolicies, true, build(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(policy)
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidPolicyQualCPS)
						b.AddASN1(cbasn1.IA5String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(cpsURI)) })
					})
				})
			})
		})
	}))
}

func aiaOCSPExt(url string) pkix.Extension {
	return ext(oidExtAIA, false, build(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidAccessOCSP)
				b.AddASN1(cbasn1.Tag(6).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(url)) })
			})
		})
	}))
}

// keyID is the RFC 5280 §4.2.1.2 method (1) key identifier: SHA-1 of the subjectPublicKey bits.
func keyID(pub any) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("jlis: marshal public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		Key       asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("jlis: parse public key: %w", err)
	}
	h := sha1.Sum(spki.Key.Bytes)
	return h[:], nil
}

// Short names used by the certificate builders.
type (
	pkixExtension     = pkix.Extension
	cryptobyteBuilder = cryptobyte.Builder
)

const asn1SEQUENCE = cbasn1.SEQUENCE
