package e2e

import (
	"crypto"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/internal/ocspnonce"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/internal/wiring"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/revocation"
	"github.com/mynagate/mynagate/web"
)

// TestForgedOCSPAnswerEndToEnd is the attack of issue 14 point 2 over HTTP: a thief's card is
// revoked at J-LIS, the platform's CRL does not list it yet, and someone on the path to the OCSP
// responder answers "good", signed with the card's own signing key (a certificate the CA issued)
// and echoing the request's nonce. A tenant whose policy is OCSP gets 503
// revocation-unavailable, never an accepted verification, and nothing is stored.
func TestForgedOCSPAnswerEndToEnd(t *testing.T) {
	e := newEnv(t, "")
	iss := testkit.Issue(t, e.sim, testkit.Taro())
	path := filepath.Join(t.TempDir(), "card.json")
	if err := iss.Card.Save(path); err != nil {
		t.Fatal(err)
	}
	taro := &holder{e: e, path: path}
	holderCert, err := x509.ParseCertificate(iss.Card.Sign.Cert)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(iss.Card.Sign.Key)
	if err != nil {
		t.Fatal(err)
	}
	holderKey := k.(crypto.Signer)
	signCA, err := e.sim.CACertificate("sign")
	if err != nil {
		t.Fatal(err)
	}

	// The forger: answers every OCSP request "good", signed by the holder's key.
	var forged int
	forger := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		now := e.clk.Now().UTC().Truncate(time.Second)
		der, err := ocsp.CreateResponse(signCA, holderCert, ocsp.Response{SerialNumber: req.SerialNumber, Status: ocsp.Good,
			ThisUpdate: now, NextUpdate: now.Add(time.Hour), Certificate: holderCert, IssuerHash: req.HashAlgorithm}, holderKey)
		if err != nil {
			t.Error(err)
			return
		}
		forged++
		w.Write(withNonce(t, der, requestNonce(t, body), holderKey))
	}))
	defer forger.Close()

	// A node whose OCSP requests reach the forger (CRLs still come from J-LIS).
	_, srcs, err := wiring.Trust(ctx, jlisapi.New(e.jlisSrv.URL), e.jlisSrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for i := range srcs {
		srcs[i].OCSPURL = forger.URL
	}
	f := revocation.NewFetcher(srcs, revocation.WithClock(e.clk), revocation.WithTempDir(t.TempDir()))
	if err := f.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	var h http.Handler
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer api.Close()
	opts := append(append([]platform.Option(nil), e.platOpts...), platform.WithHolderBaseURL(api.URL),
		platform.WithRevocation(wiring.Revocation{Checker: revocation.NewChecker(f)}))
	node, err := platform.New(e.st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	h = web.New(node)
	ten, err := e.plat.CreateTenant(ctx, "OCSP Shop", platform.AllFacts, platform.WithRevocationPolicy(platform.RevocationOCSP))
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := e.plat.CreateAPIKey(ctx, ten.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	rp := client.New(api.URL, client.WithAPIKey(key))

	// The card is lost and revoked at J-LIS; the node's CRL is the one from before.
	if _, err := e.sim.RevokeCard(ctx, iss.Card, jlis.CauseLost, time.Time{}); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute)
	before := countEntries(t, e, ten.ID)
	s, err := rp.CreateSession(ctx, client.SessionRequest{Purpose: "identity"})
	if err != nil {
		t.Fatal(err)
	}
	err = answerWith(taro, s, nil)
	expectProblem(t, err, "revocation-unavailable")
	if forged == 0 {
		t.Fatal("the forger was never asked: the test shows nothing")
	}
	if n := countEntries(t, e, ten.ID); n != before {
		t.Errorf("a refused OCSP answer stored %d evidence entries", n-before)
	}
	if got, err := rp.Session(ctx, s.ID); err != nil || got.Status != "pending" {
		t.Errorf("session after the refusal: %+v %v, want still pending", got, err)
	}
	// Once the CRL lists the card the same answer is a plain rejection: revoked.
	if err := f.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	err = answerWith(taro, s, nil)
	expectProblem(t, err, "cert-revoked")
}

func countEntries(t *testing.T, e *env, tenantID string) int64 {
	t.Helper()
	n, err := e.st.CountTenantEntries(ctx, evidence.TenantQuery{TenantID: tenantID, From: time.Unix(0, 0), To: e.clk.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// requestNonce returns the nonce extension value of a DER OCSP request.
func requestNonce(t *testing.T, der []byte) []byte {
	n, err := ocspnonce.FromRequest(der)
	if err != nil || n == nil {
		t.Errorf("the platform's OCSP request carries no nonce (%v)", err)
	}
	return n
}

// withNonce re-signs a response with the nonce in its responseExtensions (RSA, SHA-256).
func withNonce(t *testing.T, resp, nonce []byte, key crypto.Signer) []byte {
	out, err := ocspnonce.AddToResponse(resp, nonce, key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
