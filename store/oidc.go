package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mynagate/mynagate/oidc"
	"github.com/mynagate/mynagate/platform"
)

// The OpenID provider's storage (oidc.Storage): clients, login requests, tokens and signing
// keys; the same SQL on both dialects. Every change of state is one
// guarded UPDATE whose RowsAffected says whether the guard held.

var _ oidc.Storage = (*Store)(nil)

// CreateOIDCClient stores a client.
func (s *Store) CreateOIDCClient(ctx context.Context, c oidc.Client) error {
	err := validate("CreateOIDCClient").str("Client.ID", c.ID).str("Client.TenantID", c.TenantID).str("Client.Name", c.Name).
		check("Client.Redirects", len(c.Redirects) > 0, "is empty").time("Client.CreatedAt", c.CreatedAt).done()
	if err != nil {
		return err
	}
	redirects, _ := json.Marshal(c.Redirects)
	logouts, _ := json.Marshal(nonNil(c.Logouts))
	var secret any
	if len(c.SecretHash) > 0 {
		secret = c.SecretHash
	}
	return s.inTx(ctx, "CreateOIDCClient", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oidc_clients (id, tenant_id, name, secret_hash, redirect_uris, logout_uris, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.ID, c.TenantID, c.Name, secret, string(redirects), string(logouts), nanos(c.CreatedAt))
		switch violated(err) {
		case uniqueViolation:
			return fmt.Errorf("store: client %s exists: %w", c.ID, platform.ErrConflict)
		case foreignKeyViolation:
			return fmt.Errorf("store: client %s: tenant %s: %w", c.ID, c.TenantID, platform.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: client %s: %w", c.ID, err)
		}
		return nil
	})
}

const oidcClientColumns = `id, tenant_id, name, secret_hash, redirect_uris, logout_uris, created_at, deleted_at`

func scanOIDCClient(row scanner) (*oidc.Client, error) {
	var (
		c                  oidc.Client
		redirects, logouts string
		created            int64
		deleted            sql.NullInt64
	)
	if err := row.Scan(&c.ID, &c.TenantID, &c.Name, &c.SecretHash, &redirects, &logouts, &created, &deleted); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(redirects), &c.Redirects); err != nil {
		return nil, fmt.Errorf("client %s: redirect URIs: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(logouts), &c.Logouts); err != nil {
		return nil, fmt.Errorf("client %s: logout URIs: %w", c.ID, err)
	}
	c.CreatedAt = fromNanos(created)
	c.DeletedAt = optNanos(deleted)
	return &c, nil
}

func optNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

