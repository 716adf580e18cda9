package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/gate"
	"github.com/mynagate/mynagate/gate/manifest"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jlis"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/ticket"
)

// TestGateCardTapThroughTheTicketService: the holder commitment from end to end. Holders of an
// identity-grade event that requires the card verify with the platform, buy, and register their
// card (a login verification whose card_id the ticket service keeps); one of them loses his
// card (J-LIS revokes it; the platform's webhook reaches the service). The gate downloads the
// manifest over HTTP from the ticket service, with the J-LIS CA and CRL, and decides offline:
// the holder's card with his code ADMIT; another person's card with his code not-the-holder;
// the code without a card card-required; the same card again already-entered; the lost card
// certificate-revoked. The lane's records then sync back to the service.
func TestGateCardTapThroughTheTicketService(t *testing.T) {
	n := newNotifyEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "platform.db"))
	// The gate's trust: J-LIS's authentication CA and its current CRL.
	trust := func(ctx2 context.Context) ([][]byte, [][]byte, error) {
		ca, err := n.sim.CACertificate("auth")
		if err != nil {
			return nil, nil, err
		}
		crl, err := n.sim.CRL(ctx2, "auth")
		if err != nil {
			return nil, nil, err
		}
		der, err := os.ReadFile(crl.Path)
		return [][]byte{ca.Raw}, [][]byte{der}, err
	}
	svcPub, svcKey, _ := ed25519.GenerateKey(rand.Reader)
	svc, srvURL, _ := ticketService(t, n, ticket.WithGate(svcKey, trust, 12*time.Hour))

	org, orgTok, _ := svc.CreateOrganiser(ctx, "W TOKYO")
	today := n.clk.Now().In(jpki.JST).Format(time.DateOnly)
	ev, err := svc.CreateEvent(ctx, org, ticket.EventRequest{Name: "TGC", Venue: "Yoyogi", Date: today, Identity: ticket.IdentityFull, RequireCard: true,
		MaxPerPerson: 1, Classes: []ticket.SeatClass{{Name: "S", Price: 9000, Capacity: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(a *ticket.Account, v *ticket.Verification, hd *holder) *ticket.Verification {
		t.Helper()
		if err := answerWith(hd, &client.Session{HolderURL: v.HolderURL, CreatedAt: n.clk.Now()}, nil); err != nil {
			t.Fatal(err)
		}
		done, err := svc.CompleteVerification(ctx, a, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		return done
	}
	// buy: an account, identity verification, one ticket, the card registered.
	buy := func(email string, hd *holder) (*ticket.Account, string) {
		t.Helper()
		a, err := svc.CreateAccount(ctx, email, "correct horse", email)
		if err != nil {
			t.Fatal(err)
		}
		v, err := svc.StartVerification(ctx, a, ev.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		if done := verify(a, v, hd); !done.Eligible {
			t.Fatalf("%s: %+v", email, done)
		}
		ts, err := svc.Purchase(ctx, a, ev.ID, "S", 1, "")
		if err != nil {
			t.Fatal(err)
		}
		reg, err := svc.StartCardRegistration(ctx, a, ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		if done := verify(a, reg, hd); done.Status != "done" {
			t.Fatalf("card registration of %s: %+v", email, done)
		}
		return a, ts[0].ID
	}
	taro, hanako := n.issue(testkit.Taro()), n.issue(testkit.Hanako())
	jiro := n.issue(jpki.Basic4{Name: "山田　次郎", Birth: jpki.Date{Year: 1990, Month: 7, Day: 7}, Sex: jpki.SexMale, Address: "東京都渋谷区神南１丁目"})
	taroA, taroT := buy("taro@example.jp", taro)
	_, _ = buy("hanako@example.jp", hanako)
	_, jiroT := buy("jiro@example.jp", jiro)

	// Jiro loses his card: J-LIS revokes its certificates, the platform's CRL fetch sees it and
	// its webhook reaches the service.
	jiroCard, err := jpki.LoadCardFile(jiro.path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.sim.RevokeCard(ctx, jiroCard, jlis.CauseLost, time.Time{}); err != nil {
		t.Fatal(err)
	}
	n.clk.Advance(time.Minute)
	if err := n.fetcher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	n.drain()

	// The gate downloads the manifest over HTTP before doors open.
	req, _ := http.NewRequest("GET", srvURL+"/api/organiser/events/"+ev.ID+"/gate-manifest", nil)
	req.Header.Set("Authorization", "Bearer "+orgTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("manifest download: HTTP %d %s", resp.StatusCode, env)
	}
	m, err := manifest.Open(env, svcPub, ev.ID, n.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !m.RequireCard || len(m.Tickets) != 3 {
		t.Fatalf("manifest: require_card %v, %d tickets", m.RequireCard, len(m.Tickets))
	}
	for _, tk := range m.Tickets {
		switch {
		case tk.ID == jiroT && (tk.Status != "reverify" || tk.Holder != ""):
			t.Errorf("the lost card's ticket: %+v, want reverify without a commitment", tk)
		case tk.ID != jiroT && (tk.Status != "valid" || tk.Holder == ""):
			t.Errorf("ticket %+v, want valid with a commitment", tk)
		}
	}

	_, gk, _ := ed25519.GenerateKey(rand.Reader)
	var journal bytes.Buffer
	g, err := gate.New(gate.Config{Manifest: m, GateID: "north", Lane: "1", Key: gk, Clock: n.clk, Rand: rand.Reader, Journal: &journal})
	if err != nil {
		t.Fatal(err)
	}
	tap := func(hd *holder) *gate.Tap {
		t.Helper()
		ch, err := g.NewChallenge()
		if err != nil {
			t.Fatal(err)
		}
		rc := hd.reader()
		defer rc.Close()
		tp, err := gate.TapCard(ctx, rc, jlis.DefaultAuthPIN, ch)
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	code, _, err := svc.Code(ctx, taroA, taroT)
	if err != nil {
		t.Fatal(err)
	}
	expect := func(name string, d gate.Decision, admit bool, reason gate.Reason) {
		t.Helper()
		if d.Admit != admit || d.Reason != reason {
			t.Errorf("%s: %+v, want admit %v reason %q", name, d, admit, reason)
		}
	}
	expect("Taro's code without a card", g.Decide(gate.Presentation{Code: code}), false, gate.CardRequired)
	expect("Taro's code with Hanako's card", g.Decide(gate.Presentation{Code: code, Tap: tap(hanako)}), false, gate.NotTheHolder)
	d := g.Decide(gate.Presentation{Code: code, Tap: tap(taro)})
	expect("Taro's code with his card", d, true, "")
	if d.Ticket != taroT {
		t.Errorf("admitted ticket %q, want %q", d.Ticket, taroT)
	}
	expect("Taro's card again", g.Decide(gate.Presentation{Tap: tap(taro)}), false, gate.AlreadyEntered)
	expect("Jiro's lost card", g.Decide(gate.Presentation{Tap: tap(jiro)}), false, gate.CertificateRevoked)
	expect("Hanako's card alone", g.Decide(gate.Presentation{Tap: tap(hanako)}), true, "")

	// Sync: the records reach the ticket service and count there.
	recs, err := gate.ReadJournal(&journal)
	if err != nil || len(recs) != 2 {
		t.Fatalf("journal: %d records, %v", len(recs), err)
	}
	if err := svc.RegisterGate(ctx, org, ev.ID, "north", g.PublicKey()); err != nil {
		t.Fatal(err)
	}
	rep, err := svc.GateSync(ctx, org, ev.ID, recs)
	if err != nil || rep.Stored != 2 || len(rep.Admissions) != 2 || len(rep.Conflicts) != 0 || len(rep.Rejected) != 0 {
		t.Fatalf("sync: %+v %v", rep, err)
	}
}
