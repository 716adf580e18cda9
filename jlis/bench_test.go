package jlis_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"os"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"golang.org/x/crypto/ocsp"
)

// rsaSignRate measures raw RSA-2048 PKCS#1 v1.5 signatures per second on one goroutine: the
// denominator of every ratio here, taken in the same run as what it is compared with.
func rsaSignRate(b *testing.B) float64 {
	b.Helper()
	key, err := testkit.Key()
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256([]byte("baseline"))
	n, start := 0, time.Now()
	for time.Since(start) < 300*time.Millisecond {
		if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkIssue issues cards (two end-entity certificates, so two CA signatures, and the
// database rows) with holder keys from the pool: key generation is measured apart, in
// BenchmarkKeyGeneration, because a card generates its keys itself. "of-rsa-bound" is the
// issuance rate over the bound of two RSA signatures per card.
func BenchmarkIssue(b *testing.B) {
	sim, _, _ := testkit.Simulator(b)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := sim.Issue(ctx, jlis.IssueRequest{Basic4: testkit.Taro()}); err != nil {
			b.Fatal(err)
		}
	}
	rate := float64(b.N) / time.Since(start).Seconds()
	b.StopTimer()
	sign := rsaSignRate(b)
	b.ReportMetric(rate, "cards/s")
	b.ReportMetric(sign, "rsa-signs/s")
	b.ReportMetric(rate/(sign/2), "of-rsa-bound")
}

// BenchmarkKeyGeneration is the RSA-2048 key generation a card does at issuance, for scale.
func BenchmarkKeyGeneration(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := rsa.GenerateKey(rand.Reader, 2048); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCRL generates a full CRL of 1 M revoked certificates (10 M with
// MYNAGATE_BENCH_10M=1) from the simulator's database, and reports its size and its time in
// RSA-2048 signatures (the one signature of a CRL is its only fixed cost).
func BenchmarkCRL(b *testing.B) {
	sizes := []int64{1_000_000}
	if os.Getenv("MYNAGATE_BENCH_10M") == "1" {
		sizes = append(sizes, 10_000_000)
	}
	for _, n := range sizes {
		b.Run(map[int64]string{1_000_000: "1M", 10_000_000: "10M"}[n], func(b *testing.B) {
			sim, clk, _ := testkit.Simulator(b)
			if err := sim.Populate(ctx, "sign", n, nil); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var info *jlis.CRLInfo
			start := time.Now()
			for i := 0; i < b.N; i++ {
				clk.Advance(25 * time.Hour) // due: each iteration generates a new CRL
				var err error
				if info, err = sim.CRL(ctx, "sign"); err != nil {
					b.Fatal(err)
				}
			}
			per := time.Since(start).Seconds() / float64(b.N)
			b.StopTimer()
			if info.Entries != n {
				b.Fatalf("CRL lists %d entries, want %d", info.Entries, n)
			}
			sign := rsaSignRate(b)
			b.ReportMetric(per, "s/crl")
			b.ReportMetric(float64(info.Size)/(1<<20), "MiB")
			b.ReportMetric(float64(info.Size)/float64(n), "bytes/entry")
			b.ReportMetric(per*sign, "rsa-sign-equivalents")
		})
	}
}

// BenchmarkOCSP answers OCSP requests for an issued certificate, with and without a nonce (a
// nonce costs a second signature: x/crypto/ocsp cannot write responseExtensions, so the response
// is signed again with the nonce added). "of-rsa-bound" is the rate over the RSA signing rate.
func BenchmarkOCSP(b *testing.B) {
	sim, _, _ := testkit.Simulator(b)
	iss := testkit.Issue(b, sim, testkit.Taro())
	leaf, issuer := mustParse(b, iss.Card.Sign.Cert), mustParse(b, iss.Card.Sign.CACert)
	plain, err := ocsp.CreateRequest(leaf, issuer, nil)
	if err != nil {
		b.Fatal(err)
	}
	withNonce := appendNonce(b, plain)
	for _, c := range []struct {
		name string
		req  []byte
	}{{"plain", plain}, {"nonce", withNonce}} {
		b.Run(c.name, func(b *testing.B) {
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := sim.RespondOCSP(ctx, "sign", c.req); err != nil {
					b.Fatal(err)
				}
			}
			rate := float64(b.N) / time.Since(start).Seconds()
			b.StopTimer()
			sign := rsaSignRate(b)
			b.ReportMetric(rate, "responses/s")
			b.ReportMetric(rate/sign, "of-rsa-bound")
		})
	}
}
