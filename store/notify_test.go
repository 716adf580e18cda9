package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// The revocation-notification and webhook storage, on both dialects. Helpers here are
// self-contained (prefixed n) so this file does not lean on the core suite's.

var nt0 = time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC)

func nMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func forDialects(t *testing.T, f func(t *testing.T, s *store.Store)) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			f(t, storetest.Open(t, d))
		})
	}
}

// nVerify records an accepted identity verification of person by tenant at `at`, linking certs.
func nVerify(t *testing.T, s *store.Store, tenantID, person string, at time.Time, serials ...string) string {
	t.Helper()
	return nVerifyConsenting(t, s, tenantID, person, at, "", serials...)
}

// nVerifyConsenting is nVerify with the holder's basic4_updates consent, consentID, given with
// the verification (none when consentID is empty).
func nVerifyConsenting(t *testing.T, s *store.Store, tenantID, person string, at time.Time, consentID string, serials ...string) string {
	t.Helper()
	ctx := context.Background()
	n := at.UnixNano()
	sid, vid := fmt.Sprintf("s_%x%s", n, tenantID), fmt.Sprintf("v_%x%s", n, tenantID)
	_, _, err := s.CreateSession(ctx, platform.Session{ID: sid, TenantID: tenantID, Purpose: platform.PurposeIdentity,
		Nonce: []byte("nonce"), HolderToken: "tok", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}, "")
	nMust(t, err)
	v := platform.Verification{ID: vid, TenantID: tenantID, SessionID: sid, Purpose: platform.PurposeIdentity,
		Decision: platform.DecisionAccepted, PersonID: person, CertCA: "CA1", CertSerial: serials[0], Cert: []byte("der"),
		Basic4: &jpki.Basic4{Name: "x"}, Method: platform.MethodCRL, CreatedAt: at}
	var certs []platform.PersonCert
	for _, sn := range serials {
		certs = append(certs, platform.PersonCert{PersonID: person, CA: "CA1", Serial: sn, Kind: "sign", LinkedAt: at})
	}
	var consents []platform.Consent
	if consentID != "" {
		consents = []platform.Consent{{ID: consentID, TenantID: tenantID, VerificationID: vid, Scope: platform.ScopeBasic4Updates, GrantedAt: at}}
	}
	nMust(t, s.CompleteSession(ctx, v, certs, nil, consents, storetest.Record(v.ID, v.TenantID, v.CreatedAt)))
	return vid
}

func nTenants(t *testing.T, s *store.Store, ids ...string) {
	for _, id := range ids {
		nMust(t, s.CreateTenant(context.Background(), platform.Tenant{ID: id, Name: id, CreatedAt: nt0}))
	}
}

func nEvent(id, tenantID string, at time.Time) platform.Event {
	return platform.Event{ID: id, TenantID: tenantID, Type: platform.EventCertificateRevoked, Payload: []byte(`{"id":"` + id + `"}`), CreatedAt: at}
}

