package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mynagate/mynagate/evidence"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/platform"
)

// CreateSession stores a new session, pending. With a non-empty idempotencyKey, a second call
// with the same tenant and key returns the session stored by the first (created = false) and
// stores nothing, even when both calls race: the key is a UNIQUE (tenant_id, idempotency_key)
// column and the insert is ON CONFLICT DO NOTHING. The replayed session is returned as stored,
// whatever the second call asked for. platform.ErrNotFound if the tenant is unknown,
// platform.ErrConflict if the session id exists.
func (s *Store) CreateSession(ctx context.Context, sess platform.Session, idempotencyKey string) (*platform.Session, bool, error) {
	err := validate("CreateSession").str("Session.ID", sess.ID).str("Session.TenantID", sess.TenantID).
		purpose("Session.Purpose", sess.Purpose).bytes("Session.Nonce", sess.Nonce).
		check("Session.Status", sess.Status == "" || sess.Status == platform.SessionPending, "is not pending").
		check("Session.VerificationID", sess.VerificationID == "", "is set on a new session").
		time("Session.CreatedAt", sess.CreatedAt).time("Session.ExpiresAt", sess.ExpiresAt).
		check("Session.ExpiresAt", sess.ExpiresAt.After(sess.CreatedAt), "is not after CreatedAt").done()
	if err != nil {
		return nil, false, err
	}
	sess.Status = platform.SessionPending
	res, err := s.w.ExecContext(ctx, `
		INSERT INTO sessions (id, tenant_id, purpose, nonce, holder_token, status, created_at, expires_at, client_ref, idempotency_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (tenant_id, idempotency_key) DO NOTHING`,
		sess.ID, sess.TenantID, string(sess.Purpose), sess.Nonce, sess.HolderToken, string(sess.Status),
		nanos(sess.CreatedAt), nanos(sess.ExpiresAt), sess.ClientRef, nullString(idempotencyKey))
	switch violated(err) {
	case uniqueViolation:
		return nil, false, fmt.Errorf("store: session %s exists: %w", sess.ID, platform.ErrConflict)
	case foreignKeyViolation:
		return nil, false, fmt.Errorf("store: session %s: tenant %s: %w", sess.ID, sess.TenantID, platform.ErrNotFound)
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: CreateSession %s: %w", sess.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, false, fmt.Errorf("store: CreateSession %s: %w", sess.ID, err)
	}
	if n == 1 {
		stored := sess
		stored.CreatedAt, stored.ExpiresAt = fromNanos(nanos(sess.CreatedAt)), fromNanos(nanos(sess.ExpiresAt))
		return &stored, true, nil
	}
	// The key was used before: its session is committed (a racing insert waited for it), so
	// read it back. Sessions are never deleted.
	stored, err := scanSession(s.w.QueryRowContext(ctx,
		`SELECT `+sessionColumns+` FROM sessions WHERE tenant_id = $1 AND idempotency_key = $2`,
		sess.TenantID, idempotencyKey))
	if err != nil {
		return nil, false, fmt.Errorf("store: CreateSession %s: read session of idempotency key: %w", sess.ID, err)
	}
	return stored, false, nil
}

const sessionColumns = `id, tenant_id, purpose, nonce, holder_token, status, created_at, expires_at, verification_id, client_ref`

func scanSession(row scanner) (*platform.Session, error) {
	var (
		sess             platform.Session
		purpose, status  string
		created, expires int64
		verification     sql.NullString
	)
	err := row.Scan(&sess.ID, &sess.TenantID, &purpose, &sess.Nonce, &sess.HolderToken, &status,
		&created, &expires, &verification, &sess.ClientRef)
	if err != nil {
		return nil, err
	}
	sess.Purpose, sess.Status = platform.Purpose(purpose), platform.SessionStatus(status)
	sess.CreatedAt, sess.ExpiresAt = fromNanos(created), fromNanos(expires)
	sess.VerificationID = verification.String
	return &sess, nil
}

// Session returns a session. platform.ErrNotFound if unknown.
func (s *Store) Session(ctx context.Context, id string) (*platform.Session, error) {
	if err := validate("Session").str("id", id).done(); err != nil {
		return nil, err
	}
	sess, err := scanSession(s.r.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: session %s: %w", id, platform.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: session %s: %w", id, err)
	}
	return sess, nil
}

