package platform_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
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

// stubCA is a CA certificate with a key identifier: enough for a platform configured for
// verifications, which webhooks and notices need for the master secret.
var stubCA = func() *x509.Certificate {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stub"}, SubjectKeyId: []byte{1, 2, 3, 4},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0), IsCA: true, BasicConstraintsValid: true}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	c, _ := x509.ParseCertificate(der)
	return c
}()

type noRevocation struct{}

func (noRevocation) Status(context.Context, *x509.Certificate, *x509.Certificate, platform.RevocationOptions) (*platform.RevocationStatus, error) {
	return &platform.RevocationStatus{Method: platform.MethodCRL}, nil
}

type noLinks struct{}

func (noLinks) Links(context.Context, jlisapi.CertRef) (*jlisapi.LinkInfo, error) {
	return nil, jlisapi.ErrNotFound
}

// world is a platform on a store of one dialect, with one tenant and a receiver.
type world struct {
	t      testing.TB
	p      *platform.Platform
	st     *store.Store
	clk    *clockwork.FakeClock // nil on the real clock
	clock  clockwork.Clock
	tenant *platform.Tenant
	recv   *testkit.HookReceiver
}

func newWorld(t testing.TB, dialect string) *world {
	t.Helper()
	clk := clockwork.NewFakeClockAt(time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC))
	w := newWorldOn(t, dialect, clk)
	w.clk = clk
	return w
}

// verifyingOptions configure a platform over st for verifications with the stub CA, no
// revocation or links, and an evidence log that does not run (a later WithMaster overrides the
// master secret).
func verifyingOptions(t testing.TB, st evidence.Storage) []platform.Option {
	return []platform.Option{platform.WithMaster(bytes.Repeat([]byte{7}, 32)),
		platform.WithCAs(platform.CA{Name: "sign", Cert: stubCA, Purpose: platform.PurposeIdentity}),
		platform.WithRevocation(noRevocation{}), platform.WithLinks(noLinks{}), platform.WithEvidence(testkit.EvidenceLog(t, st))}
}

// newVerifying is a platform configured for verifications with the stub CA and no revocation
// or links, plus opts.
func newVerifying(t testing.TB, st *store.Store, opts ...platform.Option) *platform.Platform {
	t.Helper()
	p, err := platform.New(st, append(verifyingOptions(t, st), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newWorldOn is newWorld on any clock (the benchmark runs on the real one).
func newWorldOn(t testing.TB, dialect string, clk clockwork.Clock) *world {
	t.Helper()
	st := storetest.Open(t, dialect)
	// The receivers of these tests listen on loopback.
	p := newVerifying(t, st, platform.WithClock(clk), platform.WithPrivateWebhookTargets())
	ten, err := p.CreateTenant(ctx, "Example Bank", platform.AllFacts)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, p: p, st: st, clock: clk, tenant: ten}
	w.recv = testkit.NewHookReceiver(t, clk)
	return w
}

// person records an accepted verification of a person by the tenant and returns the person id.
func (w *world) person(name string) string {
	w.t.Helper()
	at := w.clock.Now().UTC()
	sid, vid, pid := "s_"+name, "v_"+name, "p_"+name
	if _, _, err := w.st.CreateSession(ctx, platform.Session{ID: sid, TenantID: w.tenant.ID, Purpose: platform.PurposeIdentity,
		Nonce: []byte("n"), HolderToken: "h", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}, ""); err != nil {
		w.t.Fatal(err)
	}
	v := platform.Verification{ID: vid, TenantID: w.tenant.ID, SessionID: sid, Purpose: platform.PurposeIdentity, Decision: platform.DecisionAccepted,
		PersonID: pid, CertCA: "CA", CertSerial: "1", Cert: []byte("der"), Basic4: &jpki.Basic4{Name: name}, Method: platform.MethodCRL, CreatedAt: at}
	if err := storetest.Complete(ctx, w.st, v, []platform.PersonCert{{PersonID: pid, CA: "CA", Serial: name, Kind: "sign", LinkedAt: at}}, nil); err != nil {
		w.t.Fatal(err)
	}
	return pid
}

// events appends n events about person, in order, as revocation notices do; it returns their ids.
func (w *world) events(person string, n int) []string {
	w.t.Helper()
	at := w.clock.Now().UTC()
	var notices []platform.RevocationNotice
	var ids []string
	for i := range n {
		serial := fmt.Sprintf("%s%03d", person, i)
		id := w.p.EventID(platform.EventCertificateRevoked, w.tenant.ID, "CA", serial)
		body, _ := json.Marshal(map[string]any{"type": platform.EventCertificateRevoked, "data": map[string]any{"serial": serial, "n": i}})
		notices = append(notices, platform.RevocationNotice{CA: "CA", Serial: serial, PersonID: person, Reason: 1, RevokedAt: at, CRL: "sign#1",
			NoticedAt: at, FollowUp: platform.FollowUpDone, FollowUpAt: at,
			Events: []platform.Event{{ID: id, TenantID: w.tenant.ID, Type: platform.EventCertificateRevoked, Payload: body, CreatedAt: at}}})
		ids = append(ids, id)
	}
	if _, err := w.st.RecordRevocations(ctx, notices); err != nil {
		w.t.Fatal(err)
	}
	return ids
}

func (w *world) endpoint(opts ...func(*platform.WebhookEndpointRequest)) *platform.WebhookEndpoint {
	w.t.Helper()
	req := platform.WebhookEndpointRequest{URL: w.recv.URL() + "/hooks"}
	for _, o := range opts {
		o(&req)
	}
	ep, secret, err := w.p.CreateWebhookEndpoint(ctx, w.tenant, req)
	if err != nil {
		w.t.Fatal(err)
	}
	w.recv.AddSecret(secret)
	return ep
}

// drain runs delivery cycles until one attempts nothing.
func drain(t *testing.T, d *platform.Deliverer) int {
	t.Helper()
	total := 0
	for range 1000 {
		n, err := d.Cycle(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
	t.Fatal("delivery does not settle")
	return total
}

func forEachDialect(t *testing.T, f func(t *testing.T, w *world)) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f(t, newWorld(t, d))
		})
	}
}

