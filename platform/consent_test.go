package platform_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/internal/platformtest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/store"
)

// holderProof is the holder's signed request for an action, with the card's authentication key
// over a fresh platform challenge.
func holderProof(t *testing.T, e *platformtest.JLIS, cf *jpki.CardFile, action, tenantID, scope string) platform.HolderProof {
	t.Helper()
	ch, exp, err := e.P.HolderChallenge()
	if err != nil {
		t.Fatal(err)
	}
	if !exp.After(e.Clk.Now()) || !bytes.HasPrefix(ch, []byte(platform.HolderChallengeDomain+"\n")) {
		t.Fatalf("holder challenge %q expiring %s", ch, exp)
	}
	return platform.HolderProof{Certificate: cf.Auth.Cert, Signature: platformtest.Sign(t, cf.Auth, platform.HolderMessage(action, tenantID, scope, ch)), Challenge: ch}
}

// Consent is granted with an accepted identity verification only, listed and revoked by the
// holder with a proof by the card's authentication key (the counterpart of the signing
// certificate the consent was given with), and granted again by a later verification.
func TestConsentGrantListRevoke(t *testing.T) {
	e := platformtest.NewJLIS(t)
	cf := e.Card(testkit.Taro())
	scope := platform.ScopeBasic4Updates

	_, err := e.Complete(cf, e.Session(e.Tenant, platform.PurposeLogin), scope)
	wantError(t, "consent with a login", err, platform.KindInvalid, "invalid-request")
	// A rejected verification grants nothing.
	s := e.Session(e.Tenant, platform.PurposeIdentity)
	a := e.Answer(cf, s, scope)
	a.Signature = platformtest.Sign(t, cf.Sign, []byte("another challenge"))
	if _, err := e.P.Complete(ctx, s.ID, s.HolderToken, a); platform.AsError(err).Kind != platform.KindRejected {
		t.Fatalf("a bad signature: %v", err)
	}
	list := func() []platform.HolderConsent {
		t.Helper()
		cs, err := e.P.HolderConsents(ctx, holderProof(t, e, cf, platform.HolderListConsents, "", ""))
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	if cs := list(); len(cs) != 0 {
		t.Fatalf("consents after a rejected verification: %+v", cs)
	}

	v := e.Verified(e.Tenant, cf, platform.PurposeIdentity, scope, scope)
	sub := e.P.PairwiseID(e.Tenant.ID, v.PersonID)
	cs := list()
	if len(cs) != 1 || cs[0].TenantID != e.Tenant.ID || cs[0].TenantName != e.Tenant.Name || cs[0].Scope != scope || cs[0].RevokedAt != nil || !cs[0].GrantedAt.Equal(v.CreatedAt) {
		t.Fatalf("consents %+v, want the one grant in force", cs)
	}
	if w, err := e.P.Watch(ctx, e.Tenant, sub); err != nil || !w.Watching || len(w.Consents) != 1 {
		t.Errorf("watch %+v, %v; want watching with the consent", w, err)
	}

	if _, err := e.P.RevokeHolderConsent(ctx, holderProof(t, e, cf, platform.HolderRevokeConsent, e.Tenant.ID, scope), e.Tenant.ID, "everything"); platform.AsError(err).Kind != platform.KindInvalid {
		t.Errorf("revoking an unknown scope: %v", err)
	}
	// A proof made for another tenant does not revoke this one's consent.
	if _, err := e.P.RevokeHolderConsent(ctx, holderProof(t, e, cf, platform.HolderRevokeConsent, "t_other", scope), e.Tenant.ID, scope); platform.AsError(err).Type != "signature-invalid" {
		t.Errorf("a proof for another tenant: %v", err)
	}
	for i, want := range []int{1, 0} {
		n, err := e.P.RevokeHolderConsent(ctx, holderProof(t, e, cf, platform.HolderRevokeConsent, e.Tenant.ID, scope), e.Tenant.ID, scope)
		if err != nil || n != want {
			t.Errorf("revocation %d: %d, %v; want %d", i+1, n, err, want)
		}
	}
	if cs := list(); len(cs) != 1 || cs[0].RevokedAt == nil {
		t.Errorf("after revoking: %+v", cs)
	}
	if w, err := e.P.Watch(ctx, e.Tenant, sub); err != nil || !w.Watching || len(w.Consents) != 0 {
		t.Errorf("watch after revoking %+v, %v; want watching without consent", w, err)
	}
	e.Clk.Advance(time.Hour)
	again := e.Verified(e.Tenant, cf, platform.PurposeIdentity, scope)
	if cs := list(); len(cs) != 1 || cs[0].RevokedAt != nil || !cs[0].GrantedAt.Equal(again.CreatedAt) {
		t.Errorf("after granting again: %+v, want in force since %s", cs, again.CreatedAt)
	}
	// A holder the platform never verified has no consents and revokes nothing.
	stranger := e.Card(testkit.Hanako())
	if cs, err := e.P.HolderConsents(ctx, holderProof(t, e, stranger, platform.HolderListConsents, "", "")); err != nil || len(cs) != 0 {
		t.Errorf("a stranger's consents: %+v, %v", cs, err)
	}
	if n, err := e.P.RevokeHolderConsent(ctx, holderProof(t, e, stranger, platform.HolderRevokeConsent, e.Tenant.ID, scope), e.Tenant.ID, scope); err != nil || n != 0 {
		t.Errorf("a stranger revokes: %d, %v", n, err)
	}
}

// A holder's proof is refused when its challenge is not the platform's, expired, signed for
// another action, by the signing key, or by a revoked card.
func TestHolderProofRefused(t *testing.T) {
	e := platformtest.NewJLIS(t)
	cf := e.Card(testkit.Taro())
	e.Verified(e.Tenant, cf, platform.PurposeIdentity, platform.ScopeBasic4Updates)
	revoked := e.Card(testkit.Hanako())
	if _, err := e.Sim.RevokeCard(ctx, revoked, jlis.CauseLost, e.Clk.Now()); err != nil {
		t.Fatal(err)
	}
	e.RefreshCRLs()
	list := platform.HolderListConsents
	var err error

	forged := holderProof(t, e, cf, list, "", "")
	forged.Challenge = bytes.Replace(forged.Challenge, []byte("purpose=consents"), []byte("purpose=consent!"), 1)
	forged.Signature = platformtest.Sign(t, cf.Auth, platform.HolderMessage(list, "", "", forged.Challenge))
	foreign := holderProof(t, e, cf, list, "", "")
	other := platformtest.NewVerifying(t, e.St, platform.WithMaster(bytes.Repeat([]byte{9}, 32)), platform.WithHolderBaseURL("https://verify.example"))
	if foreign.Challenge, _, err = other.HolderChallenge(); err != nil {
		t.Fatal(err)
	}
	foreign.Signature = platformtest.Sign(t, cf.Auth, platform.HolderMessage(list, "", "", foreign.Challenge))
	wrongAction := holderProof(t, e, cf, list, "", "")
	wrongAction.Signature = platformtest.Sign(t, cf.Auth, platform.HolderMessage(platform.HolderRevokeConsent, "", "", wrongAction.Challenge))
	signKey := holderProof(t, e, cf, list, "", "")
	signKey.Certificate, signKey.Signature = cf.Sign.Cert, platformtest.Sign(t, cf.Sign, platform.HolderMessage(list, "", "", signKey.Challenge))
	long := holderProof(t, e, cf, list, "", "")
	long.Challenge = append(bytes.Repeat([]byte("x"), 600), long.Challenge...)

	for _, c := range []struct {
		name  string
		proof platform.HolderProof
		kind  platform.Kind
		typ   string
	}{
		{"an edited challenge", forged, platform.KindInvalid, "invalid-request"},
		{"another platform's challenge", foreign, platform.KindInvalid, "invalid-request"},
		{"an oversized challenge", long, platform.KindInvalid, "invalid-request"},
		{"signed for another action", wrongAction, platform.KindRejected, "signature-invalid"},
		{"by the signing key", signKey, platform.KindRejected, "wrong-certificate-kind"},
		{"by a revoked card", holderProof(t, e, revoked, list, "", ""), platform.KindRejected, "cert-revoked"},
	} {
		_, err := e.P.HolderConsents(ctx, c.proof)
		wantError(t, c.name, err, c.kind, c.typ)
	}
	stale := holderProof(t, e, cf, list, "", "")
	e.Clk.Advance(5 * time.Minute)
	_, err = e.P.HolderConsents(ctx, stale)
	wantError(t, "an expired challenge", err, platform.KindGone, "challenge-expired")
}

// The holder portal: a login session of the platform's own tenant signs the holder in; their
// page lists what each company learned and the consents given, without the portal itself, and
// revokes a consent.
func TestHolderPortal(t *testing.T) {
	e := platformtest.NewJLIS(t)
	portal, err := e.P.PortalTenant(ctx)
	if err != nil || portal.Name != platform.PortalTenantName {
		t.Fatalf("portal tenant %+v, %v", portal, err)
	}
	if again, err := e.P.PortalTenant(ctx); err != nil || again.ID != portal.ID {
		t.Errorf("a second call made another portal tenant: %+v %v", again, err)
	}
	cf := e.Card(testkit.Taro())
	v := e.Verified(e.Tenant, cf, platform.PurposeIdentity, platform.ScopeBasic4Updates)
	shop := e.TenantWith("Example Shop", platform.FactName)
	e.Verified(shop, cf, platform.PurposeLogin)

	s := e.Session(portal, platform.PurposeLogin)
	if person, status, err := e.P.SignedInPerson(ctx, portal, s.ID); err != nil || person != "" || status != platform.SessionPending {
		t.Errorf("before the holder answers: %q %s %v", person, status, err)
	}
	if _, err := e.Complete(cf, s); err != nil {
		t.Fatal(err)
	}
	person, status, err := e.P.SignedInPerson(ctx, portal, s.ID)
	if err != nil || person != v.PersonID || status != platform.SessionVerified {
		t.Fatalf("signed in as %q (%s, %v), want %s", person, status, err, v.PersonID)
	}
	if _, _, err := e.P.SignedInPerson(ctx, portal, e.Session(portal, platform.PurposeIdentity).ID); platform.AsError(err).Kind != platform.KindInvalid {
		t.Errorf("an identity session signs in: %v", err)
	}
	if _, _, err := e.P.SignedInPerson(ctx, portal, e.Session(e.Tenant, platform.PurposeLogin).ID); platform.AsError(err).Kind != platform.KindNotFound {
		t.Errorf("another tenant's session signs in: %v", err)
	}

	cs, err := e.P.PersonCompanies(ctx, person)
	if err != nil || len(cs) != 2 {
		t.Fatalf("companies %+v, %v; want the bank and the shop", cs, err)
	}
	for _, c := range cs {
		switch c.TenantID {
		case e.Tenant.ID:
			if len(c.Verifications) != 1 || len(c.Consents) != 1 || len(c.Facts) != len(platform.AllFacts) {
				t.Errorf("the bank's record %+v", c)
			}
		case shop.ID:
			if len(c.Verifications) != 1 || len(c.Consents) != 0 || len(c.Facts) != 1 {
				t.Errorf("the shop's record %+v", c)
			}
		default:
			t.Errorf("a record of %s (%s)", c.TenantName, c.TenantID)
		}
	}
	if _, err := e.P.RevokePersonConsent(ctx, person, e.Tenant.ID, "all"); platform.AsError(err).Kind != platform.KindInvalid {
		t.Errorf("an unknown scope: %v", err)
	}
	if n, err := e.P.RevokePersonConsent(ctx, person, e.Tenant.ID, platform.ScopeBasic4Updates); err != nil || n != 1 {
		t.Errorf("revoke from the portal: %d %v", n, err)
	}
	cs, err = e.P.PersonCompanies(ctx, person)
	if err != nil || len(cs) != 2 {
		t.Fatalf("companies after revoking: %+v, %v", cs, err)
	}
	for _, c := range cs {
		if c.TenantID == e.Tenant.ID && (len(c.Consents) != 1 || c.Consents[0].RevokedAt == nil) {
			t.Errorf("the bank's consents after revoking: %+v", c.Consents)
		}
	}
}

// downBasic4 is J-LIS's basic-4 service that cannot be reached.
type downBasic4 struct{}

func (downBasic4) LatestBasic4(context.Context, jlisapi.CertRef, string, string) (*jlisapi.Basic4, error) {
	return nil, errors.New("connection refused")
}

// The latest facts are read from J-LIS for a watched person with the holder's consent in
// force: a stopped watch ends the consent's effect, and verifying again resumes the watch but
// not the consent given before the stop.
func TestLatestFactsNeedWatchAndConsent(t *testing.T) {
	e := platformtest.NewJLIS(t)
	cf := e.Card(testkit.Taro())
	v := e.Verified(e.Tenant, cf, platform.PurposeIdentity, platform.ScopeBasic4Updates)
	sub := e.P.PairwiseID(e.Tenant.ID, v.PersonID)

	_, err := e.P.LatestFacts(ctx, e.Tenant, sub)
	wantError(t, "a platform that does not read J-LIS's facts", err, platform.KindNotFound, "not-found")
	e.P.UseBasic4Source(e.Trust.Client, "mynagate")
	got, err := e.P.LatestFacts(ctx, e.Tenant, sub)
	if err != nil || got.Facts[platform.FactName] != testkit.Taro().Name || got.Deceased || len(got.Facts) != 4 {
		t.Fatalf("latest facts %+v, %v", got, err)
	}
	_, err = e.P.LatestFacts(ctx, e.Tenant, e.P.PairwiseID(e.Tenant.ID, "p_nobody"))
	wantError(t, "an unknown subject", err, platform.KindNotFound, "not-found")
	e.P.UseBasic4Source(downBasic4{}, "mynagate")
	_, err = e.P.LatestFacts(ctx, e.Tenant, sub)
	wantError(t, "J-LIS down", err, platform.KindUnavailable, "jlis-unavailable")
	e.P.UseBasic4Source(e.Trust.Client, "mynagate")

	e.Clk.Advance(time.Minute)
	if err := e.P.StopWatching(ctx, e.Tenant, sub); err != nil {
		t.Fatal(err)
	}
	if err := e.P.StopWatching(ctx, e.Tenant, sub); err != nil {
		t.Errorf("stopping a stopped watch: %v", err)
	}
	_, err = e.P.LatestFacts(ctx, e.Tenant, sub)
	wantError(t, "after the watch stopped", err, platform.KindConflict, "consent-required")
	e.Clk.Advance(time.Minute)
	e.Verified(e.Tenant, cf, platform.PurposeIdentity)
	if w, err := e.P.Watch(ctx, e.Tenant, sub); err != nil || !w.Watching || len(w.Consents) != 0 {
		t.Errorf("after verifying again: %+v, %v; want watching without the earlier consent", w, err)
	}
	_, err = e.P.LatestFacts(ctx, e.Tenant, sub)
	wantError(t, "with the consent given before the stop", err, platform.KindConflict, "consent-required")
}

// completions is the store, but it keeps what each CompleteSession is handed and, while fail is
// set, fails it as a lost connection would, writing nothing.
type completions struct {
	*store.Store
	fail     bool
	consents [][]platform.Consent
}

func (c *completions) CompleteSession(ctx context.Context, v platform.Verification, certs []platform.PersonCert, events []platform.Event, consents []platform.Consent, rec *evidence.Record) error {
	c.consents = append(c.consents, consents)
	if c.fail {
		return errors.New("connection lost")
	}
	return c.Store.CompleteSession(ctx, v, certs, events, consents, rec)
}

// A consent travels with its verification into the one transaction that writes it: a
// verification whose write fails grants nothing and its session can be answered again, a
// rejected verification carries no consent, and consent with a login session is refused before
// the store is asked for anything, so the challenge is not spent.
func TestConsentTravelsWithItsVerification(t *testing.T) {
	e := platformtest.NewJLIS(t)
	cf := e.Card(testkit.Taro())
	scope := platform.ScopeBasic4Updates
	st := &completions{Store: e.St}
	node, err := platform.New(st, append(e.Trust.Options(), platform.WithClock(e.Clk), platform.WithMaster(platformtest.Master),
		platform.WithEvidence(testkit.EvidenceLog(t, e.St)), platform.WithHolderBaseURL("https://verify.example"))...)
	if err != nil {
		t.Fatal(err)
	}
	answer := func(s *platform.Session, a platform.Answer) (*platform.Verification, error) {
		return node.Complete(ctx, s.ID, s.HolderToken, a)
	}
	list := func() []platform.HolderConsent {
		t.Helper()
		cs, err := node.HolderConsents(ctx, holderProof(t, e, cf, platform.HolderListConsents, "", ""))
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}

	login := e.Session(e.Tenant, platform.PurposeLogin)
	_, err = answer(login, e.Answer(cf, login, scope))
	wantError(t, "consent with a login", err, platform.KindInvalid, "invalid-request")
	if len(st.consents) != 0 {
		t.Fatalf("a refused consent reached the store: %v", st.consents)
	}
	if v, err := answer(login, e.Answer(cf, login)); err != nil || v.Decision != platform.DecisionAccepted {
		t.Fatalf("the login's challenge after the refused consent: %v, %v; want it unspent", v, err)
	}

	rejected := e.Session(e.Tenant, platform.PurposeIdentity)
	a := e.Answer(cf, rejected, scope)
	a.Signature = platformtest.Sign(t, cf.Sign, []byte("another challenge"))
	if _, err := answer(rejected, a); platform.AsError(err).Kind != platform.KindRejected {
		t.Fatalf("a bad signature: %v", err)
	}
	if got := st.consents[len(st.consents)-1]; len(got) != 0 {
		t.Errorf("a rejected verification carried consents %+v", got)
	}

	s := e.Session(e.Tenant, platform.PurposeIdentity)
	st.fail = true
	if _, err := answer(s, e.Answer(cf, s, scope)); platform.AsError(err).Kind != platform.KindInternal {
		t.Fatalf("a failed write: %v, want an internal error", err)
	}
	if got := st.consents[len(st.consents)-1]; len(got) != 1 || got[0].Scope != scope || got[0].TenantID != e.Tenant.ID {
		t.Errorf("the failed completion carried consents %+v, want the one grant", got)
	}
	if cs := list(); len(cs) != 0 {
		t.Fatalf("consents after a failed write: %+v", cs)
	}
	st.fail = false
	v, err := answer(s, e.Answer(cf, s, scope))
	if err != nil || v.Decision != platform.DecisionAccepted {
		t.Fatalf("answering again after the failed write: %v, %v", v, err)
	}
	if got := st.consents[len(st.consents)-1]; len(got) != 1 || got[0].VerificationID != v.ID || !got[0].GrantedAt.Equal(v.CreatedAt) {
		t.Errorf("the completion carried consents %+v, want one for %s", got, v.ID)
	}
	if cs := list(); len(cs) != 1 || cs[0].Scope != scope || cs[0].RevokedAt != nil {
		t.Errorf("consents %+v, want the one grant in force", cs)
	}
}
