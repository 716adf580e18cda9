package platform

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mynagate/mynagate/internal/kdf"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/verify"
)

// Consent scopes a holder may grant a tenant.
const (
	// ScopeBasic4Updates: after a revocation for a change of the basic 4 facts (a move, a new
	// name), the platform asks J-LIS for the latest facts on the holder's behalf and sends the
	// tenant those it may see (person.basic4_updated).
	ScopeBasic4Updates = "basic4_updates"
)

// ConsentScopes lists every scope.
var ConsentScopes = []string{ScopeBasic4Updates}

// Consent is a holder's consent to a tenant, given with an identity verification.
type Consent struct {
	ID             string // "c_" + 16 hex digits; the consent reference given to J-LIS
	TenantID       string
	VerificationID string // the verification it was given with; it takes effect with it
	Scope          string
	GrantedAt      time.Time
	RevokedAt      *time.Time // nil while in force
}

// ConsentStorage is the part of Storage behind consents; they are written by
// Storage.CompleteSession, in their verification's transaction.
type ConsentStorage interface {
	// PersonConsents returns the consents given with accepted verifications of a person, revoked
	// ones included, oldest first.
	PersonConsents(ctx context.Context, personID string) ([]Consent, error)
	// RevokeConsents revokes, at `at`, every consent in force that the person gave the tenant
	// for scope, and returns how many.
	RevokeConsents(ctx context.Context, personID, tenantID, scope string, at time.Time) (int, error)
}

// checkConsent refuses scopes that cannot be granted with this session, before anything is
// verified (so a bad request does not spend the challenge).
func (p *Platform) checkConsent(s *Session, scopes []string) error {
	if len(scopes) == 0 {
		return nil
	}
	if s.Purpose != PurposeIdentity {
		return newError(KindInvalid, "invalid-request", "consent is given with an identity verification, not a %s one", s.Purpose)
	}
	for _, sc := range scopes {
		if !slices.Contains(ConsentScopes, sc) {
			return newError(KindInvalid, "invalid-request", "consent scope %q is not one of %v", sc, ConsentScopes)
		}
	}
	return nil
}

// consents returns the holder's consents given with an accepted verification, one per scope,
// for Storage.CompleteSession to write in the verification's transaction.
func (p *Platform) consents(v *Verification, scopes []string) ([]Consent, error) {
	if len(scopes) == 0 || v.Decision != DecisionAccepted {
		return nil, nil
	}
	var out []Consent
	for _, sc := range slices.Compact(slices.Sorted(slices.Values(scopes))) {
		id, err := p.newID("c_")
		if err != nil {
			return nil, err
		}
		out = append(out, Consent{ID: id, TenantID: v.TenantID, VerificationID: v.ID, Scope: sc, GrantedAt: v.CreatedAt})
	}
	return out, nil
}

// The holder's own requests about consents (list, revoke) are proved with the card's
// authentication key, like a login, over a stateless platform challenge:
//
//	challenge = head "mac=" base64url(HMAC-SHA256(k, head)[:16]) LF
//	head      = "mynagate-holder-challenge/v1" LF "origin=" ORIGIN LF "purpose=consents" LF
//	            "expires=" RFC3339 LF "nonce=" base64url(16 bytes) LF
//	signed    = "mynagate-holder/v1" 0x00 action 0x00 tenant 0x00 scope 0x00 challenge
//
// with k derived from the master secret. The challenge names the platform's origin and its
// purpose in clear so that the holder's app (client.CheckConsentChallenge) refuses, before the
// card is touched, a challenge relayed from another platform or an expired one. A challenge is not single-use: both actions are
// idempotent (listing, and revoking what is revoked already), so a replay within the five minutes
// gains nothing that the original did not.
const holderDomain = "mynagate-holder/v1"

// Holder actions.
const (
	HolderListConsents  = "consents.list"
	HolderRevokeConsent = "consents.revoke"
)

// HolderMessage returns the exact bytes the holder signs for an action.
func HolderMessage(action, tenantID, scope string, challenge []byte) []byte {
	var b bytes.Buffer
	for _, s := range []string{holderDomain, action, tenantID, scope} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	b.Write(challenge)
	return b.Bytes()
}

// HolderChallengeDomain is the first line of a consent challenge.
const HolderChallengeDomain = "mynagate-holder-challenge/v1"

const maxHolderChallenge = 512

