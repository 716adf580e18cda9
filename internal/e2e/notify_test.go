package e2e

// Revocation notification end to end (証明書失効通知管理): the J-LIS simulator over HTTP, virtual
// cards, the platform on a real store, the HTTP API, the public client, the CRL fetcher wired to
// the notifier, the webhook deliverer and receivers that verify every signature.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/delivery"
	"github.com/mynagate/mynagate/internal/crlwriter"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/internal/wiring"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jlisapi"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/notify"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/reader"
	"github.com/mynagate/mynagate/revocation"
	"github.com/mynagate/mynagate/store"
	"github.com/mynagate/mynagate/store/storetest"
	"github.com/mynagate/mynagate/web"
)

var notifyMaster = bytes.Repeat([]byte{7}, 32)

// nenv is env with revocation notification: the fetcher feeds the notifier, a deliverer sends
// the outbox, and J-LIS's CRLs pass through a proxy that can tamper with them.
type nenv struct {
	*env
	proxy     *crlProxy
	srcs      []revocation.Source
	jc        *jlisapi.Client
	notifier  *notify.Notifier
	deliverer *delivery.Deliverer
	signCA    *x509.Certificate
}

func newNotifyEnv(t *testing.T, dsn string) *nenv {
	t.Helper()
	sim, clk, _ := testkit.Simulator(t)
	e := &env{t: t, clk: clk, sim: sim}
	n := &nenv{env: e, proxy: &crlProxy{inner: sim.Handler(), served: map[string][][]byte{}}}
	e.jlisSrv = httptest.NewServer(n.proxy)
	t.Cleanup(e.jlisSrv.Close)
	n.jc = jlisapi.New(e.jlisSrv.URL)
	cas, srcs, err := wiring.Trust(ctx, n.jc, e.jlisSrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	n.srcs, n.signCA = srcs, cas[0].Cert // sign comes first
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	e.evidence = testkit.EvidenceLog(t, st)
	var h http.Handler
	e.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.api.Close)
	var onUpdate revocation.UpdateFunc
	e.fetcher = revocation.NewFetcher(n.srcs, revocation.WithClock(clk), revocation.WithTempDir(t.TempDir()),
		revocation.WithOnUpdate(func(ctx context.Context, src revocation.Source, prev, next *revocation.Index) {
			onUpdate(ctx, src, prev, next)
		}))
	e.plat, err = platform.New(st, platform.WithClock(clk), platform.WithHolderBaseURL(e.api.URL), platform.WithPrivateWebhookTargets(), platform.WithMaster(notifyMaster), platform.WithCAs(cas...),
		platform.WithRevocation(wiring.Revocation{Checker: revocation.NewChecker(e.fetcher)}), platform.WithLinks(n.jc),
		platform.WithEvidence(e.evidence))
	if err != nil {
		t.Fatal(err)
	}
	if n.notifier, err = notify.New(e.plat, notify.WithBasic4Source(n.jc)); err != nil {
		t.Fatal(err)
	}
	onUpdate = wiring.OnCRLUpdate(n.notifier)
	if err := e.fetcher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if n.deliverer, err = delivery.New(e.plat, delivery.WithRetryPolicy(delivery.RetryPolicy{MaxAttempts: 5, Base: 10 * time.Second, Max: time.Hour})); err != nil {
		t.Fatal(err)
	}
	h = web.New(e.plat)
	e.rp, e.tenantID = e.tenant("Example Bank", platform.AllFacts)
	e.rp2, _ = e.tenant("Example Tickets", []platform.Fact{platform.FactBirth})
	return n
}

// deliveries counts the deliveries of both tenants (every event they get has one, as both have
// an endpoint).
func (n *nenv) deliveries() int {
	n.t.Helper()
	total := 0
	for _, rp := range []*client.Client{n.rp, n.rp2} {
		ds, err := rp.Deliveries(ctx, client.DeliveryQuery{})
		if err != nil {
			n.t.Fatal(err)
		}
		total += len(ds)
	}
	return total
}

// integrate puts the verifications recorded so far into the evidence tree, after which their
// events are dispatched.
func (n *nenv) integrate() {
	n.t.Helper()
	if _, err := n.evidence.Integrate(ctx); err != nil {
		n.t.Fatal(err)
	}
}

