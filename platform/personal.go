package platform

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/jlisapi"
)

// openPersonal fills in what a verification's row does not hold in clear: the facts the tenant
// received, opened from the verification's sealed evidence entry (docs/design/evidence.md,
// "Personal data"), or that they were shredded. Facts the tenant may no longer see (its
// allowed facts shrank since) are left out. A row of a verification stored before the evidence
// log has no entry and no facts.
func (p *Platform) openPersonal(ctx context.Context, tenant *Tenant, v *Verification) error {
	if p.evidence == nil {
		return nil
	}
	o, err := p.evidence.Open(ctx, tenant.ID, v.ID)
	if errors.Is(err, evidence.ErrNotFound) {
		return nil
	}
	if err != nil {
		return internal(fmt.Errorf("platform: open the evidence of %s: %w", v.ID, err))
	}
	v.RetainUntil = o.RetainUntil
	// What is served is what the leaf says, not what the row says: a row edited after the fact
	// serves nothing new (and the audit names it).
	v.Decision, v.Reason = DecisionAccepted, o.Leaf.Reason
	if o.Leaf.Decision == evidence.Rejected {
		v.Decision = DecisionRejected
	}
	if o.Shredded() {
		v.Shredded = true
		return nil
	}
	v.Detail = o.Personal.Detail
	if v.Purpose == PurposeLogin && v.Decision == DecisionAccepted && len(o.Personal.Certificate) > 0 {
		v.CardID = CardID(p.cardKey(tenant.ID), o.Personal.Certificate)
	}
	for k, val := range o.Personal.Facts {
		f := Fact(k)
		if !slices.Contains(tenant.Facts, f) {
			continue
		}
		if v.Facts == nil {
			v.Facts = map[Fact]string{}
		}
		v.Facts[f] = val
	}
	return nil
}

// AllowsCertificate reports whether the tenant may receive the holder's certificate, its
// serial and its issuer: only a tenant allowed every basic-4 fact. The certificate carries all
// four facts (identity) and its serial is one identifier across tenants, which would let tenants
// link the one person their pairwise ids keep apart.
func (t *Tenant) AllowsCertificate() bool {
	for _, f := range AllFacts {
		if !slices.Contains(t.Facts, f) {
			return false
		}
	}
	return true
}

// PersonCertStorage is the part of Storage behind LatestFacts: a person's linked certificates,
// the most recently linked first.
type PersonCertStorage interface {
	PersonCerts(ctx context.Context, personID string) ([]PersonCert, error)
}

// LatestFactsView is a watched person's latest basic-4 facts as J-LIS holds them now: what a
// person.basic4_updated event tells the tenant to read.
type LatestFactsView struct {
	Sub       string
	Facts     map[Fact]string // the facts the tenant may see
	Deceased  bool
	UpdatedAt time.Time
}

// LatestFacts asks J-LIS, on the holder's behalf, for the latest basic-4 facts of a person the
// tenant verified and watches with the holder's basic4_updates consent in force, and returns
// those the tenant may see. Nothing is stored: the values travel from J-LIS to the tenant over
// its authenticated call only. Errors: no such person for the tenant (404), no consent in force
// (409 consent-required), J-LIS unavailable (503).
func (p *Platform) LatestFacts(ctx context.Context, tenant *Tenant, sub string) (*LatestFactsView, error) {
	st, err := p.notifyStorage()
	if err != nil {
		return nil, err
	}
	n := p.basic4.Load()
	if n == nil || n.src == nil {
		return nil, newError(KindNotFound, "not-found", "this platform does not read basic-4 facts from J-LIS")
	}
	person, err := p.personOfSub(ctx, tenant.ID, sub)
	if err != nil {
		return nil, err
	}
	ws, err := st.Watchers(ctx, person, ScopeBasic4Updates)
	if err != nil {
		return nil, internal(err)
	}
	consent := ""
	for _, w := range ws {
		if w.TenantID == tenant.ID {
			consent = w.ConsentID
		}
	}
	if consent == "" {
		return nil, newError(KindConflict, "consent-required", "the holder's basic4_updates consent to this tenant is not in force")
	}
	certs, err := p.store.PersonCerts(ctx, person)
	if err != nil {
		return nil, internal(err)
	}
	for _, c := range certs {
		ca := p.TrustedCA(c.CA)
		serial, perr := strconv.ParseInt(c.Serial, 16, 64)
		if c.Kind != "sign" || ca == nil || perr != nil || serial <= 0 {
			continue
		}
		ans, err := n.src.LatestBasic4(ctx, jlisapi.CertRef{CA: ca.Name, Serial: serial}, n.requester+"/"+tenant.ID, consent)
		if errors.Is(err, jlisapi.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, &Error{Kind: KindUnavailable, Type: "jlis-unavailable", Detail: "J-LIS cannot be asked for the latest facts now; retry later", Err: err}
		}
		return &LatestFactsView{Sub: sub, Facts: Facts(tenant, &ans.Basic4), Deceased: ans.Deceased, UpdatedAt: ans.UpdatedAt}, nil
	}
	return nil, newError(KindNotFound, "not-found", "J-LIS knows no signing certificate of person %q", sub)
}

