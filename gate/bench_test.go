package gate_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"testing"

	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/gate/manifest"
)

// BenchmarkDecide is one decision of a code and a tap by the holder (the card's signing done
// before the timer), beside BenchmarkRawVerify, the RSA-2048 verification every decision makes.
func BenchmarkDecide(b *testing.B) {
	f := newFixture(b)
	const n = 512
	f.m.Tickets = nil
	for i := range n {
		f.m.Tickets = append(f.m.Tickets, manifest.Ticket{ID: fmt.Sprint("b", i), Event: "ev1", Status: "valid", Holder: commit(f.m, f.cards["A"])})
	}
	f.envelope, _ = manifest.Sign(f.m, f.svcKey)
	k, _ := x509.ParsePKCS8PrivateKey(f.cards["A"].Auth.Key)
	key := k.(*rsa.PrivateKey)
	now := f.clk.Now()
	var g *gate.Gate
	var taps []gate.Presentation
	prepare := func() {
		m, _ := manifest.Open(f.envelope, f.svcKey.Public().(ed25519.PublicKey), "ev1", now)
		_, gk, _ := ed25519.GenerateKey(rand.Reader)
		g, _ = gate.New(gate.Config{Manifest: m, GateID: "g", Lane: "1", Key: gk, Clock: f.clk, Rand: rand.Reader})
		taps = taps[:0]
		for i := range n {
			ch, _ := g.NewChallenge()
			d := sha256.Sum256(ch.Message)
			sig, _ := rsa.SignPKCS1v15(nil, key, crypto.SHA256, d[:])
			taps = append(taps, gate.Presentation{Code: f.code(fmt.Sprint("b", i), 0, now), Tap: &gate.Tap{Nonce: ch.Nonce, Certificate: f.cards["A"].Auth.Cert, Signature: sig}})
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%n == 0 {
			b.StopTimer()
			prepare()
			b.StartTimer()
		}
		if d := g.Decide(taps[i%n]); !d.Admit {
			b.Fatalf("%s: %s", d.Reason, d.Detail)
		}
	}
}

func BenchmarkRawVerify(b *testing.B) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	d := sha256.Sum256([]byte("baseline"))
	sig, _ := rsa.SignPKCS1v15(nil, key, crypto.SHA256, d[:])
	b.ResetTimer()
	for range b.N {
		if rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, d[:], sig) != nil {
			b.Fatal("baseline")
		}
	}
}
