package e2e

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"slices"
	"testing"
	"time"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/platform"
)

// TestRevokedCardWithWarmedOCSPCache is the attack of issue 14 over HTTP with the simulator: a
// thief holding a card (and its password) verifies with it at a tenant whose policy is OCSP, so
// that the platform caches J-LIS's signed "good"; the loss is then reported and the CRL that lists
// the card is loaded. The card is refused at every tenant, whatever its policy, although the
// cached "good" has not reached its nextUpdate.
func TestRevokedCardWithWarmedOCSPCache(t *testing.T) {
	e := newEnv(t, "")
	ocspRP, _ := e.tenantWith("OCSP Shop", platform.AllFacts, platform.WithRevocationPolicy(platform.RevocationOCSP))
	bothRP, _ := e.tenantWith("Strict Bank", platform.AllFacts, platform.WithRevocationPolicy(platform.RevocationBoth))
	taro := e.issue(testkit.Taro())

	for _, c := range []struct {
		rp   *client.Client
		want string
	}{{ocspRP, "ocsp"}, {bothRP, "ocsp"}, {e.rp, "crl"}} {
		if s := e.verify(c.rp, taro, "identity"); s.Verification.Revocation.Method != c.want {
			t.Fatalf("warming: revocation by %q, want %q", s.Verification.Revocation.Method, c.want)
		}
	}

	cf, err := jpki.LoadCardFile(taro.path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.RevokeCard(ctx, cf, jlis.CauseLost, time.Time{}); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute) // the cached "good" is valid for an hour more
	if err := e.fetcher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, rp := range []*client.Client{ocspRP, bothRP, e.rp} {
		s, err := rp.CreateSession(ctx, client.SessionRequest{Purpose: "identity"})
		if err != nil {
			t.Fatal(err)
		}
		err = answerWith(taro, s, nil)
		expectProblem(t, err, "cert-revoked")
		v, err := rp.Verification(ctx, err.(*client.Problem).VerificationID)
		if err != nil || v.Decision != "rejected" || v.Revocation.Method != "crl" {
			t.Errorf("recorded rejection %+v %v, want rejected by the CRL", v, err)
		}
	}
}

// TestTenantRevocationPolicyUpdate: an operator's change of a tenant's policy applies to the
// next verification on this node.
func TestTenantRevocationPolicyUpdate(t *testing.T) {
	e := newEnv(t, "")
	taro := e.issue(testkit.Taro())
	if s := e.verify(e.rp, taro, "login"); s.Verification.Revocation.Method != "crl" {
		t.Fatalf("default policy: %q", s.Verification.Revocation.Method)
	}
	if _, err := e.plat.UpdateTenant(ctx, e.tenantID, platform.WithRevocationPolicy(platform.RevocationOCSP)); err != nil {
		t.Fatal(err)
	}
	if s := e.verify(e.rp, taro, "login"); s.Verification.Revocation.Method != "ocsp" {
		t.Errorf("after the update to ocsp: %q", s.Verification.Revocation.Method)
	}
	if _, err := e.plat.UpdateTenant(ctx, e.tenantID, platform.WithRevocationPolicy("holder")); err == nil {
		t.Error("an unknown policy was accepted")
	}
	if _, err := e.plat.UpdateTenant(ctx, "t_0000000000000000", platform.WithRevocationPolicy(platform.RevocationCRL)); err == nil {
		t.Error("an unknown tenant was updated")
	}
	if s := e.verify(e.rp, taro, "login"); s.Verification.Revocation.Method != "ocsp" {
		t.Errorf("a refused update changed the policy: %q", s.Verification.Revocation.Method)
	}
}

// TestSimulatorRespondersAuthorised: every CA of the simulator signs OCSP through a delegated
// responder the platform accepts (RFC 6960 §4.2.2.2): issued by that CA, id-kp-OCSPSigning,
// id-pkix-ocsp-nocheck, valid now. The honest paths above go through them.
func TestSimulatorRespondersAuthorised(t *testing.T) {
	sim, clk, _ := testkit.Simulator(t)
	for _, name := range sim.CANames() {
		ca, err := sim.CACertificate(name)
		if err != nil {
			t.Fatal(err)
		}
		r, err := sim.OCSPResponderCertificate(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.CheckSignatureFrom(ca); err != nil {
			t.Errorf("%s: responder not issued by its CA: %v", name, err)
		}
		if !slices.Contains(r.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
			t.Errorf("%s: responder lacks id-kp-OCSPSigning", name)
		}
		nocheck := slices.ContainsFunc(r.Extensions, func(e pkix.Extension) bool {
			return e.Id.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5})
		})
		if !nocheck {
			t.Errorf("%s: responder lacks id-pkix-ocsp-nocheck", name)
		}
		if now := clk.Now(); now.Before(r.NotBefore) || now.After(r.NotAfter) {
			t.Errorf("%s: responder not valid now (%v to %v)", name, r.NotBefore, r.NotAfter)
		}
	}
}