func TestNotifyStorage(t *testing.T) {
	forDialects(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		nTenants(t, s, "t1", "t2", "t3")
		nVerifyConsenting(t, s, "t1", "p1", nt0, "c_1", "A1", "A2")
		nVerify(t, s, "t2", "p1", nt0.Add(time.Second), "A1")
		nVerify(t, s, "t1", "p2", nt0.Add(2*time.Second), "B1")

		watchers := func(person string) map[string]string {
			ws, err := s.Watchers(ctx, person, platform.ScopeBasic4Updates)
			nMust(t, err)
			out := map[string]string{}
			for _, w := range ws {
				out[w.TenantID] = w.ConsentID
			}
			return out
		}
		if got := watchers("p1"); len(got) != 2 || got["t1"] != "c_1" || got["t2"] != "" {
			t.Errorf("watchers of p1 = %v, want t1 with c_1 and t2 without", got)
		}
		cs, err := s.PersonConsents(ctx, "p1")
		nMust(t, err)
		if len(cs) != 1 || cs[0].ID != "c_1" {
			t.Errorf("consents of p1 = %+v, want only c_1", cs)
		}

		// Stopping a watch; a later verification watches again, without the old consent.
		nMust(t, s.StopWatching(ctx, "t1", "p1", nt0.Add(time.Minute)))
		if got := watchers("p1"); len(got) != 1 || got["t2"] != "" {
			t.Errorf("after t1 stops: %v", got)
		}
		nVerify(t, s, "t1", "p1", nt0.Add(2*time.Minute), "A1")
		if got := watchers("p1"); len(got) != 2 || got["t1"] != "" {
			t.Errorf("after t1 verifies again: %v, want t1 watching without consent", got)
		}
		var persons []string
		nMust(t, s.TenantPersonsSince(ctx, "t1", time.Unix(0, 0), func(p string) error { persons = append(persons, p); return nil }))
		slices.Sort(persons)
		if !slices.Equal(persons, []string{"p1", "p2"}) {
			t.Errorf("persons of t1 = %v", persons)
		}

		// Certificates.
		m, err := s.PersonsByCerts(ctx, "CA1", []string{"A2", "B1", "ZZ"})
		nMust(t, err)
		if len(m) != 2 || m["A2"] != "p1" || m["B1"] != "p2" {
			t.Errorf("PersonsByCerts = %v", m)
		}
		watched := func() []string {
			var out []string
			nMust(t, s.WatchedCerts(ctx, "CA1", func(sn, p string) error { out = append(out, sn+"/"+p); return nil }))
			slices.Sort(out)
			return out
		}
		if got := watched(); !slices.Equal(got, []string{"A1/p1", "A2/p1", "B1/p2"}) {
			t.Errorf("watched = %v", got)
		}

		// Notices: recorded once, with their events, whatever the retries.
		notice := platform.RevocationNotice{CA: "CA1", Serial: "A1", PersonID: "p1", Reason: 3, RevokedAt: nt0, CRL: "sign#2",
			NoticedAt: nt0.Add(time.Hour), FollowUp: platform.FollowUpPending, FollowUpAt: nt0.Add(time.Hour),
			Events: []platform.Event{nEvent("evt_1", "t1", nt0.Add(time.Hour)), nEvent("evt_2", "t2", nt0.Add(time.Hour))}}
		for i := range 3 {
			n, err := s.RecordRevocations(ctx, []platform.RevocationNotice{notice})
			nMust(t, err)
			if want := map[bool]int{true: 1, false: 0}[i == 0]; n != want {
				t.Errorf("RecordRevocations #%d stored %d, want %d", i, n, want)
			}
		}
		if n, _ := store.CountRows(ctx, s, "outbox"); n != 2 {
			t.Errorf("outbox has %d events, want 2", n)
		}
		if n, _ := store.QueryInt(ctx, s, `SELECT count(*) FROM outbox WHERE ordering_key = 'p1'`); n != 2 {
			t.Errorf("%d events carry the person as ordering key, want 2", n)
		}
		if got := watched(); !slices.Equal(got, []string{"A2/p1", "B1/p2"}) {
			t.Errorf("watched after the notice = %v", got)
		}

		// Follow-ups: claimed once, leased, finished with links and events.
		at := nt0.Add(time.Hour)
		got, err := s.ClaimFollowUps(ctx, at, at.Add(time.Minute), 10)
		nMust(t, err)
		if len(got) != 1 || got[0].Serial != "A1" || got[0].FollowUpAttempts != 1 || got[0].Reason != 3 || !got[0].RevokedAt.Equal(nt0) {
			t.Fatalf("claimed %+v", got)
		}
		if again, _ := s.ClaimFollowUps(ctx, at.Add(30*time.Second), at.Add(2*time.Minute), 10); len(again) != 0 {
			t.Errorf("claimed %d follow-ups during the lease", len(again))
		}
		nMust(t, s.FailFollowUp(ctx, "CA1", "A1", at.Add(5*time.Minute), "J-LIS down"))
		if again, _ := s.ClaimFollowUps(ctx, at.Add(4*time.Minute), at.Add(6*time.Minute), 10); len(again) != 0 {
			t.Errorf("claimed a follow-up before it was due")
		}
		again, err := s.ClaimFollowUps(ctx, at.Add(5*time.Minute), at.Add(6*time.Minute), 10)
		nMust(t, err)
		if len(again) != 1 || again[0].FollowUpAttempts != 2 || again[0].FollowUpError != "J-LIS down" {
			t.Fatalf("second claim %+v", again)
		}
		succ := platform.PersonCert{PersonID: "p1", CA: "CA1", Serial: "A9", Kind: "sign", LinkedAt: at}
		ev := nEvent("evt_3", "t1", at)
		nMust(t, s.FinishFollowUp(ctx, "CA1", "A1", []platform.PersonCert{succ}, []platform.Event{ev, ev}, at))
		if p, err := s.PersonByCert(ctx, "CA1", "A9"); err != nil || p != "p1" {
			t.Errorf("successor linked to %q, %v", p, err)
		}
		if n, _ := store.CountRows(ctx, s, "outbox"); n != 3 {
			t.Errorf("outbox has %d events, want 3", n)
		}
		if again, _ := s.ClaimFollowUps(ctx, at.Add(time.Hour), at.Add(2*time.Hour), 10); len(again) != 0 {
			t.Errorf("a finished follow-up was claimed again")
		}

		// Revoking consent.
		n, err := s.RevokeConsents(ctx, "p1", "t1", platform.ScopeBasic4Updates, at)
		nMust(t, err)
		if n != 1 {
			t.Errorf("revoked %d consents, want 1", n)
		}
		cs, _ = s.PersonConsents(ctx, "p1")
		if len(cs) != 1 || cs[0].RevokedAt == nil || !cs[0].RevokedAt.Equal(at) {
			t.Errorf("consents after revocation %+v", cs)
		}
	})
}

