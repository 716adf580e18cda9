package platform

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mynagate/mynagate/cades"
	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/internal/kdf"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/verify"
)

// SessionRequest is what a tenant's back end asks for.
type SessionRequest struct {
	Purpose Purpose
	// ClientRef is an opaque reference of the tenant's, echoed back (at most 200 characters).
	ClientRef string
	// IdempotencyKey makes a retried request return the first session instead of a new one.
	IdempotencyKey string
	// Sign asks for a document signature with the holder's signing key (purpose identity).
	Sign *SignRequest
}

// SignRequest is a document a relying party asks the holder to sign (the OpenID provider's
// sign scope): the holder's challenge carries its hash, the relying party's name and the
// signing time; the holder's app signs CAdES signed attributes over the hash that carry the
// challenge (cades.ChallengeAttributes), and SignedDocument assembles the detached CMS.
type SignRequest struct {
	DocumentSHA256 []byte // 32 bytes
	RP             string // the relying party's display name, shown to the holder
}

// checkSign refuses a malformed document-signing request.
func checkSign(purpose Purpose, sr *SignRequest) error {
	if sr == nil {
		return nil
	}
	switch {
	case purpose != PurposeIdentity:
		return newError(KindInvalid, "invalid-request", "a document is signed with the signing key: the purpose must be identity, not %s", purpose)
	case len(sr.DocumentSHA256) != sha256.Size:
		return newError(KindInvalid, "invalid-request", "the document hash is %d bytes, not a SHA-256 (32)", len(sr.DocumentSHA256))
	case sr.RP == "" || len(sr.RP) > maxChallengeTenantName || !utf8.ValidString(sr.RP) || strings.IndexFunc(sr.RP, unicode.IsControl) >= 0:
		return newError(KindInvalid, "invalid-request", "the relying party's name must be 1 to %d bytes of UTF-8 without control characters", maxChallengeTenantName)
	}
	return nil
}

func sameSign(a, b *SignRequest) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bytes.Equal(a.DocumentSHA256, b.DocumentSHA256) && a.RP == b.RP
}

// CreateSession starts a verification session for a tenant: a fresh 32-byte nonce, a holder
// token, and an expiry.
func (p *Platform) CreateSession(ctx context.Context, tenant *Tenant, req SessionRequest) (*Session, bool, error) {
	if p.keys == nil {
		return nil, false, internal(errors.New("platform: sessions need the master secret (their holder tokens derive from it)"))
	}
	if !req.Purpose.Valid() {
		return nil, false, newError(KindInvalid, "invalid-request", "purpose %q is not identity, login or chip_reading", req.Purpose)
	}
	if req.Purpose == PurposeChipReading && !p.ChipReadingEnabled() {
		return nil, false, newError(KindInvalid, "invalid-request", "purpose chip_reading is not enabled on this platform: its operator trusts no card-AP CA (serve --card-ap-ca)")
	}
	if len(req.ClientRef) > 200 || len(req.IdempotencyKey) > 200 {
		return nil, false, newError(KindInvalid, "invalid-request", "client_ref and Idempotency-Key are at most 200 characters")
	}
	if err := checkSign(req.Purpose, req.Sign); err != nil {
		return nil, false, err
	}
	id, err := p.newOrderedID("s_")
	if err != nil {
		return nil, false, err
	}
	nonce, err := p.randomBytes(32)
	if err != nil {
		return nil, false, err
	}
	now := p.clk.Now().UTC()
	// The holder token is not stored: it is derived from the session id (holderToken).
	s := Session{ID: id, TenantID: tenant.ID, Purpose: req.Purpose, Nonce: nonce,
		Status: SessionPending, CreatedAt: now, ExpiresAt: now.Add(p.sessionTTL), ClientRef: req.ClientRef, Sign: req.Sign}
	stored, created, err := p.store.CreateSession(ctx, s, req.IdempotencyKey)
	if err != nil {
		return nil, false, internal(err)
	}
	p.withHolderToken(stored)
	p.withChallenge(stored, tenant)
	if created {
		c := *stored
		p.cache.sessions.Add(c.ID, &c)
	}
	if !created && (stored.TenantID != tenant.ID || stored.Purpose != req.Purpose || stored.ClientRef != req.ClientRef || !sameSign(stored.Sign, req.Sign)) {
		return nil, false, newError(KindConflict, "idempotency-key-reused", "Idempotency-Key was used for a different request")
	}
	return stored, created, nil
}

