package platform_test

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/jonboulle/clockwork"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// jlisEnv is a platform trusting a served J-LIS simulator as a deployment does (its CAs, its
// CRLs through the real fetcher and checker, its renewal links), on the simulator's fake clock
// and a deterministic randomness source, over a fresh SQLite store, with a tenant allowed every
// fact.
type jlisEnv struct {
	t      *testing.T
	sim    *jlis.Simulator
	clk    *clockwork.FakeClock
	trust  *testkit.JLISTrust
	st     *store.Store
	p      *platform.Platform
	tenant *platform.Tenant
}

var testMaster = bytes.Repeat([]byte{0x5a}, 32)

// lockedReader makes a deterministic stream safe for the platform's concurrent use.
type lockedReader struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func (l *lockedReader) Read(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(b)
}

// seededRand is a deterministic io.Reader: one seed, one stream.
func seededRand(seed byte) *lockedReader {
	var s [32]byte
	s[0] = seed
	return &lockedReader{r: rand.NewChaCha8(s)}
}

func newJLISEnv(t *testing.T, opts ...platform.Option) *jlisEnv {
	t.Helper()
	sim, clk, _ := testkit.Simulator(t)
	trust := testkit.ServeJLIS(t, sim, clk)
	st := storetest.Open(t, store.DialectSQLite)
	all := append(trust.Options(), platform.WithClock(clk), platform.WithRand(seededRand(1)), platform.WithMaster(testMaster),
		platform.WithEvidence(testkit.EvidenceLog(t, st)), platform.WithHolderBaseURL("https://verify.example"))
	p, err := platform.New(st, append(all, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ten, err := p.CreateTenant(ctx, "Example Bank", platform.AllFacts)
	if err != nil {
		t.Fatal(err)
	}
	return &jlisEnv{t: t, sim: sim, clk: clk, trust: trust, st: st, p: p, tenant: ten}
}

// tenantWith creates another tenant allowed facts.
func (e *jlisEnv) tenantWith(name string, facts ...platform.Fact) *platform.Tenant {
	e.t.Helper()
	ten, err := e.p.CreateTenant(ctx, name, facts)
	if err != nil {
		e.t.Fatal(err)
	}
	return ten
}

// card issues a card for b4.
func (e *jlisEnv) card(b4 jpki.Basic4) *jpki.CardFile {
	e.t.Helper()
	return testkit.Issue(e.t, e.sim, b4).Card
}

// session starts a session of the tenant.
func (e *jlisEnv) session(ten *platform.Tenant, purpose platform.Purpose) *platform.Session {
	e.t.Helper()
	s, _, err := e.p.CreateSession(ctx, ten, platform.SessionRequest{Purpose: purpose})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// slotFor is the key slot of a card a purpose signs with.
func slotFor(cf *jpki.CardFile, purpose platform.Purpose) *jpki.KeySlot {
	if purpose == platform.PurposeLogin {
		return cf.Auth
	}
	return cf.Sign
}

// answer is the holder's answer to s with the card's key of the session's purpose, as the card
// signs: RSASSA-PKCS1-v1_5 over SHA-256 of the challenge.
func (e *jlisEnv) answer(cf *jpki.CardFile, s *platform.Session) platform.Answer {
	e.t.Helper()
	slot := slotFor(cf, s.Purpose)
	return platform.Answer{Certificate: slot.Cert, Signature: sign(e.t, slot, s.Challenge())}
}

// complete answers s with the card and returns the verification and the error.
func (e *jlisEnv) complete(cf *jpki.CardFile, s *platform.Session) (*platform.Verification, error) {
	return e.p.Complete(ctx, s.ID, s.HolderToken, e.answer(cf, s))
}

// verified runs a session of the purpose to an accepted verification and returns it.
func (e *jlisEnv) verified(ten *platform.Tenant, cf *jpki.CardFile, purpose platform.Purpose) *platform.Verification {
	e.t.Helper()
	v, err := e.complete(cf, e.session(ten, purpose))
	if err != nil || v.Decision != platform.DecisionAccepted {
		e.t.Fatalf("verification: %+v, %v; want accepted", v, err)
	}
	return v
}

// refreshCRLs publishes new CRLs of every CA and has the platform's fetcher read them.
func (e *jlisEnv) refreshCRLs() {
	e.t.Helper()
	for _, name := range e.sim.CANames() {
		if _, err := e.sim.PublishCRL(ctx, name); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.trust.Fetcher.Refresh(ctx); err != nil {
		e.t.Fatal(err)
	}
}

// sign signs msg with a slot's key as the card does.
func sign(t testing.TB, slot *jpki.KeySlot, msg []byte) []byte {
	t.Helper()
	k, err := x509.ParsePKCS8PrivateKey(slot.Key)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(nil, k.(*rsa.PrivateKey), crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// wantError fails unless err is a platform error of the kind and problem type.
func wantError(t testing.TB, what string, err error, kind platform.Kind, typ string) {
	t.Helper()
	pe := platform.AsError(err)
	if err == nil || pe.Kind != kind || pe.Type != typ {
		t.Errorf("%s: %v; want kind %d, type %s", what, err, kind, typ)
	}
}
