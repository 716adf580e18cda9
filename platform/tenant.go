package platform

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// TenantSetting sets one of a tenant's settings at creation (CreateTenant) or later
// (UpdateTenant).
type TenantSetting func(*Tenant) error

// WithRevocationPolicy sets how the tenant's verifications establish that a certificate is not
// revoked (default RevocationCRL).
func WithRevocationPolicy(policy RevocationPolicy) TenantSetting {
	return func(t *Tenant) error {
		if !policy.Valid() {
			return newError(KindInvalid, "invalid-request", "revocation policy %q is not one of crl, ocsp, both", policy)
		}
		t.Revocation = policy
		return nil
	}
}

// checkFacts refuses an unknown fact and drops repeats, keeping the order given.
func checkFacts(facts []Fact) ([]Fact, error) {
	var fs []Fact
	for _, f := range facts {
		if !slices.Contains(AllFacts, f) {
			return nil, newError(KindInvalid, "invalid-request", "fact %q is not one of name, birthdate, sex, address", f)
		}
		if !slices.Contains(fs, f) {
			fs = append(fs, f)
		}
	}
	return fs, nil
}

// WithFacts sets the basic-4 facts the tenant may receive (its allowance), wider or narrower:
// the operator's setting. A narrower allowance holds for everything served from then on (views,
// evidence bundles, webhooks, OpenID claims, watches); a wider one only for verifications made
// after it (their sealed evidence holds only the facts allowed when they were made).
func WithFacts(facts []Fact) TenantSetting {
	return func(t *Tenant) error {
		fs, err := checkFacts(facts)
		if err != nil {
			return err
		}
		t.Facts = fs
		return nil
	}
}

// NarrowFacts is WithFacts for the tenant itself: every fact must already be allowed; a fact
// beyond the allowance is refused (KindForbidden), since only the operator widens it.
func NarrowFacts(facts []Fact) TenantSetting {
	return func(t *Tenant) error {
		fs, err := checkFacts(facts)
		if err != nil {
			return err
		}
		for _, f := range fs {
			if !slices.Contains(t.Facts, f) {
				return newError(KindForbidden, "allowance-widening", "fact %q is not in the tenant's allowance; only the platform's operator widens it", f)
			}
		}
		t.Facts = fs
		return nil
	}
}

// CreateTenant registers a relying party that may receive the given basic-4 facts on identity
// verifications.
func (p *Platform) CreateTenant(ctx context.Context, name string, facts []Fact, settings ...TenantSetting) (*Tenant, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 200 {
		return nil, newError(KindInvalid, "invalid-request", "tenant name must be 1 to 200 characters")
	}
	if !utf8.ValidString(name) || strings.IndexFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0 {
		return nil, newError(KindInvalid, "invalid-request", "tenant name must be UTF-8 text without control or format characters (it is shown to holders)")
	}
	fs, err := checkFacts(facts)
	if err != nil {
		return nil, err
	}
	id, err := p.newID("t_")
	if err != nil {
		return nil, err
	}
	t := Tenant{ID: id, Name: name, Facts: fs, CreatedAt: p.clk.Now().UTC(), Revocation: RevocationCRL}
	for _, set := range settings {
		if err := set(&t); err != nil {
			return nil, err
		}
	}
	if err := p.store.CreateTenant(ctx, t); err != nil {
		return nil, internal(err)
	}
	return &t, nil
}

// TenantUpdater is the part of Storage that changes a tenant's settings.
type TenantUpdater interface {
	// UpdateTenant replaces the settings of the tenant t.ID (its facts, FactsWidenedAt and
	// revocation policy; its name and creation time stay). ErrNotFound if unknown.
	UpdateTenant(ctx context.Context, t Tenant) error
}