func TestNotifyConcurrentNodes(t *testing.T) {
	// Two nodes reading the same CRL record the same notices at once: each notice, and each of
	// its events, exactly once.
	forDialects(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		nTenants(t, s, "t1")
		var serials []string
		for i := range 20 {
			serials = append(serials, fmt.Sprintf("%X", 0x100+i))
		}
		nVerify(t, s, "t1", "p1", nt0, serials...)
		var notices []platform.RevocationNotice
		for _, sn := range serials {
			notices = append(notices, platform.RevocationNotice{CA: "CA1", Serial: sn, PersonID: "p1", Reason: 1, RevokedAt: nt0, CRL: "sign#3",
				NoticedAt: nt0, FollowUp: platform.FollowUpPending, FollowUpAt: nt0, Events: []platform.Event{nEvent("evt_"+sn, "t1", nt0)}})
		}
		var wg sync.WaitGroup
		stored := make([]int, 6)
		for i := range stored {
			wg.Go(func() {
				n, err := s.RecordRevocations(ctx, notices)
				if err != nil {
					t.Error(err)
				}
				stored[i] = n
			})
		}
		wg.Wait()
		total := 0
		for _, n := range stored {
			total += n
		}
		if total != 20 {
			t.Errorf("stored %v notices in all, want 20", stored)
		}
		if n, _ := store.CountRows(ctx, s, "outbox"); n != 20 {
			t.Errorf("outbox has %d events, want 20", n)
		}
		// Concurrent claims of follow-ups: each claimed once.
		var mu sync.Mutex
		seen := map[string]int{}
		for range 6 {
			wg.Go(func() {
				for {
					got, err := s.ClaimFollowUps(ctx, nt0, nt0.Add(time.Minute), 3)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, n := range got {
						seen[n.Serial]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 20 {
			t.Errorf("claimed %d distinct follow-ups, want 20", len(seen))
		}
		for sn, n := range seen {
			if n != 1 {
				t.Errorf("follow-up %s claimed %d times", sn, n)
			}
		}
	})
}
