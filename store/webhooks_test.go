package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
)

func nEndpoint(id, tenantID string, types ...string) (platform.WebhookEndpoint, platform.WebhookSecret) {
	return platform.WebhookEndpoint{ID: id, TenantID: tenantID, URL: "http://127.0.0.1:1/" + id, EventTypes: types, CreatedAt: nt0},
		platform.WebhookSecret{ID: "wsk_" + id, EndpointID: id, Sealed: []byte("sealed " + id), CreatedAt: nt0}
}

func TestWebhookStorage(t *testing.T) {
	forDialects(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		nTenants(t, s, "t1", "t2")
		nVerify(t, s, "t1", "p1", nt0, "A1", "A2", "A3")
		ep, sec := nEndpoint("we_1", "t1")
		nMust(t, s.CreateWebhookEndpoint(ctx, ep, sec))
		epRev, secRev := nEndpoint("we_2", "t1", platform.EventBasic4Updated)
		nMust(t, s.CreateWebhookEndpoint(ctx, epRev, secRev))
		if err := s.CreateWebhookEndpoint(ctx, ep, sec); !errors.Is(err, platform.ErrConflict) {
			t.Errorf("duplicate endpoint: %v", err)
		}
		bad, badSec := nEndpoint("we_x", "t_nobody")
		if err := s.CreateWebhookEndpoint(ctx, bad, badSec); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("endpoint of an unknown tenant: %v", err)
		}
		if _, err := s.WebhookEndpoint(ctx, "t2", "we_1"); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("another tenant's endpoint: %v", err)
		}
		if es, _ := s.WebhookEndpoints(ctx, "t1"); len(es) != 2 || es[1].EventTypes[0] != platform.EventBasic4Updated {
			t.Errorf("endpoints %+v", es)
		}

		// Rotation: never more than two valid secrets.
		secrets := func(at time.Time) []string {
			ss, err := s.WebhookSecrets(ctx, "we_1", at)
			nMust(t, err)
			var ids []string
			for _, x := range ss {
				ids = append(ids, x.ID)
			}
			return ids
		}
		r1 := platform.WebhookSecret{ID: "wsk_r1", EndpointID: "we_1", Sealed: []byte("r1"), CreatedAt: nt0.Add(time.Hour)}
		nMust(t, s.RotateWebhookSecret(ctx, "t1", "we_1", r1, nt0.Add(25*time.Hour)))
		if got := secrets(nt0.Add(2 * time.Hour)); fmt.Sprint(got) != "[wsk_r1 wsk_we_1]" {
			t.Errorf("during the grace period: %v", got)
		}
		if got := secrets(nt0.Add(26 * time.Hour)); fmt.Sprint(got) != "[wsk_r1]" {
			t.Errorf("after the grace period: %v", got)
		}
		r2 := platform.WebhookSecret{ID: "wsk_r2", EndpointID: "we_1", Sealed: []byte("r2"), CreatedAt: nt0.Add(2 * time.Hour)}
		nMust(t, s.RotateWebhookSecret(ctx, "t1", "we_1", r2, nt0.Add(26*time.Hour)))
		if got := secrets(nt0.Add(3 * time.Hour)); fmt.Sprint(got) != "[wsk_r2 wsk_r1]" {
			t.Errorf("after a second rotation: %v, want the two newest", got)
		}

		// Events of one person: dispatched to the endpoints that want them, then delivered in order.
		var notices []platform.RevocationNotice
		for i, typ := range []string{platform.EventCertificateRevoked, platform.EventBasic4Updated, platform.EventCertificateRevoked} {
			e := nEvent(fmt.Sprintf("evt_%d", i), "t1", nt0)
			e.Type = typ
			notices = append(notices, platform.RevocationNotice{CA: "CA1", Serial: fmt.Sprintf("A%d", i+1), PersonID: "p1", Reason: 3,
				RevokedAt: nt0, CRL: "sign#1", NoticedAt: nt0, FollowUp: platform.FollowUpDone, FollowUpAt: nt0, Events: []platform.Event{e}})
		}
		if _, err := s.RecordRevocations(ctx, notices); err != nil {
			t.Fatal(err)
		}
		at := nt0.Add(time.Hour)
		// Nothing is claimable before dispatch.
		if ds, _ := s.ClaimDeliveries(ctx, at, at.Add(time.Minute), "c0", 10); len(ds) != 0 {
			t.Fatalf("claimed %d undispatched deliveries", len(ds))
		}
		n, err := s.DispatchEvents(ctx, at, 100)
		nMust(t, err)
		if n != 3 {
			t.Errorf("dispatched %d events, want 3", n)
		}
		if n, _ := s.DispatchEvents(ctx, at, 100); n != 0 {
			t.Errorf("dispatched %d events twice", n)
		}
		if n, _ := store.CountRows(ctx, s, "webhook_deliveries"); n != 4 {
			t.Errorf("%d deliveries, want 4 (three to we_1, one to we_2)", n)
		}
		claim := func(token string, at time.Time) []platform.Delivery {
			t.Helper()
			ds, err := s.ClaimDeliveries(ctx, at, at.Add(time.Minute), token, 10)
			nMust(t, err)
			return ds
		}
		first := claim("c1", at)
		if len(first) != 2 || first[0].EventID != "evt_0" || first[0].EndpointID != "we_1" || first[1].EventID != "evt_1" || first[1].EndpointID != "we_2" {
			t.Fatalf("first claim %+v: want the first event of the person on each endpoint", first)
		}
		if first[0].Attempts != 1 || first[0].URL != "http://127.0.0.1:1/we_1" || string(first[0].Payload) != `{"id":"evt_0"}` || first[0].EventType != platform.EventCertificateRevoked {
			t.Errorf("claimed delivery %+v", first[0])
		}
		if ds := claim("c2", at); len(ds) != 0 {
			t.Fatalf("claimed %+v while the person's earlier events are in flight", ds)
		}
		// A stale claim token changes nothing; the right one delivers.
		nMust(t, s.FinishDeliveries(ctx, []platform.DeliveryOutcome{{ID: first[0].ID, Claim: "stale", State: platform.DeliveryDelivered, At: at}}))
		if ds := claim("c3", at); len(ds) != 0 {
			t.Fatalf("a stale outcome released %+v", ds)
		}
		nMust(t, s.FinishDeliveries(ctx, []platform.DeliveryOutcome{
			{ID: first[0].ID, Claim: "c1", State: platform.DeliveryDelivered, At: at, Status: 204},
			{ID: first[1].ID, Claim: "c1", State: platform.DeliveryPending, At: at, NextAttemptAt: at.Add(time.Hour), Status: 503, Error: "HTTP 503"},
		}))
		second := claim("c4", at)
		if len(second) != 1 || second[0].EventID != "evt_1" || second[0].EndpointID != "we_1" {
			t.Fatalf("second claim %+v, want evt_1 to we_1", second)
		}
		nMust(t, s.FinishDeliveries(ctx, []platform.DeliveryOutcome{{ID: second[0].ID, Claim: "c4", State: platform.DeliveryDead, At: at, Error: "gone"}}))
		// A dead delivery no longer holds the person's later events back.
		third := claim("c5", at)
		if len(third) != 1 || third[0].EventID != "evt_2" {
			t.Fatalf("third claim %+v", third)
		}
		// A worker that dies: its claim becomes due again when the lease ends, same event id.
		if ds := claim("c6", at.Add(30*time.Second)); len(ds) != 0 {
			t.Fatalf("claimed %+v during a lease", ds)
		}
		reclaimed := claim("c7", at.Add(time.Minute))
		if len(reclaimed) != 1 || reclaimed[0].EventID != "evt_2" || reclaimed[0].Attempts != 2 {
			t.Fatalf("after the lease: %+v", reclaimed)
		}
		nMust(t, s.FinishDeliveries(ctx, []platform.DeliveryOutcome{{ID: reclaimed[0].ID, Claim: "c7", State: platform.DeliveryDelivered, At: at}}))

		// Dead letters and redelivery.
		dead, err := s.Deliveries(ctx, "t1", platform.DeliveryQuery{State: platform.DeliveryDead, Limit: 10})
		nMust(t, err)
		if len(dead) != 1 || dead[0].EventID != "evt_1" || dead[0].LastError != "gone" {
			t.Fatalf("dead letters %+v", dead)
		}
		n, err = s.RedeliverDead(ctx, "t1", "we_1", at.Add(time.Hour))
		nMust(t, err)
		if n != 1 {
			t.Errorf("redelivered %d dead, want 1", n)
		}
		// Due now: the redelivered dead letter (attempts reset) and the retry of evt_1 to we_2.
		re := claim("c8", at.Add(time.Hour))
		if len(re) != 2 || re[0].EventID != "evt_1" || re[0].EndpointID != "we_1" || re[0].Attempts != 1 ||
			re[1].EndpointID != "we_2" || re[1].Attempts != 2 || re[1].LastError != "HTTP 503" {
			t.Fatalf("redelivered claim %+v", re)
		}
		nMust(t, s.FinishDeliveries(ctx, []platform.DeliveryOutcome{
			{ID: re[0].ID, Claim: "c8", State: platform.DeliveryDelivered, At: at},
			{ID: re[1].ID, Claim: "c8", State: platform.DeliveryDelivered, At: at}}))
		n, err = s.RedeliverEvent(ctx, "t1", "evt_0", "", at.Add(2*time.Hour))
		nMust(t, err)
		if n != 1 {
			t.Errorf("redelivered evt_0 to %d endpoints, want 1 (we_2 does not want its type)", n)
		}
		if _, err := s.RedeliverEvent(ctx, "t2", "evt_0", "", at); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("another tenant's event: %v", err)
		}
		// An endpoint added later gets a redelivered event too.
		late, lateSec := nEndpoint("we_3", "t1")
		nMust(t, s.CreateWebhookEndpoint(ctx, late, lateSec))
		n, err = s.RedeliverEvent(ctx, "t1", "evt_2", "we_3", at.Add(2*time.Hour))
		nMust(t, err)
		if n != 1 {
			t.Errorf("redelivered evt_2 to we_3: %d, want 1", n)
		}
		// Disabling drops the pending deliveries.
		nMust(t, s.DisableWebhookEndpoint(ctx, "t1", "we_3", at))
		if err := s.DisableWebhookEndpoint(ctx, "t1", "we_3", at); !errors.Is(err, platform.ErrConflict) {
			t.Errorf("disabling twice: %v", err)
		}
		if ds, _ := s.Deliveries(ctx, "t1", platform.DeliveryQuery{EndpointID: "we_3", Limit: 10}); len(ds) != 1 || ds[0].State != platform.DeliveryDead {
			t.Errorf("deliveries of a disabled endpoint %+v", ds)
		}
		if err := s.RotateWebhookSecret(ctx, "t1", "we_3", platform.WebhookSecret{ID: "wsk_z", EndpointID: "we_3", Sealed: []byte("z"), CreatedAt: at}, at); !errors.Is(err, platform.ErrNotFound) {
			t.Errorf("rotating a disabled endpoint: %v", err)
		}
	})
}

