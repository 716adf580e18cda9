package revocation

import (
	"bytes"
	"crypto"
	"crypto/x509"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers compared as DER bytes (tag and length included), so that reading an
// extension allocates nothing.
var (
	oidAuthorityKeyID      = []byte{0x06, 0x03, 0x55, 0x1d, 0x23} // 2.5.29.35, RFC 5280 §5.2.1
	oidCRLNumber           = []byte{0x06, 0x03, 0x55, 0x1d, 0x14} // 2.5.29.20, §5.2.3
	oidDeltaCRLIndicator   = []byte{0x06, 0x03, 0x55, 0x1d, 0x1b} // 2.5.29.27, §5.2.4
	oidIssuingDistribution = []byte{0x06, 0x03, 0x55, 0x1d, 0x1c} // 2.5.29.28, §5.2.5
	oidReasonCode          = []byte{0x06, 0x03, 0x55, 0x1d, 0x15} // 2.5.29.21, §5.3.1
	oidInvalidityDate      = []byte{0x06, 0x03, 0x55, 0x1d, 0x18} // 2.5.29.24, §5.3.2
	oidCertificateIssuer   = []byte{0x06, 0x03, 0x55, 0x1d, 0x1d} // 2.5.29.29, §5.3.3
)

// sigAlgs maps the DER AlgorithmIdentifiers this reader accepts to Go's names and hashes.
// SHA-1 and MD5 are left out on purpose; RSA-PSS is left out because no CA we target uses it
// for CRLs.
var sigAlgs = []struct {
	der  []byte
	alg  x509.SignatureAlgorithm
	hash crypto.Hash
}{
	// sha{256,384,512}WithRSAEncryption with NULL parameters (RFC 4055 §5), and without them,
	// which some encoders emit and x509 accepts.
	{[]byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00}, x509.SHA256WithRSA, crypto.SHA256},
	{[]byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00}, x509.SHA384WithRSA, crypto.SHA384},
	{[]byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00}, x509.SHA512WithRSA, crypto.SHA512},
	{[]byte{0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b}, x509.SHA256WithRSA, crypto.SHA256},
	{[]byte{0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c}, x509.SHA384WithRSA, crypto.SHA384},
	{[]byte{0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d}, x509.SHA512WithRSA, crypto.SHA512},
	// ecdsa-with-SHA{256,384,512}, no parameters (RFC 5758 §3.2).
	{[]byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}, x509.ECDSAWithSHA256, crypto.SHA256},
	{[]byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03}, x509.ECDSAWithSHA384, crypto.SHA384},
	{[]byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04}, x509.ECDSAWithSHA512, crypto.SHA512},
	// Ed25519 (RFC 8410 §3): signs the message itself, no separate hash.
	{[]byte{0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70}, x509.PureEd25519, 0},
}

func lookupSigAlg(ai []byte) (x509.SignatureAlgorithm, crypto.Hash, bool) {
	for _, a := range sigAlgs {
		if bytes.Equal(a.der, ai) {
			return a.alg, a.hash, true
		}
	}
	return x509.UnknownSignatureAlgorithm, 0, false
}

// readASN1 is cryptobyte's ReadASN1 with the common case inlined: a one-octet tag and a
// short-form length (under 128 octets, always minimal in DER), which is every element of a
// typical CRL entry. Anything else goes to cryptobyte, so both accept exactly the same.
func readASN1(s *cryptobyte.String, out *cryptobyte.String, tag cbasn1.Tag) bool {
	if b := *s; len(b) >= 2 && b[0] == byte(tag) && b[1] < 0x80 && int(b[1]) <= len(b)-2 {
		*out = b[2 : 2+int(b[1])]
		*s = b[2+int(b[1]):]
		return true
	}
	return s.ReadASN1(out, tag)
}

// minimalInteger reports whether b is the content of a DER INTEGER: at least one octet, and no
// redundant leading 0x00 or 0xFF (X.690 §8.3.2).
func minimalInteger(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if len(b) > 1 && (b[0] == 0 && b[1]&0x80 == 0 || b[0] == 0xff && b[1]&0x80 != 0) {
		return false
	}
	return true
}

// readTime reads an RFC 5280 Time (UTCTime or GeneralizedTime) and returns seconds since the Unix
// epoch. It is strict where DER and RFC 5280 §4.1.2.5 are: the UTC designator Z, seconds
// present, no fractional seconds, no offsets, real calendar dates. It is written by hand because
// time.Parse per entry would dominate the cost of reading a CRL of ten million entries.
func readTime(s *cryptobyte.String) (int64, bool) {
	var m dateMemo
	return m.readTime(s)
}

// dateMemo remembers the last date converted to days: consecutive entries of a CRL mostly share
// their revocation day, and the calendar arithmetic is the costly part of reading a time.
type dateMemo struct {
	date [8]byte // YYMMDD or YYYYMMDD as encoded
	n    int     // octets of date in use; 0 = empty
	days int64   // days since 1970-01-01
}

func (m *dateMemo) readTime(s *cryptobyte.String) (int64, bool) {
	var b cryptobyte.String
	var date, clock []byte
	switch {
	case s.PeekASN1Tag(cbasn1.UTCTime):
		if !readASN1(s, &b, cbasn1.UTCTime) || len(b) != 13 || b[12] != 'Z' {
			return 0, false
		}
		date, clock = b[0:6], b[6:12]
	case s.PeekASN1Tag(cbasn1.GeneralizedTime):
		if !readASN1(s, &b, cbasn1.GeneralizedTime) || len(b) != 15 || b[14] != 'Z' {
			return 0, false
		}
		date, clock = b[0:8], b[8:14]
	default:
		return 0, false
	}
	days, ok := m.toDays(date)
	hour, ok1 := digits(clock[0:2])
	minute, ok2 := digits(clock[2:4])
	sec, ok3 := digits(clock[4:6])
	if !ok || !ok1 || !ok2 || !ok3 || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	return days*86400 + int64(hour*3600+minute*60+sec), true
}

// toDays converts YYMMDD (UTCTime) or YYYYMMDD (GeneralizedTime) to days since 1970-01-01.
func (m *dateMemo) toDays(date []byte) (int64, bool) {
	if m.n == len(date) && bytes.Equal(m.date[:m.n], date) {
		return m.days, true
	}
	var year int
	var ok bool
	if len(date) == 6 {
		// RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY, YY < 50 is 20YY.
		year, ok = digits(date[0:2])
		if year >= 50 {
			year += 1900
		} else {
			year += 2000
		}
	} else {
		year, ok = digits(date[0:4])
	}
	md := date[len(date)-4:]
	month, ok1 := digits(md[0:2])
	day, ok2 := digits(md[2:4])
	if !ok || !ok1 || !ok2 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return 0, false
	}
	m.n = copy(m.date[:], date)
	m.days = daysFromCivil(year, month, day)
	return m.days, true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the number of days from 1970-01-01 to the given proleptic Gregorian
// date (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400 // y >= -1 here, so truncation equals floor except for y = -1
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
