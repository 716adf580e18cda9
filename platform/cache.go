package platform

import (
	"context"
	"slices"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Caches of what never changes once stored, so that the verification path does not read it
// from the database every time:
//
//   - tenants: a tenant's name and facts are written once at creation; its revocation policy
//     may change (UpdateTenant), so a cached tenant expires after tenantCacheTTL: the node that
//     changes it drops its copy at once, the other nodes follow within that time;
//   - certificate → person links: a link is inserted once (ON CONFLICT DO NOTHING) and never
//     changed or removed, so a link read from the store stays true. Only links read back from the
//     store are cached — never ones merely proposed by a verification that is still to commit.
//
// Both are bounded LRUs, per node; nodes sharing a PostgreSQL database stay correct because
// nothing cached but a tenant's revocation policy can change underneath, and that only for
// tenantCacheTTL. API keys are not cached: a revocation must take effect
// at once.
//
// A third cache holds the sessions this node created while they are pending, for the holder's
// side only (the challenge fetch and the answer), which otherwise reads the session from the
// database twice per verification. A session's fields are fixed at creation but for its status,
// which changes once, when the session is completed — and completing inserts the session's
// verification, whose UNIQUE session id in the store stays the one judge of single use:
//
//   - this node drops a session from the cache when it completes it (or tries and fails), so
//     its later holder requests read the store and see the session closed;
//   - a session completed by another node sharing the database still looks pending here, so a
//     replay sent to this node is verified once more before the store refuses it — with
//     the same problem (challenge-reused) as when it is refused up front;
//   - the tenant's view of its sessions (polling) never reads this cache.
const (
	tenantCacheTTL   = 30 * time.Second
	tenantCacheSize  = 4096
	personCacheSize  = 1 << 17 // ~100 bytes each
	sessionCacheSize = 1 << 16 // ~300 bytes each; sessions live minutes
)

type caches struct {
	tenants *lru.Cache[string, cachedTenant]
	// tenantKeys holds each tenant's pairwise key (tenantKey), which follows from the master
	// secret and the tenant id alone.
	tenantKeys *lru.Cache[string, []byte]
	persons    *lru.Cache[string, string] // CA key + "/" + serial → person id
	sessions   *lru.Cache[string, *Session]
}

func newCaches() caches {
	t, err := lru.New[string, cachedTenant](tenantCacheSize)
	if err != nil {
		panic(err) // only for a non-positive size
	}
	pc, err := lru.New[string, string](personCacheSize)
	if err != nil {
		panic(err)
	}
	sc, err := lru.New[string, *Session](sessionCacheSize)
	if err != nil {
		panic(err)
	}
	tk, err := lru.New[string, []byte](tenantCacheSize)
	if err != nil {
		panic(err)
	}
	return caches{tenants: t, tenantKeys: tk, persons: pc, sessions: sc}
}

// holderSession returns a session for the holder's side: the pending copy this node cached when
// it created the session, or else the stored one.
func (p *Platform) holderSession(ctx context.Context, id string) (*Session, error) {
	if s, ok := p.cache.sessions.Get(id); ok {
		c := *s
		return &c, nil
	}
	return p.store.Session(ctx, id)
}

// tenant returns the stored tenant (a copy the caller may change) through the cache.
func (p *Platform) tenant(ctx context.Context, id string) (*Tenant, error) {
	now := p.clk.Now()
	if c, ok := p.cache.tenants.Get(id); ok && now.Before(c.until) {
		return cloneTenant(c.t), nil
	}
	t, err := p.store.Tenant(ctx, id)
	if err != nil {
		return nil, err
	}
	p.cache.tenants.Add(id, cachedTenant{t: cloneTenant(t), until: now.Add(tenantCacheTTL)})
	return t, nil
}

// cachedTenant is a tenant as read from the store, kept until a time.
type cachedTenant struct {
	t     *Tenant
	until time.Time
}

func cloneTenant(t *Tenant) *Tenant {
	c := *t
	c.Facts = slices.Clone(t.Facts)
	return &c
}

// personByCert returns the person a certificate is linked to through the cache.
func (p *Platform) personByCert(ctx context.Context, ca, serial string) (string, error) {
	key := ca + "/" + serial
	if id, ok := p.cache.persons.Get(key); ok {
		return id, nil
	}
	id, err := p.store.PersonByCert(ctx, ca, serial)
	if err != nil {
		return "", err
	}
	p.cache.persons.Add(key, id)
	return id, nil
}