// holderToken is the secret of a session's holder URL: the first 24 bytes of
// HMAC-SHA256(the master secret's kdf.HolderToken key, session id), in hex. It is derived rather
// than stored, so that the database holds nothing that lets a reader of it answer (or spend) a
// holder's challenge, while the tenant's session view can still give the holder URL.
func (p *Platform) holderToken(sessionID string) string {
	m := hmac.New(sha256.New, p.keys.Key(kdf.HolderToken))
	m.Write([]byte(sessionID))
	return hex.EncodeToString(m.Sum(nil)[:24])
}

// withHolderToken fills in the session's holder token. Sessions stored before tokens were
// derived keep the random token stored with them.
func (p *Platform) withHolderToken(s *Session) {
	if s.HolderToken == "" && p.keys != nil {
		s.HolderToken = p.holderToken(s.ID)
	}
}

// HolderURL is the URL the holder's app opens (and the QR code carries) for a session.
func (p *Platform) HolderURL(s *Session) string {
	return fmt.Sprintf("%s/v1/holder/sessions/%s?token=%s", strings.TrimRight(p.holderBase, "/"), s.ID, s.HolderToken)
}

// Session returns a tenant's session. Another tenant's session is reported as not found.
func (p *Platform) Session(ctx context.Context, tenant *Tenant, id string) (*Session, error) {
	s, err := p.store.Session(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && s.TenantID != tenant.ID) {
		return nil, newError(KindNotFound, "not-found", "session %s does not exist", id)
	}
	if err != nil {
		return nil, internal(err)
	}
	p.withHolderToken(s)
	p.withChallenge(s, tenant)
	return s, nil
}

// HolderSession returns a session for the holder's app, authenticated by the holder token.
func (p *Platform) HolderSession(ctx context.Context, id, token string) (*Session, *Tenant, error) {
	notFound := newError(KindNotFound, "not-found", "session %s does not exist or the token is wrong", id)
	s, err := p.holderSession(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, notFound
	}
	if err != nil {
		return nil, nil, internal(err)
	}
	p.withHolderToken(s)
	if s.HolderToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(s.HolderToken)) != 1 {
		return nil, nil, notFound
	}
	t, err := p.tenant(ctx, s.TenantID)
	if err != nil {
		return nil, nil, internal(err)
	}
	p.withChallenge(s, t)
	return s, t, nil
}

// Answer is the holder's answer to a challenge.
type Answer struct {
	Certificate []byte // DER, the signing certificate for identity, the authentication one for login
	Signature   []byte // RSASSA-PKCS1-v1_5 SHA-256 over Session.Challenge()
	// CardData answers a chip-reading session instead of Certificate and Signature, with
	// Challenge, the session's challenge echoed (chipreading.go).
	CardData  *CardData
	Challenge []byte
	// Consent lists the scopes the holder grants the tenant with this verification (identity
	// only; see ConsentScopes). They take effect with the accepted verification.
	Consent []string
}