// OIDCClient returns a client.
func (s *Store) OIDCClient(ctx context.Context, id string) (*oidc.Client, error) {
	if err := validate("OIDCClient").str("id", id).done(); err != nil {
		return nil, err
	}
	c, err := scanOIDCClient(s.r.QueryRowContext(ctx, `SELECT `+oidcClientColumns+` FROM oidc_clients WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: client %s: %w", id, platform.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: client %s: %w", id, err)
	}
	return c, nil
}

// OIDCClients lists a tenant's live clients.
func (s *Store) OIDCClients(ctx context.Context, tenantID string) ([]oidc.Client, error) {
	if err := validate("OIDCClients").str("tenantID", tenantID).done(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+oidcClientColumns+` FROM oidc_clients WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY created_at, id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: clients of %s: %w", tenantID, err)
	}
	defer rows.Close()
	var out []oidc.Client
	for rows.Next() {
		c, err := scanOIDCClient(rows)
		if err != nil {
			return nil, fmt.Errorf("store: clients of %s: %w", tenantID, err)
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

// DeleteOIDCClient marks a client deleted and revokes its tokens, in one transaction.
func (s *Store) DeleteOIDCClient(ctx context.Context, tenantID, id string, at time.Time) error {
	if err := validate("DeleteOIDCClient").str("tenantID", tenantID).str("id", id).time("at", at).done(); err != nil {
		return err
	}
	return s.inTx(ctx, "DeleteOIDCClient", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oidc_clients SET deleted_at = $1 WHERE id = $2 AND tenant_id = $3 AND deleted_at IS NULL`, nanos(at), id, tenantID)
		if err != nil {
			return fmt.Errorf("store: delete client %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("store: client %s of %s: %w", id, tenantID, platform.ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE oidc_tokens SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL`, nanos(at), id); err != nil {
			return fmt.Errorf("store: revoke tokens of client %s: %w", id, err)
		}
		return nil
	})
}

// CreateOIDCRequest stores a login request.
func (s *Store) CreateOIDCRequest(ctx context.Context, r oidc.Request, deviceHash string) error {
	v := validate("CreateOIDCRequest").str("Request.ID", r.ID).str("Request.ClientID", r.ClientID).str("Request.TenantID", r.TenantID).
		check("Request.Kind", r.Kind == "code" || r.Kind == "device", "is not code or device").
		time("Request.CreatedAt", r.CreatedAt).time("Request.ExpiresAt", r.ExpiresAt)
	if r.Kind == "device" {
		v.str("deviceHash", deviceHash).str("Request.UserCode", r.UserCode)
	}
	if err := v.done(); err != nil {
		return err
	}
	params, err := json.Marshal(r.Params)
	if err != nil {
		return fmt.Errorf("store: request %s: %w", r.ID, err)
	}
	return s.inTx(ctx, "CreateOIDCRequest", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oidc_requests (id, kind, client_id, tenant_id, params, created_at, expires_at, device_hash, user_code)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, r.ID, r.Kind, r.ClientID, r.TenantID, string(params), nanos(r.CreatedAt), nanos(r.ExpiresAt),
			nullString(deviceHash), nullString(r.UserCode))
		switch violated(err) {
		case uniqueViolation:
			return fmt.Errorf("store: request %s: %w", r.ID, platform.ErrConflict)
		case foreignKeyViolation:
			return fmt.Errorf("store: request %s: client %s: %w", r.ID, r.ClientID, platform.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: request %s: %w", r.ID, err)
		}
		return nil
	})
}

const oidcRequestColumns = `id, kind, client_id, tenant_id, params, created_at, expires_at, session_id, subject, verification_id, acr, amr,
	auth_time, done_at, denied_at, code_expires_at, code_used_at, user_code, last_poll_at`

func scanOIDCRequest(row scanner) (*oidc.Request, error) {
	var (
		r                                 oidc.Request
		params                            string
		created, expires                  int64
		session, subject, verif, acr, amr sql.NullString
		userCode                          sql.NullString
		authTime, done, denied, codeExp   sql.NullInt64
		codeUsed, lastPoll                sql.NullInt64
	)
	if err := row.Scan(&r.ID, &r.Kind, &r.ClientID, &r.TenantID, &params, &created, &expires, &session, &subject, &verif, &acr, &amr,
		&authTime, &done, &denied, &codeExp, &codeUsed, &userCode, &lastPoll); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(params), &r.Params); err != nil {
		return nil, fmt.Errorf("request %s: params: %w", r.ID, err)
	}
	r.CreatedAt, r.ExpiresAt = fromNanos(created), fromNanos(expires)
	r.SessionID, r.UserCode = session.String, userCode.String
	if done.Valid {
		l := &oidc.Login{SessionID: session.String, Subject: subject.String, VerificationID: verif.String, ACR: acr.String, AuthTime: fromNanos(authTime.Int64)}
		if err := json.Unmarshal([]byte(amr.String), &l.AMR); err != nil {
			return nil, fmt.Errorf("request %s: amr: %w", r.ID, err)
		}
		r.Login = l
	}
	r.DeniedAt, r.CodeExpiresAt, r.CodeUsedAt, r.LastPollAt = optNanos(denied), optNanos(codeExp), optNanos(codeUsed), optNanos(lastPoll)
	return &r, nil
}