// CompleteSession records the end of a session in one transaction:
//
//  1. the session moves from pending to verified (accepted) or failed (rejected), guarded by
//     WHERE status = 'pending' and a RowsAffected check: platform.ErrSessionClosed if it was not
//     pending any more, platform.ErrNotFound if it is unknown or another tenant's,
//     platform.ErrConflict if it was made for the other purpose;
//  2. for an accepted verification the person is created if new;
//  3. the verification row is inserted (platform.ErrConflict if its id exists);
//  4. each certificate in certs is linked to the person; a certificate already linked keeps its
//     link, whichever person it names;
//  5. the events are appended to the outbox (platform.ErrConflict if an id exists,
//     platform.ErrNotFound if a recipient tenant is unknown);
//  6. the usage counter of (tenant, month in JST of v.CreatedAt, purpose, method) is
//     incremented: one of its 16 shard rows, chosen by the verification id, so that concurrent
//     completions of one tenant spread over 16 row locks; last, so that row stays locked only
//     until the commit.
//
// Any error rolls the whole transaction back: nothing is written. Certificates are only for
// accepted verifications, and each MUST name v.PersonID. Rows are locked in a fixed order
// (session, person, certificates sorted by CA and serial, counter), so concurrent completions
// for one person cannot deadlock on PostgreSQL.
func (s *Store) CompleteSession(ctx context.Context, v platform.Verification, certs []platform.PersonCert, events []platform.Event) error {
	return s.completeSession(ctx, v, certs, events, nil)
}

// CompleteSessionWithEvidence is CompleteSession that also adds the verification's evidence
// entry (evidence.Log.Prepare) in the same transaction, so that no verification exists without
// its evidence (platform.EvidenceStorage). The record must carry the verification's id and
// tenant; a record whose id is already in the log is ErrConflict.
func (s *Store) CompleteSessionWithEvidence(ctx context.Context, v platform.Verification, certs []platform.PersonCert, events []platform.Event, rec *evidence.Record) error {
	if rec == nil || rec.ID != v.ID || rec.TenantID != v.TenantID {
		return validate("CompleteSessionWithEvidence").check("rec", false, "must be the evidence of verification "+v.ID).done()
	}
	return s.completeSession(ctx, v, certs, events, rec)
}

