package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/internal/wiring"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/revocation"
	"github.com/mynagate/mynagate/store/storetest"
	"github.com/mynagate/mynagate/web"
)

// restarted is the platform after a restart on the same store: the CAs fetched from J-LIS at
// jlisURL and checked against the record (or pins) as serve does at every start, a new CRL
// fetcher, a new API server. It returns the first tenant's client and the fetcher.
func (e *env) restarted(t *testing.T, jlisURL string, pins *wiring.Pins) (*client.Client, *revocation.Fetcher, error) {
	t.Helper()
	rp, tr, err := e.start(t, jlisURL, pins)
	if err != nil {
		return nil, nil, err
	}
	return rp, tr.Fetcher, nil
}

// start starts the platform as serve does and returns the first tenant's client and the
// refresher serve runs on its CRL schedule (trust and CRLs), to be driven by the test.
func (e *env) start(t *testing.T, jlisURL string, pins *wiring.Pins) (*client.Client, *wiring.TrustRefresher, error) {
	t.Helper()
	jc := jlisapi.New(jlisURL)
	cas, srcs, err := wiring.Trust(ctx, jc, jlisURL)
	if err != nil {
		return nil, nil, err
	}
	if err := wiring.CheckTrust(ctx, cas, pins, e.st, e.clk.Now()); err != nil {
		return nil, nil, err
	}
	f := revocation.NewFetcher(srcs, revocation.WithClock(e.clk), revocation.WithTempDir(t.TempDir()))
	if err := f.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	var h http.Handler
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(api.Close)
	opts := append(append([]platform.Option(nil), e.platOpts...), platform.WithCAs(cas...), platform.WithHolderBaseURL(api.URL),
		platform.WithRevocation(wiring.Revocation{Checker: revocation.NewChecker(f)}), platform.WithLinks(jc))
	p, err := platform.New(e.st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	h = web.New(p)
	tr := &wiring.TrustRefresher{JLIS: jc, Base: jlisURL, Pins: pins, Store: e.st, Platform: p, Fetcher: f, Clock: e.clk}
	return client.New(api.URL, client.WithAPIKey(e.apiKey)), tr, nil
}

// TestRolloverEndToEnd: J-LIS rolls both CAs over. After the platform's restart a card issued
// before the rollover and one issued after both verify identity and log in, the old card as the
// person it was before; the new generations are accepted by their link certificates from the
// generations recorded at the first start, without a new pin; a certificate of a forged
// generation (same DN, unknown key) is refused; revoking an old-generation certificate is seen
// through the old generation's CRL while the new generation's certificates stay good.
func TestRolloverEndToEnd(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, storetest.DSN(t, d))
			// The first start records the first generations.
			if _, _, err := e.restarted(t, e.jlisSrv.URL, nil); err != nil {
				t.Fatal(err)
			}
			old := e.issue(testkit.Taro())
			before := e.verify(e.rp, old, "identity").Verification

			e.clk.Advance(24 * time.Hour)
			for _, ca := range []string{"sign", "auth"} {
				if _, err := e.sim.Rollover(ctx, ca); err != nil {
					t.Fatal(err)
				}
			}
			newer := e.issue(testkit.Hanako())
			if cf, _ := jpki.LoadCardFile(newer.path); !bytes.Equal(mustParse(t, cf.Sign.Cert).AuthorityKeyId, mustCA(t, e.sim, "sign-g2").SubjectKeyId) {
				t.Fatal("the card issued after the rollover is not from the new generation")
			}

			rp, fetcher, err := e.restarted(t, e.jlisSrv.URL, nil)
			if err != nil {
				t.Fatalf("restart after a linked rollover: %v", err)
			}
			e.verifyWith(t, rp, old, "identity", before.Sub)
			e.verifyWith(t, rp, old, "login", before.Sub)
			newID := e.verifyWith(t, rp, newer, "identity", "")
			if newID == before.Sub {
				t.Error("two residents are one person")
			}
			e.verifyWith(t, rp, newer, "login", newID)

			// A card of a forged generation: the same DN, a key J-LIS never had.
			forged, _, _ := testkit.Simulator(t)
			fakePath := t.TempDir() + "/forged.json"
			if err := testkit.Issue(t, forged, testkit.Taro()).Card.Save(fakePath); err != nil {
				t.Fatal(err)
			}
			fake := &holder{e: e, path: fakePath}
			for _, purpose := range []string{"identity", "login"} {
				s, err := rp.CreateSession(ctx, client.SessionRequest{Purpose: purpose})
				if err != nil {
					t.Fatal(err)
				}
				expectProblem(t, answerWith(fake, s, nil), "chain-invalid")
			}

			// Revocation of the old generation's certificate, through its own CRL.
			cf, _ := jpki.LoadCardFile(old.path)
			if _, err := e.sim.RevokeCard(ctx, cf, jlis.CauseLost, time.Time{}); err != nil {
				t.Fatal(err)
			}
			e.clk.Advance(time.Minute)
			if err := fetcher.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			for _, purpose := range []string{"identity", "login"} {
				s, err := rp.CreateSession(ctx, client.SessionRequest{Purpose: purpose})
				if err != nil {
					t.Fatal(err)
				}
				expectProblem(t, answerWith(old, s, nil), "cert-revoked")
			}
			e.verifyWith(t, rp, newer, "identity", newID)
		})
	}
}

