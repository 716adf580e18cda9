package revocation

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/ocsp"

	"github.com/mynagate/mynagate/internal/ocspnonce"
)

// ocspPKI is a CA with a holder certificate, delegated responders good and bad, and an HTTP
// server publishing its CRL and answering OCSP as the test says.
type ocspPKI struct {
	t        *testing.T
	clk      *clockwork.FakeClock
	ca       testCA
	other    testCA // another CA
	leaf     *x509.Certificate
	leafKey  crypto.Signer
	leaf2    *x509.Certificate
	resp     testCA // honest delegated responder: OCSPSigning, nocheck, valid
	srv      *httptest.Server
	fetcher  *Fetcher
	checker  *Checker
	mu       sync.Mutex
	crl      []byte
	answer   func(req []byte, nonce []byte) []byte // what the responder answers
	requests int
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue makes a certificate signed by ca.
func issue(t testing.TB, ca testCA, serial int64, cn string, key crypto.Signer, mod func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    testNow.Add(-24 * time.Hour),
		NotAfter:     testNow.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if mod != nil {
		mod(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var oidNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// responder makes a delegated responder certificate of ca; mod changes the honest template.
func responder(t testing.TB, ca testCA, serial int64, mod func(*x509.Certificate)) testCA {
	key := ecKey(t)
	c := issue(t, ca, serial, "OCSP Responder", key, func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
		c.ExtraExtensions = []pkix.Extension{{Id: oidNoCheck, Value: []byte{0x05, 0x00}}}
		if mod != nil {
			mod(c)
		}
	})
	return testCA{cert: c, key: key}
}

func newOCSPPKI(t *testing.T, opts ...CheckerOption) *ocspPKI {
	p := &ocspPKI{t: t, clk: clockwork.NewFakeClockAt(testNow)}
	name := pkix.Name{Country: []string{"JP"}, Organization: []string{"JPKI-TEST"}, OrganizationalUnit: []string{"OCSP test CA"}}
	p.ca = newCA(t, name, ecKey(t), ski("ocsp-ca"), x509.KeyUsageCertSign|x509.KeyUsageCRLSign)
	p.other = newCA(t, pkix.Name{CommonName: "Another CA"}, ecKey(t), ski("ocsp-other"), x509.KeyUsageCertSign|x509.KeyUsageCRLSign)
	p.leafKey = ecKey(t)
	p.leaf = issue(t, p.ca, 100, "Holder", p.leafKey, nil)
	p.leaf2 = issue(t, p.ca, 101, "Other holder", ecKey(t), nil)
	p.resp = responder(t, p.ca, 200, nil)
	p.setCRL(1)
	p.answer = func(req, nonce []byte) []byte { return p.respond(req, nonce, p.resp, ocsp.Good, nil) }
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch r.URL.Path {
		case "/crl":
			w.Write(p.crl)
		case "/ocsp":
			body, _ := io.ReadAll(r.Body)
			p.requests++
			w.Write(p.answer(body, requestNonceOf(t, body)))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(p.srv.Close)
	src := Source{Name: "test", CRLURL: p.srv.URL + "/crl", OCSPURL: p.srv.URL + "/ocsp", Issuer: p.ca.cert}
	p.fetcher = NewFetcher([]Source{src}, WithClock(p.clk), WithTempDir(t.TempDir()))
	p.checker = NewChecker(p.fetcher, opts...)
	p.refresh()
	return p
}

// setCRL publishes CRL number n listing the given serials, made now.
func (p *ocspPKI) setCRL(n int64, revoked ...*big.Int) {
	var entries []x509.RevocationListEntry
	for _, s := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: p.clk.Now().Add(-time.Minute)})
	}
	crl := x509CRL(p.t, p.ca, n, entries, func(rl *x509.RevocationList) {
		rl.ThisUpdate, rl.NextUpdate = p.clk.Now(), p.clk.Now().Add(24*time.Hour)
	})
	p.mu.Lock()
	p.crl = crl
	p.mu.Unlock()
}

func (p *ocspPKI) refresh() {
	p.t.Helper()
	if err := p.fetcher.Refresh(context.Background()); err != nil {
		p.t.Fatal(err)
	}
}

func (p *ocspPKI) setAnswer(f func(req, nonce []byte) []byte) {
	p.mu.Lock()
	p.answer = f
	p.mu.Unlock()
}

func (p *ocspPKI) asked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests
}

