package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mynagate/mynagate/platform"
)

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// CreateTenant stores a new tenant. platform.ErrConflict if the id exists.
func (s *Store) CreateTenant(ctx context.Context, t platform.Tenant) error {
	v := validate("CreateTenant").str("Tenant.ID", t.ID).str("Tenant.Name", t.Name).
		time("Tenant.CreatedAt", t.CreatedAt)
	for _, f := range t.Facts {
		v.check("Tenant.Facts", slices.Contains(platform.AllFacts, f), fmt.Sprintf("holds the unknown fact %q", f))
	}
	v.check("Tenant.Revocation", t.Revocation == "" || t.Revocation.Valid(), fmt.Sprintf("is the unknown policy %q", t.Revocation))
	if err := v.done(); err != nil {
		return err
	}
	facts, err := json.Marshal(orEmpty(t.Facts))
	if err != nil {
		return fmt.Errorf("store: CreateTenant %s: encode facts: %w", t.ID, err)
	}
	_, err = s.w.ExecContext(ctx,
		`INSERT INTO tenants (id, name, facts, created_at, revocation_policy) VALUES ($1, $2, $3, $4, $5)`,
		t.ID, t.Name, string(facts), nanos(t.CreatedAt), string(t.RevocationPolicy()))
	if violated(err) == uniqueViolation {
		return fmt.Errorf("store: tenant %s exists: %w", t.ID, platform.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: CreateTenant %s: %w", t.ID, err)
	}
	return nil
}

// UpdateTenant replaces a tenant's settings: its facts, FactsWidenedAt and revocation policy
// (name and creation time are fixed). platform.ErrNotFound if unknown.
func (s *Store) UpdateTenant(ctx context.Context, t platform.Tenant) error {
	v := validate("UpdateTenant").str("Tenant.ID", t.ID).
		check("Tenant.Revocation", t.Revocation.Valid(), fmt.Sprintf("is the unknown policy %q", t.Revocation))
	for _, f := range t.Facts {
		v.check("Tenant.Facts", slices.Contains(platform.AllFacts, f), fmt.Sprintf("holds the unknown fact %q", f))
	}
	if err := v.done(); err != nil {
		return err
	}
	facts, err := json.Marshal(orEmpty(t.Facts))
	if err != nil {
		return fmt.Errorf("store: UpdateTenant %s: encode facts: %w", t.ID, err)
	}
	var widened *time.Time
	if !t.FactsWidenedAt.IsZero() {
		widened = &t.FactsWidenedAt
	}
	res, err := s.w.ExecContext(ctx, `UPDATE tenants SET revocation_policy = $1, facts = $2, facts_widened_at = $3 WHERE id = $4`,
		string(t.Revocation), string(facts), nullNanos(widened), t.ID)
	if err != nil {
		return fmt.Errorf("store: UpdateTenant %s: %w", t.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: UpdateTenant %s: %w", t.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("store: tenant %s: %w", t.ID, platform.ErrNotFound)
	}
	return nil
}

const tenantColumns = `id, name, facts, created_at, revocation_policy, facts_widened_at`

func scanTenant(row scanner) (*platform.Tenant, error) {
	var (
		t       platform.Tenant
		facts   string
		created int64
		policy  string
		widened sql.NullInt64
	)
	if err := row.Scan(&t.ID, &t.Name, &facts, &created, &policy, &widened); err != nil {
		return nil, err
	}
	t.Revocation = platform.RevocationPolicy(policy)
	if err := json.Unmarshal([]byte(facts), &t.Facts); err != nil {
		return nil, fmt.Errorf("decode facts of tenant %s: %w", t.ID, err)
	}
	if len(t.Facts) == 0 {
		t.Facts = nil
	}
	t.CreatedAt = fromNanos(created)
	if widened.Valid {
		t.FactsWidenedAt = fromNanos(widened.Int64)
	}
	return &t, nil
}

// Tenant returns a tenant. platform.ErrNotFound if unknown.
func (s *Store) Tenant(ctx context.Context, id string) (*platform.Tenant, error) {
	if err := validate("Tenant").str("id", id).done(); err != nil {
		return nil, err
	}
	t, err := scanTenant(s.r.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: tenant %s: %w", id, platform.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: tenant %s: %w", id, err)
	}
	return t, nil
}

// Tenants lists all tenants, oldest first.
func (s *Store) Tenants(ctx context.Context) ([]platform.Tenant, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tenantColumns+` FROM tenants ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list tenants: %w", err)
	}
	defer rows.Close()
	var out []platform.Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list tenants: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list tenants: %w", err)
	}
	return out, nil
}

// CreateAPIKey stores a key. platform.ErrNotFound if the tenant is unknown, platform.ErrConflict
// if the id exists.
func (s *Store) CreateAPIKey(ctx context.Context, k platform.APIKey) error {
	err := validate("CreateAPIKey").str("APIKey.ID", k.ID).str("APIKey.TenantID", k.TenantID).
		bytes("APIKey.SecretHash", k.SecretHash).time("APIKey.CreatedAt", k.CreatedAt).
		check("APIKey.RevokedAt", k.RevokedAt == nil || !k.RevokedAt.IsZero(), "is set to the zero time").done()
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx,
		`INSERT INTO api_keys (id, tenant_id, name, secret_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.TenantID, k.Name, k.SecretHash, nanos(k.CreatedAt), nullNanos(k.RevokedAt))
	switch violated(err) {
	case uniqueViolation:
		return fmt.Errorf("store: API key %s exists: %w", k.ID, platform.ErrConflict)
	case foreignKeyViolation:
		return fmt.Errorf("store: API key %s: tenant %s: %w", k.ID, k.TenantID, platform.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: CreateAPIKey %s: %w", k.ID, err)
	}
	return nil
}

const apiKeyColumns = `id, tenant_id, name, secret_hash, created_at, revoked_at`

func scanAPIKey(row scanner) (*platform.APIKey, error) {
	var (
		k       platform.APIKey
		created int64
		revoked sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.TenantID, &k.Name, &k.SecretHash, &created, &revoked); err != nil {
		return nil, err
	}
	k.CreatedAt = fromNanos(created)
	if revoked.Valid {
		at := fromNanos(revoked.Int64)
		k.RevokedAt = &at
	}
	return &k, nil
}

// APIKey returns a key by id (revoked ones included). platform.ErrNotFound if unknown.
func (s *Store) APIKey(ctx context.Context, id string) (*platform.APIKey, error) {
	if err := validate("APIKey").str("id", id).done(); err != nil {
		return nil, err
	}
	k, err := scanAPIKey(s.r.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: API key %s: %w", id, platform.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: API key %s: %w", id, err)
	}
	return k, nil
}

// APIKeys lists a tenant's keys, oldest first (none for an unknown tenant).
func (s *Store) APIKeys(ctx context.Context, tenantID string) ([]platform.APIKey, error) {
	if err := validate("APIKeys").str("tenantID", tenantID).done(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: API keys of %s: %w", tenantID, err)
	}
	defer rows.Close()
	var out []platform.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("store: API keys of %s: %w", tenantID, err)
		}
		out = append(out, *k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: API keys of %s: %w", tenantID, err)
	}
	return out, nil
}

// RevokeAPIKey marks a key revoked at the given time. platform.ErrNotFound if unknown,
// platform.ErrConflict if already revoked (the first revocation time is kept).
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	if err := validate("RevokeAPIKey").str("id", id).time("at", at).done(); err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx,
		`UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, nanos(at), id)
	if err != nil {
		return fmt.Errorf("store: revoke API key %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: revoke API key %s: %w", id, err)
	}
	if n == 1 {
		return nil
	}
	// The guard refused: tell an unknown key from a revoked one. Keys are never deleted, so
	// this read cannot race with the update above.
	var one int
	err = s.w.QueryRowContext(ctx, `SELECT 1 FROM api_keys WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: API key %s: %w", id, platform.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: revoke API key %s: %w", id, err)
	}
	return fmt.Errorf("store: API key %s already revoked: %w", id, platform.ErrConflict)
}

// orEmpty returns s, or an empty slice for nil (so that JSON says [] and not null).
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
