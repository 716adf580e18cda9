package verify_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"runtime"
	"testing"
	"time"

	"github.com/mynagate/mynagate/verify"
)

// benchVerification times one verification (Certificate + Signature) against its bound, two raw
// rsa.VerifyPKCS1v15 with an RSA-2048 key (the CA's over the certificate, the holder's over the
// challenge). Both are timed in every iteration, one after the other, so that a machine shared
// with other work slows both alike; ns/op is therefore the sum of the two. It reports:
//
//	verify-ns           one verification, wall clock
//	raw-verify-ns       one raw RSA verify, wall clock
//	bound-fraction      2 × raw-verify-ns / verify-ns: the share of the two-verify bound reached
//	                    (1.0 would be no overhead beyond the two RSA operations)
//	cpu-bound-fraction  the same from the thread's CPU time (Linux), which other processes on
//	                    the machine do not disturb; prefer it on a busy machine
func benchVerification(b *testing.B, der []byte, opts verify.Options, pub *rsa.PublicKey, msg, sig []byte) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var verifyWall, rawWall, verifyCPU, rawCPU time.Duration
	cpuOK := true
	b.ReportAllocs()
	for b.Loop() {
		c0, ok0 := threadCPU()
		t0 := time.Now()
		res, err := verify.Certificate(der, opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := verify.Signature(res.Cert, msg, sig); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		c1, ok1 := threadCPU()
		for range 2 {
			d := sha256.Sum256(msg)
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig); err != nil {
				b.Fatal(err)
			}
		}
		c2, ok2 := threadCPU()
		verifyWall += t1.Sub(t0)
		rawWall += time.Since(t1)
		verifyCPU += c1 - c0
		rawCPU += c2 - c1
		cpuOK = cpuOK && ok0 && ok1 && ok2
	}
	op := float64(verifyWall.Nanoseconds()) / float64(b.N)
	raw := float64(rawWall.Nanoseconds()) / float64(2*b.N)
	b.ReportMetric(op, "verify-ns")
	b.ReportMetric(raw, "raw-verify-ns")
	b.ReportMetric(2*raw/op, "bound-fraction")
	if cpuOK && verifyCPU > 0 {
		b.ReportMetric(float64(rawCPU)/float64(verifyCPU), "cpu-bound-fraction")
	}
}

// BenchmarkIdentity is one 本人確認: the signing certificate with its basic 4 facts and the
// signature over a challenge.
func BenchmarkIdentity(b *testing.B) {
	f := fixtures(b)
	opts := verify.Options{Roots: roots(f.taro.signCA), At: at, Purpose: verify.PurposeIdentity}
	benchVerification(b, f.taro.signDER, opts, f.taro.signKey.Public().(*rsa.PublicKey), f.challenge, f.signature)
}

// BenchmarkLogin is one 利用者認証: the authentication certificate and the signature.
func BenchmarkLogin(b *testing.B) {
	f := fixtures(b)
	opts := verify.Options{Roots: roots(f.taro.authCA), At: at, Purpose: verify.PurposeLogin}
	benchVerification(b, f.taro.authDER, opts, f.taro.authKey.Public().(*rsa.PublicKey), f.challenge, f.authSignature)
}

// BenchmarkIdentityRootGenerations is 本人確認 with three trusted roots of the same DN (CA
// generations, or a lookalike), the right one last: the worst case of name-matched roots.
func BenchmarkIdentityRootGenerations(b *testing.B) {
	f := fixtures(b)
	opts := verify.Options{Roots: roots(f.look.signCA, f.look.signCA, f.taro.signCA), At: at, Purpose: verify.PurposeIdentity}
	benchVerification(b, f.taro.signDER, opts, f.taro.signKey.Public().(*rsa.PublicKey), f.challenge, f.signature)
}

// BenchmarkRejectGarbage is the cost of turning away a malformed certificate.
func BenchmarkRejectGarbage(b *testing.B) {
	f := fixtures(b)
	opts := verify.Options{Roots: roots(f.taro.signCA), At: at, Purpose: verify.PurposeIdentity}
	der := f.taro.signDER[:len(f.taro.signDER)-1]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := verify.Certificate(der, opts); err == nil {
			b.Fatal("accepted")
		}
	}
}
