package e2e

import (
	"crypto/x509"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/internal/wiring"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/revocation"
)

// TestCRLWindowOnlyOCSPKnows shows, against a J-LIS that publishes its CRL daily at 03:00 JST
// (as production does), what the platform's revocation check sees in the window between a
// revocation and the next publication: the fresh CRL says good, OCSP says revoked. A check that
// uses the CRL alone (tenant policy "crl") accepts a certificate revoked today until the next
// publication; "ocsp" and "both" refuse it at once (docs/design/revocation.md, "The CRL window").
func TestCRLWindowOnlyOCSPKnows(t *testing.T) {
	sched, _ := jlis.ParseCRLSchedule("daily@03:00")
	sim, clk, _ := testkit.Simulator(t, jlis.WithCRLSchedule(sched))
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	_, srcs, err := wiring.Trust(ctx, jlisapi.New(srv.URL), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	fetcher := revocation.NewFetcher(srcs, revocation.WithClock(clk), revocation.WithTempDir(t.TempDir()))
	checker := revocation.NewChecker(fetcher)
	iss := testkit.Issue(t, sim, testkit.Taro())
	cert, _ := x509.ParseCertificate(iss.Card.Sign.Cert)
	issuer, _ := sim.CACertificate("sign")
	if err := fetcher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}

	clk.Advance(2 * time.Hour) // 12:00 JST: the card is reported lost
	ref, _ := sim.RefOf(iss.Card.Sign.Cert)
	if err := sim.Revoke(ctx, ref, jlis.CauseLost, time.Time{}); err != nil {
		t.Fatal(err)
	}
	check := func(when string, policy revocation.Policy, wantRevoked bool) {
		t.Helper()
		if err := fetcher.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := checker.Status(ctx, cert, issuer, policy)
		if err != nil {
			t.Fatalf("%s, policy %s: %v", when, policy, err)
		}
		if st.Revoked != wantRevoked {
			t.Fatalf("%s, policy %s: revoked %v (by %s), want %v", when, policy, st.Revoked, st.Method, wantRevoked)
		}
	}
	// The window: the CRL in force is fresh and silent; a tenant on "crl" accepts the
	// certificate, tenants on "ocsp" or "both" refuse it.
	check("12:00", revocation.PolicyCRL, false)
	check("12:00", revocation.PolicyOCSP, true)
	check("12:00", revocation.PolicyBoth, true)
	clk.Advance(time.Date(2026, 4, 2, 2, 59, 0, 0, jpki.JST).Sub(clk.Now()))
	if _, err := sim.PublishDue(ctx); err != nil {
		t.Fatal(err)
	}
	check("02:59 next day", revocation.PolicyCRL, false)
	clk.Advance(time.Minute) // 03:00 JST: the daily publication
	if _, err := sim.PublishDue(ctx); err != nil {
		t.Fatal(err)
	}
	check("03:00", revocation.PolicyCRL, true)
}
