package revocation

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/crlwriter"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// testCA is a CRL issuer for tests.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

type testCAs struct {
	rsa, other, ecdsa, ed25519 testCA
	// twin has rsa's name and key identifier but other's key; akiless has rsa's name and key
	// but another key identifier; noCRLSign may only sign certificates.
	twin, otherSKI, noCRLSign testCA
}

var (
	casOnce sync.Once
	theCAs  testCAs
)

// cas returns the test issuers, made once per test binary (RSA key generation is slow).
func cas(t testing.TB) testCAs {
	t.Helper()
	casOnce.Do(func() {
		rsaKey := mustRSA(t)
		otherKey := mustRSA(t)
		ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		_, edKey, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		name := pkix.Name{Country: []string{"JP"}, Organization: []string{"JPKI-TEST"}, OrganizationalUnit: []string{"JPKI for digital signature"}}
		theCAs.rsa = newCA(t, name, rsaKey, ski("rsa"), x509.KeyUsageCertSign|x509.KeyUsageCRLSign)
		otherName := name
		otherName.OrganizationalUnit = []string{"JPKI for user authentication"}
		theCAs.other = newCA(t, otherName, otherKey, ski("other"), x509.KeyUsageCertSign|x509.KeyUsageCRLSign)
		theCAs.ecdsa = newCA(t, pkix.Name{CommonName: "ECDSA CRL issuer"}, ecKey, ski("ecdsa"), x509.KeyUsageCertSign|x509.KeyUsageCRLSign)
		theCAs.ed25519 = newCA(t, pkix.Name{CommonName: "Ed25519 CRL issuer"}, edKey, ski("ed25519"), x509.KeyUsageCertSign|x509.KeyUsageCRLSign)
		theCAs.twin = newCA(t, name, otherKey, ski("rsa"), x509.KeyUsageCertSign|x509.KeyUsageCRLSign)
		theCAs.otherSKI = newCA(t, name, rsaKey, ski("another"), x509.KeyUsageCertSign|x509.KeyUsageCRLSign)
		theCAs.noCRLSign = newCA(t, name, rsaKey, ski("rsa"), x509.KeyUsageCertSign)
	})
	return theCAs
}

func mustRSA(t testing.TB) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ski(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:20]
}

func newCA(t testing.TB, name pkix.Name, key crypto.Signer, skid []byte, usage x509.KeyUsage) testCA {
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               name,
		NotBefore:             time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2044, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              usage,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          skid,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert: cert, key: key}
}

var (
	jst      = time.FixedZone("JST", 9*60*60)
	testNow  = time.Date(2026, 4, 1, 9, 0, 0, 0, jst)
	nextWeek = testNow.Add(7 * 24 * time.Hour)
)

