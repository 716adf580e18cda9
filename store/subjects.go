package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The index of tenants' pairwise ids (tables subjects and subject_marks; platform.SubjectStorage).

// SubjectPerson returns the person behind an indexed pairwise id ("" when none) and the
// tenant's high-water mark: the verifications before it are indexed (zero: none are).
func (s *Store) SubjectPerson(ctx context.Context, tenantID string, key []byte) (string, time.Time, error) {
	if err := validate("SubjectPerson").str("tenantID", tenantID).check("key", len(key) > 0, "is empty").done(); err != nil {
		return "", time.Time{}, err
	}
	var person string
	var mark sql.NullInt64
	err := s.r.QueryRowContext(ctx, `
		SELECT COALESCE((SELECT person_id FROM subjects WHERE tenant_id = $1 AND sub_hash = $2), ''),
		       (SELECT indexed_to FROM subject_marks WHERE tenant_id = $1)`, tenantID, key).Scan(&person, &mark)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, fmt.Errorf("store: subject of %s: %w", tenantID, err)
	}
	if !mark.Valid {
		return person, time.Time{}, nil
	}
	return person, fromNanos(mark.Int64), nil
}

// TenantPersonsSince calls fn with every person the tenant has an accepted verification of
// made at or after since (each person once); fn MUST NOT write to the store.
func (s *Store) TenantPersonsSince(ctx context.Context, tenantID string, since time.Time, fn func(personID string) error) error {
	if err := validate("TenantPersonsSince").str("tenantID", tenantID).check("fn", fn != nil, "is nil").done(); err != nil {
		return err
	}
	// The (tenant_id, created_at) index verifications_tenant_recent serves it.
	return s.eachTenantPerson(ctx, tenantID, fn, `
		SELECT DISTINCT person_id FROM verifications
		WHERE tenant_id = $1 AND created_at >= $2 AND decision = 'accepted'`, tenantID, nanos(since))
}

// IndexSubjects indexes pairwise ids (keyed hash → person) of a tenant and moves its
// high-water mark to mark (never back), in one transaction.
func (s *Store) IndexSubjects(ctx context.Context, tenantID string, subjects map[string]string, mark time.Time) error {
	if err := validate("IndexSubjects").str("tenantID", tenantID).time("mark", mark).done(); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: index subjects of %s: %w", tenantID, err)
	}
	defer tx.Rollback()
	for key, person := range subjects {
		if _, err := tx.ExecContext(ctx, `INSERT INTO subjects (tenant_id, sub_hash, person_id) VALUES ($1, $2, $3) ON CONFLICT (tenant_id, sub_hash) DO NOTHING`,
			tenantID, []byte(key), person); err != nil {
			return fmt.Errorf("store: index subjects of %s: %w", tenantID, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO subject_marks (tenant_id, indexed_to) VALUES ($1, $2)
		ON CONFLICT (tenant_id) DO UPDATE SET indexed_to = excluded.indexed_to WHERE excluded.indexed_to > subject_marks.indexed_to`,
		tenantID, nanos(mark)); err != nil {
		return fmt.Errorf("store: index subjects of %s: %w", tenantID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: index subjects of %s: %w", tenantID, err)
	}
	return nil
}
