package platform

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/mynagate/mynagate/internal/kdf"
	"github.com/mynagate/mynagate/jlisapi"
)

// The records of 証明書失効通知管理 (revocation notification), which package notify runs:
// the storage capability, its rows, and what the notifier asks of the platform.

// NotifyStorage is the part of Storage behind revocation notification; package notify uses it
// through Platform.Notifications.
type NotifyStorage interface {
	// PersonsByCerts returns, by serial, the person each certificate of CA ca is linked to;
	// certificates not linked are absent from the map.
	PersonsByCerts(ctx context.Context, ca string, serials []string) (map[string]string, error)
	// WatchedCerts calls fn with every certificate of CA ca that is linked to a person and has
	// no revocation notice yet, in no particular order. An error from fn stops the walk and is
	// returned. fn MUST NOT write to the store (on SQLite the walk holds a read transaction).
	WatchedCerts(ctx context.Context, ca string, fn func(serial, personID string) error) error
	// Watchers returns the tenants that watch a person — those with an accepted verification of
	// the person and no watch stop after the latest one — each with its effective consent to
	// scope, if any: a consent given with an accepted verification of the person, after the
	// tenant's last watch stop, and not revoked.
	Watchers(ctx context.Context, personID, scope string) ([]Watcher, error)
	// RecordRevocations stores notices, each with its events, in one transaction. A notice for a
	// certificate that has one already is skipped together with its events, so re-reading a CRL
	// never repeats an event. Events are appended to the outbox with the notice's person as
	// ordering key. It returns how many notices were stored.
	RecordRevocations(ctx context.Context, notices []RevocationNotice) (int, error)
	// ClaimFollowUps claims up to limit notices whose follow-up is pending and due at `at`: each
	// claim counts an attempt and moves FollowUpAt to leaseUntil, so a claimer that dies leaves
	// it due again then. Concurrent claimers never claim one notice twice.
	ClaimFollowUps(ctx context.Context, at, leaseUntil time.Time, limit int) ([]RevocationNotice, error)
	// FinishFollowUp ends a follow-up in one transaction: the certificates are linked to the
	// notice's person (existing links are kept), the events are appended to the outbox with the
	// person as ordering key (an event whose id exists is skipped), the follow-up is done.
	// ErrNotFound if there is no such notice.
	FinishFollowUp(ctx context.Context, ca, serial string, certs []PersonCert, events []Event, at time.Time) error
	// FailFollowUp records a failed follow-up attempt: due again at next, or failed for good when
	// next is the zero time.
	FailFollowUp(ctx context.Context, ca, serial string, next time.Time, reason string) error
	// StopWatching records that a tenant stops watching a person (ON CONFLICT: the later stop).
	StopWatching(ctx context.Context, tenantID, personID string, at time.Time) error
}

// Watcher is a tenant watching a person.
type Watcher struct {
	TenantID string
	// Since is the time of the tenant's latest accepted verification of the person.
	Since time.Time
	// ConsentID names the tenant's effective consent to the scope asked about; "" without one.
	ConsentID string
}

// FollowUpState is the state of a revocation notice's follow-up.
type FollowUpState string

// Follow-up states.
const (
	FollowUpPending FollowUpState = "pending"
	FollowUpDone    FollowUpState = "done"
	FollowUpFailed  FollowUpState = "failed"
)

// RevocationNotice is a revoked certificate of a person, noticed on a CRL.
type RevocationNotice struct {
	CA        string    // hex subject key identifier of the issuing CA
	Serial    string    // upper-case hex
	PersonID  string    // the certificate's person
	Reason    int       // RFC 5280 CRLReason; -1 when the CRL entry has none
	RevokedAt time.Time // revocationDate of the CRL entry
	CRL       string    // the CRL it was seen on, "<ca name>#<cRLNumber>"
	NoticedAt time.Time
	// The follow-up: link successor certificates; after affiliationChanged, basic-4 updates.
	FollowUp         FollowUpState
	FollowUpAttempts int
	FollowUpAt       time.Time // due time, or the end of the lease of the worker holding it
	FollowUpError    string
	// Events are appended with the notice (RecordRevocations only).
	Events []Event
}

// Basic4Source answers the latest basic 4 facts of a certificate's holder (最新の基本4情報
// 提供). jlisapi.Client implements it.
type Basic4Source interface {
	LatestBasic4(ctx context.Context, ref jlisapi.CertRef, requester, consentRef string) (*jlisapi.Basic4, error)
}

// CRL reasons the notifier acts on (RFC 5280 §5.3.1).
const (
	ReasonAffiliationChanged = 3 // JPKI: 異動 — a move, a change of name or sex, death
)

var crlReasonNames = [...]string{"unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
	"cessationOfOperation", "certificateHold", "", "removeFromCRL", "privilegeWithdrawn", "aACompromise"}

// CRLReasonName returns the RFC 5280 name of a CRLReason ("none" for -1).
func CRLReasonName(r int) string {
	if r == -1 {
		return "none"
	}
	if r >= 0 && r < len(crlReasonNames) && crlReasonNames[r] != "" {
		return crlReasonNames[r]
	}
	return "reason" + strconv.Itoa(r)
}

// EventID derives the id of an event from what it is about, so that noticing the same
// revocation twice (a restart, two nodes reading one CRL) yields the same id, which the outbox
// stores once: "evt_" + 32 hex digits of HMAC-SHA256 over (type, tenant, CA, serial) under the
// master secret's kdf.EventID key. A certificate is revoked once, so the CRL number is not part of it.
// The key matters: serials are small numbers, and an unkeyed hash would let a tenant that may
// not see the certificate find its serial from the event id by trying them.
func (p *Platform) EventID(typ, tenantID, ca, serial string) string {
	m := hmac.New(sha256.New, p.keys.Key(kdf.EventID))
	for _, s := range []string{typ, tenantID, ca, serial} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return "evt_" + hex.EncodeToString(m.Sum(nil)[:16])
}

// TrustedCA returns the trusted CA with a storage key, nil if none.
func (p *Platform) TrustedCA(key string) *CA {
	cas := p.trustedCAs()
	for i := range cas {
		if CAKey(cas[i].Cert) == key {
			return &cas[i]
		}
	}
	return nil
}

// CertLink links a certificate named by J-LIS to a person, if its CA is trusted.
func (p *Platform) CertLink(r jlisapi.CertRef, person string, now time.Time) (PersonCert, bool) {
	key := p.caKeyByName(r.CA)
	if key == "" || r.Serial <= 0 {
		return PersonCert{}, false
	}
	return PersonCert{PersonID: person, CA: key, Serial: fmt.Sprintf("%X", r.Serial), Kind: kindOfCA(r.CA), LinkedAt: now}, true
}

// Notifications returns the store's revocation-notification records, for package notify: an
// error if the platform is not configured for verifications.
func (p *Platform) Notifications() (NotifyStorage, error) {
	if !p.canVerify() {
		return nil, errors.New("platform: revocation notification needs a platform configured for verifications")
	}
	return p.store, nil
}

// Links returns the platform's renewal-link source (WithLinks).
func (p *Platform) Links() LinkSource { return p.links }

// basic4Ref is where LatestFacts asks J-LIS for a person's latest facts.
type basic4Ref struct {
	src       Basic4Source
	requester string
}

// UseBasic4Source sets where LatestFacts asks J-LIS for the latest basic 4 facts, and the name
// it asks under (nil: it does not ask). The notifier sets it when it is made (notify.New).
func (p *Platform) UseBasic4Source(b Basic4Source, requester string) {
	p.basic4.Store(&basic4Ref{b, requester})
}
