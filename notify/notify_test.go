package notify_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/platformtest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/notify"
	"github.com/mynagate/mynagate/platform"
)

var ctx = context.Background()

// env is a notifier beside a platform that trusts a served J-LIS simulator, over the real
// store; the latest basic 4 facts come from the simulator unless a test says otherwise.
type env struct {
	*platformtest.JLIS
	n *notify.Notifier
}

func newEnv(t *testing.T, opts ...notify.Option) *env {
	t.Helper()
	e := &env{JLIS: platformtest.NewJLIS(t)}
	n, err := notify.New(e.P, append([]notify.Option{notify.WithBasic4Source(e.Trust.Client)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e.n = n
	return e
}

// endpoint gives a tenant a webhook endpoint, so that its events become deliveries.
func (e *env) endpoint(ten *platform.Tenant) {
	e.T.Helper()
	if _, _, err := e.P.CreateWebhookEndpoint(ctx, ten, platform.WebhookEndpointRequest{URL: "https://hooks.example.com/" + ten.ID}); err != nil {
		e.T.Fatal(err)
	}
}

// event is a webhook payload as a tenant receives it.
type event struct {
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
}

// events returns the tenant's events of a type as its endpoint gets them: dispatched from the
// outbox to its deliveries.
func (e *env) events(ten *platform.Tenant, typ string) []event {
	e.T.Helper()
	ws, err := e.P.Webhooks()
	if err != nil {
		e.T.Fatal(err)
	}
	for {
		n, err := ws.DispatchEvents(ctx, e.Clk.Now(), 100)
		if err != nil {
			e.T.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	ds, err := e.P.Deliveries(ctx, ten, platform.DeliveryQuery{})
	if err != nil {
		e.T.Fatal(err)
	}
	var out []event
	for _, d := range ds {
		if d.EventType != typ {
			continue
		}
		var ev event
		if err := json.Unmarshal(d.Payload, &ev); err != nil || ev.Type != typ {
			e.T.Fatalf("payload %s: %v", d.Payload, err)
		}
		out = append(out, ev)
	}
	return out
}

// onCRL publishes the CRLs, has the platform read them, and returns the CRL of the CA that
// issued cert with cert's entry on it, as the fetcher hands them to the notifier.
func (e *env) onCRL(certDER []byte) (notify.CRLRef, []notify.RevokedCert, func(string) (bool, time.Time, int)) {
	e.T.Helper()
	e.RefreshCRLs()
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		e.T.Fatal(err)
	}
	for _, ca := range e.Trust.CAs {
		if string(ca.Cert.SubjectKeyId) != string(cert.AuthorityKeyId) {
			continue
		}
		st, ok := e.Trust.Fetcher.State(ca.Name)
		if !ok || st.Index == nil {
			e.T.Fatalf("no CRL of %s", ca.Name)
		}
		ref := notify.CRLRef{CA: platform.CAKey(ca.Cert), Name: ca.Name, Number: st.Index.Metadata().Number.String()}
		lookup := func(serial string) (bool, time.Time, int) {
			revoked, at, reason := st.Index.LookupText(serial)
			return revoked, at, int(reason)
		}
		serial := platform.SerialHex(cert.SerialNumber)
		revoked, at, reason := lookup(serial)
		if !revoked {
			e.T.Fatalf("certificate %s is not on the CRL of %s", serial, ca.Name)
		}
		return ref, []notify.RevokedCert{{Serial: serial, RevokedAt: at, Reason: reason}}, lookup
	}
	e.T.Fatal("no trusted CA issued the certificate")
	return notify.CRLRef{}, nil, nil
}

func moved() jpki.Basic4 {
	b := testkit.Taro()
	b.Address = "東京都清瀬市中里５丁目８４２番地"
	return b
}

// A revoked certificate of a watched person becomes one certificate.revoked event per tenant
// that verified the person, under that tenant's pairwise id, with the certificate only for a
// tenant allowed it; a tenant that never verified the person hears nothing; reading the CRL
// again repeats nothing.
func TestRevocationBecomesEvents(t *testing.T) {
	e := newEnv(t)
	shop := e.TenantWith("Example Shop", platform.FactName)
	stranger := e.TenantWith("Stranger", platform.AllFacts...)
	for _, ten := range []*platform.Tenant{e.Tenant, shop, stranger} {
		e.endpoint(ten)
	}
	cf := e.Card(testkit.Taro())
	person := e.Verified(e.Tenant, cf, platform.PurposeIdentity).PersonID
	e.Verified(shop, cf, platform.PurposeIdentity)
	e.Verified(stranger, e.Card(testkit.Hanako()), platform.PurposeIdentity)
	if _, err := e.Sim.RevokeCard(ctx, cf, jlis.CauseLost, e.Clk.Now(), jpki.KindSign); err != nil {
		t.Fatal(err)
	}
	ref, revoked, _ := e.onCRL(cf.Sign.Cert)

	if n, err := e.n.CertificatesRevoked(ctx, ref, revoked); err != nil || n != 1 {
		t.Fatalf("CertificatesRevoked: %d notices, %v; want 1", n, err)
	}
	bank := e.events(e.Tenant, platform.EventCertificateRevoked)
	if len(bank) != 1 {
		t.Fatalf("the bank got %d certificate.revoked events, want 1", len(bank))
	}
	d := bank[0].Data
	cert, _ := d["certificate"].(map[string]any)
	if d["sub"] != e.P.PairwiseID(e.Tenant.ID, person) || d["reason"] != "keyCompromise" || d["reason_code"] != 1.0 ||
		d["crl"] != ref.String() || cert == nil || cert["serial"] != revoked[0].Serial || cert["issuer_key_id"] != ref.CA {
		t.Errorf("the bank's event: %v", d)
	}
	sh := e.events(shop, platform.EventCertificateRevoked)
	if len(sh) != 1 || sh[0].Data["sub"] != e.P.PairwiseID(shop.ID, person) || sh[0].Data["certificate"] != nil {
		t.Errorf("the shop's events %v: want one under its own pairwise id, without the certificate", sh)
	}
	if got := e.events(stranger, platform.EventCertificateRevoked); len(got) != 0 {
		t.Errorf("a tenant that never verified the person got %v", got)
	}
	if got := e.events(e.Tenant, platform.EventBasic4Updated); len(got) != 0 {
		t.Errorf("a lost card sent basic-4 updates: %v", got)
	}

	if n, err := e.n.CertificatesRevoked(ctx, ref, revoked); err != nil || n != 0 {
		t.Errorf("the same CRL again: %d notices, %v; want 0", n, err)
	}
	if n := len(e.events(e.Tenant, platform.EventCertificateRevoked)); n != 1 {
		t.Errorf("after reading the CRL again the bank has %d events, want still 1", n)
	}
	// A revoked certificate nobody verified is no notice.
	unseen := e.Card(testkit.Hanako())
	if _, err := e.Sim.RevokeCard(ctx, unseen, jlis.CauseLost, e.Clk.Now(), jpki.KindSign); err != nil {
		t.Fatal(err)
	}
	ref, revoked, _ = e.onCRL(unseen.Sign.Cert)
	if n, err := e.n.CertificatesRevoked(ctx, ref, revoked); err != nil || n != 0 {
		t.Errorf("an unknown certificate: %d notices, %v", n, err)
	}
}

// After a move (revocation for affiliationChanged) J-LIS is asked for the latest facts for
// each tenant holding the holder's consent, which gets person.basic4_updated naming the facts
// it may see; a tenant without consent, or allowed no fact, gets no facts. The new signing
// certificate is linked to the person.
func TestMoveSendsFactsOnlyWithConsent(t *testing.T) {
	e := newEnv(t)
	nameOnly := e.TenantWith("Name Only", platform.FactName)
	noConsent := e.TenantWith("No Consent", platform.AllFacts...)
	noFacts := e.TenantWith("No Facts")
	for _, ten := range []*platform.Tenant{e.Tenant, nameOnly, noConsent, noFacts} {
		e.endpoint(ten)
	}
	cf := e.Card(testkit.Taro())
	person := e.Verified(e.Tenant, cf, platform.PurposeIdentity, platform.ScopeBasic4Updates).PersonID
	e.Verified(nameOnly, cf, platform.PurposeIdentity, platform.ScopeBasic4Updates)
	e.Verified(noConsent, cf, platform.PurposeIdentity)
	e.Verified(noFacts, cf, platform.PurposeIdentity, platform.ScopeBasic4Updates)

	next, err := e.Sim.Change(ctx, cf, moved(), jlis.CauseMove, jlis.WithNewSigningCertificate(jlis.DefaultSignPassword))
	if err != nil {
		t.Fatal(err)
	}
	ref, revoked, _ := e.onCRL(cf.Sign.Cert)
	if revoked[0].Reason != platform.ReasonAffiliationChanged {
		t.Fatalf("a move is reason %d on the CRL, want affiliationChanged", revoked[0].Reason)
	}
	if n, err := e.n.CertificatesRevoked(ctx, ref, revoked); err != nil || n != 1 {
		t.Fatalf("CertificatesRevoked: %d, %v", n, err)
	}
	for _, c := range []struct {
		ten     *platform.Tenant
		changed []string // nil: no event
		cause   bool
	}{
		{e.Tenant, []string{"address", "birthdate", "name", "sex"}, true},
		{nameOnly, []string{"name"}, false},
		{noConsent, nil, false},
		{noFacts, nil, false},
	} {
		if n := len(e.events(c.ten, platform.EventCertificateRevoked)); n != 1 {
			t.Errorf("%s: %d certificate.revoked events, want 1", c.ten.Name, n)
		}
		got := e.events(c.ten, platform.EventBasic4Updated)
		if c.changed == nil {
			if len(got) != 0 {
				t.Errorf("%s got basic-4 updates %v", c.ten.Name, got)
			}
			continue
		}
		if len(got) != 1 {
			t.Errorf("%s: %d basic-4 updates, want 1", c.ten.Name, len(got))
			continue
		}
		d := got[0].Data
		var changed []string
		for _, f := range d["changed"].([]any) {
			changed = append(changed, f.(string))
		}
		if !slices.Equal(changed, c.changed) || d["sub"] != e.P.PairwiseID(c.ten.ID, person) || (d["cause"] != nil) != c.cause || d["deceased"] != false {
			t.Errorf("%s's update %v: want changed %v, cause %v", c.ten.Name, d, c.changed, c.cause)
		}
	}
	// The values themselves are read by the tenant, with the consent in force.
	sub := e.P.PairwiseID(e.Tenant.ID, person)
	latest, err := e.P.LatestFacts(ctx, e.Tenant, sub)
	if err != nil || latest.Facts[platform.FactAddress] != moved().Address || latest.Sub != sub {
		t.Errorf("latest facts %+v, %v; want the new address", latest, err)
	}
	if _, err := e.P.LatestFacts(ctx, noConsent, e.P.PairwiseID(noConsent.ID, person)); platform.AsError(err).Type != "consent-required" {
		t.Errorf("latest facts without consent: %v", err)
	}
	// The new signing certificate is the person's without asking J-LIS again.
	nc, err := x509.ParseCertificate(next.Sign.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.St.PersonByCert(ctx, ref.CA, platform.SerialHex(nc.SerialNumber)); err != nil || got != person {
		t.Errorf("the successor certificate is linked to %q (%v), want %s", got, err, person)
	}
}

// flakyBasic4 is J-LIS's basic-4 service that is down until up is set.
type flakyBasic4 struct {
	src   platform.Basic4Source
	up    atomic.Bool
	calls atomic.Int64
}

func (f *flakyBasic4) LatestBasic4(ctx context.Context, ref jlisapi.CertRef, requester, consentRef string) (*jlisapi.Basic4, error) {
	f.calls.Add(1)
	if !f.up.Load() {
		return nil, errors.New("J-LIS: connection refused")
	}
	return f.src.LatestBasic4(ctx, ref, requester, consentRef)
}

// While J-LIS is down the follow-up of a move fails and is retried with backoff; once J-LIS is
// back the update goes out exactly once. A follow-up that keeps failing is given up after its
// last try.
func TestFollowUpRetriedWhileJLISDown(t *testing.T) {
	for _, c := range []struct {
		name     string
		backAt   int // the try at which J-LIS answers; 0: never
		maxTries int
		updates  int
	}{{"back on the third try", 3, 5, 1}, {"given up after two", 0, 2, 0}} {
		t.Run(c.name, func(t *testing.T) {
			flaky := &flakyBasic4{}
			e := newEnv(t, notify.WithFollowUpPolicy(c.maxTries, time.Minute))
			flaky.src = e.Trust.Client
			n, err := notify.New(e.P, notify.WithBasic4Source(flaky), notify.WithFollowUpPolicy(c.maxTries, time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			e.endpoint(e.Tenant)
			cf := e.Card(testkit.Taro())
			e.Verified(e.Tenant, cf, platform.PurposeIdentity, platform.ScopeBasic4Updates)
			if _, err := e.Sim.Change(ctx, cf, moved(), jlis.CauseMove); err != nil {
				t.Fatal(err)
			}
			ref, revoked, _ := e.onCRL(cf.Sign.Cert)
			if k, err := n.CertificatesRevoked(ctx, ref, revoked); err != nil || k != 1 {
				t.Fatalf("CertificatesRevoked: %d, %v (a failed follow-up is not the notice's failure)", k, err)
			}
			if got := e.events(e.Tenant, platform.EventCertificateRevoked); len(got) != 1 {
				t.Fatalf("certificate.revoked events %d, want 1 while J-LIS is down", len(got))
			}
			if done, err := n.FollowUp(ctx); done != 0 || err != nil {
				t.Errorf("a follow-up retried before its backoff: %d, %v", done, err)
			}
			for try := 2; try <= c.maxTries+1; try++ {
				flaky.up.Store(try == c.backAt)
				e.Clk.Advance(time.Hour) // past any backoff so far
				done, err := n.FollowUp(ctx)
				switch {
				case try == c.backAt:
					if done != 1 || err != nil {
						t.Errorf("try %d with J-LIS back: %d done, %v", try, done, err)
					}
				case try > c.maxTries:
					if done != 0 || err != nil {
						t.Errorf("try %d after the last: %d done, %v; want nothing claimed", try, done, err)
					}
				case done != 0 || err == nil:
					t.Errorf("try %d with J-LIS down: %d done, %v; want the failure", try, done, err)
				}
				if try == c.backAt {
					break
				}
			}
			if got := e.events(e.Tenant, platform.EventBasic4Updated); len(got) != c.updates {
				t.Errorf("%d basic-4 updates, want %d", len(got), c.updates)
			}
			calls := flaky.calls.Load()
			e.Clk.Advance(24 * time.Hour)
			flaky.up.Store(true)
			if done, err := n.FollowUp(ctx); done != 0 || err != nil || flaky.calls.Load() != calls {
				t.Errorf("a finished or given-up follow-up ran again: %d, %v", done, err)
			}
			if got := e.events(e.Tenant, platform.EventBasic4Updated); len(got) != c.updates {
				t.Errorf("afterwards %d basic-4 updates, want %d", len(got), c.updates)
			}
		})
	}
}

// Revocations published while a node was down are noticed by Reconcile against the whole CRL,
// once; work that failed is kept and retried by Run, so nothing is lost.
func TestReconcileAndRetry(t *testing.T) {
	e := newEnv(t, notify.WithPoll(10*time.Second))
	e.endpoint(e.Tenant)
	a, b := e.Card(testkit.Taro()), e.Card(testkit.Hanako())
	e.Verified(e.Tenant, a, platform.PurposeIdentity)
	e.Verified(e.Tenant, b, platform.PurposeIdentity)
	if _, err := e.Sim.RevokeCard(ctx, a, jlis.CauseHolderRequest, e.Clk.Now(), jpki.KindSign); err != nil {
		t.Fatal(err)
	}
	ref, _, lookup := e.onCRL(a.Sign.Cert)
	if n, err := e.n.Reconcile(ctx, ref, lookup); err != nil || n != 1 {
		t.Fatalf("Reconcile: %d, %v; want the one revoked certificate", n, err)
	}
	if n, err := e.n.Reconcile(ctx, ref, lookup); err != nil || n != 0 {
		t.Errorf("Reconcile again: %d, %v", n, err)
	}
	if got := e.events(e.Tenant, platform.EventCertificateRevoked); len(got) != 1 {
		t.Fatalf("%d events after reconciling, want 1", len(got))
	}

	// The store cannot be reached (the request's context ends): the work is kept.
	if _, err := e.Sim.RevokeCard(ctx, b, jlis.CauseHolderRequest, e.Clk.Now(), jpki.KindSign); err != nil {
		t.Fatal(err)
	}
	ref, revoked, _ := e.onCRL(b.Sign.Cert)
	dead, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.n.CertificatesRevoked(dead, ref, revoked); err == nil || e.n.Pending() != 1 {
		t.Fatalf("CertificatesRevoked on a dead context: %v, %d pending; want an error and the work kept", err, e.n.Pending())
	}
	run, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { e.n.Run(run); close(done) }()
	if err := e.Clk.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	e.Clk.Advance(10 * time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for e.n.Pending() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	if e.n.Pending() != 0 {
		t.Fatalf("the kept work is still pending after Run's poll")
	}
	if got := e.events(e.Tenant, platform.EventCertificateRevoked); len(got) != 2 {
		t.Errorf("%d events after the retry, want 2", len(got))
	}
}

// A notifier needs a platform configured for verifications, a try and a positive lease.
func TestNewRefuses(t *testing.T) {
	e := platformtest.NewJLIS(t)
	for name, opts := range map[string][]notify.Option{
		"no tries":       {notify.WithFollowUpPolicy(0, time.Minute)},
		"no lease":       {notify.WithFollowUpPolicy(3, 0)},
		"no poll period": {notify.WithPoll(0)},
	} {
		if _, err := notify.New(e.P, opts...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	op, err := platform.New(e.St)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := notify.New(op); err == nil {
		t.Error("a platform not configured for verifications was accepted")
	}
	if got := (notify.CRLRef{Name: "sign", Number: "7"}).String(); got != "sign#7" {
		t.Errorf("CRLRef %q", got)
	}
}
