package platform_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/mynagate/mynagate/internal/platformtest"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
)

// countingStorage counts the tenant and session reads that reach the store.
type countingStorage struct {
	platform.Storage
	tenantReads, sessionReads int
}

func (c *countingStorage) Session(ctx context.Context, id string) (*platform.Session, error) {
	c.sessionReads++
	return c.Storage.Session(ctx, id)
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
		if _, err := p.Tenant(ctx, "t_0000000000000000"); platformtest.KindOf(err) != platform.KindNotFound {
			t.Fatalf("unknown tenant: %v", err)
		}
	}
	if cs.tenantReads != 3 {
		t.Errorf("%d tenant reads, want 3 (a miss is not remembered)", cs.tenantReads)
	}
}

// TestPendingSessionCache: the holder's side of a session this node created reads no session
// from the store, and gets a copy it may change; a session another node created is read from the
// store.
func TestPendingSessionCache(t *testing.T) {
	st := storetest.Open(t, store.DialectSQLite)
	cs := &countingStorage{Storage: st}
	newNode := func() *platform.Platform {
		p, err := platform.New(cs, platformtest.VerifyingOptions(t, st)...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p, other := newNode(), newNode()
	ten, err := p.CreateTenant(ctx, "Example Bank", platform.AllFacts)
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := p.CreateSession(ctx, ten, platform.SessionRequest{Purpose: platform.PurposeLogin})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, _, err := p.HolderSession(ctx, s.ID, s.HolderToken)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != s.ID || !bytes.Equal(got.Nonce, s.Nonce) || got.Status != platform.SessionPending {
			t.Fatalf("holder session %+v, want %+v", got, s)
		}
		got.Status = platform.SessionVerified // the caller's copy
	}
	if _, _, err := p.HolderSession(ctx, s.ID, "wrong"); platformtest.KindOf(err) != platform.KindNotFound {
		t.Errorf("a wrong token on a cached session: %v", err)
	}
	if cs.sessionReads != 0 {
		t.Errorf("%d session reads reached the store for a session this node created, want 0", cs.sessionReads)
	}
	if got, _, err := other.HolderSession(ctx, s.ID, s.HolderToken); err != nil || got.Status != platform.SessionPending {
		t.Fatalf("the other node: %+v %v", got, err)
	}
	if cs.sessionReads != 1 {
		t.Errorf("%d session reads for a session another node created, want 1", cs.sessionReads)
	}
}