func TestDeliveryInOrderAndSigned(t *testing.T) {
	forEachDialect(t, func(t *testing.T, w *world) {
		w.endpoint()
		a, b := w.person("aaa"), w.person("bbb")
		idsA := w.events(a, 5)
		idsB := w.events(b, 3)
		d, err := platform.NewDeliverer(w.p, platform.WithDeliveryWorkers(1, 4))
		if err != nil {
			t.Fatal(err)
		}
		drain(t, d)
		got := w.recv.Messages()
		if len(got) != 8 || w.recv.Refused() != 0 {
			t.Fatalf("received %d messages (%d refused), want 8", len(got), w.recv.Refused())
		}
		// One person's events arrive in the order they were written.
		for _, ids := range [][]string{idsA, idsB} {
			j := 0
			for _, m := range got {
				if j < len(ids) && m.ID == ids[j] {
					j++
				}
			}
			if j != len(ids) {
				t.Errorf("events %v did not arrive in order: %v", ids, got)
			}
		}
		ds, err := w.p.Deliveries(ctx, w.tenant, platform.DeliveryQuery{State: platform.DeliveryDelivered})
		if err != nil || len(ds) != 8 {
			t.Fatalf("delivered %d, %v", len(ds), err)
		}
		if ds[0].LastStatus != http.StatusNoContent || ds[0].Attempts != 1 {
			t.Errorf("delivery %+v", ds[0])
		}
	})
}