// drain integrates the evidence and delivers until nothing is due.
func (n *nenv) drain() {
	n.t.Helper()
	n.integrate()
	for range 1000 {
		k, err := n.deliverer.Cycle(ctx)
		if err != nil {
			n.t.Fatal(err)
		}
		if k == 0 {
			return
		}
	}
	n.t.Fatal("deliveries do not settle")
}

// receiver registers a webhook endpoint for the tenant of rp, through the API, and returns the
// receiver behind it.
func (n *nenv) receiver(rp *client.Client) *testkit.HookReceiver {
	n.t.Helper()
	r := testkit.NewHookReceiver(n.t, n.clk)
	_, secret, err := rp.CreateEndpoint(ctx, client.EndpointRequest{URL: r.URL() + "/mynagate", Description: "test"})
	if err != nil {
		n.t.Fatal(err)
	}
	r.SetSecrets(secret)
	return r
}

// verifyWith runs an identity session whose holder grants consent (none when empty).
func (n *nenv) verifyWith(rp *client.Client, h *holder, consent ...string) *client.Verification {
	n.t.Helper()
	s, err := rp.CreateSession(ctx, client.SessionRequest{Purpose: "identity"})
	if err != nil {
		n.t.Fatal(err)
	}
	if err := answerWith(h, s, consent); err != nil {
		n.t.Fatalf("answer: %v", err)
	}
	done, err := rp.Session(ctx, s.ID)
	if err != nil || done.Verification == nil || done.Verification.Decision != "accepted" {
		n.t.Fatalf("session %+v %v", done, err)
	}
	return done.Verification
}

// answerWith signs a session's challenge with the holder's card (the signing key for identity,
// the authentication key for login), grants consent with it, and posts the answer; it returns
// the first error, of the holder's POST or before it (nil when accepted).
func answerWith(h *holder, s *client.Session, consent []string) error {
	base, id, tok, err := client.ParseHolderURL(s.HolderURL)
	if err != nil {
		return err
	}
	hc := client.New(base)
	// As the holder's app does: the client checks the challenge before the card signs, and
	// the key is taken from the checked challenge.
	now := s.CreatedAt // the platform's clock when it made the session
	if now.IsZero() {
		now = s.ExpiresAt.Add(-time.Second) // callers that know only the holder URL
	}
	cc, err := hc.HolderChallenge(ctx, client.ChallengeCheck{HolderURL: s.HolderURL, Now: now})
	if err != nil {
		return err
	}
	f := cc.Fields
	if f.Purpose == "chip_reading" {
		d, err := h.reader().ReadSupportAPData(ctx, jlis.DefaultSupportPIN)
		if err != nil {
			return err
		}
		_, err = hc.AnswerCardData(ctx, cc, client.CardData{Basic4: d.Basic4, Signature: d.Signature, Certificate: d.Cert})
		return err
	}
	var signer *reader.Signer
	if f.Purpose == "identity" {
		signer, err = h.reader().SignSigner(ctx, jlis.DefaultSignPassword)
	} else {
		signer, err = h.reader().AuthSigner(ctx, jlis.DefaultAuthPIN)
	}
	if err != nil {
		return err
	}
	sig, err := cc.Sign(signer)
	if err != nil {
		return err
	}
	_, err = hc.AnswerWithConsent(ctx, id, tok, signer.Certificate().Raw, sig, consent)
	return err
}

// move records a change of address for a holder: its signing certificate is revoked
// (affiliationChanged) and, as in production, nothing replaces it until the holder applies
// (reissueSign). It returns the revoked certificate's serial.
func (n *nenv) move(h *holder, address string) string {
	n.t.Helper()
	n.clk.Advance(24 * time.Hour)
	cf, err := jpki.LoadCardFile(h.path)
	if err != nil {
		n.t.Fatal(err)
	}
	moved := cf.Basic4
	moved.Address = address
	next, err := n.sim.Change(ctx, cf, moved, jlis.CauseMove)
	if err != nil {
		n.t.Fatal(err)
	}
	if err := next.Save(h.path); err != nil {
		n.t.Fatal(err)
	}
	return serialOf(n.t, cf.Sign.Cert)
}