// respond signs an answer to req with signer (its certificate embedded unless it is the CA),
// echoing nonce; mod changes the template.
func (p *ocspPKI) respond(req, nonce []byte, signer testCA, status int, mod func(*ocsp.Response)) []byte {
	r, err := ocsp.ParseRequest(req)
	if err != nil {
		p.t.Errorf("responder: %v", err)
		return ocsp.MalformedRequestErrorResponse
	}
	now := p.clk.Now().UTC().Truncate(time.Second)
	tmpl := ocsp.Response{SerialNumber: r.SerialNumber, Status: status, ThisUpdate: now, NextUpdate: now.Add(time.Hour), IssuerHash: r.HashAlgorithm}
	if status == ocsp.Revoked {
		tmpl.RevokedAt, tmpl.RevocationReason = now.Add(-time.Minute), ocsp.KeyCompromise
	}
	if signer.cert != p.ca.cert {
		tmpl.Certificate = signer.cert
	}
	if mod != nil {
		mod(&tmpl)
	}
	der, err := ocsp.CreateResponse(p.ca.cert, signer.cert, tmpl, signer.key)
	if err != nil {
		p.t.Fatalf("responder: %v", err)
	}
	if nonce == nil {
		return der
	}
	return addNonce(p.t, der, nonce, signer.key)
}

// requestNonceOf returns the nonce extension value of a request, or nil.
func requestNonceOf(t testing.TB, der []byte) []byte {
	n, err := ocspnonce.FromRequest(der)
	if err != nil {
		t.Errorf("request: %v", err)
	}
	return n
}

// addNonce puts a nonce in the responseExtensions of a signed response and signs it again with
// key (ECDSA with SHA-256, as ocsp.CreateResponse chose).
func addNonce(t testing.TB, resp, nonce []byte, key crypto.Signer) []byte {
	out, err := ocspnonce.AddToResponse(resp, nonce, key)
	if err != nil {
		t.Fatalf("addNonce: %v", err)
	}
	return out
}

func (p *ocspPKI) status(cert *x509.Certificate, policy Policy) (*Status, error) {
	return p.checker.Status(context.Background(), cert, p.ca.cert, policy)
}

// refused checks that a status query fails as unavailable, naming why, and caches nothing.
func (p *ocspPKI) refused(cert *x509.Certificate, policy Policy, want string) {
	p.t.Helper()
	before := p.checker.OCSPCacheLen()
	s, err := p.status(cert, policy)
	if err == nil || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), want) {
		p.t.Fatalf("status = %+v, %v; want refused with %q", s, err, want)
	}
	if n := p.checker.OCSPCacheLen(); n > before {
		p.t.Errorf("a refused answer was cached: %d entries, was %d", n, before)
	}
}

func TestOCSPHonestResponderAndCache(t *testing.T) {
	p := newOCSPPKI(t)
	s, err := p.status(p.leaf, PolicyOCSP)
	if err != nil || s.Revoked || s.Method != MethodOCSP || len(s.OCSPResponse) == 0 {
		t.Fatalf("status = %+v, %v; want good by OCSP", s, err)
	}
	if _, err := p.status(p.leaf, PolicyOCSP); err != nil || p.asked() != 1 {
		t.Errorf("second query: %v, responder asked %d times; want the cached answer", err, p.asked())
	}
	// The answer is reused at most the cache's maximum age.
	p.clk.Advance(DefaultOCSPCacheMaxAge)
	if _, err := p.status(p.leaf, PolicyOCSP); err != nil || p.asked() != 2 {
		t.Errorf("after the maximum age: %v, responder asked %d times; want asked again", err, p.asked())
	}
	// The CA may sign its own answers.
	p.setAnswer(func(req, nonce []byte) []byte { return p.respond(req, nonce, p.ca, ocsp.Good, nil) })
	if s, err := p.status(p.leaf2, PolicyOCSP); err != nil || s.Revoked {
		t.Errorf("answer signed by the CA: %+v, %v", s, err)
	}
	// The policy crl does not ask OCSP while the CRL is fresh.
	asked := p.asked()
	if s, err := p.status(p.leaf, PolicyCRL); err != nil || s.Method != MethodCRL || s.CRLNumber.Int64() != 1 || p.asked() != asked {
		t.Errorf("policy crl: %+v, %v (asked %d)", s, err, p.asked()-asked)
	}
	if _, err := p.status(p.leaf, Policy("holder")); err == nil {
		t.Error("an unknown policy was accepted")
	}
}

