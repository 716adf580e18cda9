package platform_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/platformtest"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// walkCounter counts the persons the platform walks to find a pairwise id.
type walkCounter struct {
	*store.Store
	walked atomic.Int64
}

func (c *walkCounter) TenantPersonsSince(ctx context.Context, tenantID string, since time.Time, fn func(string) error) error {
	return c.Store.TenantPersonsSince(ctx, tenantID, since, func(id string) error { c.walked.Add(1); return fn(id) })
}

// A watch is found by its pairwise id through the index: a lookup that
// misses walks only the verifications since the last walk, so probing with unknown ids costs
// nothing once they are indexed, and persons verified later are still found. Another tenant's
// pairwise id, and strings that are not pairwise ids, are not found.
func TestWatchLookupIsIndexed(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			w := platformtest.NewWorld(t, d)
			wc := &walkCounter{Store: w.St}
			p, err := platform.New(wc, append(platformtest.VerifyingOptions(t, w.St), platform.WithClock(w.Clk))...)
			if err != nil {
				t.Fatal(err)
			}
			other, err := p.CreateTenant(ctx, "Other Bank", nil)
			if err != nil {
				t.Fatal(err)
			}
			a, b, c := w.Person("a"), w.Person("b"), w.Person("c")
			watch := func(sub string) (*platform.WatchStatus, int64, error) {
				t.Helper()
				before := wc.walked.Load()
				st, err := p.Watch(ctx, w.Tenant, sub)
				return st, wc.walked.Load() - before, err
			}
			sub := func(person string) string { return p.PairwiseID(w.Tenant.ID, person) }
			if st, n, err := watch(sub(a)); err != nil || !st.Watching || n != 3 {
				t.Fatalf("first lookup: %+v walked %d, %v; want found after walking the 3 persons", st, n, err)
			}
			for _, person := range []string{a, b, c} {
				if st, n, err := watch(sub(person)); err != nil || !st.Watching || n != 0 {
					t.Errorf("indexed lookup of %s: %+v walked %d, %v; want found without a walk", person, st, n, err)
				}
			}
			w.Clk.Advance(10 * time.Minute)
			if _, n, err := watch("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); platformtest.KindOf(err) != platform.KindNotFound || n != 3 {
				t.Errorf("unknown id: walked %d, %v; want not found after the verifications of the slack window", n, err)
			}
			for _, probe := range []string{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", p.PairwiseID(other.ID, a)} {
				if _, n, err := watch(probe); platformtest.KindOf(err) != platform.KindNotFound || n != 0 {
					t.Errorf("probe %s: walked %d, %v; want not found without a walk", probe, n, err)
				}
			}
			if _, n, err := watch("not-a-sub"); platformtest.KindOf(err) != platform.KindNotFound || n != 0 {
				t.Errorf("malformed id: walked %d, %v", n, err)
			}
			late := w.Person("late")
			if st, n, err := watch(sub(late)); err != nil || !st.Watching || n != 1 {
				t.Errorf("a person verified after the index: %+v walked %d, %v; want found after walking 1", st, n, err)
			}
			if err := p.StopWatching(ctx, w.Tenant, sub(b)); err != nil {
				t.Fatal(err)
			}
			if st, _, err := watch(sub(b)); err != nil || st.Watching {
				t.Errorf("after stopping: %+v %v", st, err)
			}
			if err := p.StopWatching(ctx, other, sub(a)); platformtest.KindOf(err) != platform.KindNotFound {
				t.Errorf("another tenant stops a's watch with the first tenant's id: %v", err)
			}
		})
	}
}