// Complete runs the verification pipeline on the holder's answer and records its outcome: DER
// → chain to the purpose's J-LIS CA → validity now → revocation → signature over the exact
// challenge → basic 4 facts (identity) → person. A rejection is recorded too (the session then
// fails; its challenge is spent) and returned as a KindRejected error. Protocol errors — a wrong
// token, an answered or expired challenge, an unavailable revocation source — record nothing.
func (p *Platform) Complete(ctx context.Context, id, token string, a Answer) (*Verification, error) {
	if !p.canVerify() {
		return nil, internal(errors.New("platform: not configured for verifications"))
	}
	s, tenant, err := p.HolderSession(ctx, id, token)
	if err != nil {
		return nil, err
	}
	if s.Status != SessionPending {
		return nil, newError(KindConflict, "challenge-reused", "the challenge of session %s was already answered", id)
	}
	now := p.clk.Now().UTC()
	if !now.Before(s.ExpiresAt) {
		return nil, newError(KindGone, "challenge-expired", "the challenge of session %s expired at %s", id, s.ExpiresAt.Format(time.RFC3339))
	}
	if err := checkAnswerShape(s, a); err != nil {
		return nil, err
	}
	if err := p.checkConsent(s, a.Consent); err != nil {
		return nil, err
	}
	vid, err := p.newOrderedID("v_")
	if err != nil {
		return nil, err
	}
	v := Verification{ID: vid, TenantID: s.TenantID, SessionID: s.ID, Purpose: s.Purpose, Cert: a.Certificate, Method: MethodNone, CreatedAt: now}
	var crlThisUpdate time.Time
	var res *verify.Result
	var rej *Error
	if s.Purpose == PurposeChipReading {
		v.Cert = nil
		rej = p.checkChip(s, a, &v)
	} else {
		res, rej = p.check(ctx, s, tenant.RevocationPolicy(), a, now, &v, &crlThisUpdate)
	}
	if rej != nil {
		if rej.Kind != KindRejected {
			return nil, rej // not the holder's answer at fault: record nothing, let them retry
		}
		v.Decision, v.Reason, v.Detail = DecisionRejected, rej.Type, rej.Detail
		if err := p.record(ctx, &v, nil, nil, tenant, s, a, crlThisUpdate); err != nil {
			return nil, err
		}
		return &v, rej
	}
	var certs []PersonCert
	var personID string
	if s.Purpose == PurposeChipReading {
		// A person of its own, linked to nothing: card data names no certificate J-LIS links,
		// and its holder cannot be told from whoever copied it (no pairwise id is served).
		personID, err = p.newID("p_")
	} else {
		certs, personID, err = p.resolvePerson(ctx, res)
	}
	if err != nil {
		return nil, err
	}
	v.Decision, v.PersonID = DecisionAccepted, personID
	consents, err := p.consents(&v, a.Consent)
	if err != nil {
		return nil, err
	}
	if err := p.record(ctx, &v, certs, consents, tenant, s, a, crlThisUpdate); err != nil {
		return nil, err
	}
	return &v, nil
}

// check runs the pipeline; it fills v's certificate and revocation fields as it learns them.
func (p *Platform) check(ctx context.Context, s *Session, policy RevocationPolicy, a Answer, now time.Time, v *Verification, crlThisUpdate *time.Time) (*verify.Result, *Error) {
	var roots, phoneRoots []*x509.Certificate
	for _, ca := range p.trustedCAs() {
		if ca.Purpose != s.Purpose {
			continue
		}
		if strings.HasSuffix(ca.Name, "-phone") {
			phoneRoots = append(phoneRoots, ca.Cert)
		} else {
			roots = append(roots, ca.Cert)
		}
	}
	res, err := verify.Certificate(a.Certificate, verify.Options{Roots: roots, PhoneRoots: phoneRoots, At: now, Purpose: verify.Purpose(s.Purpose)})
	if err != nil {
		return nil, rejection(err)
	}
	v.CertCA, v.CertSerial = CAKey(res.Issuer), SerialHex(res.Cert.SerialNumber)
	rs, err := p.revocation.Status(ctx, res.Cert, res.Issuer, RevocationOptions{Policy: policy})
	if err != nil {
		slog.WarnContext(ctx, "platform: revocation status unavailable", "err", err)
		return nil, &Error{Kind: KindUnavailable, Type: "revocation-unavailable", Detail: "the revocation status of the certificate cannot be established now; retry later", Err: err}
	}
	v.Method = rs.Method
	v.RevocationEvidence = rs.OCSPResponse
	if rs.Method == MethodCRL {
		v.RevocationRef = "crl:" + rs.CRLNumber
		*crlThisUpdate = rs.CRLThisUpdate
	} else {
		v.RevocationRef = "ocsp"
	}
	if rs.Revoked {
		return nil, newError(KindRejected, "cert-revoked", "the certificate was revoked at %s (reason %s)", rs.RevokedAt.Format(time.RFC3339), CRLReasonName(rs.Reason))
	}
	if s.Sign != nil {
		// A document signature: over the CAdES signed attributes the holder's app built from
		// the checked challenge, built again here from the session and the certificate.
		attrs, err := cades.ChallengeAttributes(s.Sign.DocumentSHA256, res.Cert, s.CreatedAt, s.Challenge())
		if err != nil {
			return nil, internal(err)
		}
		if err := cades.CheckSignature(res.Cert, attrs, a.Signature); err != nil {
			return nil, newError(KindRejected, verify.ReasonSignatureInvalid.String(), "the signature is not over the signed attributes of this session's document and challenge by the certificate's key")
		}
	} else if err := verify.Signature(res.Cert, s.Challenge(), a.Signature); err != nil {
		return nil, rejection(err)
	}
	v.Basic4 = res.Basic4
	return res, nil
}

