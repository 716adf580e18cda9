package revocation

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFixtures reads the committed CRLs of testdata/crl (see its README) as a fetcher would.
func TestFixtures(t *testing.T) {
	dir := filepath.Join("..", "testdata", "crl")
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(caPEM)
	if block == nil {
		t.Fatal("ca.pem holds no PEM block")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string, opts Options) (*Index, error) {
		return ReadFile(filepath.Join(dir, name), ca, opts)
	}
	good, err := read("good.crl", Options{})
	if err != nil {
		t.Fatal(err)
	}
	goodMeta := good.Metadata()
	at := time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)

	tests := []struct {
		file string
		opts Options
		want error
		n    int
	}{
		{"good.crl", Options{At: at, Previous: &goodMeta}, nil, 7},
		{"x509.crl", Options{At: at, Previous: &goodMeta}, nil, 7},
		{"empty.crl", Options{At: at, Previous: &goodMeta}, nil, 0},
		{"rolled-back.crl", Options{At: at, Previous: &goodMeta}, ErrNumberWentBackwards, 0},
		{"future.crl", Options{At: at}, ErrThisUpdateInFuture, 0},
		{"wrong-issuer.crl", Options{}, ErrWrongIssuer, 0},
		{"bad-signature.crl", Options{}, ErrBadSignature, 0},
		{"truncated.crl", Options{}, ErrMalformed, 0},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			ix, err := read(tc.file, tc.opts)
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("error %v; want %v", err, tc.want)
			}
			if err != nil {
				return
			}
			if ix.Len() != tc.n {
				t.Fatalf("%d entries; want %d", ix.Len(), tc.n)
			}
			der, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			assertMatches(t, ix, parseReference(t, der))
		})
	}

	for _, tc := range []struct {
		serial string
		reason CRLReason
	}{
		{"1001", AffiliationChanged}, {"1002", KeyCompromise}, {"1003", CessationOfOperation}, {"1004", NoReason},
		{"8000000000000001", Superseded}, {"0123456789abcdef0123456789abcdef", CertificateHold}, {"0fff", PrivilegeWithdrawn},
	} {
		n, _ := new(big.Int).SetString(tc.serial, 16)
		if revoked, _, reason := good.Lookup(n); !revoked || reason != tc.reason {
			t.Errorf("serial %s: revoked %v reason %v; want true %v", tc.serial, revoked, reason, tc.reason)
		}
	}
}
