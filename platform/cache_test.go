package platform_test

import (
	"context"
	"slices"
	"testing"

	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// countingStorage counts the tenant reads that reach the store.
type countingStorage struct {
	platform.Storage
	tenantReads int
}

func (c *countingStorage) Tenant(ctx context.Context, id string) (*platform.Tenant, error) {
	c.tenantReads++
	return c.Storage.Tenant(ctx, id)
}

func TestTenantCache(t *testing.T) {
	cs := &countingStorage{Storage: storetest.Open(t, store.DialectSQLite)}
	p, err := platform.New(cs)
	if err != nil {
		t.Fatal(err)
	}
	ten, err := p.CreateTenant(ctx, "Example Bank", []platform.Fact{platform.FactName, platform.FactAddress})
	if err != nil {
		t.Fatal(err)
	}
	first, err := p.Tenant(ctx, ten.ID)
	if err != nil {
		t.Fatal(err)
	}
	first.Facts[0], first.Name = platform.FactSex, "changed by the caller"
	for range 3 {
		got, err := p.Tenant(ctx, ten.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Example Bank" || !slices.Equal(got.Facts, ten.Facts) {
			t.Fatalf("cached tenant %+v, want %+v: a caller's change leaked into the cache", got, ten)
		}
	}
	if cs.tenantReads != 1 {
		t.Errorf("%d tenant reads reached the store, want 1", cs.tenantReads)
	}
	// Unknown tenants are not cached: each lookup asks the store again.
	for range 2 {
		if _, err := p.Tenant(ctx, "t_0000000000000000"); kindOf(err) != platform.KindNotFound {
			t.Fatalf("unknown tenant: %v", err)
		}
	}
	if cs.tenantReads != 3 {
		t.Errorf("%d tenant reads, want 3 (a miss is not remembered)", cs.tenantReads)
	}
}
