package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mynagate/mynagate/platform"
)

// Revocation notification (platform.NotifyStorage) and consents (platform.ConsentStorage; they
// are written by CompleteSession). The queries are the same in both dialects.

// PersonsByCerts returns, by serial, the person each linked certificate of CA ca belongs to.
func (s *Store) PersonsByCerts(ctx context.Context, ca string, serials []string) (map[string]string, error) {
	err := validate("PersonsByCerts").str("ca", ca).check("serials", !slices.Contains(serials, ""), "has an empty serial").done()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for chunk := range slices.Chunk(serials, 500) {
		args := []any{ca}
		marks := make([]string, len(chunk))
		for i, sn := range chunk {
			args = append(args, sn)
			marks[i] = fmt.Sprintf("$%d", i+2)
		}
		rows, err := s.r.QueryContext(ctx, `SELECT serial, person_id FROM person_certs WHERE ca = $1 AND serial IN (`+strings.Join(marks, ", ")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: persons of certificates of %s: %w", ca, err)
		}
		for rows.Next() {
			var sn, person string
			if err := rows.Scan(&sn, &person); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: persons of certificates of %s: %w", ca, err)
			}
			out[sn] = person
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: persons of certificates of %s: %w", ca, err)
		}
	}
	return out, nil
}

// WatchedCerts calls fn with every certificate of CA ca linked to a person and without a
// revocation notice. It streams rows from one query (no full copy in memory); fn must not write.
func (s *Store) WatchedCerts(ctx context.Context, ca string, fn func(serial, personID string) error) error {
	if err := validate("WatchedCerts").str("ca", ca).check("fn", fn != nil, "is nil").done(); err != nil {
		return err
	}
	rows, err := s.r.QueryContext(ctx, `
		SELECT c.serial, c.person_id FROM person_certs c
		WHERE c.ca = $1 AND NOT EXISTS (SELECT 1 FROM revocation_notices n WHERE n.ca = c.ca AND n.serial = c.serial)`, ca)
	if err != nil {
		return fmt.Errorf("store: watched certificates of %s: %w", ca, err)
	}
	defer rows.Close()
	var sn, person string
	for rows.Next() {
		if err := rows.Scan(&sn, &person); err != nil {
			return fmt.Errorf("store: watched certificates of %s: %w", ca, err)
		}
		if err := fn(sn, person); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: watched certificates of %s: %w", ca, err)
	}
	return nil
}

// Watchers returns the tenants watching a person, each with its effective consent to scope.
func (s *Store) Watchers(ctx context.Context, personID, scope string) ([]platform.Watcher, error) {
	if err := validate("Watchers").str("personID", personID).str("scope", scope).done(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `
		SELECT v.tenant_id, MAX(v.created_at),
			(SELECT c.id FROM consents c JOIN verifications cv ON cv.id = c.verification_id
				WHERE cv.person_id = $1 AND cv.decision = 'accepted' AND c.tenant_id = v.tenant_id AND c.scope = $2
					AND c.revoked_at IS NULL AND c.granted_at > COALESCE(w.stopped_at, 0)
				ORDER BY c.granted_at DESC, c.id LIMIT 1)
		FROM verifications v
		LEFT JOIN watch_stops w ON w.tenant_id = v.tenant_id AND w.person_id = v.person_id
		WHERE v.person_id = $1 AND v.decision = 'accepted'
		GROUP BY v.tenant_id, w.stopped_at
		HAVING w.stopped_at IS NULL OR MAX(v.created_at) > w.stopped_at
		ORDER BY v.tenant_id`, personID, scope)
	if err != nil {
		return nil, fmt.Errorf("store: watchers of %s: %w", personID, err)
	}
	defer rows.Close()
	var out []platform.Watcher
	for rows.Next() {
		var w platform.Watcher
		var since int64
		var consent sql.NullString
		if err := rows.Scan(&w.TenantID, &since, &consent); err != nil {
			return nil, fmt.Errorf("store: watchers of %s: %w", personID, err)
		}
		w.Since, w.ConsentID = fromNanos(since), consent.String
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: watchers of %s: %w", personID, err)
	}
	return out, nil
}

