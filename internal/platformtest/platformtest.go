// Package platformtest builds platforms for the tests of platform and of the packages beside it
// (delivery, notify): a platform configured for verifications with a stub CA, no revocation and
// no links, over a real store, with one tenant and a webhook receiver.
package platformtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// StubCA is a CA certificate with a key identifier: enough for a platform configured for
// verifications, which webhooks and notices need for the master secret.
var StubCA = func() *x509.Certificate {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stub"}, SubjectKeyId: []byte{1, 2, 3, 4},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0), IsCA: true, BasicConstraintsValid: true}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	c, _ := x509.ParseCertificate(der)
	return c
}()

// NoRevocation answers every certificate good by CRL.
type NoRevocation struct{}

// Status answers good.
func (NoRevocation) Status(context.Context, *x509.Certificate, *x509.Certificate, platform.RevocationOptions) (*platform.RevocationStatus, error) {
	return &platform.RevocationStatus{Method: platform.MethodCRL}, nil
}

// NoLinks knows no renewal links.
type NoLinks struct{}

// Links answers not found.
func (NoLinks) Links(context.Context, jlisapi.CertRef) (*jlisapi.LinkInfo, error) {
	return nil, jlisapi.ErrNotFound
}

// World is a platform on a store of one dialect, with one tenant and a receiver.
type World struct {
	T      testing.TB
	P      *platform.Platform
	St     *store.Store
	Clk    *clockwork.FakeClock // nil on the real clock
	Clock  clockwork.Clock
	Tenant *platform.Tenant
	Recv   *testkit.HookReceiver
}

func NewWorld(t testing.TB, dialect string) *World {
	t.Helper()
	clk := clockwork.NewFakeClockAt(time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC))
	w := NewWorldOn(t, dialect, clk)
	w.Clk = clk
	return w
}

// VerifyingOptions configure a platform over st for verifications with the stub CA, no
// revocation or links, and an evidence log that does not run (a later WithMaster overrides the
// master secret).
func VerifyingOptions(t testing.TB, st evidence.Storage) []platform.Option {
	return []platform.Option{platform.WithMaster(bytes.Repeat([]byte{7}, 32)),
		platform.WithCAs(platform.CA{Name: "sign", Cert: StubCA, Purpose: platform.PurposeIdentity}),
		platform.WithRevocation(NoRevocation{}), platform.WithLinks(NoLinks{}), platform.WithEvidence(testkit.EvidenceLog(t, st))}
}

// NewVerifying is a platform configured for verifications with the stub CA and no revocation
// or links, plus opts.
func NewVerifying(t testing.TB, st *store.Store, opts ...platform.Option) *platform.Platform {
	t.Helper()
	p, err := platform.New(st, append(VerifyingOptions(t, st), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// NewWorldOn is NewWorld on any clock (the benchmark runs on the real one).
func NewWorldOn(t testing.TB, dialect string, clk clockwork.Clock) *World {
	t.Helper()
	st := storetest.Open(t, dialect)
	// The receivers of these tests listen on loopback.
	p := NewVerifying(t, st, platform.WithClock(clk), platform.WithPrivateWebhookTargets())
	ten, err := p.CreateTenant(context.Background(), "Example Bank", platform.AllFacts)
	if err != nil {
		t.Fatal(err)
	}
	w := &World{T: t, P: p, St: st, Clock: clk, Tenant: ten}
	w.Recv = testkit.NewHookReceiver(t, clk)
	return w
}

// Person records an accepted verification of a person by the tenant and returns the person id.
func (w *World) Person(name string) string {
	w.T.Helper()
	at := w.Clock.Now().UTC()
	sid, vid, pid := "s_"+name, "v_"+name, "p_"+name
	if _, _, err := w.St.CreateSession(context.Background(), platform.Session{ID: sid, TenantID: w.Tenant.ID, Purpose: platform.PurposeIdentity,
		Nonce: []byte("n"), HolderToken: "h", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}, ""); err != nil {
		w.T.Fatal(err)
	}
	v := platform.Verification{ID: vid, TenantID: w.Tenant.ID, SessionID: sid, Purpose: platform.PurposeIdentity, Decision: platform.DecisionAccepted,
		PersonID: pid, CertCA: "CA", CertSerial: "1", Cert: []byte("der"), Basic4: &jpki.Basic4{Name: name}, Method: platform.MethodCRL, CreatedAt: at}
	if err := storetest.Complete(context.Background(), w.St, v, []platform.PersonCert{{PersonID: pid, CA: "CA", Serial: name, Kind: "sign", LinkedAt: at}}, nil); err != nil {
		w.T.Fatal(err)
	}
	return pid
}

// KindOf returns the kind of a platform error, -1 for another error or nil.
func KindOf(err error) platform.Kind {
	var e *platform.Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return -1
}