// TestRevokedCardWithWarmedOCSPCache is the attack of issue 14: a thief has the platform cache an
// OCSP "good" before the card's loss is reported; after the CRL that lists the card is loaded,
// the card is refused whatever the policy, even while the responder still says "good".
func TestRevokedCardWithWarmedOCSPCache(t *testing.T) {
	p := newOCSPPKI(t)
	if s, err := p.status(p.leaf, PolicyOCSP); err != nil || s.Revoked {
		t.Fatalf("warming: %+v, %v", s, err)
	}
	p.clk.Advance(time.Minute)
	p.setCRL(2, p.leaf.SerialNumber)
	p.refresh()
	for _, policy := range []Policy{PolicyOCSP, PolicyBoth, PolicyCRL} {
		s, err := p.status(p.leaf, policy)
		if err != nil || !s.Revoked || s.Method != MethodCRL || s.CRLNumber.Int64() != 2 {
			t.Errorf("policy %s after the CRL listing the card: %+v, %v; want revoked by CRL 2", policy, s, err)
		}
	}
	// The CRL is held, not fresh any more: it still wins over an OCSP "good".
	p.clk.Advance(48 * time.Hour)
	for _, policy := range []Policy{PolicyOCSP, PolicyCRL} {
		if s, err := p.status(p.leaf, policy); err != nil || !s.Revoked {
			t.Errorf("policy %s with a stale CRL listing the card: %+v, %v; want revoked", policy, s, err)
		}
	}
}

// TestOCSPGoodNotReusedPastNewerCRL: a cached "good" made under CRL n is not served once CRL n+1
// is in force, even when it does not list the certificate; the responder is asked again.
func TestOCSPGoodNotReusedPastNewerCRL(t *testing.T) {
	p := newOCSPPKI(t)
	if _, err := p.status(p.leaf, PolicyOCSP); err != nil {
		t.Fatal(err)
	}
	p.setCRL(2)
	p.refresh()
	p.setAnswer(func(req, nonce []byte) []byte { return p.respond(req, nonce, p.resp, ocsp.Revoked, nil) })
	s, err := p.status(p.leaf, PolicyOCSP)
	if err != nil || !s.Revoked || s.Method != MethodOCSP || p.asked() != 2 {
		t.Errorf("after CRL 2: %+v, %v (responder asked %d times); want the responder's revoked", s, err, p.asked())
	}
}