// UpdateTenant changes a tenant's settings. This node uses the new settings at once; other nodes
// sharing the database within tenantCacheTTL (cache.go).
func (p *Platform) UpdateTenant(ctx context.Context, id string, settings ...TenantSetting) (*Tenant, error) {
	if len(settings) == 0 {
		return nil, newError(KindInvalid, "invalid-request", "nothing to change")
	}
	t, err := p.store.Tenant(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, newError(KindNotFound, "not-found", "tenant %s does not exist", id)
	}
	if err != nil {
		return nil, internal(err)
	}
	before := slices.Clone(t.Facts)
	for _, set := range settings {
		if err := set(t); err != nil {
			return nil, err
		}
	}
	for _, f := range t.Facts {
		if !slices.Contains(before, f) {
			t.FactsWidenedAt = p.clk.Now().UTC()
			break
		}
	}
	if err := p.store.UpdateTenant(ctx, *t); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, newError(KindNotFound, "not-found", "tenant %s does not exist", id)
		}
		return nil, internal(err)
	}
	p.cache.tenants.Remove(id)
	return t, nil
}

// Tenant returns a tenant.
func (p *Platform) Tenant(ctx context.Context, id string) (*Tenant, error) {
	t, err := p.tenant(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, newError(KindNotFound, "not-found", "tenant %s does not exist", id)
	}
	if err != nil {
		return nil, internal(err)
	}
	return t, nil
}

// Tenants lists every tenant.
func (p *Platform) Tenants(ctx context.Context) ([]Tenant, error) {
	ts, err := p.store.Tenants(ctx)
	if err != nil {
		return nil, internal(err)
	}
	return ts, nil
}

// apiKeyPrefix starts every API key, so leaked keys are recognisable by secret scanners.
const apiKeyPrefix = "mgk_"

// CreateAPIKey creates a key for a tenant and returns the full key, which is shown once: only a
// hash of its secret part is stored.
func (p *Platform) CreateAPIKey(ctx context.Context, tenantID, name string) (string, *APIKey, error) {
	if _, err := p.Tenant(ctx, tenantID); err != nil {
		return "", nil, err
	}
	id, err := p.newID("")
	if err != nil {
		return "", nil, err
	}
	secret, err := p.randomBytes(32)
	if err != nil {
		return "", nil, err
	}
	secretHex := hex.EncodeToString(secret)
	sum := sha256.Sum256([]byte(secretHex))
	k := APIKey{ID: "k_" + id, TenantID: tenantID, Name: name, SecretHash: sum[:], CreatedAt: p.clk.Now().UTC()}
	if err := p.store.CreateAPIKey(ctx, k); err != nil {
		return "", nil, internal(err)
	}
	return apiKeyPrefix + id + "_" + secretHex, &k, nil
}

// APIKeys lists a tenant's keys (without secrets).
func (p *Platform) APIKeys(ctx context.Context, tenantID string) ([]APIKey, error) {
	if _, err := p.Tenant(ctx, tenantID); err != nil {
		return nil, err
	}
	ks, err := p.store.APIKeys(ctx, tenantID)
	if err != nil {
		return nil, internal(err)
	}
	return ks, nil
}

// RevokeAPIKey revokes a key; it stops working at once.
func (p *Platform) RevokeAPIKey(ctx context.Context, id string) error {
	err := p.store.RevokeAPIKey(ctx, id, p.clk.Now().UTC())
	switch {
	case errors.Is(err, ErrNotFound):
		return newError(KindNotFound, "not-found", "API key %s does not exist", id)
	case errors.Is(err, ErrConflict):
		return newError(KindConflict, "already-revoked", "API key %s is already revoked", id)
	case err != nil:
		return internal(err)
	}
	return nil
}

// Authenticate returns the tenant of a full API key. Any failure is the same KindUnauthorized
// error, so a caller learns nothing about which part was wrong.
func (p *Platform) Authenticate(ctx context.Context, key string) (*Tenant, error) {
	deny := newError(KindUnauthorized, "unauthorized", "missing or invalid API key")
	rest, ok := strings.CutPrefix(key, apiKeyPrefix)
	if !ok {
		return nil, deny
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 || len(secret) != 64 {
		return nil, deny
	}
	k, err := p.store.APIKey(ctx, "k_"+id)
	if errors.Is(err, ErrNotFound) {
		return nil, deny
	}
	if err != nil {
		return nil, internal(err)
	}
	sum := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(sum[:], k.SecretHash) != 1 || k.RevokedAt != nil {
		return nil, deny
	}
	t, err := p.tenant(ctx, k.TenantID)
	if err != nil {
		return nil, internal(err)
	}
	return t, nil
}