func (p *Platform) holderMAC(head []byte) []byte {
	m := hmac.New(sha256.New, p.keys.Key(kdf.HolderChallenge))
	m.Write(head)
	return m.Sum(nil)[:16]
}

// HolderChallenge returns a challenge for the holder's consent requests and its expiry.
func (p *Platform) HolderChallenge() ([]byte, time.Time, error) {
	if p.keys == nil {
		return nil, time.Time{}, internal(errors.New("platform: holder challenges need the master secret"))
	}
	exp := p.clk.Now().UTC().Add(p.sessionTTL).Truncate(time.Second)
	nonce, err := p.randomBytes(16)
	if err != nil {
		return nil, time.Time{}, err
	}
	head := []byte(HolderChallengeDomain + "\norigin=" + p.origin() + "\npurpose=consents\nexpires=" + exp.Format(time.RFC3339) +
		"\nnonce=" + base64.RawURLEncoding.EncodeToString(nonce) + "\n")
	return append(append(head, "mac="+base64.RawURLEncoding.EncodeToString(p.holderMAC(head))...), '\n'), exp, nil
}

// HolderProof is a holder's signed request: the authentication certificate and its signature
// over HolderMessage(action, tenant, scope, Challenge).
type HolderProof struct {
	Certificate []byte // DER authentication certificate
	Signature   []byte // RSASSA-PKCS1-v1_5 SHA-256
	Challenge   []byte // from HolderChallenge
}

// holderPerson checks a proof and returns the person it proves; "" when the certificate is
// valid but belongs to no person the platform knows.
func (p *Platform) holderPerson(ctx context.Context, proof HolderProof, action, tenantID, scope string) (string, error) {
	if !p.canVerify() {
		return "", internal(errors.New("platform: not configured for verifications"))
	}
	c := proof.Challenge
	exp, ok := p.holderChallengeExpiry(c)
	if !ok {
		return "", newError(KindInvalid, "invalid-request", "the challenge is not one this platform issued")
	}
	now := p.clk.Now().UTC()
	if !now.Before(exp) {
		return "", newError(KindGone, "challenge-expired", "the challenge expired at %s", exp.UTC().Format(time.RFC3339))
	}
	var roots, phoneRoots []*x509.Certificate
	for _, ca := range p.trustedCAs() {
		switch {
		case ca.Purpose != PurposeLogin:
		case strings.HasSuffix(ca.Name, "-phone"):
			phoneRoots = append(phoneRoots, ca.Cert)
		default:
			roots = append(roots, ca.Cert)
		}
	}
	res, err := verify.Certificate(proof.Certificate, verify.Options{Roots: roots, PhoneRoots: phoneRoots, At: now, Purpose: verify.PurposeLogin})
	if err != nil {
		return "", rejection(err)
	}
	rs, err := p.revocation.Status(ctx, res.Cert, res.Issuer, RevocationOptions{Policy: RevocationCRL}) // the holder's own request
	if err != nil {
		return "", &Error{Kind: KindUnavailable, Type: "revocation-unavailable", Detail: "the revocation status of the certificate cannot be established now; retry later", Err: err}
	}
	if rs.Revoked {
		return "", newError(KindRejected, "cert-revoked", "the certificate was revoked at %s", rs.RevokedAt.Format(time.RFC3339))
	}
	if err := verify.Signature(res.Cert, HolderMessage(action, tenantID, scope, c), proof.Signature); err != nil {
		return "", rejection(err)
	}
	return p.knownPerson(ctx, res)
}

// knownPerson finds the person of a verified certificate without creating one: the certificate's
// own link, else those of the certificates J-LIS relates to it (the other certificate of the
// card, the predecessors).
func (p *Platform) knownPerson(ctx context.Context, res *verify.Result) (string, error) {
	person, err := p.personByCert(ctx, CAKey(res.Issuer), SerialHex(res.Cert.SerialNumber))
	if err == nil {
		return person, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return "", internal(err)
	}
	name := p.caName(res.Issuer.SubjectKeyId)
	if name == "" || !res.Cert.SerialNumber.IsInt64() {
		return "", nil
	}
	info, err := p.links.Links(ctx, jlisapi.CertRef{CA: name, Serial: res.Cert.SerialNumber.Int64()})
	if errors.Is(err, jlisapi.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", &Error{Kind: KindUnavailable, Type: "jlis-unavailable", Detail: "the renewal-link service of J-LIS cannot be reached; retry later", Err: err}
	}
	var related []jlisapi.CertRef
	if info.Counterpart != nil {
		related = append(related, *info.Counterpart)
	}
	for _, l := range info.Previous {
		related = append(related, l.Old)
	}
	for _, r := range related {
		key := p.caKeyByName(r.CA)
		if key == "" {
			continue
		}
		person, err := p.personByCert(ctx, key, fmt.Sprintf("%X", r.Serial))
		if err == nil {
			return person, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return "", internal(err)
		}
	}
	return "", nil
}