// reissueSign has the holder apply for a new signing certificate at the counter (new key, new
// password); it returns the new certificate's serial.
func (n *nenv) reissueSign(h *holder, password string) string {
	n.t.Helper()
	cf, err := jpki.LoadCardFile(h.path)
	if err != nil {
		n.t.Fatal(err)
	}
	next, err := n.sim.ReissueSign(ctx, cf, password)
	if err != nil {
		n.t.Fatal(err)
	}
	if err := next.Save(h.path); err != nil {
		n.t.Fatal(err)
	}
	return serialOf(n.t, next.Sign.Cert)
}

func serialOf(t *testing.T, der []byte) string {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return platform.SerialHex(c.SerialNumber)
}

type revokedData struct {
	Sub         string `json:"sub"`
	Reason      string `json:"reason"`
	ReasonCode  int    `json:"reason_code"`
	Certificate struct {
		Issuer string `json:"issuer_key_id"`
		Serial string `json:"serial"`
	} `json:"certificate"`
	RevokedAt time.Time `json:"revoked_at"`
}

type basic4Data struct {
	Sub      string          `json:"sub"`
	Changed  []string        `json:"changed"`
	Facts    json.RawMessage `json:"facts"` // never sent: the event is thin
	Deceased bool            `json:"deceased"`
}

func decodeData[T any](t *testing.T, m testkit.HookMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(m.Data, &v); err != nil {
		t.Fatalf("data of %s: %v", m.Type, err)
	}
	return v
}

func types(ms []testkit.HookMessage) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Type)
	}
	return out
}