// x509CRL makes a CRL with x509.CreateRevocationList.
func x509CRL(t testing.TB, ca testCA, number int64, entries []x509.RevocationListEntry, mod func(*x509.RevocationList)) []byte {
	t.Helper()
	rl := &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                testNow,
		NextUpdate:                nextWeek,
		RevokedCertificateEntries: entries,
	}
	if mod != nil {
		mod(rl)
	}
	der, err := x509.CreateRevocationList(rand.Reader, rl, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// writerCRL makes a CRL with the streaming writer.
func writerCRL(t testing.TB, ca testCA, number int64, entries []crlwriter.Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tmpl := crlwriter.Template{Issuer: ca.cert, Number: big.NewInt(number), ThisUpdate: testNow, NextUpdate: nextWeek}
	_, err := crlwriter.Write(&buf, tmpl, func(yield func(crlwriter.Entry) error) error {
		for _, e := range entries {
			if err := yield(e); err != nil {
				return err
			}
		}
		return nil
	}, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	oidReasonCodeASN1     = asn1.ObjectIdentifier{2, 5, 29, 21}
	oidInvalidityDateASN1 = asn1.ObjectIdentifier{2, 5, 29, 24}
)

// reference is what x509.ParseRevocationList says a CRL contains, reduced to what the index
// keeps: per serial (minimal DER content), the earliest entry.
type reference struct {
	rl      *x509.RevocationList
	entries map[string]Entry
}

func parseReference(t testing.TB, der []byte) reference {
	t.Helper()
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("x509.ParseRevocationList: %v", err)
	}
	ref := reference{rl: rl, entries: map[string]Entry{}}
	for _, e := range rl.RevokedCertificateEntries {
		reason := NoReason
		for _, ext := range e.Extensions {
			if ext.Id.Equal(oidReasonCodeASN1) {
				reason = CRLReason(e.ReasonCode)
			}
		}
		key := string(serialBytes(e.SerialNumber))
		got := Entry{Serial: []byte(key), RevokedAt: e.RevocationTime.UTC(), Reason: reason}
		if old, ok := ref.entries[key]; ok && !got.RevokedAt.Before(old.RevokedAt) {
			continue
		}
		ref.entries[key] = got
	}
	return ref
}

// assertMatches checks an index against the reference, in both directions, and through both
// lookups.
func assertMatches(t testing.TB, ix *Index, ref reference) {
	t.Helper()
	m := ix.Metadata()
	rl := ref.rl
	if m.Number.Cmp(rl.Number) != 0 || !m.ThisUpdate.Equal(rl.ThisUpdate) || !m.NextUpdate.Equal(rl.NextUpdate) ||
		!bytes.Equal(m.Issuer, rl.RawIssuer) || !bytes.Equal(m.AuthorityKeyID, rl.AuthorityKeyId) ||
		m.SignatureAlgorithm != rl.SignatureAlgorithm || m.Entries != len(rl.RevokedCertificateEntries) ||
		m.Size != int64(len(rl.Raw)) || m.TBSDigest != sha256.Sum256(rl.RawTBSRevocationList) {
		t.Fatalf("metadata %+v differs from x509's (number %v, this %v, next %v, alg %v, %d entries)",
			m, rl.Number, rl.ThisUpdate, rl.NextUpdate, rl.SignatureAlgorithm, len(rl.RevokedCertificateEntries))
	}
	if ix.Len() != len(ref.entries) || m.Entries-m.Duplicates != len(ref.entries) {
		t.Fatalf("index has %d serials (%d entries, %d duplicates); x509 has %d distinct", ix.Len(), m.Entries, m.Duplicates, len(ref.entries))
	}
	for _, want := range ref.entries {
		n := want.SerialNumber()
		for _, lookup := range []func() (bool, time.Time, CRLReason){
			func() (bool, time.Time, CRLReason) { return ix.Lookup(n) },
			func() (bool, time.Time, CRLReason) { return ix.LookupBytes(want.Serial) },
		} {
			revoked, at, reason := lookup()
			if !revoked || !at.Equal(want.RevokedAt) || reason != want.Reason {
				t.Fatalf("serial %x: got (%v, %v, %v), x509 says (true, %v, %v)", want.Serial, revoked, at, reason, want.RevokedAt, want.Reason)
			}
		}
		// A neighbour that is not on the list is not revoked.
		for _, d := range []int64{-1, 1} {
			nb := new(big.Int).Add(n, big.NewInt(d))
			if _, listed := ref.entries[string(serialBytes(nb))]; listed {
				continue
			}
			if revoked, _, _ := ix.Lookup(nb); revoked {
				t.Fatalf("serial %v reported revoked but is not on the CRL", nb)
			}
		}
	}
	seen := 0
	for e := range ix.All() {
		want, ok := ref.entries[string(e.Serial)]
		if !ok || !e.RevokedAt.Equal(want.RevokedAt) || e.Reason != want.Reason {
			t.Fatalf("All yields %x %v %v; x509 has %v (%v)", e.Serial, e.RevokedAt, e.Reason, want, ok)
		}
		seen++
	}
	if seen != len(ref.entries) {
		t.Fatalf("All yields %d entries, want %d", seen, len(ref.entries))
	}
}

// tbsParts are the fields of a hand-built TBSCertList, each as raw DER (nil = absent), so that
// tests can sign CRLs that no library would write.
type tbsParts struct {
	version, alg, issuer, thisUpdate, nextUpdate, entries, extensions, trailing []byte
}

func (ca testCA) defaultParts(t testing.TB) tbsParts {
	aki := derSeq(der(0x80, ca.cert.SubjectKeyId))
	return tbsParts{
		version:    []byte{0x02, 0x01, 0x01},
		alg:        algSHA256RSA,
		issuer:     ca.cert.RawSubject,
		thisUpdate: utc("260401000000Z"),
		nextUpdate: utc("260408000000Z"),
		extensions: der(0xa0, derSeq(ext(oidAuthorityKeyID, false, aki), ext(oidCRLNumber, false, []byte{0x02, 0x01, 0x07}))),
	}
}

var algSHA256RSA = []byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00}

// sign assembles and signs a CRL from parts with an RSA CA, using outerAlg (nil = parts.alg).
func (ca testCA) sign(t testing.TB, p tbsParts, outerAlg []byte) []byte {
	t.Helper()
	tbs := derSeq(p.version, p.alg, p.issuer, p.thisUpdate, p.nextUpdate, p.entries, p.extensions, p.trailing)
	digest := sha256.Sum256(tbs)
	sig, err := ca.key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if outerAlg == nil {
		outerAlg = p.alg
	}
	return derSeq(tbs, outerAlg, der(0x03, append([]byte{0}, sig...)))
}

func der(tag byte, contents ...[]byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.Tag(tag), func(b *cryptobyte.Builder) {
		for _, c := range contents {
			b.AddBytes(c)
		}
	})
	return b.BytesOrPanic()
}

func derSeq(contents ...[]byte) []byte { return der(0x30, contents...) }

func utc(s string) []byte      { return der(0x17, []byte(s)) }
func gen(s string) []byte      { return der(0x18, []byte(s)) }
func integer(b ...byte) []byte { return der(0x02, b) }

func ext(oid []byte, critical bool, value []byte) []byte {
	var crit []byte
	if critical {
		crit = []byte{0x01, 0x01, 0xff}
	}
	return derSeq(oid, crit, der(0x04, value))
}

// entry builds one revokedCertificates element.
func entry(serial []byte, when []byte, exts ...[]byte) []byte {
	if len(exts) == 0 {
		return derSeq(der(0x02, serial), when)
	}
	return derSeq(der(0x02, serial), when, derSeq(exts...))
}

func reasonExt(code byte) []byte { return ext(oidReasonCode, false, []byte{0x0a, 0x01, code}) }
