package platformtest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"io"
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

// JLIS is a platform trusting a served J-LIS simulator as a deployment does (its CAs, its CRLs
// through the real fetcher and checker, its renewal links), on the simulator's fake clock and a
// deterministic randomness source, over a fresh SQLite store, with a tenant allowed every fact.
// Holders answer with the keys of cards the simulator issued, signing as the card signs.
type JLIS struct {
	T      testing.TB
	Sim    *jlis.Simulator
	Clk    *clockwork.FakeClock
	Trust  *testkit.JLISTrust
	St     *store.Store
	P      *platform.Platform
	Tenant *platform.Tenant
}

// Master is the master secret of NewJLIS's platform.
var Master = bytes.Repeat([]byte{0x5a}, 32)

// lockedReader makes a deterministic stream safe for concurrent use.
type lockedReader struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func (l *lockedReader) Read(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(b)
}

// SeededRand is a deterministic randomness source: one seed, one stream.
func SeededRand(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return &lockedReader{r: rand.NewChaCha8(s)}
}

// NewJLIS builds a simulator, the platform (opts come last, so they override) and its tenant
// "Example Bank".
func NewJLIS(t testing.TB, opts ...platform.Option) *JLIS {
	t.Helper()
	sim, clk, _ := testkit.Simulator(t)
	return NewJLISOn(t, sim, clk, opts...)
}

// NewJLISOn is NewJLIS on a simulator of the test's (testkit.Simulator) and its clock.
func NewJLISOn(t testing.TB, sim *jlis.Simulator, clk *clockwork.FakeClock, opts ...platform.Option) *JLIS {
	t.Helper()
	trust := testkit.ServeJLIS(t, sim, clk)
	st := storetest.Open(t, store.DialectSQLite)
	all := append(trust.Options(), platform.WithClock(clk), platform.WithRand(SeededRand(1)), platform.WithMaster(Master),
		platform.WithEvidence(testkit.EvidenceLog(t, st)), platform.WithHolderBaseURL("https://verify.example"))
	p, err := platform.New(st, append(all, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ten, err := p.CreateTenant(context.Background(), "Example Bank", platform.AllFacts)
	if err != nil {
		t.Fatal(err)
	}
	return &JLIS{T: t, Sim: sim, Clk: clk, Trust: trust, St: st, P: p, Tenant: ten}
}

// TenantWith creates another tenant allowed facts.
func (e *JLIS) TenantWith(name string, facts ...platform.Fact) *platform.Tenant {
	e.T.Helper()
	ten, err := e.P.CreateTenant(context.Background(), name, facts)
	if err != nil {
		e.T.Fatal(err)
	}
	return ten
}

// Card issues a card for b4.
func (e *JLIS) Card(b4 jpki.Basic4) *jpki.CardFile {
	e.T.Helper()
	return testkit.Issue(e.T, e.Sim, b4).Card
}

// Session starts a session of the tenant.
func (e *JLIS) Session(ten *platform.Tenant, purpose platform.Purpose) *platform.Session {
	e.T.Helper()
	s, _, err := e.P.CreateSession(context.Background(), ten, platform.SessionRequest{Purpose: purpose})
	if err != nil {
		e.T.Fatal(err)
	}
	return s
}

// Slot is the key slot of a card a purpose signs with.
func Slot(cf *jpki.CardFile, purpose platform.Purpose) *jpki.KeySlot {
	if purpose == platform.PurposeLogin {
		return cf.Auth
	}
	return cf.Sign
}

// Answer is the holder's answer to s with the card's key of the session's purpose, granting
// consent.
func (e *JLIS) Answer(cf *jpki.CardFile, s *platform.Session, consent ...string) platform.Answer {
	e.T.Helper()
	slot := Slot(cf, s.Purpose)
	return platform.Answer{Certificate: slot.Cert, Signature: Sign(e.T, slot, s.Challenge()), Consent: consent}
}

// Complete answers s with the card and returns the verification and the error.
func (e *JLIS) Complete(cf *jpki.CardFile, s *platform.Session, consent ...string) (*platform.Verification, error) {
	return e.P.Complete(context.Background(), s.ID, s.HolderToken, e.Answer(cf, s, consent...))
}

// Verified runs a session of the purpose to an accepted verification and returns it.
func (e *JLIS) Verified(ten *platform.Tenant, cf *jpki.CardFile, purpose platform.Purpose, consent ...string) *platform.Verification {
	e.T.Helper()
	v, err := e.Complete(cf, e.Session(ten, purpose), consent...)
	if err != nil || v.Decision != platform.DecisionAccepted {
		e.T.Fatalf("verification: %+v, %v; want accepted", v, err)
	}
	return v
}

// RefreshCRLs publishes new CRLs of every CA and has the platform's fetcher read them.
func (e *JLIS) RefreshCRLs() {
	e.T.Helper()
	ctx := context.Background()
	for _, name := range e.Sim.CANames() {
		if _, err := e.Sim.PublishCRL(ctx, name); err != nil {
			e.T.Fatal(err)
		}
	}
	if err := e.Trust.Fetcher.Refresh(ctx); err != nil {
		e.T.Fatal(err)
	}
}

// Sign signs msg with a slot's key as the card does: RSASSA-PKCS1-v1_5 over SHA-256.
func Sign(t testing.TB, slot *jpki.KeySlot, msg []byte) []byte {
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