// TestRevocationNotifiedEndToEnd: a move reaches the consenting tenant as a revocation and the
// new address, the other tenant as the revocation only; a lost card as revocations only; and a
// restart that reads the same CRLs again sends nothing twice.
func TestRevocationNotifiedEndToEnd(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			n := newNotifyEnv(t, storetest.DSN(t, d))
			bank, tickets := n.receiver(n.rp), n.receiver(n.rp2)
			taro, hanako := n.issue(testkit.Taro()), n.issue(testkit.Hanako())
			taroAtBank := n.verifyWith(n.rp, taro, platform.ScopeBasic4Updates)
			taroAtTickets := n.verifyWith(n.rp2, taro)
			hanakoAtBank := n.verifyWith(n.rp, hanako, platform.ScopeBasic4Updates)
			n.drain()
			if got := types(bank.Since(0)); !slices.Equal(got, []string{"verification.completed", "verification.completed"}) {
				t.Fatalf("bank got %v", got)
			}
			if w, err := n.rp.Watch(ctx, taroAtBank.Sub); err != nil || !w.Watching || !slices.Equal(w.Consents, []string{"basic4_updates"}) {
				t.Fatalf("bank's watch on taro: %+v %v", w, err)
			}
			if w, err := n.rp2.Watch(ctx, taroAtTickets.Sub); err != nil || !w.Watching || len(w.Consents) != 0 {
				t.Fatalf("tickets' watch on taro: %+v %v", w, err)
			}

			// A move, then one fetch cycle.
			const osaka = "大阪府大阪市北区梅田１丁目１番"
			bankSeen, ticketsSeen := bank.Count(), tickets.Count()
			oldSerial := n.move(taro, osaka)
			if err := n.fetcher.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			n.drain()
			got := bank.Since(bankSeen)
			if !slices.Equal(types(got), []string{"certificate.revoked", "person.basic4_updated"}) {
				t.Fatalf("after the move the bank got %v, want the revocation, then the update", types(got))
			}
			rev := decodeData[revokedData](t, got[0])
			if rev.Sub != taroAtBank.Sub || rev.Reason != "affiliationChanged" || rev.ReasonCode != 3 || rev.Certificate.Serial != oldSerial ||
				rev.Certificate.Issuer != platform.CAKey(n.signCA) || rev.RevokedAt.IsZero() {
				t.Errorf("certificate.revoked %+v", rev)
			}
			// The update is thin: it names the facts, the bank reads their values over its API.
			upd := decodeData[basic4Data](t, got[1])
			if upd.Sub != taroAtBank.Sub || !slices.Equal(upd.Changed, []string{"address", "birthdate", "name", "sex"}) || upd.Facts != nil || upd.Deceased ||
				bytes.Contains(got[1].Body, []byte(osaka)) {
				t.Errorf("person.basic4_updated %+v", upd)
			}
			if f, err := n.rp.LatestFacts(ctx, upd.Sub); err != nil || f.Facts["address"] != osaka || f.Facts["name"] != "山田　太郎" || f.Sub != upd.Sub {
				t.Errorf("the bank's latest facts of taro: %+v, %v", f, err)
			}
			// A tenant without the holder's consent cannot read them, nor can another tenant.
			if _, err := n.rp2.LatestFacts(ctx, taroAtTickets.Sub); !isProblem(err, "consent-required") {
				t.Errorf("latest facts without consent: %v", err)
			}
			if _, err := n.rp2.LatestFacts(ctx, taroAtBank.Sub); !isProblem(err, "not-found") {
				t.Errorf("latest facts of another tenant's sub: %v", err)
			}
			got = tickets.Since(ticketsSeen)
			if !slices.Equal(types(got), []string{"certificate.revoked"}) {
				t.Fatalf("after the move the tenant without consent got %v, want only the revocation", types(got))
			}
			if rev := decodeData[revokedData](t, got[0]); rev.Sub != taroAtTickets.Sub || rev.Reason != "affiliationChanged" {
				t.Errorf("tickets' certificate.revoked %+v", rev)
			}
			// No successor exists: the card's signing certificate is revoked, so identity
			// verification with it is refused until the holder applies for a new one.
			s, err := n.rp.CreateSession(ctx, client.SessionRequest{Purpose: "identity"})
			if err != nil {
				t.Fatal(err)
			}
			if err := answerWith(taro, s, nil); err == nil {
				t.Fatal("identity verification with the revoked signing certificate was accepted")
			} else {
				expectProblem(t, err, "cert-revoked")
			}
			// Weeks later the holder applies at the counter: the new certificate is linked from
			// the revoked one, and verification with it finds the same person and pairwise id.
			n.clk.Advance(21 * 24 * time.Hour)
			newSerial := n.reissueSign(taro, jlis.DefaultSignPassword) // the holder sets a password again (answerWith uses this one)
			if again := n.verifyWith(n.rp, taro); again.Sub != taroAtBank.Sub || again.Facts["address"] != osaka {
				t.Errorf("after the re-issue: %+v, want sub %s and the new address", again, taroAtBank.Sub)
			}
			if again := n.verifyWith(n.rp2, taro); again.Sub != taroAtTickets.Sub {
				t.Errorf("second tenant after the re-issue: sub %s, want %s", again.Sub, taroAtTickets.Sub)
			}
			if _, err := n.st.PersonByCert(ctx, platform.CAKey(n.signCA), newSerial); err != nil {
				t.Errorf("the re-issued certificate is not linked to the person: %v", err)
			}

			// A lost card: both certificates revoked (keyCompromise), no basic-4 update.
			bankSeen = bank.Count()
			cf, err := jpki.LoadCardFile(hanako.path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := n.sim.RevokeCard(ctx, cf, jlis.CauseLost, time.Time{}); err != nil {
				t.Fatal(err)
			}
			n.clk.Advance(time.Minute)
			if err := n.fetcher.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			n.drain()
			// (The verification.completed of taro's new verification belongs to no person's order,
			// so it may come before or after.)
			got = bank.Since(bankSeen, "certificate.revoked", "person.basic4_updated")
			if !slices.Equal(types(got), []string{"certificate.revoked", "certificate.revoked"}) {
				t.Fatalf("after the lost card the bank got %v", types(got))
			}
			for _, m := range got {
				if rev := decodeData[revokedData](t, m); rev.Sub != hanakoAtBank.Sub || rev.Reason != "keyCompromise" {
					t.Errorf("lost card: %+v", rev)
				}
			}

			// A restart: a new fetcher and notifier read the current CRLs with nothing to diff
			// against, check every watched certificate, and find nothing new.
			n.drain()
			before := n.deliveries()
			restarted, err := notify.New(n.plat, notify.WithBasic4Source(n.jc))
			if err != nil {
				t.Fatal(err)
			}
			f2 := revocation.NewFetcher(n.srcs, revocation.WithClock(n.clk), revocation.WithTempDir(t.TempDir()), revocation.WithOnUpdate(wiring.OnCRLUpdate(restarted)))
			if err := f2.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			bankSeen = bank.Count()
			n.drain()
			if after := n.deliveries(); after != before {
				t.Errorf("re-reading the CRLs after a restart made %d more deliveries", after-before)
			}
			if extra := bank.Since(bankSeen); len(extra) != 0 || bank.Refused() != 0 || tickets.Refused() != 0 {
				t.Errorf("after the restart: %v more messages, %d+%d refused", types(extra), bank.Refused(), tickets.Refused())
			}
		})
	}
}