// servedOf is what the store keeps of a verification beside its entry, as it writes it
// (store.CompleteSession): the entry's leaf commits to it, so the audit catches an edit of
// anything served from it (decision, reason, person, certificate). The verification's event is
// not kept beside it: it leaves through the outbox, signed for each endpoint.
func servedOf(v *Verification) *evidence.Served {
	return &evidence.Served{SessionID: v.SessionID, Purpose: string(v.Purpose), Decision: string(v.Decision), Reason: v.Reason,
		Detail: v.Detail, PersonID: v.PersonID, CertCA: v.CertCA, CertSerial: v.CertSerial, Method: string(v.Method),
		RevocationRef: v.RevocationRef}
}

// AllowsCertificateAt reports whether the tenant may receive the certificate of a verification
// made at the given time: it is allowed every fact now and was when the verification was made
// (its allowance has not grown since). The certificate carries all four facts, so a widened
// allowance must not reveal it for verifications made under a narrower one.
func (t *Tenant) AllowsCertificateAt(made time.Time) bool {
	return t.AllowsCertificate() && !made.Before(t.FactsWidenedAt)
}

// EvidenceDisclosure is what the tenant's evidence bundles and exports reveal of the personal
// data of entries made at or after the given time: everything (the certificate included) to a
// tenant allowed the certificate for them (AllowsCertificateAt); to another, only its pairwise
// subject, the rejection detail and the facts it may see now, each disclosed against its
// commitment in the leaf (an entry holds only the facts allowed when it was made).
func (t *Tenant) EvidenceDisclosure(made time.Time) evidence.Disclosure {
	if t.AllowsCertificateAt(made) {
		return evidence.Disclosure{Full: true}
	}
	items := []string{evidence.ItemSubject, evidence.ItemDetail}
	for _, f := range t.Facts {
		items = append(items, evidence.FactItem(string(f)))
	}
	return evidence.Disclosure{Items: items}
}

// CheckpointHeader carries the evidence log's latest signed checkpoint (base64 of the note) on
// every webhook delivery, so that a tenant keeps a recent checkpoint without asking: with it,
// `mynagate evidence audit --checkpoint` catches a log rolled back or checkpoints deleted after.
const CheckpointHeader = "Mynagate-Evidence-Checkpoint"

// SetCheckpointHeader sets CheckpointHeader to the evidence log's latest checkpoint, if any.
func (p *Platform) SetCheckpointHeader(ctx context.Context, h http.Header) {
	if p.evidence == nil {
		return
	}
	cp, err := p.evidence.Checkpoint(ctx)
	if err != nil {
		return // none yet, or the store is away: the delivery goes without
	}
	h.Set(CheckpointHeader, base64.StdEncoding.EncodeToString(cp.Note))
}

// EvidenceBundle returns the evidence bundle of one of the tenant's verifications, disclosing
// what the tenant may see (EvidenceDisclosure at the time the verification was made). Errors:
// evidence.ErrNotFound when the verification is not the tenant's (or there is no log),
// evidence.ErrNotIntegrated while its entry is not yet in the tree.
func (p *Platform) EvidenceBundle(ctx context.Context, tenant *Tenant, id string) (*evidence.Bundle, error) {
	if p.evidence == nil {
		return nil, fmt.Errorf("platform: no evidence log: %w", evidence.ErrNotFound)
	}
	v, err := p.store.Verification(ctx, tenant.ID, id)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("platform: verification %s of tenant %s: %w", id, tenant.ID, evidence.ErrNotFound)
	}
	if err != nil {
		return nil, internal(err)
	}
	return p.evidence.BundleFor(ctx, tenant.ID, id, tenant.EvidenceDisclosure(v.CreatedAt))
}
