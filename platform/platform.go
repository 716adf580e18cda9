// Package platform is mynagate's platform core: the four functions a JPKI platform provider
// offers relying parties — 本人確認 (identity proofing with the signing certificate), 利用者認証
// (login with the authentication certificate), 証跡データ保管 (evidence) and 証明書失効通知管理
// (revocation notification) — and the tenants, API keys, verification sessions, persons and usage
// accounting around them.
//
// It owns the rules: challenges are random, single-use, short-lived and bound to tenant, purpose
// and session; a verification is well-formed DER → chain to the right J-LIS CA → validity →
// revocation → signature over the exact challenge → basic 4 facts; every certificate links to a
// person, and tenants see only a pairwise id HMAC(tenant key, person).
//
// It does no HTTP (package web) and no SQL (it declares Storage, one interface embedding every
// part it uses of its database; package store implements it),
// and it never sees a card: it receives certificates and signatures. It reaches J-LIS through the
// interfaces it declares (LinkSource, RevocationChecker), implemented over HTTP.
package platform

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/internal/kdf"
	"github.com/mynagate/mynagate/jlisapi"
)

// RevocationChecker establishes whether a certificate is revoked. Package revocation implements it
// from the CRL indexes and OCSP, as the tenant's policy asks.
type RevocationChecker interface {
	// Status returns the revocation status of cert, issued by issuer. It MUST return an error
	// (never a "good" status) when it cannot establish the status from fresh data.
	Status(ctx context.Context, cert, issuer *x509.Certificate, opts RevocationOptions) (*RevocationStatus, error)
}

// RevocationOptions tune one revocation check.
type RevocationOptions struct {
	// Policy is the tenant's revocation policy (RevocationCRL when empty). A certificate listed
	// by any CRL the checker holds is revoked whatever the policy.
	Policy RevocationPolicy
}

// RevocationStatus is the answer of a RevocationChecker, with the evidence it rests on.
type RevocationStatus struct {
	Revoked   bool
	RevokedAt time.Time
	Reason    int // RFC 5280 CRLReason
	Method    RevocationMethod
	// CRLNumber and CRLThisUpdate identify the CRL used (Method crl).
	CRLNumber     string
	CRLThisUpdate time.Time
	// OCSPResponse is the raw DER response (Method ocsp).
	OCSPResponse []byte
}

// LinkSource answers renewal-link queries (新旧紐付け). jlisapi.Client implements it.
type LinkSource interface {
	Links(ctx context.Context, ref jlisapi.CertRef) (*jlisapi.LinkInfo, error)
}

// CA is a J-LIS certification authority the platform trusts, by its J-LIS name.
type CA struct {
	Name    string // "sign", "auth", "sign-phone", "auth-phone"; later generations "sign-g2", ...
	Cert    *x509.Certificate
	Purpose Purpose // identity for signing CAs, login for authentication CAs
	// Link is J-LIS's link certificate by which the previous generation of this CA (same DN,
	// older key) certifies this one's key; nil for a first generation. Only the wiring's trust
	// check reads it.
	Link *x509.Certificate
}

// Platform is the platform core. It is safe for concurrent use.
type Platform struct {
	store      Storage
	clk        clockwork.Clock
	rand       io.Reader
	master     []byte       // WithMaster's secret, until New makes keys of it
	keys       *kdf.Secret  // every key taken from the master secret (internal/kdf); nil without one
	casMu      sync.RWMutex // AddCAs replaces cas while verifications read it
	cas        []CA
	cardAPCAs  []*rsa.PublicKey // WithCardAPCAs: chip reading is enabled with one
	revocation RevocationChecker
	links      LinkSource
	sessionTTL time.Duration
	holderBase string
	evidence   *evidence.Log
	cache      caches
	// privateTargets lifts the webhook egress policy (package egress).
	privateTargets bool
	// challengeSigner signs holder challenges (challenge.go), derived once from the master secret.
	challengeKeyOnce sync.Once
	challengeSigner  ed25519.PrivateKey
	// basic4 is where LatestFacts asks J-LIS (UseBasic4Source).
	basic4 atomic.Pointer[basic4Ref]
}

// Option configures a Platform.
type Option func(*Platform)

// WithClock sets the clock (default real).
func WithClock(c clockwork.Clock) Option { return func(p *Platform) { p.clk = c } }

// WithRand sets the randomness source for ids, nonces and secrets (default crypto/rand).
func WithRand(r io.Reader) Option { return func(p *Platform) { p.rand = r } }

// WithSessionTTL sets how long a challenge may be answered (default 5 minutes).
func WithSessionTTL(d time.Duration) Option { return func(p *Platform) { p.sessionTTL = d } }

// WithHolderBaseURL sets the public base URL the holder's app reaches the platform at; holder
// URLs and QR payloads are built on it (default http://127.0.0.1:8080).
func WithHolderBaseURL(u string) Option { return func(p *Platform) { p.holderBase = u } }

// WithMaster sets the platform's secret (at least 32 bytes, or New refuses it) from which every
// key of the platform is derived (internal/kdf: pairwise and card keys, seals, holder tokens,
// the challenge signing key). It MUST stay the same across restarts and be shared by every
// node, or every pairwise id changes and sealed secrets no longer open. Required for
// verifications.
func WithMaster(m []byte) Option { return func(p *Platform) { p.master = m } }

// WithCAs sets the trusted J-LIS CAs (pinned by key). Required for verifications.
func WithCAs(cas ...CA) Option { return func(p *Platform) { p.cas = cas } }

// WithRevocation sets the revocation checker. Required for verifications.
func WithRevocation(r RevocationChecker) Option { return func(p *Platform) { p.revocation = r } }