// TestConsentRevokedAndWatchStopped: the holder revokes a consent with a signed request, a tenant
// stops watching, and the next move reaches each accordingly.
func TestConsentRevokedAndWatchStopped(t *testing.T) {
	n := newNotifyEnv(t, storetest.DSN(t, store.DialectSQLite))
	bank, tickets := n.receiver(n.rp), n.receiver(n.rp2)
	taro := n.issue(testkit.Taro())
	atBank := n.verifyWith(n.rp, taro, platform.ScopeBasic4Updates)
	atTickets := n.verifyWith(n.rp2, taro)

	// Consent only goes with an identity verification, and only known scopes.
	s, _ := n.rp.CreateSession(ctx, client.SessionRequest{Purpose: "login"})
	expectProblem(t, answerWith(taro, s, []string{platform.ScopeBasic4Updates}), "invalid-request")
	s, _ = n.rp.CreateSession(ctx, client.SessionRequest{Purpose: "identity"})
	expectProblem(t, answerWith(taro, s, []string{"everything"}), "invalid-request")

	// The holder lists and revokes with the card's authentication key.
	auth, err := taro.reader().AuthSigner(ctx, jlis.DefaultAuthPIN)
	if err != nil {
		t.Fatal(err)
	}
	hc := client.New(n.api.URL)
	cs, err := hc.Consents(ctx, checkedConsentCh(hc, n.clk.Now()), auth.Certificate().Raw, auth)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].TenantID != n.tenantID || cs[0].TenantName != "Example Bank" || cs[0].Scope != "basic4_updates" || cs[0].RevokedAt != nil {
		t.Fatalf("consents %+v", cs)
	}
	// A signature made for one request does not serve another: the signed bytes name the action,
	// the tenant and the scope.
	var ch web.HolderConsentChallenge
	postJSON(t, n.api.URL+"/v1/holder/consents/challenge", nil, &ch, http.StatusOK)
	listSig, _ := signRaw(auth, client.HolderMessage("consents.list", "", "", ch.Challenge))
	postJSON(t, n.api.URL+"/v1/holder/consents/revoke", web.HolderProofRequest{Certificate: auth.Certificate().Raw, Signature: listSig,
		Challenge: ch.Challenge, TenantID: n.tenantID, Scope: "basic4_updates"}, nil, http.StatusUnprocessableEntity)
	forged := append([]byte(nil), ch.Challenge...)
	forged[3] ^= 1
	postJSON(t, n.api.URL+"/v1/holder/consents/query", web.HolderProofRequest{Certificate: auth.Certificate().Raw, Signature: listSig, Challenge: forged}, nil, http.StatusBadRequest)
	revoked, err := hc.RevokeConsent(ctx, checkedConsentCh(hc, n.clk.Now()), auth.Certificate().Raw, auth, n.tenantID, "basic4_updates")
	if err != nil || revoked != 1 {
		t.Fatalf("RevokeConsent = %d, %v", revoked, err)
	}
	if again, err := hc.RevokeConsent(ctx, checkedConsentCh(hc, n.clk.Now()), auth.Certificate().Raw, auth, n.tenantID, "basic4_updates"); err != nil || again != 0 {
		t.Fatalf("revoking twice = %d, %v", again, err)
	}
	if cs, _ := hc.Consents(ctx, checkedConsentCh(hc, n.clk.Now()), auth.Certificate().Raw, auth); len(cs) != 1 || cs[0].RevokedAt == nil {
		t.Fatalf("consents after revocation %+v", cs)
	}
	// The second tenant stops watching.
	if err := n.rp2.StopWatching(ctx, atTickets.Sub); err != nil {
		t.Fatal(err)
	}
	if w, err := n.rp2.Watch(ctx, atTickets.Sub); err != nil || w.Watching {
		t.Fatalf("after stopping: %+v %v", w, err)
	}
	err = n.rp2.StopWatching(ctx, "not-a-sub")
	expectProblem(t, err, "not-found")
	n.drain()
	bankSeen, ticketsSeen := bank.Count(), tickets.Count()
	n.move(taro, "大阪府大阪市北区梅田１丁目１番")
	if err := n.fetcher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	n.drain()
	if got := types(bank.Since(bankSeen)); !slices.Equal(got, []string{"certificate.revoked"}) {
		t.Errorf("after the consent was revoked the bank got %v, want only the revocation", got)
	}
	if got := tickets.Since(ticketsSeen); len(got) != 0 {
		t.Errorf("a tenant that stopped watching got %v", types(got))
	}
	if w, _ := n.rp.Watch(ctx, atBank.Sub); len(w.Consents) != 0 {
		t.Errorf("bank's watch still shows consents %v", w.Consents)
	}
}