func (s *Store) completeSession(ctx context.Context, v platform.Verification, certs []platform.PersonCert, events []platform.Event, rec *evidence.Record) error {
	if err := validateCompletion(v, certs, events, rec != nil); err != nil {
		return err
	}
	status := platform.SessionFailed
	if v.Decision == platform.DecisionAccepted {
		status = platform.SessionVerified
	}
	var basic4 any
	if v.Basic4 != nil {
		b, err := json.Marshal(v.Basic4)
		if err != nil {
			return fmt.Errorf("store: CompleteSession %s: encode basic 4: %w", v.SessionID, err)
		}
		basic4 = string(b)
	}
	certs = slices.Clone(certs)
	slices.SortFunc(certs, func(a, b platform.PersonCert) int {
		return cmp.Or(strings.Compare(a.CA, b.CA), strings.Compare(a.Serial, b.Serial))
	})
	month := v.CreatedAt.In(jpki.JST).Format("2006-01") // usage months are counted in JST

	steps := []step{{
		query: `UPDATE sessions SET status = $1, verification_id = $2
			WHERE id = $3 AND tenant_id = $4 AND purpose = $5 AND status = 'pending'`,
		args: []any{string(status), v.ID, v.SessionID, v.TenantID, string(v.Purpose)},
		check: func(n int64, err error) error {
			if err != nil {
				return fmt.Errorf("store: complete session %s: %w", v.SessionID, err)
			}
			if n != 1 {
				return errNotPending
			}
			return nil
		},
	}}
	if len(certs) > 0 { // new links: the person may be new too; a known person comes without links
		steps = append(steps, step{
			query: `INSERT INTO persons (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
			args:  []any{v.PersonID, nanos(v.CreatedAt)},
			check: failsWith("store: complete session %s: create person", v.SessionID),
		})
	}
	steps = append(steps, step{
		query: `
			INSERT INTO verifications (id, tenant_id, session_id, purpose, decision, reason, detail, person_id,
				cert_ca, cert_serial, cert, basic4, method, revocation_ref, revocation_evidence, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		args: []any{v.ID, v.TenantID, v.SessionID, string(v.Purpose), string(v.Decision), v.Reason, v.Detail,
			nullString(v.PersonID), v.CertCA, v.CertSerial, nullBytes(v.Cert), basic4, string(v.Method),
			v.RevocationRef, nullBytes(v.RevocationEvidence), nanos(v.CreatedAt)},
		check: func(_ int64, err error) error {
			switch violated(err) {
			case uniqueViolation:
				return fmt.Errorf("store: complete session %s: verification %s exists: %w", v.SessionID, v.ID, platform.ErrConflict)
			case foreignKeyViolation:
				return fmt.Errorf("store: complete session %s: person %s does not exist (a new person needs its certificate links): %w",
					v.SessionID, v.PersonID, platform.ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("store: complete session %s: insert verification %s: %w", v.SessionID, v.ID, err)
			}
			return nil
		},
	})
	if rec != nil {
		for _, st := range evidenceSteps([]evidence.Record{*rec}) {
			check := st.check
			st.check = func(n int64, err error) error {
				err = check(n, err)
				if errors.Is(err, evidence.ErrDuplicate) {
					return fmt.Errorf("store: complete session %s: evidence %s exists: %w", v.SessionID, v.ID, platform.ErrConflict)
				}
				if err != nil {
					return fmt.Errorf("store: complete session %s: %w", v.SessionID, err)
				}
				return nil
			}
			steps = append(steps, st)
		}
	}
	for _, c := range certs {
		steps = append(steps, step{
			query: `
				INSERT INTO person_certs (ca, serial, person_id, kind, linked_at) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (ca, serial) DO NOTHING`,
			args:  []any{c.CA, c.Serial, c.PersonID, c.Kind, nanos(c.LinkedAt)},
			check: failsWith("store: complete session %s: link certificate %s/%s", v.SessionID, c.CA, c.Serial),
		})
	}
	for _, e := range events {
		steps = append(steps, step{
			query: `
				INSERT INTO outbox (id, tenant_id, type, payload, created_at, next_attempt_at)
				VALUES ($1, $2, $3, $4, $5, $5)`,
			args: []any{e.ID, e.TenantID, e.Type, e.Payload, nanos(e.CreatedAt)},
			check: func(_ int64, err error) error {
				switch violated(err) {
				case uniqueViolation:
					return fmt.Errorf("store: complete session %s: event %s exists: %w", v.SessionID, e.ID, platform.ErrConflict)
				case foreignKeyViolation:
					return fmt.Errorf("store: complete session %s: event %s: tenant %s: %w", v.SessionID, e.ID, e.TenantID, platform.ErrNotFound)
				}
				if err != nil {
					return fmt.Errorf("store: complete session %s: append event %s: %w", v.SessionID, e.ID, err)
				}
				return nil
			},
		})
	}
	steps = append(steps, step{
		query: `
			INSERT INTO usage_counters (tenant_id, month, purpose, method, shard, count) VALUES ($1, $2, $3, $4, $5, 1)
			ON CONFLICT (tenant_id, month, purpose, method, shard) DO UPDATE SET count = usage_counters.count + 1`,
		args:  []any{v.TenantID, month, string(v.Purpose), string(v.Method), usageShard(v.ID)},
		check: failsWith("store: complete session %s: count usage", v.SessionID),
	})
	return s.runSteps(ctx, "CompleteSession", steps, func(ctx context.Context, q querier, refused error) error {
		if errors.Is(refused, errNotPending) {
			return whyNotPending(ctx, q, v)
		}
		return refused
	})
}

// errNotPending: the guarded update of CompleteSession matched no session (whyNotPending says why).
var errNotPending = errors.New("store: session not pending")

// whyNotPending explains why the guarded update matched no session (see explainFunc for where
// it reads).
func whyNotPending(ctx context.Context, q querier, v platform.Verification) error {
	var status, purpose string
	err := q.QueryRowContext(ctx, `SELECT status, purpose FROM sessions WHERE id = $1 AND tenant_id = $2`,
		v.SessionID, v.TenantID).Scan(&status, &purpose)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: complete session %s of tenant %s: %w", v.SessionID, v.TenantID, platform.ErrNotFound)
	case err != nil:
		return fmt.Errorf("store: complete session %s: %w", v.SessionID, err)
	case status != string(platform.SessionPending):
		return fmt.Errorf("store: complete session %s: it is %s: %w", v.SessionID, status, platform.ErrSessionClosed)
	default:
		return fmt.Errorf("store: complete session %s: it is for %s, the verification for %s: %w",
			v.SessionID, purpose, v.Purpose, platform.ErrConflict)
	}
}

// validateCompletion checks a completion's inputs; with evidence the certificate may be absent
// (the evidence entry holds it).
func validateCompletion(v platform.Verification, certs []platform.PersonCert, events []platform.Event, withEvidence bool) error {
	accepted := v.Decision == platform.DecisionAccepted
	val := validate("CompleteSession").str("Verification.ID", v.ID).str("Verification.TenantID", v.TenantID).
		str("Verification.SessionID", v.SessionID).purpose("Verification.Purpose", v.Purpose).
		check("Verification.Decision", accepted || v.Decision == platform.DecisionRejected, "is not a known decision").
		check("Verification.Method", slices.Contains([]platform.RevocationMethod{platform.MethodCRL, platform.MethodOCSP, platform.MethodNone}, v.Method), "is not a known method").
		time("Verification.CreatedAt", v.CreatedAt)
	if accepted {
		val.str("Verification.PersonID", v.PersonID).str("Verification.CertCA", v.CertCA).
			str("Verification.CertSerial", v.CertSerial).
			check("Verification.Cert", withEvidence || len(v.Cert) > 0, "is empty").
			check("Verification.Basic4", v.Purpose != platform.PurposeIdentity || v.Basic4 != nil, "is missing on an accepted identity verification")
	} else {
		val.str("Verification.Reason", v.Reason).
			check("Verification.PersonID", v.PersonID == "", "is set on a rejected verification").
			check("certs", len(certs) == 0, "are given for a rejected verification")
	}
	for i, c := range certs {
		f := fmt.Sprintf("certs[%d].", i)
		val.check(f+"PersonID", c.PersonID == v.PersonID, "is not the verification's person").
			str(f+"CA", c.CA).str(f+"Serial", c.Serial).
			check(f+"Kind", c.Kind == "sign" || c.Kind == "auth", `is not "sign" or "auth"`).
			time(f+"LinkedAt", c.LinkedAt)
	}
	for i, e := range events {
		f := fmt.Sprintf("events[%d].", i)
		val.str(f+"ID", e.ID).str(f+"TenantID", e.TenantID).str(f+"Type", e.Type).
			check(f+"Payload", json.Valid(e.Payload), "is not JSON").time(f+"CreatedAt", e.CreatedAt)
	}
	return val.done()
}

const verificationColumns = `id, tenant_id, session_id, purpose, decision, reason, detail, person_id, cert_ca, cert_serial,
	cert, basic4, method, revocation_ref, revocation_evidence, created_at`

// Verification returns a verification of a tenant. platform.ErrNotFound if unknown or another
// tenant's.
func (s *Store) Verification(ctx context.Context, tenantID, id string) (*platform.Verification, error) {
	if err := validate("Verification").str("tenantID", tenantID).str("id", id).done(); err != nil {
		return nil, err
	}
	var (
		v                         platform.Verification
		purpose, decision, method string
		person, basic4            sql.NullString
		created                   int64
	)
	err := s.r.QueryRowContext(ctx,
		`SELECT `+verificationColumns+` FROM verifications WHERE id = $1 AND tenant_id = $2`, id, tenantID).
		Scan(&v.ID, &v.TenantID, &v.SessionID, &purpose, &decision, &v.Reason, &v.Detail, &person,
			&v.CertCA, &v.CertSerial, &v.Cert, &basic4, &method, &v.RevocationRef, &v.RevocationEvidence, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: verification %s of tenant %s: %w", id, tenantID, platform.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: verification %s: %w", id, err)
	}
	v.Purpose, v.Decision, v.Method = platform.Purpose(purpose), platform.Decision(decision), platform.RevocationMethod(method)
	v.PersonID = person.String
	v.CreatedAt = fromNanos(created)
	if basic4.Valid {
		v.Basic4 = new(jpki.Basic4)
		if err := json.Unmarshal([]byte(basic4.String), v.Basic4); err != nil {
			return nil, fmt.Errorf("store: verification %s: decode basic 4: %w", id, err)
		}
	}
	return &v, nil
}

// usageShards is the number of rows each usage counter is split over.
const usageShards = 16

// usageShard picks the counter shard of a verification (FNV-1a of its id).
func usageShard(verificationID string) int64 {
	h := fnv.New32a()
	h.Write([]byte(verificationID))
	return int64(h.Sum32() % usageShards)
}

// nullBytes stores an empty byte string as NULL.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
