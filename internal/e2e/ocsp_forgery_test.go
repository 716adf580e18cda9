package e2e

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/internal/wiring"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/revocation"
	"github.com/mynagate/mynagate/web"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"
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

var oidNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}

// requestNonce returns the nonce extension value of a DER OCSP request.
func requestNonce(t *testing.T, der []byte) []byte {
	in := cryptobyte.String(der)
	var req, tbs, exts, list cryptobyte.String
	var present bool
	if !in.ReadASN1(&req, cbasn1.SEQUENCE) || !req.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!tbs.SkipOptionalASN1(cbasn1.Tag(0).ContextSpecific().Constructed()) ||
		!tbs.SkipOptionalASN1(cbasn1.Tag(1).ContextSpecific().Constructed()) || !tbs.SkipASN1(cbasn1.SEQUENCE) ||
		!tbs.ReadOptionalASN1(&exts, &present, cbasn1.Tag(2).ContextSpecific().Constructed()) || !present ||
		!exts.ReadASN1(&list, cbasn1.SEQUENCE) {
		t.Error("the platform's OCSP request carries no nonce")
		return nil
	}
	for !list.Empty() {
		var e cryptobyte.String
		var oid asn1.ObjectIdentifier
		var v []byte
		if !list.ReadASN1(&e, cbasn1.SEQUENCE) || !e.ReadASN1ObjectIdentifier(&oid) || !e.SkipOptionalASN1(cbasn1.BOOLEAN) ||
			!e.ReadASN1Bytes(&v, cbasn1.OCTET_STRING) {
			break
		}
		if oid.Equal(oidNonce) {
			return v
		}
	}
	t.Error("the platform's OCSP request carries no nonce")
	return nil
}

// withNonce re-signs a response with the nonce in its responseExtensions (RSA, SHA-256).
func withNonce(t *testing.T, resp, nonce []byte, key crypto.Signer) []byte {
	in := cryptobyte.String(resp)
	var outer, rb, rbSeq, basicDER, basic, tbs, algo, certs cryptobyte.String
	var status []byte
	var typ asn1.ObjectIdentifier
	var hasCerts bool
	if !in.ReadASN1(&outer, cbasn1.SEQUENCE) || !outer.ReadASN1Element((*cryptobyte.String)(&status), cbasn1.ENUM) ||
		!outer.ReadASN1(&rb, cbasn1.Tag(0).ContextSpecific().Constructed()) || !rb.ReadASN1(&rbSeq, cbasn1.SEQUENCE) ||
		!rbSeq.ReadASN1ObjectIdentifier(&typ) || !rbSeq.ReadASN1(&basicDER, cbasn1.OCTET_STRING) ||
		!basicDER.ReadASN1(&basic, cbasn1.SEQUENCE) || !basic.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!basic.ReadASN1Element(&algo, cbasn1.SEQUENCE) || !basic.SkipASN1(cbasn1.BIT_STRING) ||
		!basic.ReadOptionalASN1(&certs, &hasCerts, cbasn1.Tag(0).ContextSpecific().Constructed()) {
		t.Fatal("unexpected response structure")
	}
	var nb cryptobyte.Builder
	nb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddASN1(cbasn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidNonce)
					b.AddASN1OctetString(nonce)
				})
			})
		})
	})
	newTBS := nb.BytesOrPanic()
	digest := sha256.Sum256(newTBS)
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	var out cryptobyte.Builder
	out.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(status)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(typ)
				b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddBytes(newTBS)
						b.AddBytes(algo)
						b.AddASN1BitString(sig)
						if hasCerts {
							b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(certs) })
						}
					})
				})
			})
		})
	})
	return out.BytesOrPanic()
}