func postJSON(t *testing.T, url string, body, out any, want int) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s: HTTP %d (%s), want %d", url, resp.StatusCode, data, want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatal(err)
		}
	}
}

// crlProxy passes J-LIS through, except that CRLs can be replaced by tampered ones.
type crlProxy struct {
	inner http.Handler

	mu     sync.Mutex
	tamper func(path string, body []byte) []byte // nil: pass through
	served map[string][][]byte                   // CRL bodies served, by path
}

func (p *crlProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/crl/") {
		p.inner.ServeHTTP(w, r)
		return
	}
	p.mu.Lock()
	tamper := p.tamper
	p.mu.Unlock()
	if tamper != nil {
		r = r.Clone(r.Context())
		r.Header.Del("If-None-Match")
		r.Header.Del("If-Modified-Since")
	}
	rec := httptest.NewRecorder()
	p.inner.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if rec.Code == http.StatusOK {
		p.mu.Lock()
		p.served[r.URL.Path] = append(p.served[r.URL.Path], bytes.Clone(body))
		p.mu.Unlock()
		if tamper != nil {
			body = tamper(r.URL.Path, body)
		}
	}
	for k, v := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(rec.Code)
	w.Write(body)
}

func (p *crlProxy) set(f func(path string, body []byte) []byte) {
	p.mu.Lock()
	p.tamper = f
	p.mu.Unlock()
}

// TestRefusedCRLsEmitNothing: a rolled-back, wrongly signed, truncated or foreign CRL is refused,
// the previous index stays in force, and nothing is noticed; the genuine CRL then is.
func TestRefusedCRLsEmitNothing(t *testing.T) {
	n := newNotifyEnv(t, storetest.DSN(t, store.DialectSQLite))
	bank := n.receiver(n.rp)
	taro, hanako := n.issue(testkit.Taro()), n.issue(testkit.Hanako())
	n.verifyWith(n.rp, taro, platform.ScopeBasic4Updates)
	n.verifyWith(n.rp, hanako)
	n.drain()
	const signCRL = "/crl/sign.crl"
	old := n.proxy.served[signCRL][len(n.proxy.served[signCRL])-1] // the CRL in force now
	// A newer CRL (hanako's card lost) replaces it.
	cf, _ := jpki.LoadCardFile(hanako.path)
	if _, err := n.sim.RevokeCard(ctx, cf, jlis.CauseLost, time.Time{}); err != nil {
		t.Fatal(err)
	}
	n.clk.Advance(time.Minute)
	if err := n.fetcher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	n.drain()
	// A lookalike issuer (J-LIS's name, another key identifier) publishes a CRL with a higher
	// number that lists taro's signing certificate.
	foreign := lookalikeCRL(t, n.signCA, n.clk.Now(), serialOf(t, mustCard(t, taro.path).Sign.Cert))
	st, _ := n.fetcher.State("sign")
	inForce := st.Index.Metadata().Number.Int64()
	deliveries := n.deliveries()
	seen := bank.Count()
	n.move(taro, "大阪府大阪市北区梅田１丁目１番")
	onlySign := func(f func([]byte) []byte) func(string, []byte) []byte {
		return func(path string, b []byte) []byte {
			if path != signCRL {
				return b
			}
			return f(b)
		}
	}
	tests := []struct {
		name    string
		tamper  func([]byte) []byte
		reasons []revocation.Reason
	}{
		{"rolled back", func([]byte) []byte { return old }, []revocation.Reason{revocation.ReasonNumberWentBackwards}},
		{"wrongly signed", func(b []byte) []byte { b = bytes.Clone(b); b[len(b)-7] ^= 0x40; return b }, []revocation.Reason{revocation.ReasonBadSignature}},
		{"truncated", func(b []byte) []byte { return b[:len(b)*2/3] }, []revocation.Reason{revocation.ReasonMalformed}},
		{"foreign CA", func([]byte) []byte { return foreign }, []revocation.Reason{revocation.ReasonWrongIssuer, revocation.ReasonBadSignature}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n.proxy.set(onlySign(tt.tamper))
			err := n.fetcher.Refresh(ctx)
			var re *revocation.Error
			if !errors.As(err, &re) || !slices.Contains(tt.reasons, re.Reason) {
				t.Fatalf("Refresh = %v, want a refusal for %v", err, tt.reasons)
			}
			st, _ := n.fetcher.State("sign")
			if got := st.Index.Metadata().Number.Int64(); got != inForce {
				t.Errorf("CRL in force is number %d, want %d", got, inForce)
			}
			n.drain()
			if got := n.deliveries(); got != deliveries {
				t.Errorf("a refused CRL made %d deliveries", got-deliveries)
			}
			if got := bank.Since(seen); len(got) != 0 {
				t.Errorf("a refused CRL sent %v", types(got))
			}
		})
	}
	n.proxy.set(nil)
	if err := n.fetcher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	n.drain()
	if got := types(bank.Since(seen)); !slices.Equal(got, []string{"certificate.revoked", "person.basic4_updated"}) {
		t.Errorf("the genuine CRL brought %v", got)
	}
}

