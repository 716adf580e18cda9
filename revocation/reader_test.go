package revocation

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/crlwriter"
)

func bigHex(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic(s)
	}
	return n
}

func rle(serial *big.Int, at time.Time, reason int, extra ...pkix.Extension) x509.RevocationListEntry {
	return x509.RevocationListEntry{SerialNumber: serial, RevocationTime: at, ReasonCode: reason, ExtraExtensions: extra}
}

// randomWriterEntries makes n entries in random order with every reason, invalidity dates,
// and serials of 1 to 20 octets (most of them fitting 64 bits, as in practice).
func randomWriterEntries(r *rand.Rand, n int) []crlwriter.Entry {
	reasons := []int{-1, 0, 1, 2, 3, 4, 5, 6, 8, 9, 10}
	es := make([]crlwriter.Entry, n)
	for i := range es {
		var s *big.Int
		switch r.IntN(10) {
		case 0: // long: 9 to 20 octets
			b := make([]byte, 9+r.IntN(12))
			for j := range b {
				b[j] = byte(r.Uint32())
			}
			b[0] = b[0]&0x7f | 0x01
			s = new(big.Int).SetBytes(b)
		case 1: // the full 64 bits, high bit set
			s = new(big.Int).SetUint64(r.Uint64() | 1<<63)
		default:
			s = big.NewInt(r.Int64N(1<<40) + 1)
		}
		es[i] = crlwriter.Entry{
			Serial:    s,
			RevokedAt: testNow.Add(-time.Duration(r.IntN(1e6)) * time.Second),
			Reason:    reasons[r.IntN(len(reasons))],
		}
		if r.IntN(4) == 0 {
			es[i].InvalidityDate = es[i].RevokedAt.Add(-time.Duration(r.IntN(1e5)) * time.Second)
		}
	}
	return es
}

