package ticket

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/crypto/bcrypt"

	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/ticket/tickettest"
)

// TestGateManifest: the organiser downloads the signed manifest of their event over HTTP; it
// opens with the service's key, carries the sold ticket, the CA and CRL, and a gate built on it
// admits the buyer's rotating code offline, once; the lane's record syncs back. Another
// organiser's event, a service without a gate key, a failing CRL source and a tampered download
// are refused.
func TestGateManifest(t *testing.T) {
	w := newWorld(t, DialectSQLite, 1)
	gf := newGateFixture(t, w)
	simClk, crl, svcPub, gs, srv := gf.clk, gf.crl, gf.pub, gf.svc, gf.srv
	trustErr := &gf.trustErr
	today := simClk.Now().In(testkit.Epoch.Location()).Format(time.DateOnly)
	ev := w.event(EventRequest{Name: "TGC", Venue: "Yoyogi", Date: today, Identity: IdentityNone, MaxPerPerson: 2, Classes: []SeatClass{{Name: "S", Price: 1, Capacity: 5}}})
	a, _ := w.account("Taro")
	ts, err := w.s().Purchase(ctx, a, ev.ID, "S", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	_, org2Tok, _ := w.s().CreateOrganiser(ctx, "Other")
	path := "/api/organiser/events/" + ev.ID + "/gate-manifest"

	get := func(s *httptest.Server, tok string) (int, []byte) {
		t.Helper()
		st, _ := do(t, s, "GET", path, tok, "", "", nil)
		return st, nil
	}
	if st, _ := get(srv, org2Tok); st != 404 {
		t.Errorf("another organiser's event: HTTP %d, want 404", st)
	}
	plain := httptest.NewServer(w.s().Handler())
	defer plain.Close()
	if st, _ := get(plain, w.orgTk); st != 422 {
		t.Errorf("service without a gate key: HTTP %d, want 422", st)
	}
	*trustErr = context.DeadlineExceeded
	if st, _ := get(srv, w.orgTk); st != 502 {
		t.Errorf("CRL source down: HTTP %d, want 502", st)
	}
	*trustErr = nil

	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+w.orgTk)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("organiser's download: HTTP %d %s", resp.StatusCode, env)
	}
	m, err := manifest.Open(env, svcPub, ev.ID, simClk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tickets) != 1 || m.Tickets[0].ID != ts[0].ID || m.Tickets[0].Status != "valid" || m.Tickets[0].Day != today || m.RequireCard {
		t.Fatalf("manifest tickets = %+v", m.Tickets)
	}
	if !m.NotAfter.After(simClk.Now()) || m.NotAfter.After(crl.NextUpdate) {
		t.Errorf("not_after %v: want after now and no later than the CRL's nextUpdate %v", m.NotAfter, crl.NextUpdate)
	}
	if _, err := manifest.Open(bytes.Replace(env, []byte(`"payload":"`), []byte(`"payload":"A`), 1), svcPub, ev.ID, simClk.Now()); err == nil {
		t.Error("a tampered manifest opened")
	}
	if _, err := manifest.Open(env, svcPub, "evt_other", simClk.Now()); err == nil {
		t.Error("the manifest opened for another event")
	}

	_, gk, _ := ed25519.GenerateKey(rand.Reader)
	var journal bytes.Buffer
	g, err := gate.New(gate.Config{Manifest: m, GateID: "A", Lane: "1", Key: gk, Clock: simClk, Rand: rand.Reader, Journal: &journal})
	if err != nil {
		t.Fatal(err)
	}
	code, _, err := gs.Code(ctx, a, ts[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := g.Decide(gate.Presentation{Code: code}); !d.Admit {
		t.Fatalf("buyer's code: %+v, want ADMIT", d)
	}
	if d := g.Decide(gate.Presentation{Code: code}); d.Admit || d.Reason != gate.AlreadyEntered {
		t.Fatalf("second entry: %+v, want already-entered", d)
	}
	recs, err := gate.ReadJournal(&journal)
	if err != nil || len(recs) != 1 {
		t.Fatalf("journal: %v %d", err, len(recs))
	}
	if err := gs.RegisterGate(ctx, w.org, ev.ID, "A", g.PublicKey()); err != nil {
		t.Fatal(err)
	}
	rep, err := gs.GateSync(ctx, w.org, ev.ID, recs)
	if err != nil || rep.Stored != 1 || len(rep.Admissions) != 1 || rep.Admissions[0].Ticket != ts[0].ID {
		t.Fatalf("sync: %+v %v", rep, err)
	}
}

// gateFixture is a ticket service of a world's database that serves gate manifests: the J-LIS
// simulator's authentication CA and CRL as the trust, a fresh manifest key.
type gateFixture struct {
	sim      *jlis.Simulator
	clk      *clockwork.FakeClock
	crl      *jlis.CRLInfo
	pub      ed25519.PublicKey
	svc      *Service
	srv      *httptest.Server
	trustErr error
}

func newGateFixture(t *testing.T, w *world) *gateFixture {
	t.Helper()
	sim, simClk, _ := testkit.Simulator(t)
	simClk.Advance(time.Minute)
	crl, err := sim.CRL(context.Background(), "auth")
	if err != nil {
		t.Fatal(err)
	}
	crlDER, err := os.ReadFile(crl.Path)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := sim.CACertificate("auth")
	if err != nil {
		t.Fatal(err)
	}
	f := &gateFixture{sim: sim, clk: simClk, crl: crl}
	trust := func(context.Context) ([][]byte, [][]byte, error) {
		return [][]byte{ca.Raw}, [][]byte{crlDER}, f.trustErr
	}
	var key ed25519.PrivateKey
	f.pub, key, _ = ed25519.GenerateKey(rand.Reader)
	if f.svc, err = New(w.s().DB(), w.plat, []byte(strings.Repeat("k", 32)), WithClock(simClk), WithPasswordCost(bcrypt.MinCost), WithGate(key, trust, 30*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.svc.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// TestGateCardRegistration: after verifying their identity for an identity-grade event, the
// holder registers their card with a login verification; the manifest then commits to that
// card (the gate's HolderOf of its certificate) and requires it where the organiser asked. On a
// login-grade event the verification registers the card itself. Registering someone else's
// card, before verifying, on an event without identity, or for a companion is refused.
func TestGateCardRegistration(t *testing.T) {
	for _, dialect := range []string{DialectSQLite, DialectPostgres} {
		t.Run(dialect, func(t *testing.T) { gateCardRegistration(t, dialect) })
	}
}

func gateCardRegistration(t *testing.T, dialect string) {
	w := newWorld(t, dialect, 1)
	gf := newGateFixture(t, w)
	s := gf.svc
	today := gf.clk.Now().In(testkit.Epoch.Location()).Format(time.DateOnly)
	if _, err := s.CreateEvent(ctx, w.org, EventRequest{Name: "Open air", Venue: "Yoyogi", Date: today, Identity: IdentityNone, RequireCard: true, MaxPerPerson: 1,
		Classes: []SeatClass{{Name: "S", Price: 1, Capacity: 5}}}); ReasonOf(err) != "invalid-event" {
		t.Fatalf("require_card without identity: %v, want invalid-event", err)
	}
	ev := w.event(EventRequest{Name: "TGC", Venue: "Yoyogi", Date: today, Identity: IdentityFull, RequireCard: true, MaxPerPerson: 2, Classes: []SeatClass{{Name: "S", Price: 1, Capacity: 5}}})
	if !ev.RequireCard {
		t.Fatal("require_card not kept")
	}
	taroCard := testkit.Issue(t, gf.sim, testkit.Taro()).Card
	hanakoCard := testkit.Issue(t, gf.sim, testkit.Hanako()).Card
	a, tok := w.account("Taro")
	register := func(a *Account, sub string, cert []byte) (*Verification, error) {
		t.Helper()
		v, err := s.StartCardRegistration(ctx, a, ev.ID)
		if err != nil {
			return nil, err
		}
		if err := w.plat.AnswerCard(v.HolderURL, sub, cert); err != nil {
			t.Fatal(err)
		}
		return s.CompleteVerification(ctx, a, v.ID)
	}
	if _, err := register(a, taro().sub, taroCard.Auth.Cert); ReasonOf(err) != "identity-first" {
		t.Fatalf("registration before verifying: %v, want identity-first", err)
	}
	if _, err := w.verify(a, ev.ID, taro(), false); err != nil {
		t.Fatal(err)
	}
	ts, err := s.Purchase(ctx, a, ev.ID, "S", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	// Before the card is registered the ticket has no commitment.
	m := gf.manifest(t, w, ev.ID)
	if !m.RequireCard || m.Tickets[0].Holder != "" || !bytes.Equal(m.CardKey, tickettest.CardKey) {
		t.Fatalf("manifest before registration: require_card %v, holder %q, card key %x", m.RequireCard, m.Tickets[0].Holder, m.CardKey)
	}
	// Someone else's card on Taro's account: refused, nothing registered.
	if _, err := register(a, "sub-hanako", hanakoCard.Auth.Cert); ReasonOf(err) != "other-person" {
		t.Fatalf("another person's card: %v, want other-person", err)
	}
	v, err := register(a, taro().sub, taroCard.Auth.Cert)
	if err != nil || v.Status != "done" || !v.Eligible || v.Name != taro().name {
		t.Fatalf("registration: %+v %v", v, err)
	}
	m = gf.manifest(t, w, ev.ID)
	if len(m.Tickets) != 1 || m.Tickets[0].ID != ts[0].ID || m.Tickets[0].Holder == "" || m.Tickets[0].Holder != m.HolderOf(taroCard.Auth.Cert) {
		t.Fatalf("manifest after registration: %+v, want the commitment to Taro's card", m.Tickets)
	}
	if m.Tickets[0].Holder == m.HolderOf(hanakoCard.Auth.Cert) {
		t.Fatal("another card gives the holder's commitment")
	}
	// A fresh commit key per manifest: the same holder's commitment differs between downloads.
	if m2 := gf.manifest(t, w, ev.ID); m2.Tickets[0].Holder == m.Tickets[0].Holder {
		t.Error("two manifests carry the same commitment")
	}

	// Over HTTP: card and companion together is refused; an event without identity has no
	// card registration.
	plain := httptest.NewServer(w.s().Handler())
	defer plain.Close()
	if st, body := do(t, plain, "POST", "/api/events/"+ev.ID+"/verifications", tok, "application/json", `{"card":true,"companion":true}`, nil); st != 400 {
		t.Errorf("card for a companion: HTTP %d %s, want 400", st, body)
	}
	open := w.event(EventRequest{Name: "Free", Venue: "Yoyogi", Date: today, Identity: IdentityNone, MaxPerPerson: 1, Classes: []SeatClass{{Name: "S", Price: 1, Capacity: 5}}})
	if _, err := s.StartCardRegistration(ctx, a, open.ID); ReasonOf(err) != "no-card-registration" {
		t.Errorf("card registration on an event without identity: %v", err)
	}

	// A login-grade event: the verification itself registers the card.
	login := w.event(EventRequest{Name: "Club", Venue: "Shibuya", Date: today, Identity: IdentityLogin, RequireCard: true, MaxPerPerson: 1, Classes: []SeatClass{{Name: "S", Price: 1, Capacity: 5}}})
	b, _ := w.account("Hanako")
	lv, err := s.StartVerification(ctx, b, login.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.plat.AnswerCard(lv.HolderURL, "sub-hanako", hanakoCard.Auth.Cert); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteVerification(ctx, b, lv.ID); err != nil {
		t.Fatal(err)
	}
	b.Person = "sub-hanako"
	if _, err := s.Purchase(ctx, b, login.ID, "S", 1, ""); err != nil {
		t.Fatal(err)
	}
	if lm := gf.manifest(t, w, login.ID); len(lm.Tickets) != 1 || lm.Tickets[0].Holder != lm.HolderOf(hanakoCard.Auth.Cert) || !lm.RequireCard {
		t.Fatalf("login event's manifest: %+v", lm)
	}
}

// manifest downloads and opens the manifest of an event of the world's organiser.
func (f *gateFixture) manifest(t *testing.T, w *world, eventID string) *manifest.Manifest {
	t.Helper()
	env, err := f.svc.GateManifest(ctx, w.org, eventID)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Open(env, f.pub, eventID, f.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return m
}
