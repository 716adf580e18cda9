// Package e2e tests mynagate end to end with real components: the J-LIS simulator over HTTP, a
// virtual card read through the reader package, the platform on a real store, the HTTP API, the
// public Go client, and the CRL fetcher.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/mynagate/mynagate/card"
	"github.com/mynagate/mynagate/card/vpcd"
	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/delivery"
	"github.com/mynagate/mynagate/evidence"
	"github.com/mynagate/mynagate/internal/pcsctest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/internal/wiring"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/oidc"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/revocation"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
	"github.com/mynagate/mynagate/web"
)

var ctx = context.Background()

// env is one running world: J-LIS, the platform and two tenants.
type env struct {
	t        *testing.T
	clk      *clockwork.FakeClock
	sim      *jlis.Simulator
	jlisSrv  *httptest.Server
	fetcher  *revocation.Fetcher
	plat     *platform.Platform
	api      *httptest.Server
	st       *store.Store
	rp, rp2  *client.Client // two tenants
	tenantID string
	evidence *evidence.Log
	keys     *evidence.Keys
	apiKey   string // the first tenant's
	platOpts []platform.Option
}

func newEnv(t *testing.T, dsn string) *env {
	t.Helper()
	sim, clk, _ := testkit.Simulator(t)
	e := &env{t: t, clk: clk, sim: sim}
	e.jlisSrv = httptest.NewServer(sim.Handler())
	t.Cleanup(e.jlisSrv.Close)
	jc := jlisapi.New(e.jlisSrv.URL)
	cas, srcs, err := wiring.Trust(ctx, jc, e.jlisSrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	e.fetcher = revocation.NewFetcher(srcs, revocation.WithClock(clk), revocation.WithTempDir(t.TempDir()))
	if err := e.fetcher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(t.TempDir(), "platform.db")
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	var h http.Handler
	e.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.api.Close)
	keys, err := evidence.GenerateKeys(rand.Reader, evidence.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	e.keys = keys
	e.evidence, err = evidence.New(st, keys)
	if err != nil {
		t.Fatal(err)
	}
	logCtx, stopLog := context.WithCancel(ctx)
	logDone := make(chan struct{})
	go func() { e.evidence.Run(logCtx); close(logDone) }()
	t.Cleanup(func() { stopLog(); <-logDone })
	cardAPCA, err := sim.CardAPCAPublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.platOpts = []platform.Option{platform.WithClock(clk), platform.WithCardAPCAs(cardAPCA), platform.WithHolderBaseURL(e.api.URL), platform.WithEvidence(e.evidence), platform.WithPrivateWebhookTargets(), platform.WithMaster(bytes.Repeat([]byte{7}, 32)), platform.WithCAs(cas...),
		platform.WithRevocation(wiring.Revocation{Checker: revocation.NewChecker(e.fetcher)}), platform.WithLinks(jc)}
	e.plat = e.node()
	// The OpenID provider's client registration (/v1/oidc/clients) is part of the API.
	prov, err := oidc.New(e.plat, st, oidc.Config{Issuer: e.api.URL + "/oidc", Master: bytes.Repeat([]byte{7}, 32), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	h = web.New(e.plat, web.WithTenantRoutes(prov.APIRoutes))
	e.rp, e.tenantID = e.tenant("Example Bank", platform.AllFacts)
	e.rp2, _ = e.tenant("Example Tickets", []platform.Fact{platform.FactBirth})
	return e
}

// newSession creates a session as rp and fetches its challenge as the holder, returning the
// holder's client, the session id, its holder token and the challenge.
func (e *env) newSession(rp *client.Client, purpose string) (*client.Client, string, string, []byte) {
	e.t.Helper()
	s, err := rp.CreateSession(ctx, client.SessionRequest{Purpose: purpose})
	if err != nil {
		e.t.Fatal(err)
	}
	base, id, tok, _ := client.ParseHolderURL(s.HolderURL)
	hc := client.New(base)
	ch, err := hc.FetchUncheckedChallenge(ctx, id, tok)
	if err != nil {
		e.t.Fatal(err)
	}
	return hc, id, tok, ch.Challenge
}

// node is another platform node on the same store, configured as the first (as nodes sharing a
// database are): its caches are its own.
func (e *env) node() *platform.Platform {
	e.t.Helper()
	p, err := platform.New(e.st, e.platOpts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) tenant(name string, facts []platform.Fact) (*client.Client, string) {
	return e.tenantWith(name, facts)
}

// tenantWith creates a tenant with settings and returns its client and id.
func (e *env) tenantWith(name string, facts []platform.Fact, settings ...platform.TenantSetting) (*client.Client, string) {
	ten, err := e.plat.CreateTenant(ctx, name, facts, settings...)
	if err != nil {
		e.t.Fatal(err)
	}
	key, _, err := e.plat.CreateAPIKey(ctx, ten.ID, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	if e.apiKey == "" {
		e.apiKey = key
	}
	return client.New(e.api.URL, client.WithAPIKey(key)), ten.ID
}

// holder reads a card file and answers sessions with it: in-process, or — when pcsc is set —
// through a private pcscd that the card is attached to over vpcd, as a real reader would.
type holder struct {
	e    *env
	path string
	pcsc *pcsctest.Daemon
	pull func() // removes the card from the virtual reader
	slot int    // vpcd slot of the next insertion; alternates, as a holder moving between two readers
}

func (e *env) issue(b4 jpki.Basic4) *holder {
	iss := testkit.Issue(e.t, e.sim, b4)
	path := filepath.Join(e.t.TempDir(), "card.json")
	if err := iss.Card.Save(path); err != nil {
		e.t.Fatal(err)
	}
	return &holder{e: e, path: path}
}

func (h *holder) reader() *reader.Client {
	c, err := card.Open(h.path, card.WithClock(h.e.clk))
	if err != nil {
		h.e.t.Fatal(err)
	}
	if h.pcsc == nil {
		return reader.NewClient(reader.NewInProcess(c, "in-process"))
	}
	// Pull the card read before (its file may have changed since) and insert this one.
	if h.pull != nil {
		h.pull()
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	addr := h.pcsc.VPCDAddr
	if h.slot%2 == 1 {
		addr = h.pcsc.VPCDAddr2
	}
	h.slot++
	go func() { vpcd.Serve(cctx, addr, c); close(done) }()
	p, err := reader.DialPCSC(ctx, reader.WithSocket(h.pcsc.Socket))
	if err != nil {
		h.e.t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	t, err := p.WaitForCard(wctx, "")
	if err != nil {
		h.e.t.Fatalf("wait for the card in pcscd: %v", err)
	}
	rc := reader.NewClient(t)
	h.pull = func() {
		rc.Close()
		p.Close()
		cancel()
		<-done
		h.pull = nil
		// Wait until pcscd has seen the card go, so the next insertion is a new card.
		for i := 0; i < 100; i++ {
			q, err := reader.DialPCSC(ctx, reader.WithSocket(h.pcsc.Socket))
			if err != nil {
				h.e.t.Fatal(err)
			}
			_, err = q.FirstCard(ctx, "")
			q.Close()
			if errors.Is(err, reader.ErrNoCard) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		h.e.t.Fatal("pcscd still sees the pulled card")
	}
	h.e.t.Cleanup(func() {
		if h.pull != nil {
			h.pull()
		}
	})
	return rc
}

// verify runs a whole session for purpose and returns the tenant's view of it.
func (e *env) verify(rp *client.Client, h *holder, purpose string) *client.Session {
	e.t.Helper()
	s, err := rp.CreateSession(ctx, client.SessionRequest{Purpose: purpose})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := answerWith(h, s, nil); err != nil {
		e.t.Fatalf("answer %s session: %v", purpose, err)
	}
	done, err := rp.Session(ctx, s.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	if done.Status != "verified" || done.Verification == nil || done.Verification.Decision != "accepted" {
		e.t.Fatalf("session %+v, want verified", done)
	}
	return done
}

// TestIdentityAndLoginEndToEnd runs the whole path on SQLite and PostgreSQL with the card
// in-process, and on SQLite with the card read through a real pcscd.
func TestIdentityAndLoginEndToEnd(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, storetest.DSN(t, d))
			identityAndLogin(t, e, e.issue(testkit.Taro()))
		})
	}
	t.Run("pcscd", func(t *testing.T) {
		t.Parallel()
		daemon := pcsctest.Start(t)
		e := newEnv(t, "")
		taro := e.issue(testkit.Taro())
		taro.pcsc = daemon
		identityAndLogin(t, e, taro)
	})
}

func identityAndLogin(t *testing.T, e *env, taro *holder) {

	id := e.verify(e.rp, taro, "identity").Verification
	want := map[string]string{"name": "山田　太郎", "birthdate": "1985-04-02", "sex": "male", "address": "東京都千代田区霞が関２丁目１番２号"}
	for k, v := range want {
		if id.Facts[k] != v {
			t.Errorf("fact %s = %q, want %q", k, id.Facts[k], v)
		}
	}
	if id.Sub == "" || id.Revocation.Method != "crl" || !strings.HasPrefix(id.Revocation.Ref, "crl:") {
		t.Errorf("verification %+v", id)
	}
	// Login with the auth certificate of the same card: the same person, no personal data.
	login := e.verify(e.rp, taro, "login").Verification
	if login.Sub != id.Sub {
		t.Errorf("login sub %s, identity sub %s: the card's two certificates are one person", login.Sub, id.Sub)
	}
	if len(login.Facts) != 0 {
		t.Errorf("login returned facts %v", login.Facts)
	}
	// The second tenant sees a different id, and only the facts it may.
	other := e.verify(e.rp2, taro, "identity").Verification
	if other.Sub == id.Sub {
		t.Error("two tenants see the same pairwise id")
	}
	if len(other.Facts) != 1 || other.Facts["birthdate"] != "1985-04-02" {
		t.Errorf("second tenant facts %v, want only birthdate", other.Facts)
	}

	// A move: new signing certificate; the person and the pairwise id survive.
	e.clk.Advance(24 * time.Hour)
	cf, err := jpki.LoadCardFile(taro.path)
	if err != nil {
		t.Fatal(err)
	}
	moved := cf.Basic4
	moved.Address = "大阪府大阪市北区梅田１丁目１番"
	next, err := e.sim.Change(ctx, cf, moved, jlis.CauseMove, jlis.WithNewSigningCertificate(jlis.DefaultSignPassword)) // applied for in the same visit
	if err != nil {
		t.Fatal(err)
	}
	if err := next.Save(taro.path); err != nil {
		t.Fatal(err)
	}
	if err := e.fetcher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	after := e.verify(e.rp, taro, "identity").Verification
	if after.Sub != id.Sub || after.Facts["address"] != moved.Address {
		t.Errorf("after move: sub %s (want %s), address %q", after.Sub, id.Sub, after.Facts["address"])
	}
	// Another resident is another person.
	hanako := e.issue(testkit.Hanako())
	if got := e.verify(e.rp, hanako, "identity").Verification.Sub; got == id.Sub {
		t.Error("two residents got the same pairwise id")
	}
	// Usage: 3 identity + 1 login for the first tenant this month, all by CRL.
	u, err := e.rp.Usage(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, c := range u.Counts {
		counts[c.Purpose+"/"+c.Method] += c.Count
	}
	if counts["identity/crl"] != 3 || counts["login/crl"] != 1 {
		t.Errorf("usage %v, want identity/crl 3, login/crl 1", counts)
	}
	// A renewal, in the certificates' last 3 months (they end 2030-04-02): both certificates
	// new; still the same person.
	e.clk.Advance(time.Date(2030, time.February, 1, 10, 0, 0, 0, jpki.JST).Sub(e.clk.Now()))
	cf, _ = jpki.LoadCardFile(taro.path)
	renewed, err := e.sim.Renew(ctx, cf)
	if err != nil {
		t.Fatal(err)
	}
	renewed.Save(taro.path)
	if err := e.fetcher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.verify(e.rp, taro, "login").Verification.Sub; got != id.Sub {
		t.Errorf("after renewal: sub %s, want %s", got, id.Sub)
	}
	if got := e.verify(e.rp2, taro, "identity").Verification.Sub; got != other.Sub {
		t.Errorf("second tenant after renewal: sub %s, want %s", got, other.Sub)
	}
}

func expectProblem(t *testing.T, err error, slug string) {
	t.Helper()
	p, ok := err.(*client.Problem)
	if !ok {
		t.Fatalf("err = %v, want problem %s", err, slug)
	}
	if p.Slug() != slug {
		t.Fatalf("problem %s (%s), want %s", p.Slug(), p.Detail, slug)
	}
}

// TestSessionCompletedOnAnotherNode: two platform nodes share a database. The node that created
// a session keeps it cached for the holder's side; when another node completes it, an answer sent
// to the first node is still refused as a reused challenge and stores nothing, and once the
// first node has been refused it reports the session closed.
func TestSessionCompletedOnAnotherNode(t *testing.T) {
	e := newEnv(t, "")
	signer, err := e.issue(testkit.Taro()).reader().SignSigner(ctx, jlis.DefaultSignPassword)
	if err != nil {
		t.Fatal(err)
	}
	hc, id, tok, challenge := e.newSession(e.rp, "identity") // on node A
	sig, err := signRaw(signer, challenge)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.node().Complete(ctx, id, tok, platform.Answer{Certificate: signer.Certificate().Raw, Signature: sig}) // on node B
	if err != nil || v.Decision != platform.DecisionAccepted {
		t.Fatalf("node B: %+v %v", v, err)
	}
	usage := func() int64 {
		u, err := e.rp.Usage(ctx, "", "")
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, c := range u.Counts {
			n += c.Count
		}
		return n
	}
	before := usage()
	_, err = hc.Answer(ctx, id, tok, signer.Certificate().Raw, sig) // the same answer, to node A
	expectProblem(t, err, "challenge-reused")
	if p := err.(*client.Problem); p.VerificationID != "" {
		t.Errorf("the refused replay recorded verification %s", p.VerificationID)
	}
	got, err := e.rp.Session(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "verified" || got.Verification == nil || got.Verification.ID != v.ID {
		t.Errorf("session after the replay: %+v; want verified by %s", got, v.ID)
	}
	if after := usage(); after != before {
		t.Errorf("usage went from %d to %d on a refused replay", before, after)
	}
	if ch, err := hc.FetchUncheckedChallenge(ctx, id, tok); err != nil || ch.Status != "verified" {
		t.Errorf("node A's holder view after the refusal: %+v %v, want verified", ch, err)
	}
}

func TestRejections(t *testing.T) {
	e := newEnv(t, "")
	taro := e.issue(testkit.Taro())
	rc := taro.reader()
	signer, err := rc.SignSigner(ctx, jlis.DefaultSignPassword)
	if err != nil {
		t.Fatal(err)
	}
	authSigner, err := rc.AuthSigner(ctx, jlis.DefaultAuthPIN)
	if err != nil {
		t.Fatal(err)
	}
	// A lookalike J-LIS: same names, other keys.
	fake, _, _ := testkit.Simulator(t)
	fakeCard := testkit.Issue(t, fake, testkit.Taro()).Card

	newSession := e.newSession

	tests := []struct {
		name string
		run  func() error
		slug string
	}{
		{"auth certificate for identity", func() error {
			hc, id, tok, ch := newSession(e.rp, "identity")
			sig, _ := signRaw(authSigner, ch)
			_, err := hc.Answer(ctx, id, tok, authSigner.Certificate().Raw, sig)
			return err
		}, "wrong-certificate-kind"},
		{"signature over other bytes", func() error {
			hc, id, tok, _ := newSession(e.rp, "identity")
			sig, _ := signRaw(signer, []byte("something else"))
			_, err := hc.Answer(ctx, id, tok, signer.Certificate().Raw, sig)
			return err
		}, "signature-invalid"},
		{"another tenant's challenge", func() error {
			_, _, _, chA := newSession(e.rp2, "identity")
			hc, id, tok, _ := newSession(e.rp, "identity")
			sig, _ := signRaw(signer, chA)
			_, err := hc.Answer(ctx, id, tok, signer.Certificate().Raw, sig)
			return err
		}, "signature-invalid"},
		{"lookalike CA", func() error {
			hc, id, tok, _ := newSession(e.rp, "identity")
			_, err := hc.Answer(ctx, id, tok, fakeCard.Sign.Cert, bytes.Repeat([]byte{1}, 256))
			return err
		}, "chain-invalid"},
		{"truncated DER", func() error {
			hc, id, tok, ch := newSession(e.rp, "identity")
			sig, _ := signRaw(signer, ch)
			_, err := hc.Answer(ctx, id, tok, signer.Certificate().Raw[:100], sig)
			return err
		}, "malformed-certificate"},
		{"garbage DER", func() error {
			hc, id, tok, _ := newSession(e.rp, "login")
			_, err := hc.Answer(ctx, id, tok, []byte("garbage"), []byte("sig"))
			return err
		}, "malformed-certificate"},
		{"replayed challenge", func() error {
			hc, id, tok, ch := newSession(e.rp, "identity")
			sig, _ := signRaw(signer, ch)
			if _, err := hc.Answer(ctx, id, tok, signer.Certificate().Raw, sig); err != nil {
				return err
			}
			_, err := hc.Answer(ctx, id, tok, signer.Certificate().Raw, sig)
			return err
		}, "challenge-reused"},
		{"expired challenge", func() error {
			hc, id, tok, ch := newSession(e.rp, "identity")
			e.clk.Advance(6 * time.Minute)
			sig, _ := signRaw(signer, ch)
			_, err := hc.Answer(ctx, id, tok, signer.Certificate().Raw, sig)
			return err
		}, "challenge-expired"},
		{"wrong holder token", func() error {
			hc, id, _, ch := newSession(e.rp, "identity")
			sig, _ := signRaw(signer, ch)
			_, err := hc.Answer(ctx, id, "0000", signer.Certificate().Raw, sig)
			return err
		}, "not-found"},
		{"missing API key", func() error {
			_, err := client.New(e.api.URL).CreateSession(ctx, client.SessionRequest{Purpose: "identity"})
			return err
		}, "unauthorized"},
		{"invalid API key", func() error {
			_, err := client.New(e.api.URL, client.WithAPIKey("mgk_0000000000000000_"+strings.Repeat("0", 64))).CreateSession(ctx, client.SessionRequest{Purpose: "identity"})
			return err
		}, "unauthorized"},
		{"unknown purpose", func() error {
			_, err := e.rp.CreateSession(ctx, client.SessionRequest{Purpose: "shopping"})
			return err
		}, "invalid-request"},
		{"another tenant's session", func() error {
			s, err := e.rp2.CreateSession(ctx, client.SessionRequest{Purpose: "identity"})
			if err != nil {
				return err
			}
			_, err = e.rp.Session(ctx, s.ID)
			return err
		}, "not-found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectProblem(t, tt.run(), tt.slug) })
	}

	// Revoked: after the revocation reaches the CRL.
	cf, _ := jpki.LoadCardFile(taro.path)
	if _, err := e.sim.RevokeCard(ctx, cf, jlis.CauseLost, time.Time{}); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute)
	if err := e.fetcher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	hc, id, tok, ch := newSession(e.rp, "identity")
	sig, _ := signRaw(signer, ch)
	_, err = hc.Answer(ctx, id, tok, signer.Certificate().Raw, sig)
	expectProblem(t, err, "cert-revoked")
	if p := err.(*client.Problem); !strings.Contains(p.Detail, "(reason keyCompromise)") {
		t.Errorf("the revocation reason is not named: %q", p.Detail)
	}
	if p := err.(*client.Problem); p.VerificationID == "" {
		t.Error("a rejected verification was not recorded")
	} else if v, err := e.rp.Verification(ctx, p.VerificationID); err != nil || v.Decision != "rejected" || v.Reason != "cert-revoked" || v.Sub != "" {
		t.Errorf("recorded rejection %+v %v", v, err)
	}

	// Expired certificate: six years on (the CRL is then stale; validity is checked first).
	e.clk.Advance(6 * 365 * 24 * time.Hour)
	hc, id, tok, ch = newSession(e.rp, "login")
	sig, _ = signRaw(authSigner, ch)
	_, err = hc.Answer(ctx, id, tok, authSigner.Certificate().Raw, sig)
	expectProblem(t, err, "cert-expired")

	// Oversized body.
	req, _ := http.NewRequest("POST", e.api.URL+"/v1/holder/sessions/"+id, bytes.NewReader(bytes.Repeat([]byte("a"), web.MaxBody+10)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: HTTP %d, want 413", resp.StatusCode)
	}
}

// deliverAll integrates the evidence recorded so far (after which its events are dispatched)
// and runs delivery cycles until nothing is left to send.
func (e *env) deliverAll(t *testing.T) {
	t.Helper()
	if _, err := e.evidence.Integrate(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := delivery.New(e.plat)
	if err != nil {
		t.Fatal(err)
	}
	for {
		n, err := d.Cycle(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
}

// fetchBundle downloads the evidence bundle of a verification as the tenant, waiting for the log
// to integrate the entry.
func (e *env) fetchBundle(t *testing.T, id string) []byte {
	t.Helper()
	for i := 0; i < 100; i++ {
		req, _ := http.NewRequest("GET", e.api.URL+"/v1/evidence/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+e.apiKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return body
		case http.StatusServiceUnavailable:
			time.Sleep(50 * time.Millisecond)
		default:
			t.Fatalf("GET evidence %s: HTTP %d %s", id, resp.StatusCode, body)
		}
	}
	t.Fatalf("evidence of %s never integrated", id)
	return nil
}

// TestEvidence checks that every verification attempt, accepted or rejected, has its entry in
// the evidence log, that the tenant's bundle verifies offline with the log's public key alone,
// and that a flipped byte or another key is detected.
func TestEvidence(t *testing.T) {
	e := newEnv(t, "")
	taro := e.issue(testkit.Taro())
	v := e.verify(e.rp, taro, "identity").Verification
	bundle := e.fetchBundle(t, v.ID)
	got, err := evidence.VerifyBundle(bundle, e.evidence.PublicKey())
	if err != nil {
		t.Fatalf("bundle does not verify: %v", err)
	}
	if got.Leaf.ID != v.ID || got.Leaf.Decision != evidence.Accepted || got.Leaf.Purpose != "identity" || got.Leaf.Method != evidence.MethodCRL || got.Leaf.CRLNumber == "" {
		t.Errorf("leaf %+v", got.Leaf.Header)
	}
	if got.Personal == nil || got.Personal.Subject != v.Sub || got.Personal.Facts["address"] != v.Facts["address"] || len(got.Personal.Certificate) == 0 || len(got.Personal.Signature) != 256 {
		t.Fatalf("disclosed personal data %+v", got.Personal)
	}
	// The certificate is kept once: sealed in the entry (the one the card holds), not also in
	// clear in the verification row.
	cf, err := jpki.LoadCardFile(taro.path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Personal.Certificate, cf.Sign.Cert) {
		t.Error("the bundle's certificate is not the one the card presented")
	}
	row, err := e.st.Verification(ctx, e.tenantID, v.ID)
	if err != nil || len(row.Cert) != 0 || len(row.RevocationEvidence) != 0 {
		t.Errorf("verification row keeps %d bytes of certificate, %d of OCSP response (%v); want none beside the evidence entry",
			len(row.Cert), len(row.RevocationEvidence), err)
	}
	// Another tenant cannot read it.
	req, _ := http.NewRequest("GET", e.api.URL+"/v1/evidence/"+v.ID, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bundle without API key: %v %v", resp.StatusCode, err)
	}
	// Any flipped byte, or another log's key, is detected.
	for _, i := range []int{0, len(bundle) / 3, len(bundle) / 2, len(bundle) - 2} {
		bad := bytes.Clone(bundle)
		bad[i] ^= 0x01
		if _, err := evidence.VerifyBundle(bad, e.evidence.PublicKey()); err == nil {
			t.Errorf("bundle with byte %d flipped verifies", i)
		}
	}
	other, _ := evidence.GenerateKeys(rand.Reader, evidence.DefaultOrigin)
	if _, err := evidence.VerifyBundle(bundle, other.Public); err == nil {
		t.Error("bundle verifies under another log's key")
	}
	// A rejected attempt has its entry too.
	s, _ := e.rp.CreateSession(ctx, client.SessionRequest{Purpose: "identity"})
	base, id, tok, _ := client.ParseHolderURL(s.HolderURL)
	_, err = client.New(base).Answer(ctx, id, tok, []byte("garbage"), []byte("sig"))
	p, ok := err.(*client.Problem)
	if !ok || p.VerificationID == "" {
		t.Fatalf("rejection: %v", err)
	}
	rej, err := evidence.VerifyBundle(e.fetchBundle(t, p.VerificationID), e.evidence.PublicKey())
	if err != nil || rej.Leaf.Decision != evidence.Rejected || rej.Leaf.Reason != "malformed-certificate" {
		t.Errorf("rejected entry %+v %v", rej, err)
	}
	// The public checkpoint covers both.
	resp, err := http.Get(e.api.URL + "/v1/evidence/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	note, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(note), evidence.DefaultOrigin+"\n") {
		t.Errorf("checkpoint %q", note)
	}
}
