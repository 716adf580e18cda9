package platform

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"github.com/mynagate/mynagate/internal/kdf"
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

// SubjectStorage indexes tenants' pairwise ids, so that a watch is found by key rather than by
// walking every person of the tenant; the key is subjectKey's keyed hash of the pairwise id.
// Pairwise ids derive from the master secret, so the platform fills the index: a lookup that
// misses walks only the tenant's verifications since its high-water mark, indexes them and
// moves the mark (to subjectSlack before the walk began, so that a verification committed late
// with an earlier time is still walked). Each verification is thus walked about once, and the
// verification path writes nothing more (the store's subjects table).
type SubjectStorage interface {
	// SubjectPerson returns the person of an indexed key ("" when none) and the tenant's mark.
	SubjectPerson(ctx context.Context, tenantID string, key []byte) (string, time.Time, error)
	// TenantPersonsSince calls fn with each person the tenant verified at or after since.
	TenantPersonsSince(ctx context.Context, tenantID string, since time.Time, fn func(personID string) error) error
	// IndexSubjects indexes keys (keyed hash → person) and moves the tenant's mark forward.
	IndexSubjects(ctx context.Context, tenantID string, subjects map[string]string, mark time.Time) error
}

// subjectSlack is how far before a walk the mark is set: longer than a verification takes from
// its clock reading to its commit.
const subjectSlack = 5 * time.Minute

// subjectKey is the index key of a tenant's pairwise id: HMAC-SHA256 under the master secret's
// kdf.SubjectIndex key, so that the database alone does not map a pairwise id to a person.
func (p *Platform) subjectKey(tenantID, sub string) []byte {
	m := hmac.New(sha256.New, p.keys.Key(kdf.SubjectIndex))
	m.Write([]byte(tenantID))
	m.Write([]byte{0})
	m.Write([]byte(sub))
	return m.Sum(nil)
}

// personOfSub finds the person behind a tenant's pairwise id: by key in the index, walking
// (and indexing) only the tenant's verifications since the last walk on a miss.
func (p *Platform) personOfSub(ctx context.Context, tenantID, sub string) (string, error) {
	want, err := base64.RawURLEncoding.DecodeString(sub)
	if err != nil || len(want) != sha256.Size {
		return "", newError(KindNotFound, "not-found", "no person %q", sub)
	}
	notFound := newError(KindNotFound, "not-found", "no person %q among those the tenant verified", sub)
	key := p.tenantKey(tenantID)
	person, mark, err := p.store.SubjectPerson(ctx, tenantID, p.subjectKey(tenantID, sub))
	if err != nil {
		return "", internal(err)
	}
	if person != "" {
		return person, nil
	}
	next := p.clk.Now().UTC().Add(-subjectSlack)
	found := map[string]string{}
	err = p.store.TenantPersonsSince(ctx, tenantID, mark, func(id string) error {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id))
		got := m.Sum(nil)
		if hmac.Equal(got, want) {
			person = id
		}
		found[string(p.subjectKey(tenantID, base64.RawURLEncoding.EncodeToString(got)))] = id
		return nil
	})
	if err != nil {
		return "", internal(err)
	}
	if next.Before(mark) {
		next = mark
	}
	if next.After(mark) || len(found) > 0 {
		if err := p.store.IndexSubjects(ctx, tenantID, found, next); err != nil {
			return "", internal(err)
		}
	}
	if person == "" {
		return "", notFound
	}
	return person, nil
}

func (p *Platform) notifyStorage() (NotifyStorage, error) {
	if p.keys == nil {
		return nil, internal(errors.New("platform: watches need the master secret"))
	}
	return p.store, nil
}

// Watch returns a tenant's watch on a person, by pairwise id.
func (p *Platform) Watch(ctx context.Context, tenant *Tenant, sub string) (*WatchStatus, error) {
	st, err := p.notifyStorage()
	if err != nil {
		return nil, err
	}
	person, err := p.personOfSub(ctx, tenant.ID, sub)
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
	person, err := p.personOfSub(ctx, tenant.ID, sub)
	if err != nil {
		return err
	}
	if err := st.StopWatching(ctx, tenant.ID, person, p.clk.Now().UTC()); err != nil {
		return internal(err)
	}
	return nil
}
