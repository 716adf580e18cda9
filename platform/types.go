package platform

import (
	"time"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/jpki"
)

// Purpose is what a verification session proves.
type Purpose string

// The purposes.
const (
	// PurposeIdentity is 本人確認: the holder signs with the signing key; the platform checks the
	// signing certificate and hands the basic 4 facts the tenant may see.
	PurposeIdentity Purpose = "identity"
	// PurposeLogin is 利用者認証: the holder signs with the authentication key; no personal data.
	PurposeLogin Purpose = "login"
	// PurposeChipReading is the "IC chip reading" method of identity proofing: the holder's app
	// reads the 券面事項入力補助AP (basic 4 facts, signature record, AP certificate) and the
	// platform checks the issuer's signature over the facts against the card-AP CA it was told
	// to trust (WithCardAPCAs). It is WEAKER than PurposeIdentity and marked so wherever it is
	// shown: the data is static and copyable (no key signs the challenge, so nothing proves the
	// card is present or held by its holder), no revocation status exists for it, and it yields
	// no pairwise id that follows the person (docs/design/chip-reading.md).
	PurposeChipReading Purpose = "chip_reading"
)

// Valid reports whether p is a known purpose.
func (p Purpose) Valid() bool {
	return p == PurposeIdentity || p == PurposeLogin || p == PurposeChipReading
}

// HasFacts reports whether verifications of the purpose hand the tenant basic-4 facts.
func (p Purpose) HasFacts() bool { return p == PurposeIdentity || p == PurposeChipReading }

// ChipReadingLimitations are what a chip-reading verification does not establish, as the API
// lists them on each such verification (and its webhook) so that no relying party mistakes it
// for a JPKI signature.
var ChipReadingLimitations = []string{"no-key-possession", "no-revocation-check", "copyable-data", "no-pairwise-id"}

// Limitations returns what a verification of the purpose does not establish (nil for the
// JPKI purposes).
func (p Purpose) Limitations() []string {
	if p == PurposeChipReading {
		return ChipReadingLimitations
	}
	return nil
}

// Fact names a basic-4 fact a tenant may receive.
type Fact string

// The basic 4 facts.
const (
	FactName    Fact = "name"
	FactBirth   Fact = "birthdate"
	FactSex     Fact = "sex"
	FactAddress Fact = "address"
)

// AllFacts lists the basic 4 facts.
var AllFacts = []Fact{FactName, FactBirth, FactSex, FactAddress}

// Tenant is a relying party.
type Tenant struct {
	ID        string    // "t_" + 16 hex digits
	Name      string    // display name
	Facts     []Fact    // the basic-4 facts the tenant may receive on identity verifications
	CreatedAt time.Time // creation time
	// Revocation is how the tenant's verifications establish that a certificate is not revoked
	// (RevocationCRL when empty). It is the tenant's choice, never the holder's.
	Revocation RevocationPolicy
	// FactsWidenedAt is when Facts last grew (UpdateTenant; zero if never). The certificate
	// carries every fact, so it is served only for verifications made at or after it
	// (AllowsCertificateAt): a wider allowance never reaches back.
	FactsWidenedAt time.Time
}

// RevocationPolicy says which sources establish that a certificate is not revoked. Whatever the
// policy, a certificate listed by any CRL the platform holds for its CA is revoked, whatever
// OCSP says (docs/design/revocation.md, "Revocation policy").
type RevocationPolicy string

// Revocation policies.
const (
	// RevocationCRL, the default: the CRL in force decides while it is fresh; while it is not
	// (J-LIS late), a verified OCSP answer does.
	RevocationCRL RevocationPolicy = "crl"
	// RevocationOCSP: a verified OCSP answer decides (a cached one at most five minutes old, and
	// never one older than the CRL in force).
	RevocationOCSP RevocationPolicy = "ocsp"
	// RevocationBoth: a fresh CRL and a verified OCSP answer must both say "not revoked".
	RevocationBoth RevocationPolicy = "both"
)

// RevocationPolicies lists the policies.
var RevocationPolicies = []RevocationPolicy{RevocationCRL, RevocationOCSP, RevocationBoth}

// Valid reports whether p is one of RevocationPolicies.
func (p RevocationPolicy) Valid() bool {
	return p == RevocationCRL || p == RevocationOCSP || p == RevocationBoth
}

// RevocationPolicy returns the tenant's policy, RevocationCRL when unset.
func (t *Tenant) RevocationPolicy() RevocationPolicy {
	if t.Revocation == "" {
		return RevocationCRL
	}
	return t.Revocation
}

// APIKey authenticates a tenant's back end. Only a hash of the secret is stored.
type APIKey struct {
	ID         string     // "k_" + 16 hex digits; the public part of the key
	TenantID   string     // owner
	Name       string     // label given at creation
	SecretHash []byte     // SHA-256 of the secret part
	CreatedAt  time.Time  // creation time
	RevokedAt  *time.Time // nil while the key is valid
}