func (s *Store) oidcRequest(ctx context.Context, q querier, where string, arg any) (*oidc.Request, error) {
	r, err := scanOIDCRequest(q.QueryRowContext(ctx, `SELECT `+oidcRequestColumns+` FROM oidc_requests WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: request: %w", platform.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: request: %w", err)
	}
	return r, nil
}

// OIDCRequest returns a request.
func (s *Store) OIDCRequest(ctx context.Context, id string) (*oidc.Request, error) {
	if err := validate("OIDCRequest").str("id", id).done(); err != nil {
		return nil, err
	}
	return s.oidcRequest(ctx, s.r, `id = $1`, id)
}

// OIDCRequestByUserCode returns a device request by its user code.
func (s *Store) OIDCRequestByUserCode(ctx context.Context, userCode string) (*oidc.Request, error) {
	if err := validate("OIDCRequestByUserCode").str("userCode", userCode).done(); err != nil {
		return nil, err
	}
	return s.oidcRequest(ctx, s.r, `user_code = $1`, userCode)
}

// guarded runs one UPDATE and maps "no row changed" to ErrConflict, or to ErrNotFound when
// the row does not exist.
func (s *Store) guarded(ctx context.Context, op, table, id, query string, args ...any) error {
	return s.inTx(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("store: %s %s: %w", op, id, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM `+table+` WHERE id = $1`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: %s %s: %w", op, id, platform.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: %s %s: %w", op, id, err)
		}
		return fmt.Errorf("store: %s %s: %w", op, id, platform.ErrConflict)
	})
}

// SetOIDCRequestSession records the platform session of a request's login step.
func (s *Store) SetOIDCRequestSession(ctx context.Context, id, sessionID string) error {
	if err := validate("SetOIDCRequestSession").str("id", id).str("sessionID", sessionID).done(); err != nil {
		return err
	}
	return s.guarded(ctx, "SetOIDCRequestSession", "oidc_requests", id,
		`UPDATE oidc_requests SET session_id = $1 WHERE id = $2 AND done_at IS NULL AND denied_at IS NULL`, sessionID, id)
}

// CompleteOIDCRequest records a request's login.
func (s *Store) CompleteOIDCRequest(ctx context.Context, id string, l oidc.Login, at time.Time) error {
	err := validate("CompleteOIDCRequest").str("id", id).str("Login.SessionID", l.SessionID).str("Login.Subject", l.Subject).
		str("Login.VerificationID", l.VerificationID).str("Login.ACR", l.ACR).time("Login.AuthTime", l.AuthTime).time("at", at).done()
	if err != nil {
		return err
	}
	amr, _ := json.Marshal(nonNil(l.AMR))
	return s.guarded(ctx, "CompleteOIDCRequest", "oidc_requests", id,
		`UPDATE oidc_requests SET subject = $1, verification_id = $2, acr = $3, amr = $4, auth_time = $5, done_at = $6
		 WHERE id = $7 AND session_id = $8 AND done_at IS NULL AND denied_at IS NULL`,
		l.Subject, l.VerificationID, l.ACR, string(amr), nanos(l.AuthTime), nanos(at), id, l.SessionID)
}

// DenyOIDCRequest records that the holder declined.
func (s *Store) DenyOIDCRequest(ctx context.Context, id string, at time.Time) error {
	if err := validate("DenyOIDCRequest").str("id", id).time("at", at).done(); err != nil {
		return err
	}
	return s.guarded(ctx, "DenyOIDCRequest", "oidc_requests", id,
		`UPDATE oidc_requests SET denied_at = $1 WHERE id = $2 AND done_at IS NULL AND denied_at IS NULL`, nanos(at), id)
}

// SaveOIDCCode attaches a code to a completed code request.
func (s *Store) SaveOIDCCode(ctx context.Context, id, codeHash string, expires time.Time) error {
	if err := validate("SaveOIDCCode").str("id", id).str("codeHash", codeHash).time("expires", expires).done(); err != nil {
		return err
	}
	return s.guarded(ctx, "SaveOIDCCode", "oidc_requests", id,
		`UPDATE oidc_requests SET code_hash = $1, code_expires_at = $2 WHERE id = $3 AND kind = 'code' AND done_at IS NOT NULL AND code_hash IS NULL`,
		codeHash, nanos(expires), id)
}