func TestReadMatchesX509(t *testing.T) {
	c := cas(t)
	r := rand.New(rand.NewPCG(1, 2))
	invalidity, _ := asn1.MarshalWithParams(testNow.Add(-48*time.Hour).UTC(), "generalized")
	invalidityExt := pkix.Extension{Id: oidInvalidityDateASN1, Value: invalidity}
	privateExt := pkix.Extension{Id: asn1.ObjectIdentifier{1, 2, 392, 200149, 99}, Value: []byte{0x05, 0x00}}
	withDup := writerCRL(t, c.rsa, 12, []crlwriter.Entry{
		{Serial: big.NewInt(5), RevokedAt: testNow, Reason: 1},
		{Serial: big.NewInt(9), RevokedAt: testNow, Reason: -1},
		{Serial: big.NewInt(5), RevokedAt: testNow.Add(-time.Hour), Reason: 3},
		{Serial: bigHex("0102030405060708090a"), RevokedAt: testNow, Reason: 4},
		{Serial: bigHex("0102030405060708090a"), RevokedAt: testNow.Add(-time.Minute), Reason: 5},
	})

	tests := []struct {
		name   string
		issuer testCA
		der    []byte
	}{
		{"x509: no entries", c.rsa, x509CRL(t, c.rsa, 1, nil, nil)},
		{"x509: entries with and without reasons", c.rsa, x509CRL(t, c.rsa, 2, []x509.RevocationListEntry{
			rle(big.NewInt(3), testNow, 0),
			rle(big.NewInt(1), testNow.Add(-time.Hour), 1),
			rle(big.NewInt(2), testNow.Add(-2*time.Hour), 3, invalidityExt),
			rle(big.NewInt(1000), testNow, 10),
		}, nil)},
		{"x509: serials of every shape", c.rsa, x509CRL(t, c.rsa, 3, []x509.RevocationListEntry{
			rle(big.NewInt(0), testNow, 0),                                      // zero (non-conforming, still handled)
			rle(big.NewInt(-1), testNow, 1),                                     // negative (non-conforming)
			rle(big.NewInt(-129), testNow, 1),                                   // negative, two octets
			rle(bigHex("8000000000000000"), testNow, 2),                         // 2^63: nine content octets, fits 64 bits
			rle(bigHex("ffffffffffffffff"), testNow, 2),                         // 2^64-1
			rle(bigHex("010000000000000000"), testNow, 2),                       // 2^64: long
			rle(bigHex("7fffffffffffffffffffffffffffffffffffffff"), testNow, 4), // 20 octets
			rle(bigHex("00ffffffffffffffffffffffffffffffffffffff"), testNow, 4),
		}, nil)},
		{"x509: times after 2049 as GeneralizedTime", c.rsa, x509CRL(t, c.rsa, 4, []x509.RevocationListEntry{
			rle(big.NewInt(7), time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC), 1),
			rle(big.NewInt(8), time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC), 1),
			rle(big.NewInt(9), time.Date(2106, 2, 7, 6, 28, 15, 0, time.UTC), 1), // last second a uint32 holds
		}, func(rl *x509.RevocationList) { rl.NextUpdate = time.Date(2051, 1, 1, 0, 0, 0, 0, time.UTC) })},
		{"x509: unknown non-critical extensions are ignored", c.rsa, x509CRL(t, c.rsa, 5, []x509.RevocationListEntry{
			rle(big.NewInt(7), testNow, 6, privateExt),
		}, func(rl *x509.RevocationList) { rl.ExtraExtensions = []pkix.Extension{privateExt} })},
		{"x509: SHA-384 with RSA", c.rsa, x509CRL(t, c.rsa, 6, []x509.RevocationListEntry{rle(big.NewInt(1), testNow, 1)},
			func(rl *x509.RevocationList) { rl.SignatureAlgorithm = x509.SHA384WithRSA })},
		{"x509: ECDSA issuer", c.ecdsa, x509CRL(t, c.ecdsa, 7, []x509.RevocationListEntry{rle(big.NewInt(1), testNow, 1)}, nil)},
		{"x509: Ed25519 issuer", c.ed25519, x509CRL(t, c.ed25519, 8, []x509.RevocationListEntry{rle(big.NewInt(1), testNow, 1)}, nil)},
		{"writer: 3000 random entries, every reason, invalidity dates", c.rsa, writerCRL(t, c.rsa, 10, randomWriterEntries(r, 3000))},
		{"writer: duplicate serials keep the earliest entry", c.rsa, withDup},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ix, err := Read(tc.der, tc.issuer.cert, Options{})
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			assertMatches(t, ix, parseReference(t, tc.der))

			path := filepath.Join(t.TempDir(), "x.crl")
			if err := os.WriteFile(path, tc.der, 0o644); err != nil {
				t.Fatal(err)
			}
			ixf, err := ReadFile(path, tc.issuer.cert, Options{})
			if err != nil {
				t.Fatalf("ReadFile: %v", err)
			}
			assertMatches(t, ixf, parseReference(t, tc.der))
		})
	}

	ix, err := Read(withDup, c.rsa.cert, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m := ix.Metadata(); m.Entries != 5 || m.Duplicates != 2 {
		t.Fatalf("entries %d duplicates %d; want 5 and 2", m.Entries, m.Duplicates)
	}
	if revoked, at, reason := ix.Lookup(big.NewInt(5)); !revoked || !at.Equal(testNow.Add(-time.Hour)) || reason != AffiliationChanged {
		t.Fatalf("duplicate serial 5: %v %v %v; want the earliest entry", revoked, at, reason)
	}
}

