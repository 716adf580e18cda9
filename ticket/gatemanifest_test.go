package ticket

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"context"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/internal/testkit"
	"golang.org/x/crypto/bcrypt"
)

// TestGateManifest: the organiser downloads the signed manifest of their event over HTTP; it
// opens with the service's key, carries the sold ticket, the CA and CRL, and a gate built on it
// admits the buyer's rotating code offline, once; the lane's record syncs back. Another
// organiser's event, a service without a gate key, a failing CRL source and a tampered download
// are refused.
func TestGateManifest(t *testing.T) {
	w := newWorld(t, DialectSQLite, 1)
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
	var trustErr error
	trust := func(context.Context) ([][]byte, [][]byte, error) { return [][]byte{ca.Raw}, [][]byte{crlDER}, trustErr }
	svcPub, svcKey, _ := ed25519.GenerateKey(rand.Reader)
	gs, err := New(w.s().DB(), w.plat, []byte(strings.Repeat("k", 32)), WithClock(simClk), WithPasswordCost(bcrypt.MinCost), WithGate(svcKey, trust, 30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gs.Handler())
	defer srv.Close()
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
	trustErr = context.DeadlineExceeded
	if st, _ := get(srv, w.orgTk); st != 502 {
		t.Errorf("CRL source down: HTTP %d, want 502", st)
	}
	trustErr = nil

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
