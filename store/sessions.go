package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/mynagate/mynagate/evidence"
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
		check("Session.ExpiresAt", sess.ExpiresAt.After(sess.CreatedAt), "is not after CreatedAt").
		check("Session.Sign", sess.Sign == nil || (len(sess.Sign.DocumentSHA256) == 32 && sess.Sign.RP != ""), "is not a 32-byte hash with a relying party's name").done()
	if err != nil {
		return nil, false, err
	}
	sess.Status = platform.SessionPending
	var signHash []byte // NULL unless the session signs a document
	var signRP sql.NullString
	if sess.Sign != nil {
		signHash, signRP = sess.Sign.DocumentSHA256, sql.NullString{String: sess.Sign.RP, Valid: true}
	}
	res, err := s.w.ExecContext(ctx, `
		INSERT INTO sessions (id, tenant_id, purpose, nonce, holder_token, created_at, expires_at, client_ref, idempotency_key, sign_sha256, sign_rp)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (tenant_id, idempotency_key) DO NOTHING`,
		sess.ID, sess.TenantID, string(sess.Purpose), sess.Nonce, sess.HolderToken,
		nanos(sess.CreatedAt), nanos(sess.ExpiresAt), sess.ClientRef, nullString(idempotencyKey), signHash, signRP)
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
		`SELECT `+sessionColumns+` WHERE s.tenant_id = $1 AND s.idempotency_key = $2`,
		sess.TenantID, idempotencyKey))
	if err != nil {
		return nil, false, fmt.Errorf("store: CreateSession %s: read session of idempotency key: %w", sess.ID, err)
	}
	return stored, false, nil
}

// sessionColumns reads a session with its verification, if it has one: a session's status is
// not stored but follows from its verification's decision.
const sessionColumns = `s.id, s.tenant_id, s.purpose, s.nonce, s.holder_token, s.created_at, s.expires_at, v.id, v.decision, s.client_ref,
	s.sign_sha256, s.sign_rp
	FROM sessions s LEFT JOIN verifications v ON v.session_id = s.id`

func scanSession(row scanner) (*platform.Session, error) {
	var (
		sess                   platform.Session
		purpose                string
		created, expires       int64
		verification, decision sql.NullString
		signHash               []byte
		signRP                 sql.NullString
	)
	err := row.Scan(&sess.ID, &sess.TenantID, &purpose, &sess.Nonce, &sess.HolderToken,
		&created, &expires, &verification, &decision, &sess.ClientRef, &signHash, &signRP)
	if err != nil {
		return nil, err
	}
	if signHash != nil {
		sess.Sign = &platform.SignRequest{DocumentSHA256: signHash, RP: signRP.String}
	}
	sess.Purpose = platform.Purpose(purpose)
	switch {
	case !verification.Valid:
		sess.Status = platform.SessionPending
	case decision.String == string(platform.DecisionAccepted):
		sess.Status = platform.SessionVerified
	default:
		sess.Status = platform.SessionFailed
	}
	sess.CreatedAt, sess.ExpiresAt = fromNanos(created), fromNanos(expires)
	sess.VerificationID = verification.String
	return &sess, nil
}

