package vpcd_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"testing"
	"time"

	pcsc "github.com/gballet/go-libpcsclite"
	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/card/cardtest"
	"github.com/mynagate/mynagate/jpki"
)

// BenchmarkAPDUThroughPCSCD measures APDUs per second from a PC/SC client through pcscd, vpcd
// and the bridge to the card, and the same APDUs sent to the card in-process in the same run;
// pcscd/inproc is the slowdown of the real transport.
func BenchmarkAPDUThroughPCSCD(b *testing.B) {
	in := insert(b, jpki.MediumCard)
	pc, err := connect(in.d, pcsc.ShareExclusive)
	if err != nil {
		b.Fatal(err)
	}
	defer pc.close()
	seq := [][]byte{cardtest.SelectEF(jpki.EFAuthCert), cardtest.ReadBinary(0, 256)}
	pc.Transmit(cardtest.SelectAID(jpki.AIDJPKI))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := pc.Transmit(seq[i%2]); err != nil {
			b.Fatal(err)
		}
	}
	through := b.Elapsed()
	b.StopTimer()
	local, err := card.New(cardtest.CardFile(b, jpki.MediumCard))
	if err != nil {
		b.Fatal(err)
	}
	local.Transmit(cardtest.SelectAID(jpki.AIDJPKI))
	start := time.Now()
	for i := 0; i < b.N; i++ {
		local.Transmit(seq[i%2])
	}
	inproc := time.Since(start)
	b.ReportMetric(float64(b.N)/through.Seconds(), "apdus/s")
	b.ReportMetric(float64(b.N)/inproc.Seconds(), "inproc-apdus/s")
	b.ReportMetric(through.Seconds()/inproc.Seconds(), "pcscd/inproc")
}

// BenchmarkSignThroughPCSCD measures signatures per second through pcscd against raw
// rsa.SignPKCS1v15 with the same key in the same run.
func BenchmarkSignThroughPCSCD(b *testing.B) {
	in := insert(b, jpki.MediumCard)
	pc, err := connect(in.d, pcsc.ShareExclusive)
	if err != nil {
		b.Fatal(err)
	}
	defer pc.close()
	for _, c := range [][]byte{cardtest.SelectAID(jpki.AIDJPKI), cardtest.SelectEF(jpki.EFAuthPIN),
		cardtest.Verify(in.cf.Auth.PIN.Value), cardtest.SelectEF(jpki.EFAuthKey)} {
		pc.Transmit(c)
	}
	sign := cardtest.Sign(cardtest.DigestInfoSHA256([]byte("benchmark")))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := pc.Transmit(sign)
		if err != nil || len(r) != 258 {
			b.Fatalf("sign: %v % X", err, r)
		}
	}
	through := b.Elapsed()
	b.StopTimer()
	k, err := x509.ParsePKCS8PrivateKey(in.cf.Auth.Key)
	if err != nil {
		b.Fatal(err)
	}
	authKey := k.(*rsa.PrivateKey)
	h := sha256.Sum256([]byte("benchmark"))
	start := time.Now()
	for i := 0; i < b.N; i++ {
		rsa.SignPKCS1v15(nil, authKey, crypto.SHA256, h[:])
	}
	raw := time.Since(start)
	b.ReportMetric(float64(b.N)/through.Seconds(), "sigs/s")
	b.ReportMetric(float64(b.N)/raw.Seconds(), "raw-sigs/s")
	b.ReportMetric(through.Seconds()/raw.Seconds(), "pcscd/raw")
}
