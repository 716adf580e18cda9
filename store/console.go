package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mynagate/mynagate/platform"
)

// The web console's storage (platform.ConsoleStorage): console users, a tenant's latest
// verifications, a person's accepted verifications, and the webhook backlog.

// CreateConsoleUser stores a user. platform.ErrConflict if the email or id exists,
// platform.ErrNotFound if the tenant is unknown.
func (s *Store) CreateConsoleUser(ctx context.Context, u platform.ConsoleUser) error {
	err := validate("CreateConsoleUser").str("ConsoleUser.ID", u.ID).str("ConsoleUser.Email", u.Email).
		str("ConsoleUser.PasswordHash", u.PasswordHash).time("ConsoleUser.CreatedAt", u.CreatedAt).
		check("ConsoleUser.Role", (u.Role == platform.RoleOperator && u.TenantID == "") || (u.Role == platform.RoleStaff && u.TenantID != ""),
			"is not staff of a tenant or an operator of none").done()
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx,
		`INSERT INTO console_users (id, tenant_id, email, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		u.ID, nullString(u.TenantID), u.Email, u.PasswordHash, u.Role, nanos(u.CreatedAt))
	switch violated(err) {
	case uniqueViolation:
		return fmt.Errorf("store: console user %s exists: %w", u.Email, platform.ErrConflict)
	case foreignKeyViolation:
		return fmt.Errorf("store: tenant %s: %w", u.TenantID, platform.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: CreateConsoleUser: %w", err)
	}
	return nil
}

func (s *Store) consoleUser(ctx context.Context, op, where, arg string) (*platform.ConsoleUser, error) {
	if err := validate(op).str("key", arg).done(); err != nil {
		return nil, err
	}
	var (
		u       platform.ConsoleUser
		tenant  sql.NullString
		card    sql.NullString
		created int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT id, tenant_id, email, password_hash, role, created_at, card_sub FROM console_users WHERE `+where+` = $1`, arg).
		Scan(&u.ID, &tenant, &u.Email, &u.PasswordHash, &u.Role, &created, &card)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: console user: %w", platform.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	u.TenantID = tenant.String
	u.CardSub = card.String
	u.CreatedAt = fromNanos(created)
	return &u, nil
}

// ConsoleUserByEmail returns a user by lower-case email. platform.ErrNotFound if unknown.
func (s *Store) ConsoleUserByEmail(ctx context.Context, email string) (*platform.ConsoleUser, error) {
	return s.consoleUser(ctx, "ConsoleUserByEmail", "email", email)
}

// ConsoleUser returns a user by id. platform.ErrNotFound if unknown.
func (s *Store) ConsoleUser(ctx context.Context, id string) (*platform.ConsoleUser, error) {
	return s.consoleUser(ctx, "ConsoleUser", "id", id)
}

// ConsoleUserByCard returns the user a card's subject is linked to. platform.ErrNotFound if
// none.
func (s *Store) ConsoleUserByCard(ctx context.Context, sub string) (*platform.ConsoleUser, error) {
	return s.consoleUser(ctx, "ConsoleUserByCard", "card_sub", sub)
}

// LinkConsoleCard links a user to a card's subject, replacing any earlier link of that user.
// platform.ErrNotFound if the user is unknown, platform.ErrConflict if the subject is linked to
// another user.
func (s *Store) LinkConsoleCard(ctx context.Context, userID, sub string) error {
	if err := validate("LinkConsoleCard").str("userID", userID).str("sub", sub).done(); err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `UPDATE console_users SET card_sub = $1 WHERE id = $2`, sub, userID)
	if violated(err) == uniqueViolation {
		return fmt.Errorf("store: the card is linked to another console user: %w", platform.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: LinkConsoleCard: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: LinkConsoleCard: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store: console user %s: %w", userID, platform.ErrNotFound)
	}
	return nil
}

func (s *Store) summaries(ctx context.Context, op, query string, args ...any) ([]platform.Verification, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	defer rows.Close()
	var out []platform.Verification
	for rows.Next() {
		var (
			v                         platform.Verification
			purpose, decision, method string
			created                   int64
		)
		if err := rows.Scan(&v.ID, &v.TenantID, &v.SessionID, &purpose, &decision, &v.Reason, &method, &created); err != nil {
			return nil, fmt.Errorf("store: %s: %w", op, err)
		}
		v.Purpose, v.Decision, v.Method = platform.Purpose(purpose), platform.Decision(decision), platform.RevocationMethod(method)
		v.CreatedAt = fromNanos(created)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	return out, nil
}

// RecentVerifications returns a tenant's latest verifications, newest first.
func (s *Store) RecentVerifications(ctx context.Context, tenantID string, limit int) ([]platform.Verification, error) {
	if err := validate("RecentVerifications").str("tenantID", tenantID).check("limit", limit > 0, "is not positive").done(); err != nil {
		return nil, err
	}
	return s.summaries(ctx, "RecentVerifications", `
		SELECT id, tenant_id, session_id, purpose, decision, reason, method, created_at
		FROM verifications WHERE tenant_id = $1
		ORDER BY created_at DESC, id DESC LIMIT $2`, tenantID, limit)
}

// PersonVerifications returns the accepted verifications of a person, oldest first.
func (s *Store) PersonVerifications(ctx context.Context, personID string) ([]platform.Verification, error) {
	if err := validate("PersonVerifications").str("personID", personID).done(); err != nil {
		return nil, err
	}
	return s.summaries(ctx, "PersonVerifications", `
		SELECT id, tenant_id, session_id, purpose, decision, reason, method, created_at
		FROM verifications WHERE person_id = $1 AND decision = 'accepted'
		ORDER BY created_at, id`, personID)
}

// PendingDeliveries counts the pending webhook deliveries and the due time of the oldest.
func (s *Store) PendingDeliveries(ctx context.Context) (int, time.Time, error) {
	var (
		n      int
		oldest sql.NullInt64
	)
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*), MIN(next_attempt_at) FROM webhook_deliveries WHERE state = 'pending'`).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: pending deliveries: %w", err)
	}
	if !oldest.Valid {
		return n, time.Time{}, nil
	}
	return n, fromNanos(oldest.Int64), nil
}
