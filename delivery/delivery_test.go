package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/mynagate/mynagate/delivery"
	"github.com/mynagate/mynagate/internal/platformtest"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

var ctx = context.Background()

// events appends n events about person, in order, as revocation notices do; it returns their ids.
func events(w *platformtest.World, person string, n int) []string {
	w.T.Helper()
	at := w.Clock.Now().UTC()
	var notices []platform.RevocationNotice
	var ids []string
	for i := range n {
		serial := fmt.Sprintf("%s%03d", person, i)
		id := w.P.EventID(platform.EventCertificateRevoked, w.Tenant.ID, "CA", serial)
		body, _ := json.Marshal(map[string]any{"type": platform.EventCertificateRevoked, "data": map[string]any{"serial": serial, "n": i}})
		notices = append(notices, platform.RevocationNotice{CA: "CA", Serial: serial, PersonID: person, Reason: 1, RevokedAt: at, CRL: "sign#1",
			NoticedAt: at, FollowUp: platform.FollowUpDone, FollowUpAt: at,
			Events: []platform.Event{{ID: id, TenantID: w.Tenant.ID, Type: platform.EventCertificateRevoked, Payload: body, CreatedAt: at}}})
		ids = append(ids, id)
	}
	if _, err := w.St.RecordRevocations(ctx, notices); err != nil {
		w.T.Fatal(err)
	}
	return ids
}

func endpoint(w *platformtest.World, opts ...func(*platform.WebhookEndpointRequest)) *platform.WebhookEndpoint {
	w.T.Helper()
	req := platform.WebhookEndpointRequest{URL: w.Recv.URL() + "/hooks"}
	for _, o := range opts {
		o(&req)
	}
	ep, secret, err := w.P.CreateWebhookEndpoint(ctx, w.Tenant, req)
	if err != nil {
		w.T.Fatal(err)
	}
	w.Recv.AddSecret(secret)
	return ep
}

// drain runs delivery cycles until one attempts nothing.
func drain(t *testing.T, d *delivery.Deliverer) int {
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

func forEachDialect(t *testing.T, f func(t *testing.T, w *platformtest.World)) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f(t, platformtest.NewWorld(t, d))
		})
	}
}