func TestWebhookConcurrentClaims(t *testing.T) {
	// Several workers (nodes) claiming at once: every delivery is claimed exactly once, and no
	// worker ever holds two events of one person at the same time.
	forDialects(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		nTenants(t, s, "t1")
		const persons, per = 6, 5
		var notices []platform.RevocationNotice
		for p := range persons {
			person := fmt.Sprintf("p%d", p)
			var serials []string
			for i := range per {
				serials = append(serials, fmt.Sprintf("%X", p*100+i+1))
			}
			nVerify(t, s, "t1", person, nt0.Add(time.Duration(p)*time.Second), serials...)
			for i, sn := range serials {
				notices = append(notices, platform.RevocationNotice{CA: "CA1", Serial: sn, PersonID: person, Reason: 1, RevokedAt: nt0, CRL: "sign#1",
					NoticedAt: nt0, FollowUp: platform.FollowUpDone, FollowUpAt: nt0,
					Events: []platform.Event{nEvent(fmt.Sprintf("evt_%s_%d", person, i), "t1", nt0)}})
			}
		}
		if _, err := s.RecordRevocations(ctx, notices); err != nil {
			t.Fatal(err)
		}
		ep, sec := nEndpoint("we_1", "t1")
		nMust(t, s.CreateWebhookEndpoint(ctx, ep, sec))
		var (
			mu       sync.Mutex
			order    = map[string][]int64{} // person → event seqs in delivery order
			inflight = map[string]bool{}
			count    int
			wg       sync.WaitGroup
		)
		person := func(eventID string) string { return eventID[4:6] }
		for w := range 6 {
			wg.Go(func() {
				for round := 0; ; round++ {
					if _, err := s.DispatchEvents(ctx, nt0, 7); err != nil {
						t.Error(err)
						return
					}
					ds, err := s.ClaimDeliveries(ctx, nt0, nt0.Add(time.Minute), fmt.Sprintf("w%d-%d", w, round), 4)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					done := count == persons*per
					for _, d := range ds {
						p := person(d.EventID)
						if inflight[p] {
							t.Errorf("two events of %s in flight at once", p)
						}
						inflight[p] = true
						order[p] = append(order[p], d.EventSeq)
						count++
					}
					mu.Unlock()
					if len(ds) == 0 {
						if done {
							return
						}
						time.Sleep(time.Millisecond)
						continue
					}
					var outs []platform.DeliveryOutcome
					mu.Lock()
					for _, d := range ds {
						inflight[person(d.EventID)] = false
						outs = append(outs, platform.DeliveryOutcome{ID: d.ID, Claim: d.Claim, State: platform.DeliveryDelivered, At: nt0})
					}
					mu.Unlock()
					if err := s.FinishDeliveries(ctx, outs); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if count != persons*per {
			t.Errorf("claimed %d deliveries, want %d", count, persons*per)
		}
		for p, seqs := range order {
			for i := 1; i < len(seqs); i++ {
				if seqs[i] <= seqs[i-1] {
					t.Errorf("events of %s delivered in order %v", p, seqs)
					break
				}
			}
		}
	})
}
