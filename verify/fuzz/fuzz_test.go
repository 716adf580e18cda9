// Package fuzz_test holds the fuzz target of package verify. It lives apart from verify's other
// tests so that its binary does not link the J-LIS simulator: the coverage counters of the
// simulator's SQLite driver made the same target 3.5 times slower (300 000 executions in 30 s
// instead of 8.6 s). Its seeds and its trust are the committed certificates in
// ../testdata/vectors (../testdata/gen.sh), the same in every fuzz worker process, so mutations
// of them reach the checks after the chain.
//
//	go test -run '^$' -fuzz FuzzCertificate -fuzztime 1m ./verify/fuzz
package fuzz_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/verify"
)

// at is the verification time: an hour after the vectors were issued (testkit.Epoch).
var at = time.Date(2026, time.April, 1, 11, 0, 0, 0, jpki.JST)

func vector(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "vectors", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func parse(tb testing.TB, der []byte) *x509.Certificate {
	tb.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// FuzzCertificate feeds arbitrary bytes to Certificate for both purposes. It must never panic,
// must not modify its input, must answer either a result or a *verify.Error with a known reason,
// and must accept nothing a trusted key did not sign: every accepted certificate's TBS is one of
// the vectors'.
func FuzzCertificate(f *testing.F) {
	known := map[[32]byte]bool{}
	for _, name := range []string{"sim-sign.der", "sim-auth.der", "sim-sign-ca.der", "sim-auth-ca.der", "own-root.der", "own-sign.der", "own-auth.der"} {
		der := vector(f, name)
		known[sha256.Sum256(parse(f, der).RawTBSCertificate)] = true
		f.Add(der)
	}
	for _, der := range [][]byte{vector(f, "sim-sign.der")[:100], {0x30, 0x80}, {0x30, 0x03, 0x02, 0x01, 0x01}, nil} {
		f.Add(der)
	}
	own := parse(f, vector(f, "own-root.der"))
	optsFor := map[verify.Purpose]verify.Options{
		verify.PurposeIdentity: {Roots: []*x509.Certificate{parse(f, vector(f, "sim-sign-ca.der")), own}, At: at, Purpose: verify.PurposeIdentity},
		verify.PurposeLogin:    {Roots: []*x509.Certificate{parse(f, vector(f, "sim-auth-ca.der")), own}, At: at, Purpose: verify.PurposeLogin},
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		in := bytes.Clone(der)
		for p, opts := range optsFor {
			res, err := verify.Certificate(der, opts)
			if !bytes.Equal(der, in) {
				t.Fatal("Certificate modified its input")
			}
			if err != nil {
				if res != nil {
					t.Fatal("both a result and an error")
				}
				var ve *verify.Error
				if !errors.As(err, &ve) || strings.HasPrefix(ve.Reason.String(), "Reason(") {
					t.Fatalf("error %v is not a verdict", err)
				}
				if !strings.HasPrefix(err.Error(), "verify: ") {
					t.Fatalf("error %q lacks the package prefix", err)
				}
				if ve.Cert == nil && ve.Reason != verify.ReasonMalformed {
					t.Fatalf("%v error without the certificate", ve.Reason)
				}
				continue
			}
			if !known[sha256.Sum256(res.Cert.RawTBSCertificate)] {
				t.Fatalf("accepted a certificate no trusted key signed: %x", der)
			}
			if res.Kind != p.Kind() || (res.Basic4 == nil) != (p == verify.PurposeLogin) {
				t.Fatalf("result %+v for %v", res, p)
			}
			if p == verify.PurposeIdentity {
				if err := res.Basic4.Validate(); err != nil {
					t.Fatalf("accepted basic 4 facts that do not validate: %v", err)
				}
			}
			if k, ok := verify.KindOf(res.Cert); !ok || k != p.Kind() {
				t.Fatalf("KindOf(accepted) = %v, %v", k, ok)
			}
		}
	})
}
