package crlwriter

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCA is an RSA CA made once per test binary: RSA key generation is slow.
type testCA struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

var (
	caOnce        sync.Once
	caMain, caAlt testCA
)

func cas(t testing.TB) (testCA, testCA) {
	t.Helper()
	caOnce.Do(func() {
		caMain = newCA(t, "mynagate test CRL issuer")
		caAlt = newCA(t, "mynagate other CA")
	})
	return caMain, caAlt
}

func newCA(t testing.TB, cn string) testCA {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Country: []string{"JP"}, Organization: []string{"JPKI-TEST"}, CommonName: cn},
		NotBefore:             time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2044, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          ski(cn),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert: cert, key: key}
}

func ski(cn string) []byte {
	sum := sha256.Sum256([]byte(cn))
	return sum[:20]
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func sliceEntries(es []Entry) Entries {
	return func(yield func(Entry) error) error {
		for _, e := range es {
			if err := yield(e); err != nil {
				return err
			}
		}
		return nil
	}
}

func write(t *testing.T, tmpl Template, es []Entry, key crypto.Signer) ([]byte, Stats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := Write(&buf, tmpl, sliceEntries(es), key)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes(), st
}

var (
	oidReasonCodeASN1     = asn1.ObjectIdentifier{2, 5, 29, 21}
	oidInvalidityDateASN1 = asn1.ObjectIdentifier{2, 5, 29, 24}
)

// reference builds the same CRL with x509.CreateRevocationList. Go cannot write an explicit
// reasonCode unspecified (0): its ReasonCode 0 means "no extension". Entries with Reason 0 are
// therefore not given to reference; TestExplicitUnspecified covers them by parsed equality.
func reference(t *testing.T, tmpl Template, es []Entry, key crypto.Signer) []byte {
	t.Helper()
	rl := &x509.RevocationList{Number: tmpl.Number, ThisUpdate: tmpl.ThisUpdate, NextUpdate: tmpl.NextUpdate}
	for _, e := range es {
		if e.Reason == 0 {
			t.Fatal("reference cannot express reason 0")
		}
		rce := x509.RevocationListEntry{SerialNumber: e.Serial, RevocationTime: e.RevokedAt}
		if e.Reason > 0 {
			rce.ReasonCode = e.Reason
		}
		if !e.InvalidityDate.IsZero() {
			v, err := asn1.MarshalWithParams(e.InvalidityDate.UTC(), "generalized")
			if err != nil {
				t.Fatal(err)
			}
			rce.ExtraExtensions = []pkix.Extension{{Id: oidInvalidityDateASN1, Value: v}}
		}
		rl.RevokedCertificateEntries = append(rl.RevokedCertificateEntries, rce)
	}
	der, err := x509.CreateRevocationList(rand.Reader, rl, tmpl.Issuer, key)
	if err != nil {
		t.Fatalf("CreateRevocationList: %v", err)
	}
	return der
}

func serial(hex string) *big.Int {
	n, ok := new(big.Int).SetString(hex, 16)
	if !ok {
		panic(hex)
	}
	return n
}

var (
	jst  = time.FixedZone("JST", 9*60*60)
	base = time.Date(2026, 4, 1, 9, 30, 15, 0, jst)
)

func TestMatchesCreateRevocationList(t *testing.T) {
	ca, _ := cas(t)
	many := make([]Entry, 0, 300)
	for i := range 300 {
		// Seven hours apart: consecutive entries share a day or cross midnight.
		e := Entry{Serial: big.NewInt(int64(i)*7919 + 1), RevokedAt: base.Add(time.Duration(i) * 7 * time.Hour), Reason: NoReason}
		if i%3 != 0 {
			e.Reason = []int{1, 2, 3, 4, 5, 6, 8, 9, 10}[i%9]
		}
		if i%5 == 0 {
			e.InvalidityDate = e.RevokedAt.Add(-36 * time.Hour)
		}
		many = append(many, e)
	}
	tests := []struct {
		name    string
		tmpl    Template
		entries []Entry
	}{
		{
			name: "no entries",
			tmpl: Template{Number: big.NewInt(1), ThisUpdate: base, NextUpdate: base.Add(24 * time.Hour)},
		},
		{
			name:    "one entry without extensions",
			tmpl:    Template{Number: big.NewInt(2), ThisUpdate: base, NextUpdate: base.Add(24 * time.Hour)},
			entries: []Entry{{Serial: big.NewInt(1), RevokedAt: base.Add(-time.Hour), Reason: NoReason}},
		},
		{
			name: "serials needing a leading zero, 20 octets, and reasons with invalidity dates",
			tmpl: Template{Number: serial("7fffffffffffffffffffffffffffffffffffffff"), ThisUpdate: base, NextUpdate: base.Add(time.Hour)},
			entries: []Entry{
				{Serial: big.NewInt(0x80), RevokedAt: base, Reason: 1, InvalidityDate: base.Add(-time.Hour)},
				{Serial: serial("ff00000000000001"), RevokedAt: base, Reason: 3},
				{Serial: serial("7fffffffffffffff"), RevokedAt: base, Reason: NoReason, InvalidityDate: base},
				{Serial: serial("7fffffffffffffffffffffffffffffffffffffff"), RevokedAt: base, Reason: 10},
				{Serial: serial("0102030405060708090a0b0c0d0e0f10"), RevokedAt: base, Reason: 6},
			},
		},
		{
			name: "times across the UTCTime–GeneralizedTime boundary, sub-second parts and zones",
			tmpl: Template{Number: big.NewInt(3), ThisUpdate: time.Date(2049, 12, 31, 23, 59, 59, 999, time.UTC), NextUpdate: time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC)},
			entries: []Entry{
				{Serial: big.NewInt(5), RevokedAt: time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC), Reason: NoReason},
				{Serial: big.NewInt(6), RevokedAt: time.Date(1949, 12, 31, 23, 59, 59, 0, time.UTC), Reason: 4},
				{Serial: big.NewInt(7), RevokedAt: time.Date(2050, 1, 1, 8, 59, 59, 5e8, jst), Reason: 5, InvalidityDate: time.Date(2049, 6, 1, 0, 0, 0, 0, jst)},
				{Serial: big.NewInt(8), RevokedAt: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), Reason: 9},
			},
		},
		{
			name:    "300 entries, every reason but 0",
			tmpl:    Template{Number: big.NewInt(1000), ThisUpdate: base, NextUpdate: base.Add(48 * time.Hour)},
			entries: many,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.tmpl.Issuer = ca.cert
			got, st := write(t, tc.tmpl, tc.entries, ca.key)
			want := reference(t, tc.tmpl, tc.entries, ca.key)
			if !bytes.Equal(got, want) {
				t.Fatalf("output differs from x509.CreateRevocationList at byte %d (len %d vs %d)", firstDiff(got, want), len(got), len(want))
			}
			rl, err := x509.ParseRevocationList(got)
			if err != nil {
				t.Fatal(err)
			}
			if err := rl.CheckSignatureFrom(ca.cert); err != nil {
				t.Fatalf("CheckSignatureFrom: %v", err)
			}
			if st.Entries != int64(len(tc.entries)) || st.Bytes != int64(len(got)) || st.TBSBytes != int64(len(rl.RawTBSRevocationList)) {
				t.Fatalf("stats %+v; want %d entries, %d bytes, %d TBS bytes", st, len(tc.entries), len(got), len(rl.RawTBSRevocationList))
			}
			checkParsed(t, rl, tc.tmpl, tc.entries)
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// checkParsed asserts that rl carries exactly tmpl and es, to the second.
func checkParsed(t *testing.T, rl *x509.RevocationList, tmpl Template, es []Entry) {
	t.Helper()
	sec := func(x time.Time) time.Time { return x.UTC().Truncate(time.Second) }
	if rl.Number.Cmp(tmpl.Number) != 0 || !rl.ThisUpdate.Equal(sec(tmpl.ThisUpdate)) || !rl.NextUpdate.Equal(sec(tmpl.NextUpdate)) {
		t.Fatalf("header: number %v thisUpdate %v nextUpdate %v; want %v %v %v", rl.Number, rl.ThisUpdate, rl.NextUpdate, tmpl.Number, tmpl.ThisUpdate, tmpl.NextUpdate)
	}
	if !bytes.Equal(rl.RawIssuer, tmpl.Issuer.RawSubject) || !bytes.Equal(rl.AuthorityKeyId, tmpl.Issuer.SubjectKeyId) {
		t.Fatalf("issuer or AKI differ")
	}
	if len(rl.RevokedCertificateEntries) != len(es) {
		t.Fatalf("%d entries, want %d", len(rl.RevokedCertificateEntries), len(es))
	}
	for i, e := range es {
		g := rl.RevokedCertificateEntries[i]
		if g.SerialNumber.Cmp(e.Serial) != 0 || !g.RevocationTime.Equal(sec(e.RevokedAt)) {
			t.Fatalf("entry %d: serial %x at %v; want %x at %v", i, g.SerialNumber, g.RevocationTime, e.Serial, e.RevokedAt)
		}
		reason, inv := NoReason, time.Time{}
		for _, ext := range g.Extensions {
			switch {
			case ext.Id.Equal(oidReasonCodeASN1):
				reason = g.ReasonCode
			case ext.Id.Equal(oidInvalidityDateASN1):
				if _, err := asn1.UnmarshalWithParams(ext.Value, &inv, "generalized"); err != nil {
					t.Fatalf("entry %d: invalidityDate: %v", i, err)
				}
			default:
				t.Fatalf("entry %d: unexpected extension %v", i, ext.Id)
			}
		}
		if reason != e.Reason || !inv.Equal(sec(e.InvalidityDate)) && !e.InvalidityDate.IsZero() || inv.IsZero() != e.InvalidityDate.IsZero() {
			t.Fatalf("entry %d: reason %d invalidity %v; want %d %v", i, reason, inv, e.Reason, e.InvalidityDate)
		}
	}
}

// TestExplicitUnspecified covers Reason 0, which x509.CreateRevocationList cannot write (it
// treats ReasonCode 0 as "absent"), so equality is checked on the parsed list.
func TestExplicitUnspecified(t *testing.T) {
	ca, _ := cas(t)
	tmpl := Template{Issuer: ca.cert, Number: big.NewInt(9), ThisUpdate: base, NextUpdate: base.Add(time.Hour)}
	es := []Entry{
		{Serial: big.NewInt(10), RevokedAt: base, Reason: 0},
		{Serial: big.NewInt(11), RevokedAt: base, Reason: NoReason},
		{Serial: big.NewInt(12), RevokedAt: base, Reason: 0, InvalidityDate: base.Add(-time.Minute)},
	}
	der, _ := write(t, tmpl, es, ca.key)
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.CheckSignatureFrom(ca.cert); err != nil {
		t.Fatal(err)
	}
	checkParsed(t, rl, tmpl, es)
}

func TestWriteRejects(t *testing.T) {
	ca, alt := cas(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	noSKI, noCRLSign := *ca.cert, *ca.cert
	noSKI.SubjectKeyId = nil
	noCRLSign.KeyUsage = x509.KeyUsageCertSign
	good := Template{Issuer: ca.cert, Number: big.NewInt(1), ThisUpdate: base, NextUpdate: base.Add(time.Hour)}
	with := func(f func(*Template)) Template { t := good; f(&t); return t }
	ok := Entry{Serial: big.NewInt(1), RevokedAt: base, Reason: NoReason}
	entry := func(f func(*Entry)) []Entry { e := ok; f(&e); return []Entry{ok, e} }

	tests := []struct {
		name    string
		tmpl    Template
		key     crypto.Signer
		entries []Entry
		want    string
	}{
		{"ECDSA key", good, ecKey, nil, "only RSA keys"},
		{"nil key", good, nil, nil, "no signing key"},
		{"key of another CA", good, alt.key, nil, "does not match"},
		{"no issuer", with(func(t *Template) { t.Issuer = nil }), ca.key, nil, "no issuer"},
		{"issuer without SKI", with(func(t *Template) { t.Issuer = &noSKI }), ca.key, nil, "subject key identifier"},
		{"issuer without cRLSign", with(func(t *Template) { t.Issuer = &noCRLSign }), ca.key, nil, "cRLSign"},
		{"no number", with(func(t *Template) { t.Number = nil }), ca.key, nil, "no CRL number"},
		{"negative number", with(func(t *Template) { t.Number = big.NewInt(-1) }), ca.key, nil, "negative"},
		{"21-octet number", with(func(t *Template) { t.Number = serial("8000000000000000000000000000000000000000") }), ca.key, nil, "20 octets"},
		{"no nextUpdate", with(func(t *Template) { t.NextUpdate = time.Time{} }), ca.key, nil, "required"},
		{"nextUpdate first", with(func(t *Template) { t.NextUpdate = base.Add(-time.Second) }), ca.key, nil, "before thisUpdate"},
		{"year 10000", with(func(t *Template) { t.NextUpdate = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }), ca.key, nil, "year outside"},
		{"nil serial", good, ca.key, entry(func(e *Entry) { e.Serial = nil }), "entry 1: serial number must be positive"},
		{"zero serial", good, ca.key, entry(func(e *Entry) { e.Serial = big.NewInt(0) }), "must be positive"},
		{"negative serial", good, ca.key, entry(func(e *Entry) { e.Serial = big.NewInt(-5) }), "must be positive"},
		{"21-octet serial", good, ca.key, entry(func(e *Entry) { e.Serial = serial("8000000000000000000000000000000000000000") }), "20 octets"},
		{"zero time", good, ca.key, entry(func(e *Entry) { e.RevokedAt = time.Time{} }), "revocation time is zero"},
		{"reason 7", good, ca.key, entry(func(e *Entry) { e.Reason = 7 }), "not an RFC 5280 CRLReason"},
		{"reason 11", good, ca.key, entry(func(e *Entry) { e.Reason = 11 }), "not an RFC 5280 CRLReason"},
		{"reason -2", good, ca.key, entry(func(e *Entry) { e.Reason = -2 }), "not an RFC 5280 CRLReason"},
		{"invalidity year 10000", good, ca.key, entry(func(e *Entry) { e.InvalidityDate = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }), "year outside"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := Write(&buf, tc.tmpl, sliceEntries(tc.entries), tc.key)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "crlwriter: ") {
				t.Fatalf("error %v; want one containing %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Fatalf("%d bytes written before the error", buf.Len())
			}
		})
	}
}

// TestEntriesMustRepeat checks that an iterator that yields something else the second time is
// caught, whatever the difference.
func TestEntriesMustRepeat(t *testing.T) {
	ca, _ := cas(t)
	tmpl := Template{Issuer: ca.cert, Number: big.NewInt(1), ThisUpdate: base, NextUpdate: base.Add(time.Hour)}
	first := []Entry{{Serial: big.NewInt(1), RevokedAt: base, Reason: 1}, {Serial: big.NewInt(2), RevokedAt: base, Reason: NoReason}}
	tests := []struct {
		name   string
		second []Entry
	}{
		{"one more", append(first[:2:2], Entry{Serial: big.NewInt(3), RevokedAt: base, Reason: NoReason})},
		{"one fewer", first[:1]},
		{"longer serial", []Entry{first[0], {Serial: big.NewInt(1000), RevokedAt: base, Reason: NoReason}}},
		{"now invalid", []Entry{first[0], {Serial: big.NewInt(0), RevokedAt: base, Reason: NoReason}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pass := 0
			it := func(yield func(Entry) error) error {
				pass++
				if pass == 1 {
					return sliceEntries(first)(yield)
				}
				return sliceEntries(tc.second)(yield)
			}
			_, err := Write(&bytes.Buffer{}, tmpl, it, ca.key)
			if !errors.Is(err, ErrEntriesChanged) {
				t.Fatalf("error %v; want ErrEntriesChanged", err)
			}
		})
	}
}

type failWriter struct{ left int }

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.left {
		return 0, errors.New("disk full")
	}
	f.left -= len(p)
	return len(p), nil
}