func TestDeliveryInOrderAndSigned(t *testing.T) {
	forEachDialect(t, func(t *testing.T, w *platformtest.World) {
		endpoint(w)
		a, b := w.Person("aaa"), w.Person("bbb")
		idsA := events(w, a, 5)
		idsB := events(w, b, 3)
		d, err := delivery.New(w.P, delivery.WithWorkers(1, 4))
		if err != nil {
			t.Fatal(err)
		}
		drain(t, d)
		got := w.Recv.Messages()
		if len(got) != 8 || w.Recv.Refused() != 0 {
			t.Fatalf("received %d messages (%d refused), want 8", len(got), w.Recv.Refused())
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
		ds, err := w.P.Deliveries(ctx, w.Tenant, platform.DeliveryQuery{State: platform.DeliveryDelivered})
		if err != nil || len(ds) != 8 {
			t.Fatalf("delivered %d, %v", len(ds), err)
		}
		if ds[0].LastStatus != http.StatusNoContent || ds[0].Attempts != 1 {
			t.Errorf("delivery %+v", ds[0])
		}
	})
}

func TestDeliveryRetriesThenDeadLetter(t *testing.T) {
	forEachDialect(t, func(t *testing.T, w *platformtest.World) {
		endpoint(w)
		ids := events(w, w.Person("ccc"), 2)
		policy := delivery.RetryPolicy{MaxAttempts: 4, Base: 10 * time.Second, Max: time.Hour}
		d, err := delivery.New(w.P, delivery.WithRetryPolicy(policy), delivery.WithWorkers(1, 8))
		if err != nil {
			t.Fatal(err)
		}
		// The receiver is down for the first two attempts of the first event.
		w.Recv.FailNext(2)
		if n := drain(t, d); n != 1 {
			t.Fatalf("first cycle attempted %d, want 1: the second event waits behind the first", n)
		}
		for attempt := 1; attempt <= 2; attempt++ {
			ds, _ := w.P.Deliveries(ctx, w.Tenant, platform.DeliveryQuery{EventID: ids[0]})
			wait := ds[0].NextAttemptAt.Sub(w.Clk.Now())
			full := []time.Duration{10 * time.Second, 30 * time.Second}[attempt-1] // Base·3^(n-1)
			if wait < full/2 || wait >= full || ds[0].LastStatus != 503 {
				t.Fatalf("after failure %d: retry in %s (want [%s, %s)), status %d", attempt, wait, full/2, full, ds[0].LastStatus)
			}
			w.Clk.Advance(wait - time.Second)
			if n := drain(t, d); n != 0 {
				t.Fatalf("retried %d before the backoff ended", n)
			}
			w.Clk.Advance(time.Second)
			drain(t, d)
		}
		got := w.Recv.Messages()
		if len(got) != 2 || got[0].ID != ids[0] || got[1].ID != ids[1] {
			t.Fatalf("after the outage: %+v", got)
		}
		if w.Recv.Attempts()[ids[0]] != 3 {
			t.Errorf("event 1 was attempted %d times with its id, want 3", w.Recv.Attempts()[ids[0]])
		}

		// A receiver that stays down: the delivery dies after the last attempt, and is
		// redelivered, with the same id, once it is back.
		late := events(w, w.Person("ddd"), 1)[0]
		w.Recv.FailNext(1 << 30)
		for range policy.MaxAttempts {
			drain(t, d)
			w.Clk.Advance(policy.Max)
		}
		dead, _ := w.P.Deliveries(ctx, w.Tenant, platform.DeliveryQuery{State: platform.DeliveryDead})
		if len(dead) != 1 || dead[0].EventID != late || dead[0].Attempts != policy.MaxAttempts || dead[0].LastError != "HTTP 503" {
			t.Fatalf("dead letters %+v", dead)
		}
		w.Recv.FailNext(0)
		if n := drain(t, d); n != 0 {
			t.Fatalf("a dead letter was attempted again by itself (%d)", n)
		}
		n, err := w.P.RedeliverDead(ctx, w.Tenant, dead[0].EndpointID)
		if err != nil || n != 1 {
			t.Fatalf("RedeliverDead = %d, %v", n, err)
		}
		drain(t, d)
		got = w.Recv.Messages()
		if last := got[len(got)-1]; last.ID != late {
			t.Errorf("redelivered %s, want %s", last.ID, late)
		}
		// Redelivery of a delivered event by id.
		if n, err := w.P.RedeliverEvent(ctx, w.Tenant, ids[0], ""); err != nil || n != 1 {
			t.Fatalf("RedeliverEvent = %d, %v", n, err)
		}
		drain(t, d)
		if got := w.Recv.Messages(); got[len(got)-1].ID != ids[0] {
			t.Errorf("redelivery carried id %s, want %s", got[len(got)-1].ID, ids[0])
		}
		if _, err := w.P.RedeliverEvent(ctx, w.Tenant, "evt_nope", ""); platformtest.KindOf(err) != platform.KindNotFound {
			t.Errorf("redelivering an unknown event: %v", err)
		}
	})
}

func TestSecretRotation(t *testing.T) {
	w := platformtest.NewWorld(t, store.DialectSQLite)
	ep := endpoint(w)
	oldSecret := w.Recv.Secrets()[0]
	d, err := delivery.New(w.P)
	if err != nil {
		t.Fatal(err)
	}
	newSecret, retire, err := w.P.RotateWebhookSecret(ctx, w.Tenant, ep.ID, time.Hour)
	if err != nil || !retire.Equal(w.Clk.Now().Add(time.Hour)) || newSecret == oldSecret {
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
		w.Clk.Advance(step.advance)
		w.Recv.SetSecrets(step.secret)
		w.Recv.Forget()
		events(w, w.Person(fmt.Sprintf("r%d", i)), 1)
		d.Cycle(ctx)
		if ok := len(w.Recv.Messages()) == 1; ok != step.ok {
			t.Errorf("secret %s… after %s: delivered %v, want %v (refused %d)", step.secret[:10], step.advance, ok, step.ok, w.Recv.Refused())
		}
		if !step.ok {
			// Let the failed delivery go: disable nothing, just mark the receiver happy again.
			w.Recv.SetSecrets(newSecret)
			w.Clk.Advance(time.Hour)
			drain(t, d)
		}
	}
	if _, _, err := w.P.RotateWebhookSecret(ctx, w.Tenant, ep.ID, 8*24*time.Hour); platformtest.KindOf(err) != platform.KindInvalid {
		t.Errorf("a grace of 8 days: %v", err)
	}
	if _, _, err := w.P.CreateWebhookEndpoint(ctx, w.Tenant, platform.WebhookEndpointRequest{URL: "ftp://x"}); platformtest.KindOf(err) != platform.KindInvalid {
		t.Errorf("ftp endpoint: %v", err)
	}
	if _, _, err := w.P.CreateWebhookEndpoint(ctx, w.Tenant, platform.WebhookEndpointRequest{URL: "https://x/", EventTypes: []string{"user.created"}}); platformtest.KindOf(err) != platform.KindInvalid {
		t.Errorf("unknown event type: %v", err)
	}
}

// TestDeliveryShutdownAndCrash stops a worker while its attempts are in flight — once by the
// shutdown protocol, once as a crash that never records anything — and checks that every event
// still arrives, with the id it had.
func TestDeliveryShutdownAndCrash(t *testing.T) {
	forEachDialect(t, func(t *testing.T, w *platformtest.World) {
		endpoint(w)
		var ids []string
		for i := range 4 {
			ids = append(ids, events(w, w.Person(fmt.Sprintf("s%d", i)), 1)...)
		}
		hold := make(chan struct{})
		w.Recv.Hold(hold)
		d, err := delivery.New(w.P, delivery.WithWorkers(2, 2), delivery.WithLease(time.Minute),
			delivery.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { d.Run(runCtx); close(done) }()
		d.Wake()
		waitFor(t, func() bool { return w.Recv.Holding() == 4 })
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
		ds, _ := w.P.Deliveries(ctx, w.Tenant, platform.DeliveryQuery{})
		for _, dl := range ds {
			if dl.State != platform.DeliveryPending || dl.LastError != "interrupted by shutdown" || dl.NextAttemptAt.After(w.Clk.Now()) || dl.Claim != "" {
				t.Errorf("after shutdown: %+v", dl)
			}
		}
		// The interrupted requests must be gone on the receiver's side too before it is
		// released, or a late one would be counted as a delivery below.
		waitFor(t, func() bool { return w.Recv.Holding() == 0 })
		// A crash: a worker claims and dies without a word.
		w.Recv.Hold(nil)
		close(hold)
		now := w.Clk.Now()
		claimed, err := w.St.ClaimDeliveries(ctx, now, now.Add(time.Minute), "crashed-worker", 2)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("crash claim: %d %v", len(claimed), err)
		}
		d2, _ := delivery.New(w.P, delivery.WithLease(time.Minute))
		drain(t, d2)
		if got := len(w.Recv.Messages()); got != 2 {
			t.Fatalf("before the lease ends %d delivered, want the 2 not held by the dead worker", got)
		}
		w.Clk.Advance(time.Minute)
		drain(t, d2)
		got := map[string]bool{}
		for _, m := range w.Recv.Messages() {
			got[m.ID] = true
		}
		for _, id := range ids {
			if !got[id] {
				t.Errorf("event %s never arrived", id)
			}
		}
		for id, n := range w.Recv.Attempts() {
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
	rp := delivery.DefaultRetryPolicy
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
