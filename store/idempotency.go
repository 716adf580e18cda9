package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mynagate/mynagate/platform"
)

// ClaimIdempotencyKey implements platform.IdempotencyStorage: in one transaction it removes the
// key's stale row, inserts the claim unless a row is there (ON CONFLICT DO NOTHING, so two
// concurrent claims cannot both succeed: the primary key decides), and reads the row that won.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, tenantID, key string, digest []byte, at, staleBefore, abandonedBefore time.Time) (*platform.IdempotencyRecord, error) {
	var rec *platform.IdempotencyRecord
	err := s.inTx(ctx, "ClaimIdempotencyKey", func(tx *sql.Tx) error {
		rec = nil
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE tenant_id = $1 AND idem_key = $2
			AND (created_at < $3 OR (status IS NULL AND created_at < $4))`,
			tenantID, key, nanos(staleBefore), nanos(abandonedBefore)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (tenant_id, idem_key, request_digest, created_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, idem_key) DO NOTHING`, tenantID, key, digest, nanos(at))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var r platform.IdempotencyRecord
		var created int64
		var status sql.NullInt64
		err = tx.QueryRowContext(ctx, `SELECT request_digest, created_at, status, response FROM idempotency_keys
			WHERE tenant_id = $1 AND idem_key = $2`, tenantID, key).Scan(&r.Digest, &created, &status, &r.Response)
		if err != nil {
			return err
		}
		r.CreatedAt, r.Status = fromNanos(created), int(status.Int64)
		rec = &r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: ClaimIdempotencyKey: %w", err)
	}
	return rec, nil
}

// CompleteIdempotencyKey implements platform.IdempotencyStorage.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, tenantID, key string, status int, response []byte) error {
	return s.inTx(ctx, "CompleteIdempotencyKey", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET status = $3, response = $4
			WHERE tenant_id = $1 AND idem_key = $2 AND status IS NULL`, tenantID, key, status, response)
		if err != nil {
			return fmt.Errorf("store: CompleteIdempotencyKey: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(err, fmt.Errorf("store: CompleteIdempotencyKey: no running claim of the key (taken over after %s?): %w", "a minute", platform.ErrNotFound))
		}
		return nil
	})
}

// ReleaseIdempotencyKey implements platform.IdempotencyStorage.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, tenantID, key string) error {
	return s.inTx(ctx, "ReleaseIdempotencyKey", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE tenant_id = $1 AND idem_key = $2 AND status IS NULL`, tenantID, key)
		if err != nil {
			return fmt.Errorf("store: ReleaseIdempotencyKey: %w", err)
		}
		return nil
	})
}