// rejection maps a verify error to a rejected-verification error with its problem type.
func rejection(err error) *Error {
	var ve *verify.Error
	if errors.As(err, &ve) {
		return &Error{Kind: KindRejected, Type: ve.Reason.String(), Detail: ve.Detail}
	}
	return internal(err)
}

// completedMessage is the verification.completed event as sent (fields in the order the API
// documents: alphabetical).
type completedMessage struct {
	Data      completedData `json:"data"`
	Timestamp time.Time     `json:"timestamp"`
	Type      string        `json:"type"`
}

type completedData struct {
	Decision Decision `json:"decision"`
	// Limitations mark a chip reading (Purpose.Limitations).
	Limitations    []string `json:"limitations,omitempty"`
	Purpose        Purpose  `json:"purpose"`
	Reason         string   `json:"reason,omitempty"` // rejected only
	SessionID      string   `json:"session_id"`
	Sub            string   `json:"sub,omitempty"` // accepted only: the pairwise id
	VerificationID string   `json:"verification_id"`
}

// record stores the end of the session as its evidence entry, with its person links, the
// holder's consents, usage and event, in one transaction.
func (p *Platform) record(ctx context.Context, v *Verification, certs []PersonCert, consents []Consent, tenant *Tenant, s *Session, a Answer, crlThisUpdate time.Time) error {
	evID, err := p.newOrderedID("evt_")
	if err != nil {
		return err
	}
	msg := completedMessage{Type: EventVerificationCompleted, Timestamp: v.CreatedAt, Data: completedData{
		Decision: v.Decision, Limitations: v.Purpose.Limitations(), Purpose: v.Purpose, SessionID: v.SessionID, VerificationID: v.ID}}
	sub := ""
	if v.Decision == DecisionAccepted && v.Purpose != PurposeChipReading {
		sub = p.PairwiseID(v.TenantID, v.PersonID)
		msg.Data.Sub = sub
	} else {
		msg.Data.Reason = v.Reason
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return internal(err)
	}
	ev := Event{ID: evID, TenantID: tenant.ID, Type: EventVerificationCompleted, Payload: body, CreatedAt: v.CreatedAt}
	entry := p.evidenceEntry(v, sub, tenant, s, a, crlThisUpdate)
	entry.Served = servedOf(v)
	rec, err := p.evidence.Prepare(entry)
	if err != nil {
		return internal(fmt.Errorf("prepare evidence of %s: %w", v.ID, err))
	}
	stored := *v
	stored.Cert, stored.RevocationEvidence = nil, nil // kept once, sealed in the entry
	err = p.store.CompleteSession(ctx, stored, certs, []Event{ev}, consents, rec)
	if err == nil {
		p.evidence.Notify()
	}
	// Completed, refused as closed, or unknown after an error: from now on the store says.
	p.cache.sessions.Remove(v.SessionID)
	if errors.Is(err, ErrSessionClosed) {
		return newError(KindConflict, "challenge-reused", "the challenge of session %s was already answered", v.SessionID)
	}
	if err != nil {
		return internal(err)
	}
	return nil
}

// CAKey identifies a CA in storage: the hex subject key identifier of its certificate.
func CAKey(ca *x509.Certificate) string { return strings.ToUpper(hex.EncodeToString(ca.SubjectKeyId)) }

