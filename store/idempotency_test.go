package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store/storetest"
)

// TestIdempotencyKeys runs the Idempotency-Key storage contract on both dialects: one claim
// wins among concurrent ones, a completed key returns its answer, release frees only a running
// key, keys are per tenant, and stale or abandoned rows are replaced.
func TestIdempotencyKeys(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			s := storetest.Open(t, d)
			now := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
			for _, id := range []string{"t_aaaaaaaaaaaaaaaa", "t_bbbbbbbbbbbbbbbb"} {
				if err := s.CreateTenant(ctx, platform.Tenant{ID: id, Name: id, Facts: []platform.Fact{platform.FactName}, CreatedAt: now}); err != nil {
					t.Fatal(err)
				}
			}
			old, abandoned := now.Add(-24*time.Hour), now.Add(-time.Minute)
			claim := func(tenant, key string, digest []byte, at time.Time) *platform.IdempotencyRecord {
				t.Helper()
				r, err := s.ClaimIdempotencyKey(ctx, tenant, key, digest, at, at.Add(-24*time.Hour), at.Add(-time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			// Eight concurrent claims of one key: exactly one wins.
			var wg sync.WaitGroup
			var mu sync.Mutex
			won := 0
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := s.ClaimIdempotencyKey(ctx, "t_aaaaaaaaaaaaaaaa", "k", []byte("d1"), now, old, abandoned)
					if err != nil {
						t.Error(err)
						return
					}
					if r == nil {
						mu.Lock()
						won++
						mu.Unlock()
					} else if r.Status != 0 || string(r.Digest) != "d1" {
						t.Errorf("running row: %+v", r)
					}
				}()
			}
			wg.Wait()
			if won != 1 {
				t.Fatalf("%d concurrent claims won, want 1", won)
			}
			// The other tenant's same key is its own.
			if r := claim("t_bbbbbbbbbbbbbbbb", "k", []byte("d2"), now); r != nil {
				t.Fatalf("another tenant's claim: %+v", r)
			}
			if err := s.CompleteIdempotencyKey(ctx, "t_aaaaaaaaaaaaaaaa", "k", 200, []byte("sealed")); err != nil {
				t.Fatal(err)
			}
			if err := s.CompleteIdempotencyKey(ctx, "t_aaaaaaaaaaaaaaaa", "k", 201, []byte("again")); err == nil {
				t.Fatal("a completed key completed again")
			}
			if err := s.ReleaseIdempotencyKey(ctx, "t_aaaaaaaaaaaaaaaa", "k"); err != nil {
				t.Fatal(err)
			}
			r := claim("t_aaaaaaaaaaaaaaaa", "k", []byte("d1"), now.Add(2*time.Minute))
			if r == nil || r.Status != 200 || string(r.Response) != "sealed" || !r.CreatedAt.Equal(now) {
				t.Fatalf("completed key after a release: %+v", r)
			}
			// After 24 hours the key is claimed afresh.
			if r := claim("t_aaaaaaaaaaaaaaaa", "k", []byte("d3"), now.Add(25*time.Hour)); r != nil {
				t.Fatalf("a stale key: %+v", r)
			}
			// A running claim older than a minute is taken over; a younger one is not.
			if r := claim("t_bbbbbbbbbbbbbbbb", "k", []byte("d4"), now.Add(30*time.Second)); r == nil || string(r.Digest) != "d2" {
				t.Fatalf("a running claim within a minute: %+v", r)
			}
			if r := claim("t_bbbbbbbbbbbbbbbb", "k", []byte("d4"), now.Add(2*time.Minute)); r != nil {
				t.Fatalf("an abandoned claim: %+v", r)
			}
			// Release frees a running key.
			if err := s.ReleaseIdempotencyKey(ctx, "t_bbbbbbbbbbbbbbbb", "k"); err != nil {
				t.Fatal(err)
			}
			if r := claim("t_bbbbbbbbbbbbbbbb", "k", []byte("d5"), now.Add(2*time.Minute)); r != nil {
				t.Fatalf("a released key: %+v", r)
			}
		})
	}
}