// WithEvidence records every verification attempt, accepted or rejected, in the evidence log:
// the verification's entry is what the store records the verification as. Required for
// verifications.
func WithEvidence(l *evidence.Log) Option { return func(p *Platform) { p.evidence = l } }

// Evidence returns the evidence log, or nil when the platform is not configured for
// verifications.
func (p *Platform) Evidence() *evidence.Log { return p.evidence }

// WithLinks sets the renewal-link source. Required for verifications.
func WithLinks(l LinkSource) Option { return func(p *Platform) { p.links = l } }

// New returns a platform over store. Operator functions (tenants, API keys) need nothing more;
// verifications need WithMaster, WithCAs, WithRevocation, WithLinks and WithEvidence, and New
// refuses a partial set.
func New(store Storage, opts ...Option) (*Platform, error) {
	if store == nil {
		return nil, errors.New("platform: a store is required")
	}
	p := &Platform{store: store, clk: clockwork.NewRealClock(), rand: rand.Reader, sessionTTL: 5 * time.Minute, holderBase: "http://127.0.0.1:8080", cache: newCaches()}
	for _, o := range opts {
		o(p)
	}
	if p.master != nil {
		k, err := kdf.New(p.master)
		if err != nil {
			return nil, fmt.Errorf("platform: master secret: %w", err)
		}
		p.keys, p.master = k, nil
	}
	verifying := p.keys != nil || len(p.cas) > 0 || p.revocation != nil || p.links != nil || p.evidence != nil
	if verifying && (p.keys == nil || len(p.cas) == 0 || p.revocation == nil || p.links == nil || p.evidence == nil) {
		return nil, errors.New("platform: verifications need a master secret of at least 32 bytes, trusted CAs, a revocation checker, a link source and the evidence log")
	}
	if err := checkCAs(p.cas); err != nil {
		return nil, err
	}
	return p, nil
}

func checkCAs(cas []CA) error {
	for _, ca := range cas {
		if ca.Cert == nil || len(ca.Cert.SubjectKeyId) == 0 || (ca.Purpose != PurposeIdentity && ca.Purpose != PurposeLogin) {
			return fmt.Errorf("platform: CA %q lacks its certificate, key identifier or purpose", ca.Name)
		}
	}
	return nil
}

// trustedCAs returns the trusted CAs in force; the slice is never modified afterwards.
func (p *Platform) trustedCAs() []CA {
	p.casMu.RLock()
	defer p.casMu.RUnlock()
	return p.cas
}

// AddCAs trusts further CAs while the platform runs: the new generations of a J-LIS rollover
// that the caller has checked exactly as at start (wiring.CheckTrust). A CA whose name is
// already trusted is skipped; verifications in progress keep the list they started with.
func (p *Platform) AddCAs(cas ...CA) error {
	if err := checkCAs(cas); err != nil {
		return err
	}
	p.casMu.Lock()
	defer p.casMu.Unlock()
	have := map[string]bool{}
	for _, ca := range p.cas {
		have[ca.Name] = true
	}
	next := append([]CA(nil), p.cas...)
	for _, ca := range cas {
		if !have[ca.Name] {
			next, have[ca.Name] = append(next, ca), true
		}
	}
	p.cas = next
	return nil
}

// canVerify reports whether the platform was configured for verifications.
func (p *Platform) canVerify() bool { return p.revocation != nil }

// newID returns prefix + 16 random hex digits.
func (p *Platform) newID(prefix string) (string, error) {
	b := make([]byte, 8)
	if _, err := io.ReadFull(p.rand, b); err != nil {
		return "", internal(fmt.Errorf("random id: %w", err))
	}
	return prefix + hex.EncodeToString(b), nil
}

// newOrderedID returns prefix + 32 hex digits: 12 of the clock's Unix milliseconds, then 20 of
// randomness (80 bits, like a UUIDv7). Sessions, verifications and their events are the rows
// written on every verification; ids that grow with time make their index inserts land on the
// B-trees' last pages instead of a random page each, which is most of what a commit writes.
func (p *Platform) newOrderedID(prefix string) (string, error) {
	b := make([]byte, 16)
	ms := uint64(p.clk.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	if _, err := io.ReadFull(p.rand, b[6:]); err != nil {
		return "", internal(fmt.Errorf("random id: %w", err))
	}
	return prefix + hex.EncodeToString(b), nil
}

// randomBytes returns n random bytes.
func (p *Platform) randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(p.rand, b); err != nil {
		return nil, internal(fmt.Errorf("random bytes: %w", err))
	}
	return b, nil
}

// PairwiseID returns the id under which a tenant sees a person: base64url(HMAC-SHA256(tenant key,
// person id)) with the tenant key the master secret's kdf.Pairwise key for the tenant id. Two
// tenants never see the same id for one person, and no tenant can compute another's. Empty
// without the master secret (a platform not configured for verifications has none to name).
func (p *Platform) PairwiseID(tenantID, personID string) string {
	if p.keys == nil {
		return ""
	}
	return pairwiseWith(p.tenantKey(tenantID), personID)
}

// tenantKey is a tenant's pairwise key (kdf.Pairwise), kept in a bounded cache.
func (p *Platform) tenantKey(tenantID string) []byte {
	key, ok := p.cache.tenantKeys.Get(tenantID)
	if !ok {
		key = p.keys.KeyFor(kdf.Pairwise, tenantID)
		p.cache.tenantKeys.Add(tenantID, key)
	}
	return key
}

func pairwiseWith(key []byte, personID string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(personID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Clock returns the platform's clock (WithClock), for the workers beside it (delivery, notify).
func (p *Platform) Clock() clockwork.Clock { return p.clk }

// Rand returns the platform's randomness source (WithRand), for the workers beside it.
func (p *Platform) Rand() io.Reader { return p.rand }