func TestDeliveryRetriesThenDeadLetter(t *testing.T) {
	forEachDialect(t, func(t *testing.T, w *world) {
		w.endpoint()
		ids := w.events(w.person("ccc"), 2)
		policy := platform.RetryPolicy{MaxAttempts: 4, Base: 10 * time.Second, Max: time.Hour}
		d, err := platform.NewDeliverer(w.p, platform.WithRetryPolicy(policy), platform.WithDeliveryWorkers(1, 8))
		if err != nil {
			t.Fatal(err)
		}
		// The receiver is down for the first two attempts of the first event.
		w.recv.FailNext(2)
		if n := drain(t, d); n != 1 {
			t.Fatalf("first cycle attempted %d, want 1: the second event waits behind the first", n)
		}
		for attempt := 1; attempt <= 2; attempt++ {
			ds, _ := w.p.Deliveries(ctx, w.tenant, platform.DeliveryQuery{EventID: ids[0]})
			wait := ds[0].NextAttemptAt.Sub(w.clk.Now())
			full := []time.Duration{10 * time.Second, 30 * time.Second}[attempt-1] // Base·3^(n-1)
			if wait < full/2 || wait >= full || ds[0].LastStatus != 503 {
				t.Fatalf("after failure %d: retry in %s (want [%s, %s)), status %d", attempt, wait, full/2, full, ds[0].LastStatus)
			}
			w.clk.Advance(wait - time.Second)
			if n := drain(t, d); n != 0 {
				t.Fatalf("retried %d before the backoff ended", n)
			}
			w.clk.Advance(time.Second)
			drain(t, d)
		}
		got := w.recv.Messages()
		if len(got) != 2 || got[0].ID != ids[0] || got[1].ID != ids[1] {
			t.Fatalf("after the outage: %+v", got)
		}
		if w.recv.Attempts()[ids[0]] != 3 {
			t.Errorf("event 1 was attempted %d times with its id, want 3", w.recv.Attempts()[ids[0]])
		}

		// A receiver that stays down: the delivery dies after the last attempt, and is
		// redelivered, with the same id, once it is back.
		late := w.events(w.person("ddd"), 1)[0]
		w.recv.FailNext(1 << 30)
		for range policy.MaxAttempts {
			drain(t, d)
			w.clk.Advance(policy.Max)
		}
		dead, _ := w.p.Deliveries(ctx, w.tenant, platform.DeliveryQuery{State: platform.DeliveryDead})
		if len(dead) != 1 || dead[0].EventID != late || dead[0].Attempts != policy.MaxAttempts || dead[0].LastError != "HTTP 503" {
			t.Fatalf("dead letters %+v", dead)
		}
		w.recv.FailNext(0)
		if n := drain(t, d); n != 0 {
			t.Fatalf("a dead letter was attempted again by itself (%d)", n)
		}
		n, err := w.p.RedeliverDead(ctx, w.tenant, dead[0].EndpointID)
		if err != nil || n != 1 {
			t.Fatalf("RedeliverDead = %d, %v", n, err)
		}
		drain(t, d)
		got = w.recv.Messages()
		if last := got[len(got)-1]; last.ID != late {
			t.Errorf("redelivered %s, want %s", last.ID, late)
		}
		// Redelivery of a delivered event by id.
		if n, err := w.p.RedeliverEvent(ctx, w.tenant, ids[0], ""); err != nil || n != 1 {
			t.Fatalf("RedeliverEvent = %d, %v", n, err)
		}
		drain(t, d)
		if got := w.recv.Messages(); got[len(got)-1].ID != ids[0] {
			t.Errorf("redelivery carried id %s, want %s", got[len(got)-1].ID, ids[0])
		}
		if _, err := w.p.RedeliverEvent(ctx, w.tenant, "evt_nope", ""); kindOf(err) != platform.KindNotFound {
			t.Errorf("redelivering an unknown event: %v", err)
		}
	})
}

func TestSecretRotation(t *testing.T) {
	w := newWorld(t, store.DialectSQLite)
	ep := w.endpoint()
	oldSecret := w.recv.Secrets()[0]
	d, err := platform.NewDeliverer(w.p)
	if err != nil {
		t.Fatal(err)
	}
	newSecret, retire, err := w.p.RotateWebhookSecret(ctx, w.tenant, ep.ID, time.Hour)
	if err != nil || !retire.Equal(w.clk.Now().Add(time.Hour)) || newSecret == oldSecret {
		t.Fatalf("rotate: %v %v", retire, err)
	}
	// During the grace period either secret verifies; after it only the new one.
	i := 0
	for _, step := range []struct {
		secret  string
		advance time.Duration
		ok      bool
	}{{oldSecret, 0, true}, {newSecret, 0, true}, {oldSecret, 2 * time.Hour, false}, {newSecret, 0, true}} {
		i++
		w.clk.Advance(step.advance)
		w.recv.SetSecrets(step.secret)
		w.recv.Forget()
		w.events(w.person(fmt.Sprintf("r%d", i)), 1)
		d.Cycle(ctx)
		if ok := len(w.recv.Messages()) == 1; ok != step.ok {
			t.Errorf("secret %s… after %s: delivered %v, want %v (refused %d)", step.secret[:10], step.advance, ok, step.ok, w.recv.Refused())
		}
		if !step.ok {
			// Let the failed delivery go: disable nothing, just mark the receiver happy again.
			w.recv.SetSecrets(newSecret)
			w.clk.Advance(time.Hour)
			drain(t, d)
		}
	}
	if _, _, err := w.p.RotateWebhookSecret(ctx, w.tenant, ep.ID, 8*24*time.Hour); kindOf(err) != platform.KindInvalid {
		t.Errorf("a grace of 8 days: %v", err)
	}
	if _, _, err := w.p.CreateWebhookEndpoint(ctx, w.tenant, platform.WebhookEndpointRequest{URL: "ftp://x"}); kindOf(err) != platform.KindInvalid {
		t.Errorf("ftp endpoint: %v", err)
	}
	if _, _, err := w.p.CreateWebhookEndpoint(ctx, w.tenant, platform.WebhookEndpointRequest{URL: "https://x/", EventTypes: []string{"user.created"}}); kindOf(err) != platform.KindInvalid {
		t.Errorf("unknown event type: %v", err)
	}
}