// TestIndexOwnsItsBytes checks that the index keeps nothing of the input, which ReadFile
// unmaps and callers may reuse.
func TestIndexOwnsItsBytes(t *testing.T) {
	c := cas(t)
	der := writerCRL(t, c.rsa, 1, randomWriterEntries(rand.New(rand.NewPCG(3, 4)), 200))
	ref := parseReference(t, bytes.Clone(der))
	ix, err := Read(der, c.rsa.cert, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range der {
		der[i] = 0xee
	}
	assertMatches(t, ix, ref)
}

func TestReadFileErrors(t *testing.T) {
	c := cas(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.crl")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(empty, c.rsa.cert, Options{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty file: %v; want ErrMalformed", err)
	}
	_, err := ReadFile(filepath.Join(dir, "missing.crl"), c.rsa.cert, Options{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v; want os.ErrNotExist", err)
	}
	var e *Error
	if errors.As(err, &e) {
		t.Fatalf("an I/O failure is not a refused CRL: %v", err)
	}
}

func TestReadRejects(t *testing.T) {
	c := cas(t)
	good := writerCRL(t, c.rsa, 7, []crlwriter.Entry{
		{Serial: big.NewInt(1), RevokedAt: testNow, Reason: 1},
		{Serial: big.NewInt(2), RevokedAt: testNow, Reason: -1},
	})
	goodMeta := func() *Metadata {
		ix, err := Read(good, c.rsa.cert, Options{})
		if err != nil {
			t.Fatal(err)
		}
		m := ix.Metadata()
		return &m
	}()
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x01; return b }
	parts := c.rsa.defaultParts(t)
	with := func(f func(*tbsParts)) []byte { p := parts; f(&p); return c.rsa.sign(t, p, nil) }
	unknownOID, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 392, 200149, 99})
	akiExt := ext(oidAuthorityKeyID, false, derSeq(der(0x80, c.rsa.cert.SubjectKeyId)))
	numberExt := ext(oidCRLNumber, false, integer(7))
	exts := func(e ...[]byte) []byte { return der(0xa0, derSeq(e...)) }
	oneEntry := func(e []byte) func(*tbsParts) { return func(p *tbsParts) { p.entries = derSeq(e) } }
	okTime := utc("260301000000Z")

	tests := []struct {
		name   string
		der    []byte
		issuer *x509.Certificate
		opts   Options
		want   error // nil: accepted
	}{
		{"the good CRL", good, c.rsa.cert, Options{}, nil},
		{"empty input", nil, c.rsa.cert, Options{}, ErrMalformed},
		{"not DER", []byte("-----BEGIN X509 CRL-----"), c.rsa.cert, Options{}, ErrMalformed},
		{"truncated by one byte", good[:len(good)-1], c.rsa.cert, Options{}, ErrMalformed},
		{"truncated in half", good[:len(good)/2], c.rsa.cert, Options{}, ErrMalformed},
		{"trailing garbage", append(bytes.Clone(good), 0), c.rsa.cert, Options{}, ErrMalformed},
		{"signature bit flipped", flip(good, len(good)-1), c.rsa.cert, Options{}, ErrBadSignature},
		{"serial bit flipped", flip(good, bytes.Index(good, []byte{0x02, 0x01, 0x02})+2), c.rsa.cert, Options{}, ErrBadSignature},
		{"issuer of another CA", good, c.other.cert, Options{}, ErrWrongIssuer},
		{"same name, other key identifier", good, c.otherSKI.cert, Options{}, ErrWrongIssuer},
		{"same name and key identifier, other key", good, c.twin.cert, Options{}, ErrBadSignature},
		{"issuer without cRLSign", good, c.noCRLSign.cert, Options{}, ErrWrongIssuer},
		{"no issuer certificate", good, nil, Options{}, ErrWrongIssuer},
		{"ECDSA CRL checked with an RSA issuer's name", x509CRL(t, c.ecdsa, 1, nil, nil), c.rsa.cert, Options{}, ErrWrongIssuer},

		{"number went backwards", good, c.rsa.cert, Options{Previous: &Metadata{Number: big.NewInt(8)}}, ErrNumberWentBackwards},
		{"same CRL again", good, c.rsa.cert, Options{Previous: goodMeta}, nil},
		{"higher number", good, c.rsa.cert, Options{Previous: &Metadata{Number: big.NewInt(6)}}, nil},
		{"number reused for other contents", good, c.rsa.cert, Options{Previous: &Metadata{Number: big.NewInt(7), TBSDigest: [32]byte{1}}}, ErrNumberReused},
		{"previous from another issuer", good, c.rsa.cert, Options{Previous: &Metadata{Number: big.NewInt(1), Issuer: c.other.cert.RawSubject}}, ErrWrongIssuer},
		{"thisUpdate in the future", good, c.rsa.cert, Options{At: testNow.Add(-time.Minute)}, ErrThisUpdateInFuture},
		{"thisUpdate within the skew", good, c.rsa.cert, Options{At: testNow.Add(-time.Minute), ClockSkew: 2 * time.Minute}, nil},
		{"thisUpdate now", good, c.rsa.cert, Options{At: testNow}, nil},

		{"hand-built baseline", with(func(*tbsParts) {}), c.rsa.cert, Options{}, nil},
		{"version 1", with(func(p *tbsParts) { p.version = nil; p.extensions = nil }), c.rsa.cert, Options{}, ErrUnsupported},
		{"version 3", with(func(p *tbsParts) { p.version = integer(2) }), c.rsa.cert, Options{}, ErrUnsupported},
		{"inner and outer algorithms differ", c.rsa.sign(t, parts, []byte{0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b}), c.rsa.cert, Options{}, ErrMalformed},
		{"SHA-1 with RSA", with(func(p *tbsParts) {
			p.alg = []byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00}
		}), c.rsa.cert, Options{}, ErrUnsupported},
		{"no nextUpdate", with(func(p *tbsParts) { p.nextUpdate = nil }), c.rsa.cert, Options{}, ErrMalformed},
		{"nextUpdate before thisUpdate", with(func(p *tbsParts) { p.nextUpdate = utc("260331000000Z") }), c.rsa.cert, Options{}, ErrMalformed},
		{"UTCTime with an offset", with(func(p *tbsParts) { p.thisUpdate = utc("260401090000+0900") }), c.rsa.cert, Options{}, ErrMalformed},
		{"UTCTime without seconds", with(func(p *tbsParts) { p.thisUpdate = utc("2604010000Z") }), c.rsa.cert, Options{}, ErrMalformed},
		{"GeneralizedTime with a fraction", with(func(p *tbsParts) { p.nextUpdate = gen("20500101000000.5Z") }), c.rsa.cert, Options{}, ErrMalformed},
		{"30 February", with(func(p *tbsParts) { p.thisUpdate = utc("260230000000Z") }), c.rsa.cert, Options{}, ErrMalformed},
		{"29 February of a leap year", with(func(p *tbsParts) { p.thisUpdate = utc("240229000000Z") }), c.rsa.cert, Options{}, nil},
		{"GeneralizedTime before 2050 (tolerated)", with(func(p *tbsParts) { p.thisUpdate = gen("20260401000000Z") }), c.rsa.cert, Options{}, nil},
		{"trailing data in the TBS", with(func(p *tbsParts) { p.trailing = []byte{0x05, 0x00} }), c.rsa.cert, Options{}, ErrMalformed},
		{"bad issuer name", with(func(p *tbsParts) { p.issuer = derSeq(derSeq()) }), c.rsa.cert, Options{}, ErrMalformed},
		{"no extensions", with(func(p *tbsParts) { p.extensions = nil }), c.rsa.cert, Options{}, ErrMalformed},
		{"no cRLNumber", with(func(p *tbsParts) { p.extensions = exts(akiExt) }), c.rsa.cert, Options{}, ErrMalformed},
		{"no authorityKeyIdentifier", with(func(p *tbsParts) { p.extensions = exts(numberExt) }), c.rsa.cert, Options{}, ErrMalformed},
		{"negative cRLNumber", with(func(p *tbsParts) { p.extensions = exts(akiExt, ext(oidCRLNumber, false, integer(0xff))) }), c.rsa.cert, Options{}, ErrMalformed},
		{"non-minimal cRLNumber", with(func(p *tbsParts) { p.extensions = exts(akiExt, ext(oidCRLNumber, false, integer(0, 7))) }), c.rsa.cert, Options{}, ErrMalformed},
		{"duplicate cRLNumber", with(func(p *tbsParts) { p.extensions = exts(akiExt, numberExt, numberExt) }), c.rsa.cert, Options{}, ErrMalformed},
		{"explicit critical FALSE", with(func(p *tbsParts) {
			p.extensions = exts(akiExt, derSeq(oidCRLNumber, []byte{0x01, 0x01, 0x00}, der(0x04, integer(7))))
		}), c.rsa.cert, Options{}, ErrMalformed},
		{"unknown critical CRL extension", with(func(p *tbsParts) { p.extensions = exts(akiExt, numberExt, ext(unknownOID, true, []byte{0x05, 0x00})) }), c.rsa.cert, Options{}, ErrUnsupported},
		{"extension OID not in minimal base 128", with(func(p *tbsParts) {
			p.extensions = exts(akiExt, numberExt, ext([]byte{0x06, 0x03, 0x2a, 0x80, 0x01}, false, []byte{0x05, 0x00}))
		}), c.rsa.cert, Options{}, ErrMalformed},
		{"unknown non-critical CRL extension", with(func(p *tbsParts) { p.extensions = exts(akiExt, numberExt, ext(unknownOID, false, []byte{0x05, 0x00})) }), c.rsa.cert, Options{}, nil},
		{"delta CRL", with(func(p *tbsParts) { p.extensions = exts(akiExt, numberExt, ext(oidDeltaCRLIndicator, true, integer(6))) }), c.rsa.cert, Options{}, ErrUnsupported},
		{"indirect CRL", with(func(p *tbsParts) {
			p.extensions = exts(akiExt, numberExt, ext(oidIssuingDistribution, true, derSeq([]byte{0x84, 0x01, 0xff})))
		}), c.rsa.cert, Options{}, ErrUnsupported},
		{"partial CRL", with(func(p *tbsParts) {
			p.extensions = exts(akiExt, numberExt, ext(oidIssuingDistribution, true, derSeq([]byte{0x83, 0x02, 0x07, 0x80})))
		}), c.rsa.cert, Options{}, ErrUnsupported},
		{"user-certificate CRL with a distribution point", with(func(p *tbsParts) {
			p.extensions = exts(akiExt, numberExt, ext(oidIssuingDistribution, true, derSeq(der(0xa0, der(0xa0, der(0x86, []byte("http://x/crl")))), []byte{0x81, 0x01, 0xff})))
		}), c.rsa.cert, Options{}, nil},
		{"IDP flag FALSE encoded", with(func(p *tbsParts) {
			p.extensions = exts(akiExt, numberExt, ext(oidIssuingDistribution, true, derSeq([]byte{0x81, 0x01, 0x00})))
		}), c.rsa.cert, Options{}, ErrMalformed},
		{"unsupported feature and a bad signature: the signature is reported", func() []byte {
			b := with(func(p *tbsParts) { p.extensions = exts(akiExt, numberExt, ext(oidDeltaCRLIndicator, true, integer(6))) })
			return flip(b, len(b)-1)
		}(), c.rsa.cert, Options{}, ErrBadSignature},

		{"entry: empty revokedCertificates (tolerated)", with(func(p *tbsParts) { p.entries = derSeq() }), c.rsa.cert, Options{}, nil},
		{"entry: not a SEQUENCE", with(oneEntry(integer(1))), c.rsa.cert, Options{}, ErrMalformed},
		{"entry: non-minimal serial", with(oneEntry(entry([]byte{0, 1}, okTime))), c.rsa.cert, Options{}, ErrMalformed},
		{"entry: empty serial", with(oneEntry(entry(nil, okTime))), c.rsa.cert, Options{}, ErrMalformed},
		{"entry: no time", with(oneEntry(derSeq(integer(1)))), c.rsa.cert, Options{}, ErrMalformed},
		{"entry: before 1970", with(oneEntry(entry([]byte{1}, utc("691231235959Z")))), c.rsa.cert, Options{}, ErrUnsupported},
		{"entry: after 2106", with(oneEntry(entry([]byte{1}, gen("21060207062816Z")))), c.rsa.cert, Options{}, ErrUnsupported},
		{"entry: empty extensions", with(oneEntry(entry([]byte{1}, okTime, nil))), c.rsa.cert, Options{}, ErrMalformed},
		{"entry: reason 7", with(oneEntry(entry([]byte{1}, okTime, reasonExt(7)))), c.rsa.cert, Options{}, ErrMalformed},
		{"entry: reason 11", with(oneEntry(entry([]byte{1}, okTime, reasonExt(11)))), c.rsa.cert, Options{}, ErrMalformed},
		{"entry: reason as INTEGER", with(oneEntry(entry([]byte{1}, okTime, ext(oidReasonCode, false, integer(1))))), c.rsa.cert, Options{}, ErrMalformed},
		{"entry: two reasons", with(oneEntry(entry([]byte{1}, okTime, reasonExt(1), reasonExt(1)))), c.rsa.cert, Options{}, ErrMalformed},
		{"entry: invalidityDate as UTCTime", with(oneEntry(entry([]byte{1}, okTime, ext(oidInvalidityDate, false, utc("260301000000Z"))))), c.rsa.cert, Options{}, ErrMalformed},
		{"entry: invalidityDate", with(oneEntry(entry([]byte{1}, okTime, ext(oidInvalidityDate, false, gen("20260301000000Z"))))), c.rsa.cert, Options{}, nil},
		{"entry: critical reasonCode (general path)", with(oneEntry(entry([]byte{1}, okTime, ext(oidReasonCode, true, []byte{0x0a, 0x01, 0x03})))), c.rsa.cert, Options{}, nil},
		{"entry: critical invalidityDate (general path)", with(oneEntry(entry([]byte{1}, okTime, ext(oidInvalidityDate, true, gen("20260301000000Z")), reasonExt(1)))), c.rsa.cert, Options{}, nil},
		{"entry: reason then invalidityDate", with(oneEntry(entry([]byte{1}, okTime, reasonExt(4), ext(oidInvalidityDate, false, gen("20260301000000Z"))))), c.rsa.cert, Options{}, nil},
		{"entry: two invalidityDates", with(oneEntry(entry([]byte{1}, okTime, ext(oidInvalidityDate, false, gen("20260301000000Z")), ext(oidInvalidityDate, false, gen("20260301000000Z"))))), c.rsa.cert, Options{}, ErrMalformed},
		{"entry: invalidityDate on 31 April", with(oneEntry(entry([]byte{1}, okTime, ext(oidInvalidityDate, false, gen("20260431000000Z"))))), c.rsa.cert, Options{}, ErrMalformed},
		{"entry: long-form length (a 300-octet private extension)", with(func(p *tbsParts) {
			p.entries = derSeq(entry([]byte{1}, okTime, ext(unknownOID, false, der(0x04, make([]byte, 300)))), entry([]byte{0x01, 0, 0, 0, 0, 0, 0, 0, 0, 9}, okTime, ext(unknownOID, false, der(0x04, make([]byte, 300)))), entry([]byte{2}, okTime))
		}), c.rsa.cert, Options{}, nil},
		{"entry: certificateIssuer", with(oneEntry(entry([]byte{1}, okTime, ext(oidCertificateIssuer, true, derSeq())))), c.rsa.cert, Options{}, ErrUnsupported},
		{"entry: unknown critical extension", with(oneEntry(entry([]byte{1}, okTime, ext(unknownOID, true, []byte{0x05, 0x00})))), c.rsa.cert, Options{}, ErrUnsupported},
		{"entry: trailing data", with(oneEntry(derSeq(integer(1), okTime, derSeq(reasonExt(1)), []byte{0x05, 0x00}))), c.rsa.cert, Options{}, ErrMalformed},
	}
	reasonOf := map[error]Reason{
		ErrMalformed: ReasonMalformed, ErrUnsupported: ReasonUnsupported, ErrBadSignature: ReasonBadSignature,
		ErrWrongIssuer: ReasonWrongIssuer, ErrNumberWentBackwards: ReasonNumberWentBackwards,
		ErrNumberReused: ReasonNumberReused, ErrThisUpdateInFuture: ReasonThisUpdateInFuture,
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ix, err := Read(tc.der, tc.issuer, tc.opts)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				// Whatever this reader accepts, the reference accepts too, with the same result.
				assertMatches(t, ix, parseReference(t, tc.der))
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v; want %v", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Reason != reasonOf[tc.want] {
				t.Fatalf("error %v is not an *Error with reason %v", err, reasonOf[tc.want])
			}
			if ix != nil {
				t.Fatal("an index came back with the error")
			}
		})
	}
}

