package e2e

// The ticketing service against the real platform: J-LIS over HTTP, real cards answering
// verification sessions, the platform's HTTP API reached through the public client, and the
// platform's signed certificate.revoked webhooks delivered to the service.

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mynagate/mynagate/client"
	"github.com/mynagate/mynagate/internal/testkit"
	"github.com/mynagate/mynagate/jpki"
	"github.com/mynagate/mynagate/platform"
	"github.com/mynagate/mynagate/ticket"
)

// TestTicketingOnThePlatform: eligibility decided from real verifications (an adult resident
// buys; a 19-year-old is refused by the age rule and a non-resident by the residency rule, the
// organiser seeing names only and the database keeping neither date of birth nor address); the
// same person's second account counts against the same limit; a lost card's revocation reaches
// the service as a signed webhook and his tickets need re-verification (no code, refused at the
// gate) until he verifies with his new card, which the platform ties to the same person.
func TestTicketingOnThePlatform(t *testing.T) {
	n := newNotifyEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "platform.db"))
	svc, _, dbPath := ticketService(t, n)

	org, _, _ := svc.CreateOrganiser(ctx, "W TOKYO")
	day := n.clk.Now().AddDate(0, 1, 1) // 2026-05-02
	sake, err := svc.CreateEvent(ctx, org, ticket.EventRequest{Name: "Sake Night", Venue: "Shibuya", Date: day.Format("2006-01-02"), Identity: ticket.IdentityFull,
		MinAge: 20, MaxPerPerson: 2, Classes: []ticket.SeatClass{{Name: "GA", Price: 4000, Capacity: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	voucher, err := svc.CreateEvent(ctx, org, ticket.EventRequest{Kind: "voucher", Name: "千代田区商品券", Date: day.Format("2006-01-02"), Identity: ticket.IdentityFull,
		Residency: "東京都千代田区", MaxPerPerson: 1, Classes: []ticket.SeatClass{{Name: "券", Price: 8000, Capacity: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	taro := n.issue(testkit.Taro())
	hanako := n.issue(testkit.Hanako())
	youngB4 := jpki.Basic4{Name: "若井　春", Birth: jpki.Date{Year: day.Year() - 20, Month: day.Month(), Day: day.Day() + 1}, Sex: jpki.SexFemale, Address: "東京都千代田区永田町１丁目"}
	young := n.issue(youngB4)

	verify := func(a *ticket.Account, ev string, hd *holder) *ticket.Verification {
		t.Helper()
		v, err := svc.StartVerification(ctx, a, ev, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := answerWith(hd, &client.Session{HolderURL: v.HolderURL, CreatedAt: n.clk.Now()}, nil); err != nil {
			t.Fatal(err)
		}
		done, err := svc.CompleteVerification(ctx, a, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		return done
	}
	account := func(email string) *ticket.Account {
		a, err := svc.CreateAccount(ctx, email, "correct horse", email)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	taroA, taroB, hanakoA, youngA := account("taro@example.jp"), account("taro2@example.jp"), account("hanako@example.jp"), account("haru@example.jp")
	if v := verify(taroA, sake.ID, taro); !v.Eligible || v.Name != "山田　太郎" {
		t.Fatalf("Taro at the sake night: %+v", v)
	}
	if v := verify(youngA, sake.ID, young); v.Eligible || v.Reason != "under the minimum age of 20 on the event day" {
		t.Fatalf("a 19-year-old at the sake night: %+v", v)
	}
	if v := verify(youngA, voucher.ID, young); !v.Eligible {
		t.Fatalf("a Chiyoda resident's voucher: %+v", v)
	}
	if v := verify(hanakoA, voucher.ID, hanako); v.Eligible || v.Reason != "not resident in 東京都千代田区" {
		t.Fatalf("a Kiyose resident's voucher: %+v", v)
	}
	if _, err := svc.Purchase(ctx, youngA, sake.ID, "GA", 1, ""); ticket.ReasonOf(err) != "not-eligible" {
		t.Fatalf("under-age purchase: %v", err)
	}
	ts, err := svc.Purchase(ctx, taroA, sake.ID, "GA", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	// Taro's second account is the same person (the same pairwise id): one ticket left to him.
	verify(taroB, sake.ID, taro)
	if _, err := svc.Purchase(ctx, taroB, sake.ID, "GA", 2, ""); ticket.ReasonOf(err) != "over-limit" {
		t.Fatalf("Taro's second account over the limit: %v", err)
	}
	if _, err := svc.Purchase(ctx, taroB, sake.ID, "GA", 1, ""); err != nil {
		t.Fatal(err)
	}
	hs, err := svc.Holders(ctx, org, sake.ID)
	if err != nil || len(hs) != 2 || hs[0].Name != "山田　太郎" {
		t.Fatalf("holders %+v %v", hs, err)
	}

	// Neither a date of birth nor an address of anyone is in the service's database.
	if err := svc.DB().Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(dbPath + "*")
	for _, f := range files {
		data, _ := os.ReadFile(f)
		for _, b4 := range []jpki.Basic4{testkit.Taro(), testkit.Hanako(), youngB4} {
			for _, secret := range []string{b4.Birth.String(), b4.Address, "千代田区霞", "清瀬市", "永田町"} {
				if bytes.Contains(data, []byte(secret)) {
					t.Errorf("%s holds %q", filepath.Base(f), secret)
				}
			}
		}
	}

	// Taro loses his card: J-LIS revokes it, the platform's CRL fetch sees it, and the
	// platform's webhook reaches the service.
	code, _, err := svc.Code(ctx, taroA, ts[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := jpki.LoadCardFile(taro.path)
	if err != nil {
		t.Fatal(err)
	}
	// A new card (再交付 for a lost card): the old certificates revoked, the new ones linked to them.
	next, err := n.sim.Reissue(ctx, cf, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := next.Save(taro.path); err != nil {
		t.Fatal(err)
	}
	n.clk.Advance(time.Minute)
	if err := n.fetcher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	n.drain()
	if _, _, err := svc.Code(ctx, taroA, ts[0].ID); ticket.ReasonOf(err) != "reverify-required" {
		t.Fatalf("code of a revoked card's ticket: %v, want reverify-required", err)
	}
	// The code shown just before the card was lost, scanned within its step: refused.
	n.clk.Advance(-time.Minute)
	if adm, err := svc.Check(ctx, org, sake.ID, code, false); err != nil || adm.OK || adm.Reason != "reverify-required" {
		t.Fatalf("gate: %+v %v", adm, err)
	}
	rep, _ := svc.Report(ctx, org, sake.ID)
	if rep.Reverify != 2 {
		t.Fatalf("report: %d tickets need re-verification, want 2", rep.Reverify)
	}
	// Taro verifies with his new card: the platform ties it to the same person (the same
	// pairwise id), and his tickets have codes again.
	n.clk.Advance(time.Minute)
	if v := verify(taroA, sake.ID, taro); !v.Eligible {
		t.Fatalf("re-verification with the new card: %+v", v)
	}
	if _, _, err := svc.Code(ctx, taroA, ts[0].ID); err != nil {
		t.Fatalf("code after re-verification with the new card: %v", err)
	}
}

// ticketService runs a ticketing service over HTTP as a tenant of n's platform allowed the
// name, date of birth and address, registered for the platform's certificate.revoked webhooks.
// It returns the service, its URL and its SQLite database file.
func ticketService(t *testing.T, n *nenv, opts ...ticket.Option) (*ticket.Service, string, string) {
	t.Helper()
	rp, _ := n.tenant("Example Tickets", []platform.Fact{platform.FactName, platform.FactBirth, platform.FactAddress})
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	_, secret, err := rp.CreateEndpoint(ctx, client.EndpointRequest{URL: srv.URL + "/webhooks/platform", EventTypes: []string{"certificate.revoked"}})
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(t.TempDir(), "ticket.db")
	db, err := ticket.OpenDB(ctx, "sqlite:"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	opts = append([]ticket.Option{ticket.WithClock(n.clk), ticket.WithWebhookSecret(secret), ticket.WithPasswordCost(4)}, opts...)
	svc, err := ticket.New(db, rp, bytes.Repeat([]byte{3}, 32), opts...)
	if err != nil {
		t.Fatal(err)
	}
	h = svc.Handler()
	return svc, srv.URL, dbPath
}