// SerialHex formats a serial as upper-case hex without leading zeros.
func SerialHex(n *big.Int) string { return strings.ToUpper(n.Text(16)) }

// Verification returns a tenant's verification.
func (p *Platform) Verification(ctx context.Context, tenant *Tenant, id string) (*Verification, error) {
	v, err := p.store.Verification(ctx, tenant.ID, id)
	if errors.Is(err, ErrNotFound) {
		return nil, newError(KindNotFound, "not-found", "verification %s does not exist", id)
	}
	if err != nil {
		return nil, internal(err)
	}
	if err := p.openPersonal(ctx, tenant, v); err != nil {
		return nil, err
	}
	return v, nil
}

// Facts returns the basic-4 facts of an identity verification the tenant may see, by fact name.
func Facts(t *Tenant, b *jpki.Basic4) map[Fact]string {
	out := map[Fact]string{}
	if b == nil {
		return out
	}
	for _, f := range t.Facts {
		switch f {
		case FactName:
			out[f] = b.Name
		case FactBirth:
			out[f] = b.Birth.String()
		case FactSex:
			out[f] = b.Sex.String()
		case FactAddress:
			out[f] = b.Address
		}
	}
	return out
}

// Usage returns a tenant's usage counters for months from..to (YYYY-MM, JST; empty means the
// current month), with the months it used.
func (p *Platform) Usage(ctx context.Context, tenant *Tenant, from, to string) ([]Usage, string, string, error) {
	now := Month(p.clk.Now())
	if from == "" {
		from = now
	}
	if to == "" {
		to = now
	}
	for _, m := range []string{from, to} {
		if _, err := time.Parse("2006-01", m); err != nil {
			return nil, "", "", newError(KindInvalid, "invalid-request", "month %q is not YYYY-MM", m)
		}
	}
	if from > to {
		return nil, "", "", newError(KindInvalid, "invalid-request", "from %s is after to %s", from, to)
	}
	u, err := p.store.Usage(ctx, tenant.ID, from, to)
	if err != nil {
		return nil, "", "", internal(err)
	}
	return u, from, to, nil
}

// Now is the platform's clock reading.
func (p *Platform) Now() time.Time { return p.clk.Now() }

// Month is the accounting month (JST) of a time.
func Month(t time.Time) string { return t.In(jpki.JST).Format("2006-01") }

// evidenceEntry is the evidence log's entry for a verification attempt: the public header (ids,
// purpose, time, decision, challenge, revocation reference) and the sealed personal part (the
// certificate and signature presented, the OCSP response, the pairwise id and the facts the
// tenant received).
func (p *Platform) evidenceEntry(v *Verification, sub string, tenant *Tenant, s *Session, a Answer, crlThisUpdate time.Time) evidence.Entry {
	e := evidence.Entry{Header: evidence.Header{ID: v.ID, SessionID: v.SessionID, TenantID: v.TenantID, Purpose: string(v.Purpose),
		Time: v.CreatedAt, Decision: v.Decision, Reason: v.Reason, Challenge: s.Challenge(), Method: MethodNone}}
	switch v.Method {
	case MethodCRL:
		e.Method, e.CRLNumber, e.CRLThisUpdate = MethodCRL, strings.TrimPrefix(v.RevocationRef, "crl:"), crlThisUpdate
	case MethodOCSP:
		e.Method, e.Personal.OCSPResponse = MethodOCSP, v.RevocationEvidence
	}
	e.Personal.Certificate, e.Personal.Signature, e.Personal.Detail = a.Certificate, a.Signature, v.Detail
	if a.CardData != nil {
		// A chip reading keeps the AP certificate (EF 0004) and the signature record (EF 0003);
		// the facts the tenant received follow, the facts it may not see are not kept.
		e.Personal.Certificate, e.Personal.Signature = a.CardData.Cert, a.CardData.Signature
	}
	if v.Decision == DecisionAccepted {
		e.Personal.Subject = sub
		if v.Purpose.HasFacts() {
			e.Personal.Facts = map[string]string{}
			for f, val := range Facts(tenant, v.Basic4) {
				e.Personal.Facts[string(f)] = val
			}
		}
	}
	return e
}
