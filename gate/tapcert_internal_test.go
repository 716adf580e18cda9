package gate

import (
	"crypto/x509"
	"testing"

	"github.com/mynagate/mynagate/internal/testkit"
)

// parseTapCert reads the same serial, validity, authority key id and key as crypto/x509, and
// refuses truncated or padded bytes instead of reading past them.
func TestParseTapCert(t *testing.T) {
	sim, _, _ := testkit.Simulator(t)
	for _, der := range [][]byte{testkit.Issue(t, sim, testkit.Taro()).Card.Auth.Cert, testkit.Issue(t, sim, testkit.Hanako()).Card.Auth.Cert} {
		want, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseTapCert(der)
		if err != nil {
			t.Fatal(err)
		}
		if got.serial.Cmp(want.SerialNumber) != 0 || !got.notBefore.Equal(want.NotBefore) || !got.notAfter.Equal(want.NotAfter) ||
			string(got.authorityKeyID) != string(want.AuthorityKeyId) || !got.pub.Equal(want.PublicKey) {
			t.Fatalf("parseTapCert = %+v, crypto/x509 read serial %v, %v–%v, aki %x", got, want.SerialNumber, want.NotBefore, want.NotAfter, want.AuthorityKeyId)
		}
		for n := range len(der) {
			if _, err := parseTapCert(der[:n]); err == nil {
				t.Fatalf("a certificate cut to %d of %d bytes parsed", n, len(der))
			}
		}
		if _, err := parseTapCert(append(der[:len(der):len(der)], 0)); err == nil {
			t.Fatal("a certificate with a trailing byte parsed")
		}
	}
	if _, err := parseTapCert(nil); err == nil {
		t.Fatal("no bytes parsed")
	}
}

// BenchmarkParseCert is the narrow parse beside crypto/x509's full one, on a JPKI
// authentication certificate.
func BenchmarkParseCert(b *testing.B) {
	sim, _, _ := testkit.Simulator(b)
	der := testkit.Issue(b, sim, testkit.Taro()).Card.Auth.Cert
	b.Run("x509", func(b *testing.B) {
		for range b.N {
			if _, err := x509.ParseCertificate(der); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tapCert", func(b *testing.B) {
		for range b.N {
			if _, err := parseTapCert(der); err != nil {
				b.Fatal(err)
			}
		}
	})
}