// Session returns a session. platform.ErrNotFound if unknown.
func (s *Store) Session(ctx context.Context, id string) (*platform.Session, error) {
	if err := validate("Session").str("id", id).done(); err != nil {
		return nil, err
	}
	sess, err := scanSession(s.r.QueryRowContext(ctx, `SELECT `+sessionColumns+` WHERE s.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: session %s: %w", id, platform.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: session %s: %w", id, err)
	}
	return sess, nil
}

// CompleteSession records the end of a session in one transaction (store/README.md, "The write
// of a verification"):
//
//  1. for an accepted verification with certs (or an accepted chip reading), the person is
//     created if new;
//  2. its event (events holds at most one, verification.completed) into the outbox, only if an
//     enabled endpoint of the tenant may want it (wantedEvent); before the verification, so that
//     a refusal of either is explained (whyRefused, inside the transaction on SQLite) before
//     the verification is written;
//  3. the verification's evidence entry rec (evidence.Log.Prepare), on SQLite with its index in
//     the tree (indexExpr);
//  4. the verification, its tenant read from the session it completes (id, tenant and purpose
//     must match; when none does, the tenant is NULL and the insert refused — one row of VALUES,
//     so that SQLite keeps no statement journal for it, as it would for an INSERT … SELECT):
//     platform.ErrSessionClosed if the session has a verification already (the UNIQUE
//     session_id is what makes a challenge single-use), platform.ErrNotFound if the session is
//     unknown or another tenant's, platform.ErrConflict if it was made for the other purpose or
//     an id exists;
//  5. each certificate in certs is linked to the person; a certificate already linked keeps its
//     link, whichever person it names;
//  6. each consent in consents, given with this accepted identity verification, is stored (its
//     verification_id is a foreign key to the verification), so that a consent exists exactly
//     when its verification does;
//  7. the usage counter of (tenant, month in JST of v.CreatedAt, purpose, method) is
//     incremented: one of its 16 shard rows, chosen by the verification id, so that concurrent
//     completions of one tenant spread over 16 row locks; last, so that row stays locked only
//     until the commit.
//
// Any error rolls the whole transaction back: nothing is written. Certificates are only for
// accepted verifications, and each MUST name v.PersonID. The certificate and OCSP response of v
// are not stored (rec holds them, sealed). Rows are locked in a fixed order (person,
// certificates sorted by CA and serial, counter), so concurrent completions for one person
// cannot deadlock on PostgreSQL.
func (s *Store) CompleteSession(ctx context.Context, v platform.Verification, certs []platform.PersonCert, events []platform.Event, consents []platform.Consent, rec *evidence.Record) error {
	if err := validateCompletion(v, certs, events, consents, rec); err != nil {
		return err
	}
	var evID any
	if len(events) == 1 {
		evID = events[0].ID
	}
	certs = slices.Clone(certs)
	slices.SortFunc(certs, func(a, b platform.PersonCert) int {
		return cmp.Or(strings.Compare(a.CA, b.CA), strings.Compare(a.Serial, b.Serial))
	})
	month := v.CreatedAt.In(jpki.JST).Format("2006-01") // usage months are counted in JST

	var steps []step
	// New links: the person may be new too; a known person comes without links. An accepted
	// chip reading's person is always new and never linked (platform/chipreading.go).
	if len(certs) > 0 || (v.Purpose == platform.PurposeChipReading && v.Decision == platform.DecisionAccepted) {
		steps = append(steps, step{
			query: `INSERT INTO persons (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
			args:  []any{v.PersonID, nanos(v.CreatedAt)},
			check: failsWith("store: complete session %s: create person", v.SessionID),
		})
	}
	if len(events) == 1 {
		e := events[0]
		steps = append(steps, step{
			query: `INSERT INTO outbox (id, tenant_id, type, payload, created_at, next_attempt_at) ` + s.wantedEvent(),
			args:  []any{e.ID, e.TenantID, e.Type, e.Payload, nanos(e.CreatedAt), quotedType(e.Type)},
			check: func(_ int64, err error) error {
				if violated(err) == uniqueViolation {
					return errEntryExists
				}
				return failsWith("store: complete session %s: event %s", v.SessionID, e.ID)(0, err)
			},
		})
	}
	steps = append(steps, step{
		query: `
			INSERT INTO evidence_entries (id, tenant_id, created_at, idx, leaf, leaf_hash, sealed, wrapped_key, shred_after)
			VALUES ($1, $2, $3, ` + s.indexExpr() + `, $4, $5, $6, $7, $8)`,
		args: []any{v.ID, v.TenantID, nanos(v.CreatedAt), rec.LeafData, rec.LeafHash[:],
			nullBytes(rec.Sealed), nullBytes(rec.WrappedKey), sealedUntil(rec)},
		check: func(n int64, err error) error {
			switch violated(err) {
			case uniqueViolation:
				return errEntryExists
			case foreignKeyViolation: // an unknown tenant
				return errNoSession
			}
			return insertedOne(n, err, "store: complete session %s: insert evidence entry %s", v.SessionID, v.ID)
		},
	}, step{
		query: `
			INSERT INTO verifications (id, tenant_id, session_id, purpose, decision, reason, detail, person_id,
				cert_ca, cert_serial, method, revocation_ref, created_at)
			VALUES ($1, (SELECT tenant_id FROM sessions WHERE id = $2 AND tenant_id = $3 AND purpose = $4), $2, $4,
				$5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		args: []any{v.ID, v.SessionID, v.TenantID, string(v.Purpose), string(v.Decision), v.Reason, v.Detail,
			nullString(v.PersonID), v.CertCA, v.CertSerial, string(v.Method), v.RevocationRef, nanos(v.CreatedAt)},
		check: func(n int64, err error) error {
			switch violated(err) {
			case uniqueViolation:
				return errEntryExists
			case notNullViolation: // the tenant_id of no session
				return errNoSession
			case foreignKeyViolation:
				return fmt.Errorf("store: complete session %s: person %s does not exist (a new person needs its certificate links): %w",
					v.SessionID, v.PersonID, platform.ErrNotFound)
			}
			return insertedOne(n, err, "store: complete session %s: insert verification %s", v.SessionID, v.ID)
		},
	})
	for _, c := range certs {
		steps = append(steps, step{
			query: `
				INSERT INTO person_certs (ca, serial, person_id, kind, linked_at) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (ca, serial) DO NOTHING`,
			args:  []any{c.CA, c.Serial, c.PersonID, c.Kind, nanos(c.LinkedAt)},
			check: failsWith("store: complete session %s: link certificate %s/%s", v.SessionID, c.CA, c.Serial),
		})
	}
	for _, c := range consents {
		steps = append(steps, step{
			query: `INSERT INTO consents (id, tenant_id, verification_id, scope, granted_at) VALUES ($1, $2, $3, $4, $5)`,
			args:  []any{c.ID, c.TenantID, c.VerificationID, c.Scope, nanos(c.GrantedAt)},
			check: failsWith("store: complete session %s: record consent %s", v.SessionID, c.ID),
		})
	}
	steps = append(steps, step{
		query: `
			INSERT INTO usage_counters (tenant_id, month, purpose, method, shard, count) VALUES ($1, $2, $3, $4, $5, 1)
			ON CONFLICT (tenant_id, month, purpose, method, shard) DO UPDATE SET count = usage_counters.count + 1`,
		args:  []any{v.TenantID, month, string(v.Purpose), string(v.Method), usageShard(v.ID)},
		check: failsWith("store: complete session %s: count usage", v.SessionID),
	})
	if s.pgWrites != nil {
		c := &pgCompletion{v: v, certs: certs, consents: consents, rec: rec, month: month}
		if len(events) == 1 {
			c.ev = &events[0]
		}
		if err := s.completeGrouped(ctx, c); !errors.Is(err, errAlone) {
			return err
		}
		// Its group did not insert the entry: on its own, the steps below say why.
	}
	return s.runSteps(ctx, "CompleteSession", steps, func(ctx context.Context, q querier, refused error) error {
		if errors.Is(refused, errNoSession) || errors.Is(refused, errEntryExists) {
			return whyRefused(ctx, q, v, evID)
		}
		return refused
	})
}

// The entry insert of CompleteSession refused: no session matched (errNoSession), or a unique
// column is taken (errEntryExists). whyRefused says which and why.
var (
	errNoSession   = errors.New("store: no session to complete")
	errEntryExists = errors.New("store: entry exists")
)

// wantedEvent selects an event's outbox row — id, tenant, type, payload, created_at twice
// ($1 … $5) — only when an endpoint of its tenant may want its type ($6, quotedType).
func (s *Store) wantedEvent() string {
	return `SELECT $1, $2, $3, $4, $5, $5 WHERE ` + endpointMayWant(s.dialect, "$2", "$6")
}

// endpointMayWant is the SQL condition that an enabled endpoint of tenant may want an event
// whose type, quoted as in event_types (quotedType), is pattern: it wants every type (an empty
// list) or its list holds that one. The dispatcher decides exactly
// (platform.WebhookEndpoint.Wants); this only spares the outbox the events of tenants that
// cannot want them, as most verifications' are. (Not LIKE: SQLite compiles a statement again
// each time a value is bound to the right side of a LIKE, a quarter of a write's CPU.)
func endpointMayWant(dialect, tenant, pattern string) string {
	find := "instr(w.event_types, " + pattern + ") > 0"
	if dialect == DialectPostgres {
		find = "strpos(w.event_types, " + pattern + ") > 0"
	}
	return `EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.tenant_id = ` + tenant +
		` AND w.disabled_at IS NULL AND (w.event_types = '[]' OR ` + find + `))`
}

// quotedType is an event type as a JSON string, as it appears in an endpoint's event_types.
func quotedType(typ string) string {
	b, _ := json.Marshal(typ) // a string always marshals
	return string(b)
}

// insertedOne is the check of an insert of one row: err, or a count other than one, wrapped
// with what was being done (format and a).
func insertedOne(n int64, err error, format string, a ...any) error {
	if err == nil && n != 1 {
		err = fmt.Errorf("%d rows inserted", n)
	}
	if err != nil {
		return fmt.Errorf(format+": %w", append(a, err)...)
	}
	return nil
}

// indexExpr is the index a new entry gets in the tree when it is inserted: on SQLite the next
// one, which is dense and in commit order because one writer adds rows one transaction after
// the other (MAX over the UNIQUE index on idx is one step to its end); on PostgreSQL none
// (NULL): its integrator gives indexes (docs/design/evidence.md).
func (s *Store) indexExpr() string {
	if s.dialect == DialectSQLite {
		return `(SELECT COALESCE(MAX(idx) + 1, 0) FROM evidence_entries)`
	}
	return `NULL`
}

// sealedUntil is the shred_after column of a record: NULL without sealed data.
func sealedUntil(r *evidence.Record) any {
	if len(r.Sealed) == 0 {
		return nil
	}
	return nanos(r.ShredAfter)
}

// whyRefused explains a refused entry insert (see explainFunc for where it reads).
func whyRefused(ctx context.Context, q querier, v platform.Verification, eventID any) error {
	var purpose string
	var verification sql.NullString
	err := q.QueryRowContext(ctx, `SELECT s.purpose, v.id FROM sessions s LEFT JOIN verifications v ON v.session_id = s.id
		WHERE s.id = $1 AND s.tenant_id = $2`, v.SessionID, v.TenantID).Scan(&purpose, &verification)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: complete session %s of tenant %s: %w", v.SessionID, v.TenantID, platform.ErrNotFound)
	case err != nil:
		return fmt.Errorf("store: complete session %s: %w", v.SessionID, err)
	case verification.Valid:
		return fmt.Errorf("store: complete session %s: it has verification %s: %w", v.SessionID, verification.String, platform.ErrSessionClosed)
	case purpose != string(v.Purpose):
		return fmt.Errorf("store: complete session %s: it is for %s, the verification for %s: %w",
			v.SessionID, purpose, v.Purpose, platform.ErrConflict)
	}
	return fmt.Errorf("store: complete session %s: entry %s or event %v exists: %w", v.SessionID, v.ID, eventID, platform.ErrConflict)
}

// validateCompletion checks a completion's inputs.
func validateCompletion(v platform.Verification, certs []platform.PersonCert, events []platform.Event, consents []platform.Consent, rec *evidence.Record) error {
	accepted := v.Decision == platform.DecisionAccepted
	val := validate("CompleteSession").str("Verification.ID", v.ID).str("Verification.TenantID", v.TenantID).
		str("Verification.SessionID", v.SessionID).purpose("Verification.Purpose", v.Purpose).
		check("Verification.Decision", accepted || v.Decision == platform.DecisionRejected, "is not a known decision").
		check("Verification.Method", slices.Contains([]platform.RevocationMethod{platform.MethodCRL, platform.MethodOCSP, platform.MethodNone}, v.Method), "is not a known method").
		time("Verification.CreatedAt", v.CreatedAt).
		check("rec", rec != nil && rec.ID == v.ID && rec.TenantID == v.TenantID, "must be the evidence of verification "+v.ID)
	if rec != nil {
		val.record("rec.", rec)
	}
	switch {
	case accepted && v.Purpose == platform.PurposeChipReading: // no certificate: card data
		val.str("Verification.PersonID", v.PersonID).check("certs", len(certs) == 0, "are given for a chip reading")
	case accepted:
		val.str("Verification.PersonID", v.PersonID).str("Verification.CertCA", v.CertCA).
			str("Verification.CertSerial", v.CertSerial)
	default:
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
	val.check("consents", len(consents) == 0 || (accepted && v.Purpose == platform.PurposeIdentity),
		"are given with a verification that is not an accepted identity verification")
	scopes := map[string]bool{}
	for i, c := range consents {
		f := fmt.Sprintf("consents[%d].", i)
		val.str(f+"ID", c.ID).check(f+"TenantID", c.TenantID == v.TenantID, "is not the verification's tenant").
			check(f+"VerificationID", c.VerificationID == v.ID, "is not the verification").
			check(f+"Scope", slices.Contains(platform.ConsentScopes, c.Scope) && !scopes[c.Scope], "is not a known scope, or is given twice").
			time(f+"GrantedAt", c.GrantedAt).check(f+"RevokedAt", c.RevokedAt == nil, "is set on a new consent")
		scopes[c.Scope] = true
	}
	val.check("events", len(events) <= 1, "hold more than the verification's one event")
	for i, e := range events {
		f := fmt.Sprintf("events[%d].", i)
		val.str(f+"ID", e.ID).check(f+"TenantID", e.TenantID == v.TenantID, "is not the verification's tenant").str(f+"Type", e.Type).
			check(f+"Payload", json.Valid(e.Payload), "is not JSON").time(f+"CreatedAt", e.CreatedAt)
	}
	return val.done()
}

const verificationColumns = `id, tenant_id, session_id, purpose, decision, reason, detail, person_id, cert_ca, cert_serial,
	method, revocation_ref, created_at`

// Verification returns a verification of a tenant, without its certificate and revocation
// evidence (they are kept only sealed in its evidence entry). platform.ErrNotFound if unknown or
// another tenant's.
func (s *Store) Verification(ctx context.Context, tenantID, id string) (*platform.Verification, error) {
	if err := validate("Verification").str("tenantID", tenantID).str("id", id).done(); err != nil {
		return nil, err
	}
	var (
		v                         platform.Verification
		purpose, decision, method string
		person                    sql.NullString
		created                   int64
	)
	err := s.r.QueryRowContext(ctx,
		`SELECT `+verificationColumns+` FROM verifications WHERE id = $1 AND tenant_id = $2`, id, tenantID).
		Scan(&v.ID, &v.TenantID, &v.SessionID, &purpose, &decision, &v.Reason, &v.Detail, &person,
			&v.CertCA, &v.CertSerial, &method, &v.RevocationRef, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: verification %s of tenant %s: %w", id, tenantID, platform.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: verification %s: %w", id, err)
	}
	v.Purpose, v.Decision, v.Method = platform.Purpose(purpose), platform.Decision(decision), platform.RevocationMethod(method)
	v.PersonID = person.String
	v.CreatedAt = fromNanos(created)
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
