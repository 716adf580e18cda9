package platform

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"
)

// Every person a tenant verified (an accepted verification, identity or login) is watched by
// that tenant: a revocation of any of the person's certificates reaches it as an event. A tenant
// that no longer cares stops watching; a later verification of the person watches them again.

// WatchStatus is what a tenant knows of its watch on a person.
type WatchStatus struct {
	Sub      string
	Watching bool
	Since    time.Time // the tenant's latest accepted verification of the person
	Consents []string  // scopes the holder consented to and did not revoke
}

// personOfSub finds the person behind a tenant's pairwise id. Pairwise ids cannot be inverted,
// so it walks the persons the tenant verified and compares: O(persons of the tenant), which is
// fine for an occasional call and is why no hot path uses it.
func (p *Platform) personOfSub(ctx context.Context, st NotifyStorage, tenantID, sub string) (string, error) {
	want, err := base64.RawURLEncoding.DecodeString(sub)
	if err != nil || len(want) != sha256.Size {
		return "", newError(KindNotFound, "not-found", "no person %q", sub)
	}
	km := hmac.New(sha256.New, p.master)
	km.Write([]byte("tenant:" + tenantID))
	key := km.Sum(nil)
	errFound := errors.New("found")
	var person string
	err = st.TenantPersons(ctx, tenantID, func(id string) error {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id))
		if hmac.Equal(m.Sum(nil), want) {
			person = id
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return "", internal(err)
	}
	if person == "" {
		return "", newError(KindNotFound, "not-found", "no person %q among those the tenant verified", sub)
	}
	return person, nil
}

func (p *Platform) notifyStorage() (NotifyStorage, error) {
	st, ok := p.store.(NotifyStorage)
	if !ok || len(p.master) < 32 {
		return nil, internal(errors.New("platform: watches need a store with revocation notification and the master secret"))
	}
	return st, nil
}

// Watch returns a tenant's watch on a person, by pairwise id.
func (p *Platform) Watch(ctx context.Context, tenant *Tenant, sub string) (*WatchStatus, error) {
	st, err := p.notifyStorage()
	if err != nil {
		return nil, err
	}
	person, err := p.personOfSub(ctx, st, tenant.ID, sub)
	if err != nil {
		return nil, err
	}
	ws, err := st.Watchers(ctx, person, ScopeBasic4Updates)
	if err != nil {
		return nil, internal(err)
	}
	out := &WatchStatus{Sub: sub, Consents: []string{}}
	for _, w := range ws {
		if w.TenantID == tenant.ID {
			out.Watching, out.Since = true, w.Since
			if w.ConsentID != "" {
				out.Consents = append(out.Consents, ScopeBasic4Updates)
			}
		}
	}
	return out, nil
}

// StopWatching stops a tenant's watch on a person: no more events about them reach the tenant
// (and a consent given before no longer counts) until it verifies them again. Stopping a watch
// that is stopped already is not an error.
func (p *Platform) StopWatching(ctx context.Context, tenant *Tenant, sub string) error {
	st, err := p.notifyStorage()
	if err != nil {
		return err
	}
	person, err := p.personOfSub(ctx, st, tenant.ID, sub)
	if err != nil {
		return err
	}
	if err := st.StopWatching(ctx, tenant.ID, person, p.clk.Now().UTC()); err != nil {
		return internal(err)
	}
	return nil
}