// verifyWith runs a session at rp with h and checks the pairwise id (when want is not empty);
// it returns the id.
func (e *env) verifyWith(t *testing.T, rp *client.Client, h *holder, purpose, want string) string {
	t.Helper()
	s, err := rp.CreateSession(ctx, client.SessionRequest{Purpose: purpose})
	if err != nil {
		t.Fatal(err)
	}
	if err := answerWith(h, s, nil); err != nil {
		t.Fatalf("%s: %v", purpose, err)
	}
	done, err := rp.Session(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.Verification == nil || done.Verification.Decision != "accepted" {
		t.Fatalf("%s: session %+v, want accepted", purpose, done)
	}
	if want != "" && done.Verification.Sub != want {
		t.Errorf("%s: sub %s, want %s", purpose, done.Verification.Sub, want)
	}
	return done.Verification.Sub
}

// TestRolloverForgedGeneration: a J-LIS endpoint (or someone in front of it) that lists a new
// "generation" of the signing CA — the same DN, a key of its own — is refused at start unless a
// trusted generation links to it: without a link, with a link signed by the forged key itself,
// with the genuine link of another generation, against the record and against pins. The
// genuine rollover is accepted with pins of the first generation only, by its link.
func TestRolloverForgedGeneration(t *testing.T) {
	e := newEnv(t, "")
	if _, _, err := e.restarted(t, e.jlisSrv.URL, nil); err != nil {
		t.Fatal(err)
	}
	first := []*x509.Certificate{mustCA(t, e.sim, "sign"), mustCA(t, e.sim, "auth")}
	if _, err := e.sim.Rollover(ctx, "sign"); err != nil {
		t.Fatal(err)
	}
	genuine := e.sim.CAGenerations()
	forger, _, _ := testkit.Simulator(t)
	if _, err := forger.Rollover(ctx, "sign"); err != nil {
		t.Fatal(err)
	}
	var forgedRoot, forgedLink *x509.Certificate // the forger's sign-g2: its link is signed by the forger's sign
	for _, g := range forger.CAGenerations() {
		if g.Name == "sign-g2" {
			forgedRoot, forgedLink = g.Cert, g.Link
		}
	}
	var genuineLink *x509.Certificate
	for _, g := range genuine {
		if g.Name == "sign-g2" {
			genuineLink = g.Link
		}
	}
	spoof := func(root, link *x509.Certificate) string {
		srv := httptest.NewServer(e.spoofGeneration(t, root, link))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	refused := func(url string, pins *wiring.Pins, want string) {
		t.Helper()
		_, _, err := e.restarted(t, url, pins)
		if !errors.Is(err, wiring.ErrUntrustedAnchor) || !strings.Contains(err.Error(), "CA sign-g3") || !strings.Contains(err.Error(), want) {
			t.Errorf("forged generation: %v, want refused naming sign-g3 (%q)", err, want)
		}
	}
	before, err := e.st.TrustAnchors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pinsFirst := wiring.PinCertificates(first...)
	for _, c := range []struct {
		name       string
		root, link *x509.Certificate
	}{
		{"no link", forgedRoot, nil},
		{"link by the forged key", forgedRoot, forgedLink},
		{"genuine link of another generation", forgedRoot, genuineLink},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := spoof(c.root, c.link)
			refused(url, nil, "no link certificate from a trusted CA")
			refused(url, pinsFirst, "is not pinned by --trust")
		})
	}
	after, err := e.st.TrustAnchors(ctx)
	if err != nil || len(after) != len(before) {
		t.Errorf("a refused start changed the recorded CAs: %d, want %d (%v)", len(after), len(before), err)
	}
	// The genuine J-LIS with pins of the first generations only: sign-g2 comes in by its link.
	if _, _, err := e.restarted(t, e.jlisSrv.URL, pinsFirst); err != nil {
		t.Errorf("genuine rollover with the first generations pinned: %v", err)
	}
	// A link that expired (the old generation's end) no longer vouches: pin the new one.
	e.clk.Advance(mustCA(t, e.sim, "sign").NotAfter.Sub(e.clk.Now()) + time.Hour)
	if err := wiring.LinkVerifies(genuineLink, mustCA(t, e.sim, "sign-g2"), first[0], e.clk.Now()); err == nil {
		t.Error("an expired link certificate verifies")
	}
}

// spoofGeneration serves the genuine J-LIS with a CA list that adds sign-g3 = root, with link
// as its link certificate (none when nil).
func (e *env) spoofGeneration(t *testing.T, root, link *x509.Certificate) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ca" {
			e.jlisSrv.Config.Handler.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		e.jlisSrv.Config.Handler.ServeHTTP(rec, r)
		var list jlis.CAList
		if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
			t.Error(err)
		}
		entry := jlis.CAListEntry{Name: "sign-g3", Base: "sign", Generation: 3, Issuing: true, Cert: root.Raw}
		if link != nil {
			entry.LinkCert = link.Raw
		}
		list.CAs = append(list.CAs, entry)
		json.NewEncoder(w).Encode(list)
	})
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