func TestOCSPCacheBounded(t *testing.T) {
	p := newOCSPPKI(t, WithOCSPCache(1, time.Hour))
	for _, c := range []*x509.Certificate{p.leaf, p.leaf2} {
		if _, err := p.status(c, PolicyOCSP); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.checker.OCSPCacheLen(); n != 1 {
		t.Errorf("cache holds %d answers, bound 1", n)
	}
	off := newOCSPPKI(t, WithOCSPCache(10, 0))
	off.status(off.leaf, PolicyOCSP)
	off.status(off.leaf, PolicyOCSP)
	if off.asked() != 2 || off.checker.OCSPCacheLen() != 0 {
		t.Errorf("cache off: asked %d, cached %d", off.asked(), off.checker.OCSPCacheLen())
	}
}

// TestForgedOCSPAnswers: answers signed by what is not an authorised responder (RFC 6960
// §4.2.2.2) are refused, with nothing cached.
func TestForgedOCSPAnswers(t *testing.T) {
	p := newOCSPPKI(t)
	noEKU := responder(t, p.ca, 201, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth} })
	expired := responder(t, p.ca, 202, func(c *x509.Certificate) { c.NotAfter = testNow.Add(-time.Hour) })
	notYet := responder(t, p.ca, 203, func(c *x509.Certificate) { c.NotBefore = testNow.Add(time.Hour) })
	revoked := responder(t, p.ca, 204, func(c *x509.Certificate) { c.ExtraExtensions = nil })
	foreign := responder(t, p.other, 205, nil)
	holder := testCA{cert: p.leaf, key: p.leafKey}
	sign := func(signer testCA) func(req, nonce []byte) []byte {
		return func(req, nonce []byte) []byte { return p.respond(req, nonce, signer, ocsp.Good, nil) }
	}
	cases := []struct {
		name   string
		answer func(req, nonce []byte) []byte
		want   string
	}{
		{"signed by the holder's own key", sign(holder), "lacks id-kp-OCSPSigning"},
		{"responder without id-kp-OCSPSigning", sign(noEKU), "lacks id-kp-OCSPSigning"},
		{"expired responder", sign(expired), "is not valid at"},
		{"responder not yet valid", sign(notYet), "is not valid at"},
		{"responder of another CA", sign(foreign), "refused"},
		{"no nonce", func(req, _ []byte) []byte { return p.respond(req, nil, p.resp, ocsp.Good, nil) }, "does not echo the request's nonce"},
		{"another nonce", func(req, _ []byte) []byte {
			var b cryptobyte.Builder
			b.AddASN1OctetString(bytes.Repeat([]byte{7}, 16))
			return p.respond(req, b.BytesOrPanic(), p.resp, ocsp.Good, nil)
		}, "nonce is not the one sent"},
		{"thisUpdate in the future", func(req, nonce []byte) []byte {
			return p.respond(req, nonce, p.resp, ocsp.Good, func(r *ocsp.Response) {
				r.ThisUpdate, r.NextUpdate = testNow.Add(time.Hour), testNow.Add(2*time.Hour)
			})
		}, "is in the future"},
		{"nextUpdate passed", func(req, nonce []byte) []byte {
			return p.respond(req, nonce, p.resp, ocsp.Good, func(r *ocsp.Response) {
				r.ThisUpdate, r.NextUpdate = testNow.Add(-2*time.Hour), testNow.Add(-time.Hour)
			})
		}, "has passed"},
		{"answer about another certificate", func(req, nonce []byte) []byte {
			return p.respond(req, nonce, p.resp, ocsp.Good, func(r *ocsp.Response) { r.SerialNumber = p.leaf2.SerialNumber })
		}, "refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p.t = t
			p.setAnswer(c.answer)
			p.refused(p.leaf, PolicyOCSP, c.want)
		})
	}
	p.t = t

	// A responder without id-pkix-ocsp-nocheck is checked against the fresh CRL: good while
	// not listed, refused once listed, refused when no fresh CRL can tell.
	p.setAnswer(sign(revoked))
	if s, err := p.status(p.leaf, PolicyOCSP); err != nil || s.Revoked {
		t.Errorf("responder without nocheck, not revoked: %+v, %v", s, err)
	}
	p.clk.Advance(time.Minute)
	p.setCRL(2, revoked.cert.SerialNumber)
	p.refresh()
	p.refused(p.leaf, PolicyOCSP, "lists it as revoked")
	p.clk.Advance(25 * time.Hour)
	p.refused(p.leaf, PolicyOCSP, "no fresh CRL")
}

// TestReplayedOCSPAnswer: a genuine answer recorded for an earlier request (a "good" from before
// the loss) is refused when served again.
func TestReplayedOCSPAnswer(t *testing.T) {
	p := newOCSPPKI(t, WithOCSPCache(10, 0))
	var recorded []byte
	p.setAnswer(func(req, nonce []byte) []byte {
		recorded = p.respond(req, nonce, p.resp, ocsp.Good, nil)
		return recorded
	})
	if _, err := p.status(p.leaf, PolicyOCSP); err != nil {
		t.Fatal(err)
	}
	p.setAnswer(func([]byte, []byte) []byte { return recorded })
	p.refused(p.leaf, PolicyOCSP, "nonce is not the one sent")
}

