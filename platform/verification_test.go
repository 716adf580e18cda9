package platform_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/platformtest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/platform"
)

// An accepted identity verification: the facts each tenant may see, read back from the sealed
// evidence; the session closed; the usage counted; another tenant sees none of it.
func TestIdentityVerification(t *testing.T) {
	e := platformtest.NewJLIS(t)
	shop := e.TenantWith("Example Shop", platform.FactName)
	cf := e.Card(testkit.Taro())

	v := e.Verified(e.Tenant, cf, platform.PurposeIdentity)
	if v.PersonID == "" || v.Method != platform.MethodCRL || !strings.HasPrefix(v.RevocationRef, "crl:") || v.Reason != "" {
		t.Errorf("verification %+v: want a person, the CRL named, no reason", v)
	}
	got, err := e.P.Verification(ctx, e.Tenant, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	taro := testkit.Taro()
	want := map[platform.Fact]string{platform.FactName: taro.Name, platform.FactBirth: taro.Birth.String(), platform.FactSex: taro.Sex.String(), platform.FactAddress: taro.Address}
	if len(got.Facts) != len(want) {
		t.Errorf("facts %v, want %v", got.Facts, want)
	}
	for f, val := range want {
		if got.Facts[f] != val {
			t.Errorf("fact %s = %q, want %q", f, got.Facts[f], val)
		}
	}
	if got.Decision != platform.DecisionAccepted || got.SessionID != v.SessionID || got.CardID != "" {
		t.Errorf("stored verification %+v", got)
	}
	s, err := e.P.Session(ctx, e.Tenant, v.SessionID)
	if err != nil || s.Status != platform.SessionVerified || s.VerificationID != v.ID {
		t.Errorf("session after an accepted verification: %+v, %v", s, err)
	}

	sv := e.Verified(shop, cf, platform.PurposeIdentity)
	if sv.PersonID != v.PersonID {
		t.Errorf("one card is two persons: %s and %s", v.PersonID, sv.PersonID)
	}
	sg, err := e.P.Verification(ctx, shop, sv.ID)
	if err != nil || len(sg.Facts) != 1 || sg.Facts[platform.FactName] != taro.Name {
		t.Errorf("a tenant allowed the name gets %v (%v)", sg.Facts, err)
	}
	if e.P.PairwiseID(shop.ID, v.PersonID) == e.P.PairwiseID(e.Tenant.ID, v.PersonID) {
		t.Error("two tenants see one pairwise id")
	}
	if _, err := e.P.Verification(ctx, shop, v.ID); platform.AsError(err).Kind != platform.KindNotFound {
		t.Errorf("another tenant reads the verification: %v", err)
	}
	if _, err := e.P.Session(ctx, shop, v.SessionID); platform.AsError(err).Kind != platform.KindNotFound {
		t.Errorf("another tenant reads the session: %v", err)
	}

	usage, from, to, err := e.P.Usage(ctx, e.Tenant, "", "")
	if err != nil || from != platform.Month(e.Clk.Now()) || to != from {
		t.Fatalf("usage: %v %s..%s", err, from, to)
	}
	if len(usage) != 1 || usage[0].Count != 1 || usage[0].Purpose != platform.PurposeIdentity || usage[0].Method != platform.MethodCRL {
		t.Errorf("usage %+v, want one identity verification by CRL", usage)
	}
	for _, bad := range [][2]string{{"2026-13", ""}, {"2026-05", "2026-04"}, {"April", "April"}} {
		if _, _, _, err := e.P.Usage(ctx, e.Tenant, bad[0], bad[1]); platform.AsError(err).Kind != platform.KindInvalid {
			t.Errorf("usage %s..%s: %v, want invalid", bad[0], bad[1], err)
		}
	}
}

// A login gives no facts but the tenant's card id of the card, which another tenant's differs
// from; the card's two certificates are one person (J-LIS's link between them).
func TestLoginVerification(t *testing.T) {
	e := platformtest.NewJLIS(t)
	other := e.TenantWith("Other", platform.AllFacts...)
	cf := e.Card(testkit.Hanako())

	login := e.Verified(e.Tenant, cf, platform.PurposeLogin)
	got, err := e.P.Verification(ctx, e.Tenant, login.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Facts) != 0 {
		t.Errorf("a login served facts %v", got.Facts)
	}
	key, err := e.P.CardKey(e.Tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := platform.CardID(key, cf.Auth.Cert); got.CardID != want || want == "" {
		t.Errorf("card id %q, want %q", got.CardID, want)
	}
	ol := e.Verified(other, cf, platform.PurposeLogin)
	og, err := e.P.Verification(ctx, other, ol.ID)
	if err != nil || og.CardID == got.CardID || og.CardID == "" {
		t.Errorf("two tenants' card ids of one card: %q and %q (%v)", got.CardID, og.CardID, err)
	}
	id := e.Verified(e.Tenant, cf, platform.PurposeIdentity)
	if id.PersonID != login.PersonID {
		t.Errorf("the signing certificate is person %s, the authentication one %s", id.PersonID, login.PersonID)
	}
}

// A card replaced by a new one (再交付) is the same person: J-LIS links the new certificates to
// the old.
func TestNewCardSamePerson(t *testing.T) {
	e := platformtest.NewJLIS(t)
	cf := e.Card(testkit.Taro())
	before := e.Verified(e.Tenant, cf, platform.PurposeIdentity)
	next, err := e.Sim.Reissue(ctx, cf, false)
	if err != nil {
		t.Fatal(err)
	}
	e.RefreshCRLs()
	after := e.Verified(e.Tenant, next, platform.PurposeIdentity)
	if after.PersonID != before.PersonID || after.CertSerial == before.CertSerial {
		t.Errorf("new card: person %s (serial %s), before %s (serial %s); want the same person by another certificate", after.PersonID, after.CertSerial, before.PersonID, before.CertSerial)
	}
	// Another holder's card is another person.
	if v := e.Verified(e.Tenant, e.Card(testkit.Hanako()), platform.PurposeIdentity); v.PersonID == before.PersonID {
		t.Error("two holders are one person")
	}
	// The old card is revoked by the reissue: refused, recorded, with the CRL's reason.
	v, err := e.Complete(cf, e.Session(e.Tenant, platform.PurposeIdentity))
	wantError(t, "the replaced card", err, platform.KindRejected, "cert-revoked")
	if v == nil || v.Decision != platform.DecisionRejected || v.Reason != "cert-revoked" {
		t.Errorf("rejection recorded as %+v", v)
	}
}

// Every rejection reachable from the holder's answer is recorded with its problem type: the
// session fails, the challenge is spent, the tenant reads the reason.
func TestRejections(t *testing.T) {
	e := platformtest.NewJLIS(t)
	taro := e.Card(testkit.Taro())
	hanako := e.Card(testkit.Hanako())
	foreignSim, _, _ := testkit.Simulator(t)
	foreign := testkit.Issue(t, foreignSim, testkit.Taro()).Card
	revoked := e.Card(testkit.Taro())
	if _, err := e.Sim.RevokeCard(ctx, revoked, jlis.CauseLost, e.Clk.Now()); err != nil {
		t.Fatal(err)
	}
	e.RefreshCRLs()

	for _, c := range []struct {
		name    string
		purpose platform.Purpose
		answer  func(s *platform.Session) platform.Answer
		typ     string
	}{
		{"not a certificate", platform.PurposeIdentity, func(s *platform.Session) platform.Answer {
			return platform.Answer{Certificate: []byte("not DER"), Signature: platformtest.Sign(t, taro.Sign, s.Challenge())}
		}, "malformed-certificate"},
		{"another J-LIS's card", platform.PurposeIdentity, func(s *platform.Session) platform.Answer {
			return platform.Answer{Certificate: foreign.Sign.Cert, Signature: platformtest.Sign(t, foreign.Sign, s.Challenge())}
		}, "chain-invalid"},
		{"authentication key for identity", platform.PurposeIdentity, func(s *platform.Session) platform.Answer {
			return platform.Answer{Certificate: taro.Auth.Cert, Signature: platformtest.Sign(t, taro.Auth, s.Challenge())}
		}, "wrong-certificate-kind"},
		{"signing key for login", platform.PurposeLogin, func(s *platform.Session) platform.Answer {
			return platform.Answer{Certificate: taro.Sign.Cert, Signature: platformtest.Sign(t, taro.Sign, s.Challenge())}
		}, "wrong-certificate-kind"},
		{"signature over other bytes", platform.PurposeIdentity, func(s *platform.Session) platform.Answer {
			return platform.Answer{Certificate: taro.Sign.Cert, Signature: platformtest.Sign(t, taro.Sign, append(s.Challenge(), '!'))}
		}, "signature-invalid"},
		{"another card's key", platform.PurposeIdentity, func(s *platform.Session) platform.Answer {
			return platform.Answer{Certificate: taro.Sign.Cert, Signature: platformtest.Sign(t, hanako.Sign, s.Challenge())}
		}, "signature-invalid"},
		{"a truncated signature", platform.PurposeLogin, func(s *platform.Session) platform.Answer {
			return platform.Answer{Certificate: taro.Auth.Cert, Signature: platformtest.Sign(t, taro.Auth, s.Challenge())[:100]}
		}, "signature-invalid"},
		{"revoked card", platform.PurposeIdentity, func(s *platform.Session) platform.Answer {
			return platform.Answer{Certificate: revoked.Sign.Cert, Signature: platformtest.Sign(t, revoked.Sign, s.Challenge())}
		}, "cert-revoked"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := e.Session(e.Tenant, c.purpose)
			a := c.answer(s)
			v, err := e.P.Complete(ctx, s.ID, s.HolderToken, a)
			wantError(t, "answer", err, platform.KindRejected, c.typ)
			if v == nil || v.Decision != platform.DecisionRejected || v.Reason != c.typ || v.PersonID != "" {
				t.Fatalf("returned verification %+v", v)
			}
			got, err := e.P.Verification(ctx, e.Tenant, v.ID)
			if err != nil || got.Decision != platform.DecisionRejected || got.Reason != c.typ || got.Detail == "" || len(got.Facts) != 0 {
				t.Errorf("stored verification %+v, %v", got, err)
			}
			st, err := e.P.Session(ctx, e.Tenant, s.ID)
			if err != nil || st.Status != platform.SessionFailed || st.VerificationID != v.ID {
				t.Errorf("session %+v, %v; want failed with the verification", st, err)
			}
			_, err = e.P.Complete(ctx, s.ID, s.HolderToken, e.Answer(hanako, s))
			wantError(t, "a second answer", err, platform.KindConflict, "challenge-reused")
		})
	}
}

// Answers the platform refuses before verifying anything record nothing: the session stays
// pending, and the holder may answer it properly.
func TestRefusedAnswersSpendNothing(t *testing.T) {
	e := platformtest.NewJLIS(t)
	cf := e.Card(testkit.Taro())
	s := e.Session(e.Tenant, platform.PurposeIdentity)
	good := e.Answer(cf, s)
	for _, c := range []struct {
		name  string
		token string
		a     platform.Answer
		kind  platform.Kind
		typ   string
	}{
		{"wrong holder token", strings.Repeat("0", 48), good, platform.KindNotFound, "not-found"},
		{"no signature", s.HolderToken, platform.Answer{Certificate: good.Certificate}, platform.KindInvalid, "invalid-request"},
		{"no certificate", s.HolderToken, platform.Answer{Signature: good.Signature}, platform.KindInvalid, "invalid-request"},
		{"card data for a signature", s.HolderToken, platform.Answer{Certificate: good.Certificate, Signature: good.Signature,
			CardData: &platform.CardData{Basic4: []byte{1}, Signature: []byte{1}, Cert: []byte{1}}}, platform.KindInvalid, "invalid-request"},
		{"an echoed challenge", s.HolderToken, platform.Answer{Certificate: good.Certificate, Signature: good.Signature, Challenge: s.Challenge()},
			platform.KindInvalid, "invalid-request"},
		{"an unknown consent scope", s.HolderToken, platform.Answer{Certificate: good.Certificate, Signature: good.Signature, Consent: []string{"everything"}},
			platform.KindInvalid, "invalid-request"},
	} {
		_, err := e.P.Complete(ctx, s.ID, c.token, c.a)
		wantError(t, c.name, err, c.kind, c.typ)
	}
	if _, err := e.P.Complete(ctx, "s_unknown", s.HolderToken, good); platform.AsError(err).Kind != platform.KindNotFound {
		t.Errorf("unknown session: %v", err)
	}
	if st, err := e.P.Session(ctx, e.Tenant, s.ID); err != nil || st.Status != platform.SessionPending {
		t.Fatalf("after refused answers the session is %+v (%v), want pending", st, err)
	}
	if v, err := e.P.Complete(ctx, s.ID, s.HolderToken, good); err != nil || v.Decision != platform.DecisionAccepted {
		t.Errorf("the proper answer after refused ones: %+v, %v", v, err)
	}
	wantError(t, "the answer again", func() error { _, err := e.P.Complete(ctx, s.ID, s.HolderToken, good); return err }(),
		platform.KindConflict, "challenge-reused")
}

// A challenge is refused once its session expired, and nothing is recorded.
func TestChallengeExpires(t *testing.T) {
	e := platformtest.NewJLIS(t, platform.WithSessionTTL(time.Minute))
	cf := e.Card(testkit.Taro())
	s := e.Session(e.Tenant, platform.PurposeLogin)
	if !s.ExpiresAt.Equal(s.CreatedAt.Add(time.Minute)) {
		t.Errorf("session expires at %s, created %s; want a minute later", s.ExpiresAt, s.CreatedAt)
	}
	e.Clk.Advance(time.Minute)
	_, err := e.Complete(cf, s)
	wantError(t, "an expired challenge", err, platform.KindGone, "challenge-expired")
	if st, err := e.P.Session(ctx, e.Tenant, s.ID); err != nil || st.Status != platform.SessionPending || st.VerificationID != "" {
		t.Errorf("expired session %+v (%v): nothing should be recorded", st, err)
	}
	if u, _, _, err := e.P.Usage(ctx, e.Tenant, "", ""); err != nil || len(u) != 0 {
		t.Errorf("usage after an expired challenge: %+v %v", u, err)
	}
}

// Revocation status as the tenant's policy asks: with the CRL stale, a CRL tenant is answered
// by OCSP (and the evidence says so), while a tenant asking for both CRL and OCSP is not
// decided — 503, the session stays pending, and the same challenge is answered once the CRL is
// fresh again.
func TestStaleRevocationData(t *testing.T) {
	e := platformtest.NewJLIS(t)
	both, err := e.P.CreateTenant(ctx, "Careful Bank", nil, platform.WithRevocationPolicy(platform.RevocationBoth))
	if err != nil || both.RevocationPolicy() != platform.RevocationBoth {
		t.Fatalf("tenant with policy both: %+v %v", both, err)
	}
	if _, err := e.P.CreateTenant(ctx, "Odd Bank", nil, platform.WithRevocationPolicy("sometimes")); platform.AsError(err).Kind != platform.KindInvalid {
		t.Errorf("an unknown policy: %v", err)
	}
	cf := e.Card(testkit.Taro())
	if v := e.Verified(both, cf, platform.PurposeIdentity); v.Method != platform.MethodOCSP || v.RevocationRef != "ocsp" {
		t.Errorf("policy both with a fresh CRL: method %s ref %q; want OCSP's answer recorded", v.Method, v.RevocationRef)
	}
	e.Clk.Advance(25 * time.Hour) // past the CRL's nextUpdate

	if v := e.Verified(e.Tenant, cf, platform.PurposeIdentity); v.Method != platform.MethodOCSP || v.RevocationRef != "ocsp" {
		t.Errorf("CRL policy with a stale CRL: method %s ref %q; want OCSP's answer", v.Method, v.RevocationRef)
	}
	s := e.Session(both, platform.PurposeIdentity)
	_, err = e.Complete(cf, s)
	wantError(t, "policy both with a stale CRL", err, platform.KindUnavailable, "revocation-unavailable")
	if platform.AsError(err).Err == nil {
		t.Error("the cause of the refusal is not kept for the log")
	}
	if st, _ := e.P.Session(ctx, both, s.ID); st.Status != platform.SessionPending {
		t.Errorf("session %s after a stale CRL, want pending", st.Status)
	}
	e.RefreshCRLs()
	if v, err := e.Complete(cf, s); err != nil || v.Decision != platform.DecisionAccepted {
		t.Errorf("after the refresh: %+v %v", v, err)
	}
}

// A certificate past its notAfter is rejected as expired.
func TestExpiredCertificate(t *testing.T) {
	e := platformtest.NewJLIS(t)
	cf := e.Card(testkit.Taro())
	cert, err := x509.ParseCertificate(cf.Sign.Cert)
	if err != nil {
		t.Fatal(err)
	}
	e.Clk.Advance(cert.NotAfter.Sub(e.Clk.Now()) + time.Hour)
	_, err = e.Complete(cf, e.Session(e.Tenant, platform.PurposeIdentity))
	wantError(t, "an expired certificate", err, platform.KindRejected, "cert-expired")
}

// downLinks is a J-LIS renewal-link service that cannot be reached.
type downLinks struct{}

func (downLinks) Links(context.Context, jlisapi.CertRef) (*jlisapi.LinkInfo, error) {
	return nil, errors.New("connection refused")
}

// A new certificate whose person cannot be resolved because J-LIS is down is not decided:
// 503 jlis-unavailable, nothing recorded; a certificate linked already needs no J-LIS.
func TestLinksUnavailable(t *testing.T) {
	e := platformtest.NewJLIS(t, platform.WithLinks(downLinks{}))
	cf := e.Card(testkit.Taro())
	s := e.Session(e.Tenant, platform.PurposeIdentity)
	_, err := e.Complete(cf, s)
	wantError(t, "links down", err, platform.KindUnavailable, "jlis-unavailable")
	if st, _ := e.P.Session(ctx, e.Tenant, s.ID); st.Status != platform.SessionPending {
		t.Errorf("session %s, want pending", st.Status)
	}
}

// A platform not configured for verifications refuses answers as an internal error, and
// New refuses a partial configuration.
func TestVerificationConfiguration(t *testing.T) {
	e := platformtest.NewJLIS(t)
	op, err := platform.New(e.St, platform.WithClock(e.Clk))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Complete(ctx, "s_x", "t", platform.Answer{}); err == nil || platform.AsError(err).Kind != platform.KindInternal {
		t.Errorf("Complete on an operator platform: %v", err)
	}
	for name, opts := range map[string][]platform.Option{
		"master only":        {platform.WithMaster(platformtest.Master)},
		"no evidence":        append(e.Trust.Options(), platform.WithMaster(platformtest.Master)),
		"CA without a key":   {platform.WithCAs(platform.CA{Name: "sign", Cert: &x509.Certificate{}, Purpose: platform.PurposeIdentity})},
		"CA without purpose": {platform.WithCAs(platform.CA{Name: "sign", Cert: e.Trust.CAs[0].Cert})},
	} {
		if _, err := platform.New(e.St, opts...); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := platform.New(nil); err == nil {
		t.Error("New without a store")
	}
	if e.P.Evidence() == nil || op.Evidence() != nil {
		t.Error("Evidence: want the log of a verifying platform only")
	}
	if err := e.P.AddCAs(platform.CA{Name: "x"}); err == nil {
		t.Error("AddCAs took a CA without a certificate")
	}
	name := e.Trust.CAs[0].Name
	if err := e.P.AddCAs(e.Trust.CAs[0]); err != nil || e.P.CAName(platform.CAKey(e.Trust.CAs[0].Cert)) != name {
		t.Errorf("AddCAs of a trusted CA: %v; CAName %q", err, e.P.CAName(platform.CAKey(e.Trust.CAs[0].Cert)))
	}
	if e.P.CAName("00") != "" || e.P.TrustedCA("00") != nil {
		t.Error("an unknown CA key has a name")
	}
}