// HolderConsent is a consent as its holder sees it.
type HolderConsent struct {
	TenantID   string
	TenantName string
	Scope      string
	GrantedAt  time.Time  // the latest grant
	RevokedAt  *time.Time // nil while in force
}

// HolderConsents returns the consents the proving holder gave, one per tenant and scope (the
// latest grant), oldest first. A holder the platform does not know has none.
func (p *Platform) HolderConsents(ctx context.Context, proof HolderProof) ([]HolderConsent, error) {
	person, err := p.holderPerson(ctx, proof, HolderListConsents, "", "")
	if err != nil || person == "" {
		return []HolderConsent{}, err
	}
	return p.consentsOf(ctx, person)
}

// consentsOf returns a person's consents, one per tenant and scope (the latest grant), oldest
// first.
func (p *Platform) consentsOf(ctx context.Context, person string) ([]HolderConsent, error) {
	all, err := p.store.PersonConsents(ctx, person)
	if err != nil {
		return nil, internal(err)
	}
	out := []HolderConsent{}
	index := map[[2]string]int{}
	for _, c := range all {
		k := [2]string{c.TenantID, c.Scope}
		i, seen := index[k]
		if !seen {
			t, err := p.tenant(ctx, c.TenantID)
			if err != nil {
				return nil, internal(err)
			}
			index[k] = len(out)
			out = append(out, HolderConsent{TenantID: c.TenantID, TenantName: t.Name, Scope: c.Scope, GrantedAt: c.GrantedAt, RevokedAt: c.RevokedAt})
			continue
		}
		// A later grant supersedes; the consent is in force if any grant is.
		h := &out[i]
		if c.GrantedAt.After(h.GrantedAt) {
			h.GrantedAt = c.GrantedAt
		}
		if c.RevokedAt == nil || h.RevokedAt == nil {
			h.RevokedAt = nil
		} else if c.RevokedAt.After(*h.RevokedAt) {
			h.RevokedAt = c.RevokedAt
		}
	}
	return out, nil
}

// RevokeHolderConsent revokes the proving holder's consent to a tenant for a scope, and returns
// how many grants it ended (0 when none was in force: revoking is idempotent).
func (p *Platform) RevokeHolderConsent(ctx context.Context, proof HolderProof, tenantID, scope string) (int, error) {
	if !slices.Contains(ConsentScopes, scope) || tenantID == "" {
		return 0, newError(KindInvalid, "invalid-request", "a tenant and a scope (one of %v) are required", ConsentScopes)
	}
	person, err := p.holderPerson(ctx, proof, HolderRevokeConsent, tenantID, scope)
	if err != nil {
		return 0, err
	}
	if person == "" {
		return 0, nil
	}
	n, err := p.store.RevokeConsents(ctx, person, tenantID, scope, p.clk.Now().UTC())
	if err != nil {
		return 0, internal(err)
	}
	return n, nil
}

// holderChallengeExpiry checks that c is a consent challenge this platform issued (its MAC)
// and returns its expiry.
func (p *Platform) holderChallengeExpiry(c []byte) (time.Time, bool) {
	if len(c) > maxHolderChallenge || !bytes.HasSuffix(c, []byte("\n")) {
		return time.Time{}, false
	}
	i := bytes.LastIndex(c, []byte("\nmac="))
	if i < 0 {
		return time.Time{}, false
	}
	head := c[:i+1]
	mac, err := base64.RawURLEncoding.Strict().DecodeString(string(c[i+5 : len(c)-1]))
	if err != nil || !hmac.Equal(mac, p.holderMAC(head)) {
		return time.Time{}, false
	}
	for _, line := range strings.Split(string(head), "\n") {
		if v, ok := strings.CutPrefix(line, "expires="); ok {
			exp, err := time.Parse(time.RFC3339, v)
			return exp, err == nil
		}
	}
	return time.Time{}, false
}