// ConsumeOIDCCode spends a code.
func (s *Store) ConsumeOIDCCode(ctx context.Context, codeHash string, at time.Time) (*oidc.Request, error) {
	if err := validate("ConsumeOIDCCode").str("codeHash", codeHash).time("at", at).done(); err != nil {
		return nil, err
	}
	var out *oidc.Request
	var used bool
	err := s.inTx(ctx, "ConsumeOIDCCode", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oidc_requests SET code_used_at = $1 WHERE code_hash = $2 AND code_used_at IS NULL`, nanos(at), codeHash)
		if err != nil {
			return fmt.Errorf("store: consume code: %w", err)
		}
		n, _ := res.RowsAffected()
		used = n != 1
		out, err = s.oidcRequest(ctx, tx, `code_hash = $1`, codeHash)
		return err
	})
	if err != nil {
		return nil, err
	}
	if used {
		return out, fmt.Errorf("store: code of request %s: %w", out.ID, oidc.ErrCodeUsed)
	}
	return out, nil
}

// PollOIDCDevice records a poll of a device code.
func (s *Store) PollOIDCDevice(ctx context.Context, clientID, deviceHash string, at time.Time, interval time.Duration) (*oidc.Request, bool, error) {
	if err := validate("PollOIDCDevice").str("clientID", clientID).str("deviceHash", deviceHash).time("at", at).done(); err != nil {
		return nil, false, err
	}
	var out *oidc.Request
	var tooSoon bool
	err := s.inTx(ctx, "PollOIDCDevice", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oidc_requests SET last_poll_at = $1
			WHERE device_hash = $2 AND client_id = $3 AND (last_poll_at IS NULL OR last_poll_at <= $4)`,
			nanos(at), deviceHash, clientID, nanos(at.Add(-interval)))
		if err != nil {
			return fmt.Errorf("store: poll device: %w", err)
		}
		n, _ := res.RowsAffected()
		tooSoon = n != 1
		out, err = s.oidcRequest(ctx, tx, `device_hash = $1`, deviceHash)
		if err == nil && out.ClientID != clientID {
			return fmt.Errorf("store: device code of another client: %w", platform.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return out, tooSoon, nil
}

// ConsumeOIDCDevice marks a completed device grant used.
func (s *Store) ConsumeOIDCDevice(ctx context.Context, id string, at time.Time) error {
	if err := validate("ConsumeOIDCDevice").str("id", id).time("at", at).done(); err != nil {
		return err
	}
	err := s.guarded(ctx, "ConsumeOIDCDevice", "oidc_requests", id,
		`UPDATE oidc_requests SET code_used_at = $1 WHERE id = $2 AND kind = 'device' AND done_at IS NOT NULL AND code_used_at IS NULL`, nanos(at), id)
	if errors.Is(err, platform.ErrConflict) {
		return fmt.Errorf("store: device grant %s: %w", id, oidc.ErrCodeUsed)
	}
	return err
}

func validToken(v *validator, f string, t *oidc.Token) *validator {
	return v.str(f+"ID", t.ID).str(f+"Family", t.Family).str(f+"ClientID", t.ClientID).str(f+"TenantID", t.TenantID).
		str(f+"RequestID", t.RequestID).str(f+"Subject", t.Subject).str(f+"VerificationID", t.VerificationID).str(f+"ACR", t.ACR).
		time(f+"AuthTime", t.AuthTime).time(f+"CreatedAt", t.CreatedAt).time(f+"ExpiresAt", t.ExpiresAt)
}

func insertToken(ctx context.Context, tx *sql.Tx, t oidc.Token) error {
	scopes, _ := json.Marshal(nonNil(t.Scopes))
	amr, _ := json.Marshal(nonNil(t.AMR))
	_, err := tx.ExecContext(ctx, `INSERT INTO oidc_tokens (id, refresh_hash, family, client_id, tenant_id, request_id, subject, verification_id,
		scopes, acr, amr, auth_time, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		t.ID, nullString(t.RefreshHash), t.Family, t.ClientID, t.TenantID, t.RequestID, t.Subject, t.VerificationID,
		string(scopes), t.ACR, string(amr), nanos(t.AuthTime), nanos(t.CreatedAt), nanos(t.ExpiresAt))
	switch violated(err) {
	case uniqueViolation:
		return fmt.Errorf("store: token %s: %w", t.ID, platform.ErrConflict)
	case foreignKeyViolation:
		return fmt.Errorf("store: token %s: client %s: %w", t.ID, t.ClientID, platform.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: token %s: %w", t.ID, err)
	}
	return nil
}

// CreateOIDCTokens stores tokens, rotating a refresh token in the same transaction.
func (s *Store) CreateOIDCTokens(ctx context.Context, access oidc.Token, refresh *oidc.Token, rotated string, at time.Time) error {
	v := validToken(validate("CreateOIDCTokens"), "Access.", &access).check("Access.RefreshHash", access.RefreshHash == "", "is set on an access token").time("at", at)
	if refresh != nil {
		validToken(v, "Refresh.", refresh).str("Refresh.RefreshHash", refresh.RefreshHash)
	}
	if err := v.done(); err != nil {
		return err
	}
	return s.inTx(ctx, "CreateOIDCTokens", func(tx *sql.Tx) error {
		if rotated != "" {
			res, err := tx.ExecContext(ctx, `UPDATE oidc_tokens SET used_at = $1 WHERE refresh_hash = $2 AND used_at IS NULL AND revoked_at IS NULL`, nanos(at), rotated)
			if err != nil {
				return fmt.Errorf("store: rotate refresh token: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("store: rotate refresh token: %w", oidc.ErrRefreshUsed)
			}
		}
		if err := insertToken(ctx, tx, access); err != nil {
			return err
		}
		if refresh != nil {
			return insertToken(ctx, tx, *refresh)
		}
		return nil
	})
}

const oidcTokenColumns = `id, refresh_hash, family, client_id, tenant_id, request_id, subject, verification_id, scopes, acr, amr,
	auth_time, created_at, expires_at, used_at, revoked_at`

func scanOIDCToken(row scanner) (*oidc.Token, error) {
	var (
		t                          oidc.Token
		refresh                    sql.NullString
		scopes, amr                string
		authTime, created, expires int64
		used, revoked              sql.NullInt64
	)
	if err := row.Scan(&t.ID, &refresh, &t.Family, &t.ClientID, &t.TenantID, &t.RequestID, &t.Subject, &t.VerificationID, &scopes, &t.ACR, &amr,
		&authTime, &created, &expires, &used, &revoked); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &t.Scopes); err != nil {
		return nil, fmt.Errorf("token %s: scopes: %w", t.ID, err)
	}
	if err := json.Unmarshal([]byte(amr), &t.AMR); err != nil {
		return nil, fmt.Errorf("token %s: amr: %w", t.ID, err)
	}
	t.RefreshHash = refresh.String
	t.AuthTime, t.CreatedAt, t.ExpiresAt = fromNanos(authTime), fromNanos(created), fromNanos(expires)
	t.UsedAt, t.RevokedAt = optNanos(used), optNanos(revoked)
	return &t, nil
}

func (s *Store) oidcToken(ctx context.Context, where string, arg any) (*oidc.Token, error) {
	t, err := scanOIDCToken(s.r.QueryRowContext(ctx, `SELECT `+oidcTokenColumns+` FROM oidc_tokens WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: token: %w", platform.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: token: %w", err)
	}
	return t, nil
}

// OIDCToken returns a token by id.
func (s *Store) OIDCToken(ctx context.Context, id string) (*oidc.Token, error) {
	if err := validate("OIDCToken").str("id", id).done(); err != nil {
		return nil, err
	}
	return s.oidcToken(ctx, `id = $1`, id)
}

// OIDCRefreshToken returns a refresh token by its hash.
func (s *Store) OIDCRefreshToken(ctx context.Context, hash string) (*oidc.Token, error) {
	if err := validate("OIDCRefreshToken").str("hash", hash).done(); err != nil {
		return nil, err
	}
	return s.oidcToken(ctx, `refresh_hash = $1`, hash)
}

// RevokeOIDCTokens revokes a selection of tokens.
func (s *Store) RevokeOIDCTokens(ctx context.Context, by oidc.RevokeBy, at time.Time) (int, error) {
	var where string
	var args []any
	set := 0
	if by.Family != "" {
		where, args, set = `family = $2`, []any{by.Family}, set+1
	}
	if by.RequestID != "" {
		where, args, set = `request_id = $2`, []any{by.RequestID}, set+1
	}
	if by.TokenID != "" {
		where, args, set = `id = $2`, []any{by.TokenID}, set+1
	}
	if by.ClientID != "" || by.Subject != "" {
		where, args, set = `client_id = $2 AND subject = $3`, []any{by.ClientID, by.Subject}, set+1
	}
	err := validate("RevokeOIDCTokens").check("by", set == 1, "does not set exactly one selector").
		check("by.Subject", (by.ClientID == "") == (by.Subject == ""), "and ClientID go together").time("at", at).done()
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.inTx(ctx, "RevokeOIDCTokens", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE oidc_tokens SET revoked_at = $1 WHERE `+where+` AND revoked_at IS NULL`, append([]any{nanos(at)}, args...)...)
		if err != nil {
			return fmt.Errorf("store: revoke tokens: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

// OIDCSigningKeys returns the keys published at a time, newest first.
func (s *Store) OIDCSigningKeys(ctx context.Context, at time.Time) ([]oidc.SigningKey, error) {
	if err := validate("OIDCSigningKeys").time("at", at).done(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, alg, sealed, created_at, rotate_at, publish_until FROM oidc_keys
		WHERE publish_until > $1 ORDER BY created_at DESC, id DESC`, nanos(at))
	if err != nil {
		return nil, fmt.Errorf("store: signing keys: %w", err)
	}
	defer rows.Close()
	var out []oidc.SigningKey
	for rows.Next() {
		var k oidc.SigningKey
		var created, rotate, until int64
		if err := rows.Scan(&k.ID, &k.Alg, &k.Sealed, &created, &rotate, &until); err != nil {
			return nil, fmt.Errorf("store: signing keys: %w", err)
		}
		k.CreatedAt, k.RotateAt, k.PublishUntil = fromNanos(created), fromNanos(rotate), fromNanos(until)
		out = append(out, k)
	}
	return out, rows.Err()
}

// CreateOIDCSigningKey stores a new signing key.
func (s *Store) CreateOIDCSigningKey(ctx context.Context, k oidc.SigningKey) error {
	err := validate("CreateOIDCSigningKey").str("Key.ID", k.ID).str("Key.Alg", k.Alg).bytes("Key.Sealed", k.Sealed).
		time("Key.CreatedAt", k.CreatedAt).time("Key.RotateAt", k.RotateAt).time("Key.PublishUntil", k.PublishUntil).done()
	if err != nil {
		return err
	}
	return s.inTx(ctx, "CreateOIDCSigningKey", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oidc_keys (id, alg, sealed, created_at, rotate_at, publish_until) VALUES ($1, $2, $3, $4, $5, $6)`,
			k.ID, k.Alg, k.Sealed, nanos(k.CreatedAt), nanos(k.RotateAt), nanos(k.PublishUntil))
		if violated(err) == uniqueViolation {
			return fmt.Errorf("store: signing key %s: %w", k.ID, platform.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("store: signing key %s: %w", k.ID, err)
		}
		return nil
	})
}