func TestIssuingDistributionPointKept(t *testing.T) {
	c := cas(t)
	parts := c.rsa.defaultParts(t)
	idp := derSeq(der(0xa0, der(0xa0, der(0x86, []byte("http://x/crl")))), []byte{0x81, 0x01, 0xff})
	parts.extensions = der(0xa0, derSeq(
		ext(oidAuthorityKeyID, false, derSeq(der(0x80, c.rsa.cert.SubjectKeyId))),
		ext(oidCRLNumber, false, integer(7)),
		ext(oidIssuingDistribution, true, idp)))
	ix, err := Read(c.rsa.sign(t, parts, nil), c.rsa.cert, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ix.Metadata().IssuingDistributionPoint; !bytes.Equal(got, idp) {
		t.Fatalf("IssuingDistributionPoint %x; want %x", got, idp)
	}
}

func TestErrorText(t *testing.T) {
	err := error(&Error{Reason: ReasonNumberWentBackwards, Detail: "cRLNumber 4 after 5"})
	if got, want := err.Error(), "revocation: CRL number-went-backwards: cRLNumber 4 after 5"; got != want {
		t.Fatalf("%q; want %q", got, want)
	}
	if errors.Is(err, ErrMalformed) || !errors.Is(err, ErrNumberWentBackwards) {
		t.Fatal("errors.Is does not follow the reason")
	}
	if got := Reason(99).String(); got != "reason(99)" {
		t.Fatal(got)
	}
}
