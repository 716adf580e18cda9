package doors_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"os"
	"testing"
	"time"

	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/gate/doors"
	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/internal/testkit"
)

// A reduced doors-open run (the full one is `mynagate bench gate --full`): everyone gets in
// once, by tap alone, at some lane, and the merged records hold no conflict.
func TestDoorsOpen(t *testing.T) {
	sim, clk, _ := testkit.Simulator(t)
	const n, lanes = 12, 3
	var certs [][]byte
	var keys []*rsa.PrivateKey
	for i := range n {
		b4 := testkit.Taro()
		b4.Birth.Day = 1 + i
		cf := testkit.Issue(t, sim, b4).Card
		k, err := x509.ParsePKCS8PrivateKey(cf.Auth.Key)
		if err != nil {
			t.Fatal(err)
		}
		certs, keys = append(certs, cf.Auth.Cert), append(keys, k.(*rsa.PrivateKey))
	}
	crl, err := sim.CRL(t.Context(), "auth")
	if err != nil {
		t.Fatal(err)
	}
	crlDER, _ := os.ReadFile(crl.Path)
	ca, _ := sim.CACertificate("auth")
	now := clk.Now()
	m := &manifest.Manifest{Event: "e", IssuedAt: now, NotBefore: now, NotAfter: now.Add(time.Hour), CommitKey: make([]byte, 32), CardKey: make([]byte, 32), CodeKey: make([]byte, 32),
		CACerts: [][]byte{ca.Raw}, CRLs: [][]byte{crlDER}}
	for i, c := range certs {
		m.Tickets = append(m.Tickets, manifest.Ticket{ID: string(rune('a' + i)), Event: "e", Status: "valid", Holder: m.HolderOf(c)})
	}
	_, svc, _ := ed25519.GenerateKey(rand.Reader)
	env, _ := manifest.Sign(m, svc)
	opened, err := manifest.Open(env, svc.Public().(ed25519.PublicKey), "e", now)
	if err != nil {
		t.Fatal(err)
	}
	card := func(i int, msg []byte) ([]byte, []byte, error) {
		d := sha256.Sum256(msg)
		sig, err := rsa.SignPKCS1v15(nil, keys[i], crypto.SHA256, d[:])
		return certs[i], sig, err
	}
	res, err := doors.Run(doors.Config{Manifest: opened, Attendees: n, Card: card, Lanes: lanes, PerRound: 2, Clock: clk, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	if res.Decisions() != n || len(res.Lanes) != lanes {
		t.Fatalf("%d decisions over %d lanes", res.Decisions(), len(res.Lanes))
	}
	for _, l := range res.Lanes {
		if l.Admitted != n/lanes || len(l.Refused) != 0 || len(l.Latencies) != n/lanes || l.Busy <= 0 {
			t.Fatalf("lane %d: admitted %d, refused %v", l.Lane, l.Admitted, l.Refused)
		}
	}
	if res.Percentile(99) < res.Percentile(50) || res.Percentile(50) <= 0 {
		t.Fatalf("percentiles p50 %s p99 %s", res.Percentile(50), res.Percentile(99))
	}
	s := gate.Merge("e", res.Keys, res.Records)
	if len(s.Admissions) != n || len(s.Conflicts) != 0 || len(s.Rejected) != 0 {
		t.Fatalf("sync: %d admissions, %v conflicts, %v rejected", len(s.Admissions), s.Conflicts, s.Rejected)
	}
}
