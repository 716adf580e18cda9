package e2e

import (
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/internal/wiring"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/platform"
)

// TestRolloverWhileRunning: J-LIS rolls both CAs over while the platform runs. Until a refresh
// the new generation's card is chain-invalid; a refresh while J-LIS is down, and one while J-LIS
// (or someone in front of it) also lists a forged generation, change nothing — the old card keeps
// verifying, nothing new is trusted or recorded; the next refresh against the genuine J-LIS
// trusts the new generations by their links, records them and fetches their CRLs, and the new
// card verifies without a restart (and its revocation is seen through the new generation's CRL).
func TestRolloverWhileRunning(t *testing.T) {
	e := newEnv(t, "")
	var upstream atomic.Pointer[http.Handler]
	use := func(h http.Handler) { upstream.Store(&h) }
	use(e.jlisSrv.Config.Handler)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*upstream.Load()).ServeHTTP(w, r) }))
	t.Cleanup(proxy.Close)

	rp, tr, err := e.start(t, proxy.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := e.issue(testkit.Taro())
	oldID := e.verifyWith(t, rp, old, "identity", "")

	e.clk.Advance(24 * time.Hour)
	for _, ca := range []string{"sign", "auth"} {
		if _, err := e.sim.Rollover(ctx, ca); err != nil {
			t.Fatal(err)
		}
	}
	newer := e.issue(testkit.Hanako())
	refusedNewer := func(when string) {
		t.Helper()
		for _, purpose := range []string{"identity", "login"} {
			s, err := rp.CreateSession(ctx, client.SessionRequest{Purpose: purpose})
			if err != nil {
				t.Fatal(err)
			}
			if err := answerWith(newer, s, nil); err == nil {
				t.Errorf("%s: a card of the new generation verified for %s", when, purpose)
			} else {
				expectProblem(t, err, "chain-invalid")
			}
		}
	}
	recordedNames := func() []string {
		t.Helper()
		rec, err := e.st.TrustAnchors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for n := range rec {
			names = append(names, n)
		}
		slices.Sort(names)
		return names
	}
	refusedNewer("before any refresh")
	first := recordedNames()

	// J-LIS down: the refresh fails, the trust in force stays (the CRLs in force were fetched
	// just before, so the old card's revocation status is known).
	if err := tr.Fetcher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	use(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }))
	if added, err := tr.Refresh(ctx); err == nil || len(added) != 0 {
		t.Errorf("refresh with J-LIS down: added %v, err %v; want an error and nothing added", added, err)
	}
	e.verifyWith(t, rp, old, "identity", oldID)
	refusedNewer("J-LIS down")

	// A forged generation listed next to the genuine ones: refused as a whole, nothing recorded.
	forger, _, _ := testkit.Simulator(t)
	if _, err := forger.Rollover(ctx, "sign"); err != nil {
		t.Fatal(err)
	}
	var forgedRoot, forgedLink *x509.Certificate
	for _, g := range forger.CAGenerations() {
		if g.Name == "sign-g2" {
			forgedRoot, forgedLink = g.Cert, g.Link
		}
	}
	use(e.spoofGeneration(t, forgedRoot, forgedLink))
	added, err := tr.Refresh(ctx)
	if !errors.Is(err, wiring.ErrUntrustedAnchor) || !strings.Contains(err.Error(), "CA sign-g3") || len(added) != 0 {
		t.Errorf("refresh with a forged generation: added %v, err %v; want refused naming sign-g3", added, err)
	}
	if got := recordedNames(); !slices.Equal(got, first) {
		t.Errorf("a refused refresh changed the record: %v, want %v", got, first)
	}
	if p := tr.Platform.TrustedCA(platform.CAKey(forgedRoot)); p != nil {
		t.Errorf("the forged generation is trusted as %s", p.Name)
	}
	refusedNewer("forged generation listed")
	e.verifyWith(t, rp, old, "identity", oldID)

	// The genuine J-LIS again: one refresh trusts the new generations, no restart.
	use(e.jlisSrv.Config.Handler)
	e.clk.Advance(time.Minute)
	added, err = tr.Refresh(ctx)
	if err != nil {
		t.Fatalf("refresh after a genuine rollover: %v", err)
	}
	slices.Sort(added)
	if !slices.Equal(added, []string{"auth-g2", "sign-g2"}) {
		t.Errorf("refresh trusted %v, want [auth-g2 sign-g2]", added)
	}
	if got := recordedNames(); !slices.Contains(got, "sign-g2") || !slices.Contains(got, "auth-g2") || slices.Contains(got, "sign-g3") {
		t.Errorf("record after the refresh: %v, want the first generations and sign-g2, auth-g2", got)
	}
	for _, name := range []string{"sign-g2", "auth-g2"} {
		if st, ok := tr.Fetcher.State(name); !ok || st.Index == nil {
			t.Errorf("no CRL of %s after the refresh", name)
		}
	}
	newID := e.verifyWith(t, rp, newer, "identity", "")
	e.verifyWith(t, rp, newer, "login", newID)
	e.verifyWith(t, rp, old, "identity", oldID)
	if added, err := tr.Refresh(ctx); err != nil || len(added) != 0 {
		t.Errorf("a second refresh: added %v, err %v; want nothing new", added, err)
	}

	// The new generation's CRL is fetched on the schedule like the others.
	cf, _ := jpki.LoadCardFile(newer.path)
	if _, err := e.sim.RevokeCard(ctx, cf, jlis.CauseLost, time.Time{}); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute)
	if _, err := tr.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := rp.CreateSession(ctx, client.SessionRequest{Purpose: "identity"})
	if err != nil {
		t.Fatal(err)
	}
	expectProblem(t, answerWith(newer, s, nil), "cert-revoked")
}