func TestPolicies(t *testing.T) {
	p := newOCSPPKI(t)
	// both: a fresh CRL and OCSP; the evidence is the OCSP answer.
	if s, err := p.status(p.leaf, PolicyBoth); err != nil || s.Revoked || s.Method != MethodOCSP || p.asked() != 1 {
		t.Errorf("both: %+v, %v", s, err)
	}
	// OCSP says revoked while the CRL does not list it yet: revoked.
	p.setAnswer(func(req, nonce []byte) []byte { return p.respond(req, nonce, p.resp, ocsp.Revoked, nil) })
	if s, err := p.status(p.leaf2, PolicyBoth); err != nil || !s.Revoked {
		t.Errorf("both, OCSP revoked: %+v, %v", s, err)
	}
	// The CRL goes stale: both cannot answer, crl falls back to OCSP, ocsp is unaffected.
	p.setAnswer(func(req, nonce []byte) []byte { return p.respond(req, nonce, p.resp, ocsp.Good, nil) })
	p.clk.Advance(25 * time.Hour)
	p.refused(p.leaf, PolicyBoth, "not fresh")
	if s, err := p.status(p.leaf, PolicyCRL); err != nil || s.Method != MethodOCSP || s.Revoked {
		t.Errorf("crl with a stale CRL: %+v, %v; want OCSP", s, err)
	}
	// The responder away: crl with a stale CRL and ocsp cannot answer; nothing is "good".
	p.srv.Close()
	p.clk.Advance(time.Hour)
	for _, policy := range []Policy{PolicyCRL, PolicyOCSP} {
		if s, err := p.status(p.leaf2, policy); err == nil || !errors.Is(err, ErrUnavailable) {
			t.Errorf("policy %s without a responder: %+v, %v", policy, s, err)
		}
	}
}

// memHighWater is a HighWater in memory that can fail.
type memHighWater struct {
	mu     sync.Mutex
	n      map[string]*big.Int
	d      map[string][]byte
	broken bool
}

func (m *memHighWater) CRLHighWater(_ context.Context, ca string) (*big.Int, []byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.broken {
		return nil, nil, errors.New("database away")
	}
	return m.n[ca], m.d[ca], nil
}

func (m *memHighWater) RaiseCRLHighWater(_ context.Context, ca string, n *big.Int, d []byte, _, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.broken {
		return errors.New("database away")
	}
	if m.n[ca] == nil || m.n[ca].Cmp(n) < 0 {
		m.n[ca], m.d[ca] = n, d
	}
	return nil
}

// TestFetcherHighWater: a CRL is put in force only once its number is recorded; a refused CRL
// records nothing; after a restart an older or reused number is refused.
func TestFetcherHighWater(t *testing.T) {
	p := newOCSPPKI(t)
	hw := &memHighWater{n: map[string]*big.Int{}, d: map[string][]byte{}}
	src := p.fetcher.Sources()[0]
	key := CAKey(p.ca.cert)
	start := func() *Fetcher {
		return NewFetcher([]Source{src}, WithClock(p.clk), WithTempDir(t.TempDir()), WithHighWater(hw))
	}
	f := start()
	p.setCRL(5)
	if err := f.Refresh(context.Background()); err != nil || hw.n[key].Int64() != 5 {
		t.Fatalf("first CRL: %v, mark %v", err, hw.n[key])
	}
	// The store away: the new CRL is not put in force, the mark stays.
	hw.broken = true
	p.clk.Advance(time.Minute)
	p.setCRL(6, p.leaf.SerialNumber)
	if err := f.Refresh(context.Background()); err == nil {
		t.Error("a CRL was put in force while its number could not be recorded")
	}
	if st, _ := f.State("test"); st.Index.Metadata().Number.Int64() != 5 {
		t.Errorf("CRL in force %v, want 5", st.Index.Metadata().Number)
	}
	hw.broken = false
	// A CRL signed by another key is refused and records nothing.
	p.mu.Lock()
	p.crl = x509CRL(t, p.other, 99, nil, func(rl *x509.RevocationList) { rl.ThisUpdate, rl.NextUpdate = p.clk.Now(), p.clk.Now().Add(time.Hour) })
	p.mu.Unlock()
	if err := f.Refresh(context.Background()); err == nil || hw.n[key].Int64() != 5 {
		t.Errorf("foreign CRL: %v, mark %v", err, hw.n[key])
	}
	// A restart served CRL 4 (older) or another CRL numbered 5: refused.
	for _, n := range []int64{4, 5} {
		p.setCRL(n)
		g := start()
		if err := g.Refresh(context.Background()); err == nil {
			t.Errorf("CRL %d after a restart at mark 5 was accepted", n)
		}
		if st, _ := g.State("test"); st.Index != nil {
			t.Errorf("CRL %d is in force", n)
		}
	}
	p.setCRL(7)
	if err := start().Refresh(context.Background()); err != nil || hw.n[key].Int64() != 7 {
		t.Errorf("CRL 7 after a restart: %v, mark %v", err, hw.n[key])
	}
}