func mustCard(t *testing.T, path string) *jpki.CardFile {
	t.Helper()
	cf, err := jpki.LoadCardFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

// lookalikeCRL writes a CRL under ca's name but another key and key identifier.
func lookalikeCRL(t *testing.T, ca *x509.Certificate, now time.Time, serialHex string) []byte {
	t.Helper()
	key, err := testkit.Key()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(99), RawSubject: ca.RawSubject, SubjectKeyId: []byte("lookalike"),
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := new(big.Int).SetString(serialHex, 16)
	var buf bytes.Buffer
	_, err = crlwriter.Write(&buf, crlwriter.Template{Issuer: issuer, Number: big.NewInt(1000), ThisUpdate: now, NextUpdate: now.Add(24 * time.Hour)},
		func(yield func(crlwriter.Entry) error) error {
			return yield(crlwriter.Entry{Serial: serial, RevokedAt: now, Reason: 3})
		}, key)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReceiverOutage: a receiver that is down gets every event once it is back, each with the
// webhook-id of its first attempt; a redelivery asked through the API carries it too.
func TestReceiverOutage(t *testing.T) {
	n := newNotifyEnv(t, storetest.DSN(t, store.DialectSQLite))
	bank := n.receiver(n.rp)
	taro := n.issue(testkit.Taro())
	n.verifyWith(n.rp, taro, platform.ScopeBasic4Updates)
	n.drain()
	seen := bank.Count()
	bank.SetDown(true)
	n.move(taro, "大阪府大阪市北区梅田１丁目１番")
	if err := n.fetcher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for range 3 { // down for three attempts, over about a minute and a half
		n.drain()
		n.clk.Advance(time.Minute)
	}
	// The revocation was tried and failed; the update waits behind it, so the two arrive in order.
	ds, err := n.rp.Deliveries(ctx, client.DeliveryQuery{State: "pending"})
	if err != nil || len(ds) != 2 {
		t.Fatalf("pending deliveries while down: %+v %v", ds, err)
	}
	if ds[1].EventType != "certificate.revoked" || ds[1].Attempts != 3 || ds[1].LastStatus != http.StatusServiceUnavailable ||
		ds[0].EventType != "person.basic4_updated" || ds[0].Attempts != 0 {
		t.Fatalf("while down: %+v", ds)
	}
	bank.SetDown(false)
	n.clk.Advance(time.Hour)
	n.drain()
	got := bank.Since(seen)
	if !slices.Equal(types(got), []string{"certificate.revoked", "person.basic4_updated"}) {
		t.Fatalf("after the outage: %v", types(got))
	}
	if n := bank.Attempts()[got[0].ID]; n != 4 {
		t.Errorf("the revocation was attempted %d times under its id, want 3 failures and the delivery", n)
	}
	if n := bank.Attempts()[got[1].ID]; n != 1 {
		t.Errorf("the update was attempted %d times, want once, after the revocation got through", n)
	}
	queued, err := n.rp.RedeliverEvent(ctx, got[0].ID, "")
	if err != nil || queued != 1 {
		t.Fatalf("RedeliverEvent = %d, %v", queued, err)
	}
	n.drain()
	if again := bank.Since(seen + 2); len(again) != 1 || again[0].ID != got[0].ID {
		t.Errorf("redelivery: %+v", again)
	}
}

// The kill test: a delivery worker in a child process (this test binary, re-run) is killed with
// SIGKILL while its attempts are in flight; a new worker then delivers every event, each under
// the id it had.
const childEnv = "MYNAGATE_NOTIFY_CHILD_DSN"

func TestDeliveryWorkerChild(t *testing.T) {
	dsn := os.Getenv(childEnv)
	if dsn == "" {
		t.Skip("run by TestDeliveryWorkerKilled in a child process")
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	p, err := platform.New(st, platform.WithPrivateWebhookTargets(), platform.WithMaster(notifyMaster), platform.WithCAs(platform.CA{Name: "sign", Cert: childCA(t), Purpose: platform.PurposeIdentity}),
		platform.WithRevocation(wiring.Revocation{}), platform.WithLinks(jlisapi.New("http://127.0.0.1:1")),
		platform.WithEvidence(testkit.EvidenceLog(t, st)))
	if err != nil {
		t.Fatal(err)
	}
	d, err := delivery.New(p, delivery.WithWorkers(2, 2), delivery.WithPoll(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("child delivering")
	d.Run(context.Background()) // until killed
}

// childCA is any CA certificate with a key identifier: the child only delivers.
func childCA(t *testing.T) *x509.Certificate {
	der, err := hex.DecodeString(os.Getenv(childEnv + "_CA"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeliveryWorkerKilled(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			dsn := storetest.DSN(t, d)
			n := newNotifyEnv(t, dsn)
			bank := n.receiver(n.rp)
			for _, b4 := range []jpki.Basic4{testkit.Taro(), testkit.Hanako()} {
				h := n.issue(b4)
				n.verifyWith(n.rp, h, platform.ScopeBasic4Updates)
				n.verifyWith(n.rp, h)
			}
			n.integrate()
			var want []string
			evs, err := n.rp.Deliveries(ctx, client.DeliveryQuery{})
			if err != nil || len(evs) != 0 {
				t.Fatalf("deliveries before any worker ran: %v %v", evs, err)
			}
			// The receiver holds every request, so the child's attempts stay in flight.
			hold := make(chan struct{})
			bank.Hold(hold)

			cmd := exec.Command(os.Args[0], "-test.run=^TestDeliveryWorkerChild$", "-test.v")
			cmd.Env = append(os.Environ(), childEnv+"="+dsn, childEnv+"_CA="+hex.EncodeToString(n.signCA.Raw))
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			deadline := time.Now().Add(60 * time.Second)
			for {
				if bank.Holding() >= 4 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the child never had 4 attempts in flight; its output:\n%s", out.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			bank.Hold(nil)
			inFlight := map[string]bool{}
			for id := range bank.Attempts() {
				inFlight[id] = true
			}
			// The held handlers of the dead child's requests are left to end with their
			// connections (never released, so none of them is counted as received).

			// The dead worker's deliveries stay claimed until their lease ends (the child ran on
			// the real clock); a new worker on a clock past it delivers everything.
			ds, err := n.rp.Deliveries(ctx, client.DeliveryQuery{})
			if err != nil {
				t.Fatal(err)
			}
			for _, dl := range ds {
				want = append(want, dl.EventID)
				if dl.State == "delivered" {
					t.Errorf("%s delivered although the receiver held every request", dl.EventID)
				}
			}
			if len(want) != 4 {
				t.Fatalf("%d deliveries, want 4", len(want))
			}
			if d := time.Until(n.clk.Now()); d < 2*time.Minute {
				n.clk.Advance(2*time.Minute - d)
			}
			n.drain()
			got := map[string]int{}
			for _, m := range bank.Since(0) {
				got[m.ID]++
			}
			for _, id := range want {
				if got[id] != 1 {
					t.Errorf("event %s delivered %d times", id, got[id])
				}
				if !inFlight[id] {
					t.Errorf("event %s was not among the attempts in flight when the child died", id)
				}
				if bank.Attempts()[id] != 2 {
					t.Errorf("event %s: %d attempts under its id, want the killed one and the last", id, bank.Attempts()[id])
				}
			}
			if bank.Refused() != 0 {
				t.Errorf("%d messages refused", bank.Refused())
			}
		})
	}
}