// TestDeliveryShutdownAndCrash stops a worker while its attempts are in flight — once by the
// shutdown protocol, once as a crash that never records anything — and checks that every event
// still arrives, with the id it had.
func TestDeliveryShutdownAndCrash(t *testing.T) {
	forEachDialect(t, func(t *testing.T, w *world) {
		w.endpoint()
		var ids []string
		for i := range 4 {
			ids = append(ids, w.events(w.person(fmt.Sprintf("s%d", i)), 1)...)
		}
		hold := make(chan struct{})
		w.recv.Hold(hold)
		d, err := platform.NewDeliverer(w.p, platform.WithDeliveryWorkers(2, 2), platform.WithLease(time.Minute),
			platform.WithDeliveryHTTPClient(&http.Client{Timeout: 30 * time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { d.Run(runCtx); close(done) }()
		d.Wake()
		waitFor(t, func() bool { return w.recv.Holding() == 4 })
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
		ds, _ := w.p.Deliveries(ctx, w.tenant, platform.DeliveryQuery{})
		for _, dl := range ds {
			if dl.State != platform.DeliveryPending || dl.LastError != "interrupted by shutdown" || dl.NextAttemptAt.After(w.clk.Now()) || dl.Claim != "" {
				t.Errorf("after shutdown: %+v", dl)
			}
		}
		// The interrupted requests must be gone on the receiver's side too before it is
		// released, or a late one would be counted as a delivery below.
		waitFor(t, func() bool { return w.recv.Holding() == 0 })
		// A crash: a worker claims and dies without a word.
		w.recv.Hold(nil)
		close(hold)
		now := w.clk.Now()
		claimed, err := w.st.ClaimDeliveries(ctx, now, now.Add(time.Minute), "crashed-worker", 2)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("crash claim: %d %v", len(claimed), err)
		}
		d2, _ := platform.NewDeliverer(w.p, platform.WithLease(time.Minute))
		drain(t, d2)
		if got := len(w.recv.Messages()); got != 2 {
			t.Fatalf("before the lease ends %d delivered, want the 2 not held by the dead worker", got)
		}
		w.clk.Advance(time.Minute)
		drain(t, d2)
		got := map[string]bool{}
		for _, m := range w.recv.Messages() {
			got[m.ID] = true
		}
		for _, id := range ids {
			if !got[id] {
				t.Errorf("event %s never arrived", id)
			}
		}
		for id, n := range w.recv.Attempts() {
			if n < 2 && got[id] {
				t.Errorf("event %s: %d attempts; the interrupted one and the final one should share its id", id, n)
			}
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRetryPolicyDelay(t *testing.T) {
	rp := platform.DefaultRetryPolicy
	prev := time.Duration(0)
	for n := 1; n <= rp.MaxAttempts; n++ {
		lo, hi := rp.Delay(n, 0), rp.Delay(n, 0.999999)
		if lo < prev/2 || hi > rp.Max || hi < lo {
			t.Errorf("attempt %d: delay in [%s, %s]", n, lo, hi)
		}
		prev = lo
	}
	if rp.Delay(1, 0) != 2500*time.Millisecond || rp.Delay(3, 0) != 22500*time.Millisecond || rp.Delay(50, 0) != 3*time.Hour {
		t.Errorf("delays %s %s %s", rp.Delay(1, 0), rp.Delay(3, 0), rp.Delay(50, 0))
	}
}