// RecordRevocations stores notices with their events in one transaction; a notice whose
// certificate has one already is skipped with its events (INSERT … ON CONFLICT DO NOTHING and a
// RowsAffected check, so two nodes reading one CRL notice each certificate once).
func (s *Store) RecordRevocations(ctx context.Context, notices []platform.RevocationNotice) (int, error) {
	val := validate("RecordRevocations")
	for i, n := range notices {
		f := fmt.Sprintf("notices[%d].", i)
		val.str(f+"CA", n.CA).str(f+"Serial", n.Serial).str(f+"PersonID", n.PersonID).str(f+"CRL", n.CRL).
			time(f+"RevokedAt", n.RevokedAt).time(f+"NoticedAt", n.NoticedAt).time(f+"FollowUpAt", n.FollowUpAt).
			check(f+"FollowUp", n.FollowUp == platform.FollowUpPending || n.FollowUp == platform.FollowUpDone, "is not pending or done")
		validateEvents(val, f+"Events", n.Events)
	}
	if err := val.done(); err != nil {
		return 0, err
	}
	notices = slices.Clone(notices)
	slices.SortFunc(notices, func(a, b platform.RevocationNotice) int {
		if c := strings.Compare(a.CA, b.CA); c != 0 {
			return c
		}
		return strings.Compare(a.Serial, b.Serial)
	})
	stored := 0
	err := s.inTx(ctx, "RecordRevocations", func(tx *sql.Tx) error {
		stored = 0
		for _, n := range notices {
			res, err := tx.ExecContext(ctx, `
				INSERT INTO revocation_notices (ca, serial, person_id, reason, revoked_at, crl, noticed_at, followup, followup_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
				ON CONFLICT (ca, serial) DO NOTHING`,
				n.CA, n.Serial, n.PersonID, n.Reason, nanos(n.RevokedAt), n.CRL, nanos(n.NoticedAt), string(n.FollowUp), nanos(n.FollowUpAt))
			if violated(err) == foreignKeyViolation {
				return fmt.Errorf("store: revocation notice %s/%s: person %s: %w", n.CA, n.Serial, n.PersonID, platform.ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("store: revocation notice %s/%s: %w", n.CA, n.Serial, err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("store: revocation notice %s/%s: %w", n.CA, n.Serial, err)
			}
			if k == 0 {
				continue // noticed before, with its events
			}
			stored++
			if err := appendEvents(ctx, tx, n.Events, n.PersonID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return stored, nil
}

func validateEvents(val *validator, field string, events []platform.Event) {
	for i, e := range events {
		f := fmt.Sprintf("%s[%d].", field, i)
		val.str(f+"ID", e.ID).str(f+"TenantID", e.TenantID).str(f+"Type", e.Type).
			bytes(f+"Payload", e.Payload).time(f+"CreatedAt", e.CreatedAt)
	}
}

// appendEvents appends events to the outbox with an ordering key; an event whose id exists is
// skipped (its id is derived from what it is about, so it is the same event).
func appendEvents(ctx context.Context, tx *sql.Tx, events []platform.Event, orderingKey string) error {
	for _, e := range events {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO outbox (id, tenant_id, type, payload, created_at, next_attempt_at, ordering_key)
			VALUES ($1, $2, $3, $4, $5, $5, $6)
			ON CONFLICT (id) DO NOTHING`,
			e.ID, e.TenantID, e.Type, e.Payload, nanos(e.CreatedAt), nullString(orderingKey))
		if violated(err) == foreignKeyViolation {
			return fmt.Errorf("store: event %s: tenant %s: %w", e.ID, e.TenantID, platform.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: append event %s: %w", e.ID, err)
		}
	}
	return nil
}

const noticeColumns = `ca, serial, person_id, reason, revoked_at, crl, noticed_at, followup, followup_attempts, followup_at, followup_error`

func scanNotice(row scanner) (platform.RevocationNotice, error) {
	var (
		n                          platform.RevocationNotice
		state                      string
		revoked, noticed, followAt int64
	)
	err := row.Scan(&n.CA, &n.Serial, &n.PersonID, &n.Reason, &revoked, &n.CRL, &noticed, &state, &n.FollowUpAttempts, &followAt, &n.FollowUpError)
	n.RevokedAt, n.NoticedAt, n.FollowUpAt, n.FollowUp = fromNanos(revoked), fromNanos(noticed), fromNanos(followAt), platform.FollowUpState(state)
	return n, err
}

// ClaimFollowUps claims due follow-ups: one UPDATE … RETURNING over the due rows, which on
// PostgreSQL are picked FOR UPDATE SKIP LOCKED, so nodes claiming together get different rows.
func (s *Store) ClaimFollowUps(ctx context.Context, at, leaseUntil time.Time, limit int) ([]platform.RevocationNotice, error) {
	err := validate("ClaimFollowUps").time("at", at).time("leaseUntil", leaseUntil).
		check("leaseUntil", leaseUntil.After(at), "is not after at").check("limit", limit > 0, "is not positive").done()
	if err != nil {
		return nil, err
	}
	var out []platform.RevocationNotice
	err = s.inTx(ctx, "ClaimFollowUps", func(tx *sql.Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, `
			UPDATE revocation_notices SET followup_at = $2, followup_attempts = followup_attempts + 1
			WHERE (ca, serial) IN (
				SELECT ca, serial FROM revocation_notices WHERE followup = 'pending' AND followup_at <= $1
				ORDER BY followup_at LIMIT $3`+s.skipLocked()+`)
			RETURNING `+noticeColumns, nanos(at), nanos(leaseUntil), limit)
		if err != nil {
			return fmt.Errorf("store: claim follow-ups: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			n, err := scanNotice(rows)
			if err != nil {
				return fmt.Errorf("store: claim follow-ups: %w", err)
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	return out, err
}

// skipLocked is the row-locking clause of a claim: PostgreSQL skips rows another transaction is
// claiming; SQLite has one writer, so a claim never meets another.
func (s *Store) skipLocked() string {
	if s.dialect == DialectPostgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// FinishFollowUp links certificates, appends events and marks the follow-up done, in one
// transaction.
func (s *Store) FinishFollowUp(ctx context.Context, ca, serial string, certs []platform.PersonCert, events []platform.Event, at time.Time) error {
	val := validate("FinishFollowUp").str("ca", ca).str("serial", serial).time("at", at)
	for i, c := range certs {
		f := fmt.Sprintf("certs[%d].", i)
		val.str(f+"PersonID", c.PersonID).str(f+"CA", c.CA).str(f+"Serial", c.Serial).
			check(f+"Kind", c.Kind == "sign" || c.Kind == "auth", `is not "sign" or "auth"`).time(f+"LinkedAt", c.LinkedAt)
	}
	validateEvents(val, "events", events)
	if err := val.done(); err != nil {
		return err
	}
	certs = slices.Clone(certs)
	slices.SortFunc(certs, func(a, b platform.PersonCert) int {
		if c := strings.Compare(a.CA, b.CA); c != 0 {
			return c
		}
		return strings.Compare(a.Serial, b.Serial)
	})
	return s.inTx(ctx, "FinishFollowUp", func(tx *sql.Tx) error {
		var person string
		err := tx.QueryRowContext(ctx, `SELECT person_id FROM revocation_notices WHERE ca = $1 AND serial = $2`, ca, serial).Scan(&person)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: follow-up of %s/%s: %w", ca, serial, platform.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: follow-up of %s/%s: %w", ca, serial, err)
		}
		for _, c := range certs {
			if c.PersonID != person {
				return &IncompleteError{Op: "FinishFollowUp", Field: "certs.PersonID", Reason: "is not the notice's person"}
			}
			_, err := tx.ExecContext(ctx, `
				INSERT INTO person_certs (ca, serial, person_id, kind, linked_at) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (ca, serial) DO NOTHING`, c.CA, c.Serial, c.PersonID, c.Kind, nanos(c.LinkedAt))
			if err != nil {
				return fmt.Errorf("store: follow-up of %s/%s: link %s/%s: %w", ca, serial, c.CA, c.Serial, err)
			}
		}
		if err := appendEvents(ctx, tx, events, person); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE revocation_notices SET followup = 'done', followup_at = $3, followup_error = ''
			WHERE ca = $1 AND serial = $2`, ca, serial, nanos(at))
		if err != nil {
			return fmt.Errorf("store: follow-up of %s/%s: %w", ca, serial, err)
		}
		return nil
	})
}

// FailFollowUp records a failed attempt: due again at next, or failed for good when next is zero.
func (s *Store) FailFollowUp(ctx context.Context, ca, serial string, next time.Time, reason string) error {
	if err := validate("FailFollowUp").str("ca", ca).str("serial", serial).done(); err != nil {
		return err
	}
	var res sql.Result
	var err error
	if next.IsZero() {
		res, err = s.w.ExecContext(ctx, `UPDATE revocation_notices SET followup = 'failed', followup_error = $3
			WHERE ca = $1 AND serial = $2 AND followup = 'pending'`, ca, serial, reason)
	} else {
		res, err = s.w.ExecContext(ctx, `UPDATE revocation_notices SET followup_at = $3, followup_error = $4
			WHERE ca = $1 AND serial = $2 AND followup = 'pending'`, ca, serial, nanos(next), reason)
	}
	if err != nil {
		return fmt.Errorf("store: fail follow-up of %s/%s: %w", ca, serial, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("store: fail follow-up of %s/%s: not pending: %w", ca, serial, platform.ErrNotFound)
	}
	return nil
}

// StopWatching records a watch stop; a second stop moves it later.
func (s *Store) StopWatching(ctx context.Context, tenantID, personID string, at time.Time) error {
	if err := validate("StopWatching").str("tenantID", tenantID).str("personID", personID).time("at", at).done(); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `
		INSERT INTO watch_stops (tenant_id, person_id, stopped_at) VALUES ($1, $2, $3)
		ON CONFLICT (tenant_id, person_id) DO UPDATE SET stopped_at = excluded.stopped_at`, tenantID, personID, nanos(at))
	if violated(err) == foreignKeyViolation {
		return fmt.Errorf("store: stop watching %s for %s: %w", personID, tenantID, platform.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: stop watching %s for %s: %w", personID, tenantID, err)
	}
	return nil
}

// eachTenantPerson runs query (one person_id column) and calls fn with each row, in the
// tenant's name for errors; the walk of TenantPersonsSince.
func (s *Store) eachTenantPerson(ctx context.Context, tenantID string, fn func(personID string) error, query string, args ...any) error {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store: persons of %s: %w", tenantID, err)
	}
	defer rows.Close()
	var person string
	for rows.Next() {
		if err := rows.Scan(&person); err != nil {
			return fmt.Errorf("store: persons of %s: %w", tenantID, err)
		}
		if err := fn(person); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: persons of %s: %w", tenantID, err)
	}
	return nil
}

// PersonConsents returns the consents given with accepted verifications of a person.
func (s *Store) PersonConsents(ctx context.Context, personID string) ([]platform.Consent, error) {
	if err := validate("PersonConsents").str("personID", personID).done(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `
		SELECT c.id, c.tenant_id, c.verification_id, c.scope, c.granted_at, c.revoked_at
		FROM consents c JOIN verifications v ON v.id = c.verification_id
		WHERE v.person_id = $1 AND v.decision = 'accepted'
		ORDER BY c.granted_at, c.id`, personID)
	if err != nil {
		return nil, fmt.Errorf("store: consents of %s: %w", personID, err)
	}
	defer rows.Close()
	var out []platform.Consent
	for rows.Next() {
		var c platform.Consent
		var granted int64
		var revoked sql.NullInt64
		if err := rows.Scan(&c.ID, &c.TenantID, &c.VerificationID, &c.Scope, &granted, &revoked); err != nil {
			return nil, fmt.Errorf("store: consents of %s: %w", personID, err)
		}
		c.GrantedAt = fromNanos(granted)
		if revoked.Valid {
			t := fromNanos(revoked.Int64)
			c.RevokedAt = &t
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: consents of %s: %w", personID, err)
	}
	return out, nil
}

// RevokeConsents revokes the consents in force that a person gave a tenant for a scope.
func (s *Store) RevokeConsents(ctx context.Context, personID, tenantID, scope string, at time.Time) (int, error) {
	err := validate("RevokeConsents").str("personID", personID).str("tenantID", tenantID).str("scope", scope).time("at", at).done()
	if err != nil {
		return 0, err
	}
	res, err := s.w.ExecContext(ctx, `
		UPDATE consents SET revoked_at = $4
		WHERE revoked_at IS NULL AND tenant_id = $2 AND scope = $3
			AND verification_id IN (SELECT id FROM verifications WHERE person_id = $1 AND decision = 'accepted')`,
		personID, tenantID, scope, nanos(at))
	if err != nil {
		return 0, fmt.Errorf("store: revoke consents of %s to %s: %w", personID, tenantID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: revoke consents of %s to %s: %w", personID, tenantID, err)
	}
	return int(n), nil
}
