package card_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/card/cardtest"
	"github.com/mynagate/mynagate/jpki"
)

// BenchmarkTransmit measures APDUs per second through the in-process handler: alternating
// SELECT EF and a 256-byte READ BINARY of the auth certificate.
func BenchmarkTransmit(b *testing.B) {
	cf := cardtest.CardFile(b, jpki.MediumCard)
	c, err := card.New(cf)
	if err != nil {
		b.Fatal(err)
	}
	c.Transmit(cardtest.SelectAID(jpki.AIDJPKI))
	sel, read := cardtest.SelectEF(jpki.EFAuthCert), cardtest.ReadBinary(0, 256)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			c.Transmit(sel)
		} else {
			c.Transmit(read)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "apdus/s")
}

// BenchmarkSign measures COMPUTE DIGITAL SIGNATURE through the card against rsa.SignPKCS1v15
// with the same key, measured in the same run; card/raw is the overhead factor of the card.
func BenchmarkSign(b *testing.B) {
	cf := cardtest.CardFile(b, jpki.MediumCard)
	c, err := card.New(cf)
	if err != nil {
		b.Fatal(err)
	}
	authKey, _ := cardtest.Keys(b)
	c.Transmit(cardtest.SelectAID(jpki.AIDJPKI))
	c.Transmit(cardtest.SelectEF(jpki.EFAuthPIN))
	c.Transmit(cardtest.Verify(cardtest.AuthPIN))
	c.Transmit(cardtest.SelectEF(jpki.EFAuthKey))
	h := sha256.Sum256([]byte("benchmark"))
	sign := cardtest.Sign(cardtest.DigestInfoSHA256([]byte("benchmark")))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := c.Transmit(sign); len(r) != 258 {
			b.Fatalf("response % X", r)
		}
	}
	cardTime := b.Elapsed()
	b.StopTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := rsa.SignPKCS1v15(nil, authKey, crypto.SHA256, h[:]); err != nil {
			b.Fatal(err)
		}
	}
	raw := time.Since(start)
	b.ReportMetric(float64(b.N)/cardTime.Seconds(), "sigs/s")
	b.ReportMetric(float64(b.N)/raw.Seconds(), "raw-sigs/s")
	b.ReportMetric(cardTime.Seconds()/raw.Seconds(), "card/raw")
}