func TestErrorsPropagate(t *testing.T) {
	ca, _ := cas(t)
	tmpl := Template{Issuer: ca.cert, Number: big.NewInt(1), ThisUpdate: base, NextUpdate: base.Add(time.Hour)}
	es := make([]Entry, 5000) // more than one flush
	for i := range es {
		es[i] = Entry{Serial: big.NewInt(int64(i + 1)), RevokedAt: base, Reason: NoReason}
	}
	src := errors.New("database gone")

	t.Run("iterator error", func(t *testing.T) {
		_, err := Write(&bytes.Buffer{}, tmpl, func(func(Entry) error) error { return src }, ca.key)
		if !errors.Is(err, src) || !strings.HasPrefix(err.Error(), "crlwriter: entries: ") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("yield error dropped by the iterator", func(t *testing.T) {
		it := func(yield func(Entry) error) error {
			_ = yield(Entry{Serial: big.NewInt(0), RevokedAt: base})
			_ = yield(Entry{Serial: big.NewInt(1), RevokedAt: base, Reason: NoReason})
			return nil
		}
		_, err := Write(&bytes.Buffer{}, tmpl, it, ca.key)
		if err == nil || !strings.Contains(err.Error(), "must be positive") {
			t.Fatalf("error %v", err)
		}
	})
	for _, left := range []int{0, 100, 70000, 100000} {
		t.Run(fmt.Sprintf("writer fails after %d bytes", left), func(t *testing.T) {
			_, err := Write(&failWriter{left: left}, tmpl, sliceEntries(es), ca.key)
			if err == nil || !strings.Contains(err.Error(), "disk full") {
				t.Fatalf("error %v", err)
			}
		})
	}
}

// TestOpenSSLReads runs the real openssl on a written CRL: it must print the entries and verify
// the signature against the issuer.
func TestOpenSSLReads(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl is required under CI")
		}
		t.Skip("openssl not installed")
	}
	ca, _ := cas(t)
	tmpl := Template{Issuer: ca.cert, Number: big.NewInt(4242), ThisUpdate: base, NextUpdate: time.Date(2051, 1, 1, 0, 0, 0, 0, time.UTC)}
	es := []Entry{
		{Serial: serial("0a0b0c"), RevokedAt: base.Add(-time.Hour), Reason: 1, InvalidityDate: base.Add(-48 * time.Hour)},
		{Serial: serial("ff0102030405060708"), RevokedAt: base.Add(-time.Hour), Reason: 3},
		{Serial: big.NewInt(77), RevokedAt: base.Add(-time.Minute), Reason: NoReason},
	}
	der, _ := write(t, tmpl, es, ca.key)
	dir := t.TempDir()
	crlPath, caPath := filepath.Join(dir, "x.crl"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(crlPath, der, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caPath, pemCert(ca.cert), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "crl", "-inform", "DER", "-in", crlPath, "-noout", "-text").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl crl -text: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		"X509v3 CRL Number", "4242",
		"Serial Number: 0A0B0C", "Key Compromise", "Invalidity Date", "Mar 30 00:30:15 2026 GMT",
		"Serial Number: FF0102030405060708", "Affiliation Changed",
		"Serial Number: 4D",
		"Next Update: Jan  1 00:00:00 2051 GMT",
		"X509v3 Authority Key Identifier",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("openssl output lacks %q:\n%s", want, text)
		}
	}
	out, err = exec.Command(bin, "crl", "-inform", "DER", "-in", crlPath, "-CAfile", caPath, "-noout").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verify OK") {
		t.Fatalf("openssl crl -CAfile: %v\n%s", err, out)
	}
}