// SessionStatus is the state of a verification session.
type SessionStatus string

// Session states. A session starts pending and ends in exactly one of the others.
const (
	SessionPending  SessionStatus = "pending"
	SessionVerified SessionStatus = "verified"
	SessionFailed   SessionStatus = "failed"
)

// Session is one verification a tenant asked for: a single-use challenge for the holder to sign.
type Session struct {
	ID       string  // "s_" + 32 hex digits, time-ordered (see newOrderedID)
	TenantID string  // the tenant that created it
	Purpose  Purpose // identity or login
	Nonce    []byte  // 32 random bytes, part of the challenge the holder signs (Challenge())
	// HolderToken is the secret in the holder URL; it lets the holder's app fetch and answer.
	// The platform derives it from the master secret and the id and never stores it (empty in
	// the store; sessions stored by earlier versions carry their random token).
	HolderToken string
	Status      SessionStatus // pending, verified or failed
	CreatedAt   time.Time     // creation time
	ExpiresAt   time.Time     // the challenge is refused after this time
	// VerificationID is set when the session ended in a verification (accepted or rejected).
	VerificationID string
	// ClientRef is an opaque reference of the tenant's (e.g. its user id), echoed back.
	ClientRef string
	// Sign, when set, makes the session a document signature (identity only): the holder signs
	// CAdES signed attributes over the document's hash bound to the challenge, instead of the
	// challenge itself (SignRequest).
	Sign *SignRequest
	// challenge is what the holder signs, built by the platform from the fields above, its
	// origin and the tenant's name (challenge.go); not stored.
	challenge []byte
}

// Challenge returns the exact bytes the holder signs for the session (challenge.go): set on
// the sessions the platform hands out, nil on a Session built elsewhere.
func (s *Session) Challenge() []byte { return s.challenge }

// Decision is the outcome of a verification: the evidence log's type, which it records.
type Decision = evidence.Decision

// Decisions.
const (
	DecisionAccepted = evidence.Accepted
	DecisionRejected = evidence.Rejected
)

// RevocationMethod says how revocation status was established (jpki's one type for it, which
// package revocation answers with and the evidence log encodes).
type RevocationMethod = jpki.RevocationMethod

// Revocation methods (for accounting and evidence).
const (
	MethodCRL  = jpki.RevocationCRL
	MethodOCSP = jpki.RevocationOCSP
	// MethodNone: no revocation status was established — the verification was rejected before
	// the check, or it is a chip reading, whose signed data has no revocation service.
	MethodNone = jpki.RevocationNone
)

// Verification is the record of one completed verification attempt.
type Verification struct {
	ID        string   // "v_" + 32 hex digits, time-ordered
	TenantID  string   // tenant
	SessionID string   // session it completed
	Purpose   Purpose  // identity or login
	Decision  Decision // accepted or rejected
	// Reason is the problem type of a rejection ("cert-revoked", ...); empty when accepted.
	Reason string
	Detail string // human-readable detail of a rejection
	// PersonID is the internal person; set when accepted. Never shown to tenants.
	PersonID string
	// CertCA is the hex subject key identifier of the issuing CA, CertSerial the hex serial.
	CertCA, CertSerial string
	// Cert is the DER certificate presented. With an evidence log it is stored once, sealed in
	// the verification's evidence entry (crypto-shreddable), not also in the verification row;
	// RevocationEvidence likewise.
	Cert []byte
	// Basic4 is the facts as decoded from the certificate (identity only), in memory while the
	// verification is recorded; never stored in clear (the entry seals those the tenant may see).
	Basic4 *jpki.Basic4
	// Facts are the basic-4 facts the tenant received, read back by opening the verification's
	// sealed evidence entry; nil when none or once shredded.
	Facts map[Fact]string
	// CardID is the tenant's card id of the authentication certificate (cardid.go), for an
	// accepted login verification only; read back like Facts, empty once shredded.
	CardID string
	// Shredded is set once the personal data (facts, certificate) was shredded at RetainUntil,
	// the end of the tenant's retention.
	Shredded    bool
	RetainUntil time.Time
	Method      RevocationMethod
	// RevocationRef is the CRL number, or "ocsp"; RevocationEvidence the raw OCSP response.
	RevocationRef      string
	RevocationEvidence []byte
	CreatedAt          time.Time
}

// Usage is one accounting counter: verifications per tenant, month, purpose and method.
type Usage struct {
	TenantID string
	Month    string // YYYY-MM (JST)
	Purpose  Purpose
	Method   RevocationMethod
	Count    int64
}

// Event is an outbox event for a tenant (delivered as a webhook).
type Event struct {
	ID        string    // "evt_" + 32 hex digits; stable across redeliveries
	TenantID  string    // recipient
	Type      string    // e.g. "verification.completed"
	Payload   []byte    // JSON
	CreatedAt time.Time // creation time
}
