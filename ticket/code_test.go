package ticket

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func (w *world) buyer(ev *Event, name string, p person) *Account {
	w.t.Helper()
	a, _ := w.account(name)
	if _, err := w.verify(a, ev.ID, p, false); err != nil {
		w.t.Fatal(err)
	}
	return a
}

// TestRotatingCode: a code passes in its step and the steps either side, not two away; a forged
// code and another event's gate fail; admission happens once.
func TestRotatingCode(t *testing.T) {
	w := newWorld(t, DialectSQLite, 1)
	ev := w.event(EventRequest{Name: "TGC", Venue: "Yoyogi", Date: "2026-03-02", Identity: IdentityFull, MaxPerPerson: 2, Classes: []SeatClass{{Name: "S", Price: 9800, Capacity: 10}}})
	other := w.event(EventRequest{Name: "Other", Venue: "Yoyogi", Date: "2026-03-03", Identity: IdentityNone, MaxPerPerson: 2, Classes: []SeatClass{{Name: "S", Price: 1, Capacity: 10}}})
	a := w.buyer(ev, "Taro", taro())
	ts, err := w.s().Purchase(ctx, a, ev.ID, "S", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	code, until, err := w.s().Code(ctx, a, ts[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := until.Sub(w.clk.Now()); d <= 0 || d > CodeStep {
		t.Fatalf("code valid until %v, now %v", until, w.clk.Now())
	}
	check := func(code string) string {
		t.Helper()
		adm, err := w.s().Check(ctx, w.org, ev.ID, code, false)
		if err != nil {
			t.Fatal(err)
		}
		if adm.OK {
			if adm.HolderName != taro().name {
				t.Fatalf("admission shows %q", adm.HolderName)
			}
			return "ok"
		}
		return adm.Reason
	}
	if r := check(code); r != "ok" {
		t.Fatalf("fresh code: %s", r)
	}
	w.clk.Advance(CodeStep) // one step later: still accepted
	if r := check(code); r != "ok" {
		t.Fatalf("code one step old: %s", r)
	}
	w.clk.Advance(CodeStep) // two steps later: refused
	if r := check(code); r != "expired" {
		t.Fatalf("code two steps old: %s, want expired", r)
	}
	// A code one step ahead (a holder's clock slightly fast) passes; two ahead does not.
	next, _, _ := w.s().Code(ctx, a, ts[0].ID)
	w.clk.Advance(-CodeStep)
	if r := check(next); r != "ok" {
		t.Fatalf("code one step ahead: %s", r)
	}
	w.clk.Advance(-CodeStep)
	if r := check(next); r != "expired" {
		t.Fatalf("code two steps ahead: %s, want expired", r)
	}
	w.clk.Advance(2 * CodeStep)
	cur, _, _ := w.s().Code(ctx, a, ts[0].ID)
	parts := strings.Split(cur, ".")
	forged := strings.Join(append(parts[:3:3], strings.Repeat("A", len(parts[3]))), ".")
	for _, c := range []string{forged, "MGT1.x", "garbage", strings.Repeat("M", 500), parts[0] + ".tkt_nope." + parts[2] + "." + parts[3]} {
		if r := check(c); r == "ok" {
			t.Fatalf("%q admitted", c)
		}
	}
	// Another organiser's event does not know the ticket; another organiser gets not-found.
	if adm, _ := w.s().Check(ctx, w.org, other.ID, cur, false); adm.OK || adm.Reason != "unknown-ticket" {
		t.Fatalf("code checked at another event: %+v", adm)
	}
	o2, _, _ := w.s().CreateOrganiser(ctx, "Someone else")
	if _, err := w.s().Check(ctx, o2, ev.ID, cur, false); ReasonOf(err) != "not-found" {
		t.Fatalf("another organiser's gate: %v", err)
	}
	if adm, _ := w.s().Check(ctx, w.org, ev.ID, cur, true); !adm.OK {
		t.Fatalf("admit: %+v", adm)
	}
	if adm, _ := w.s().Check(ctx, w.org, ev.ID, cur, true); adm.OK || adm.Reason != "already-admitted" {
		t.Fatalf("second admission: %+v", adm)
	}
	// Another account cannot get the ticket's code.
	b := w.buyer(ev, "Hanako", person{sub: "sub-h", name: "花子", birth: "1990-01-01", address: "東京都"})
	if _, _, err := w.s().Code(ctx, b, ts[0].ID); ReasonOf(err) != "not-found" {
		t.Fatalf("another account's code: %v", err)
	}
}

// TestResale: face value only; the buyer must be verified and under their limit; the ticket
// re-binds to the buyer; the seller's code fails at once and the buyer's works.
func TestResale(t *testing.T) {
	w := newWorld(t, DialectSQLite, 1)
	ev := w.event(EventRequest{Name: "TGC", Venue: "Yoyogi", Date: "2026-03-02", Identity: IdentityFull, MaxPerPerson: 2, Classes: []SeatClass{{Name: "S", Price: 9800, Capacity: 10}}})
	seller := w.buyer(ev, "Taro", taro())
	ts, err := w.s().Purchase(ctx, seller, ev.ID, "S", 2, "")
	if err != nil {
		t.Fatal(err)
	}
	oldCode, _, _ := w.s().Code(ctx, seller, ts[0].ID)
	if err := w.s().List(ctx, seller, ts[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.s().Code(ctx, seller, ts[0].ID); ReasonOf(err) != "no-code" {
		t.Fatalf("a listed ticket's code: %v", err)
	}
	ls, _ := w.s().Listings(ctx, ev.ID)
	if len(ls) != 1 || ls[0].Price != 9800 {
		t.Fatalf("listings %+v: want one at face value 9800", ls)
	}
	// Not verified: refused. The seller's other account: it is their own ticket.
	unverified, _ := w.account("Nobody")
	if _, err := w.s().BuyResale(ctx, unverified, ts[0].ID); ReasonOf(err) != "verification-required" {
		t.Fatalf("unverified buyer: %v", err)
	}
	sellerAlt := w.buyer(ev, "Taro again", taro())
	if _, err := w.s().BuyResale(ctx, sellerAlt, ts[0].ID); ReasonOf(err) != "own-ticket" {
		t.Fatalf("seller's other account: %v", err)
	}
	// A buyer at their limit cannot buy.
	full := w.buyer(ev, "Ken", person{sub: "sub-ken", name: "佐藤　健", birth: "2001-11-03", address: "福岡県"})
	if _, err := w.s().Purchase(ctx, full, ev.ID, "S", 2, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s().BuyResale(ctx, full, ts[0].ID); ReasonOf(err) != "over-limit" {
		t.Fatalf("buyer at the limit: %v", err)
	}
	buyer := w.buyer(ev, "Hanako", person{sub: "sub-h", name: "𠮷田　花子", birth: "1992-02-29", address: "東京都清瀬市"})
	got, err := w.s().BuyResale(ctx, buyer, ts[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.HolderName != "𠮷田　花子" || got.Price != 9800 || got.Status != "valid" {
		t.Fatalf("resold ticket %+v", got)
	}
	adm, _ := w.s().Check(ctx, w.org, ev.ID, oldCode, false)
	if adm.OK || adm.Reason != "bad-code" {
		t.Fatalf("the seller's old code after the resale: %+v, want bad-code", adm)
	}
	if _, _, err := w.s().Code(ctx, seller, ts[0].ID); ReasonOf(err) != "not-found" {
		t.Fatalf("the seller still gets a code: %v", err)
	}
	newCode, _, err := w.s().Code(ctx, buyer, ts[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if adm, _ := w.s().Check(ctx, w.org, ev.ID, newCode, false); !adm.OK || adm.HolderName != "𠮷田　花子" {
		t.Fatalf("the new holder's code: %+v", adm)
	}
	if _, err := w.s().BuyResale(ctx, buyer, ts[0].ID); ReasonOf(err) != "not-listed" {
		t.Fatalf("buying a sold ticket again: %v", err)
	}
	// The seller's limit was given back: they may buy one again.
	if _, err := w.s().Purchase(ctx, seller, ev.ID, "S", 1, ""); err != nil {
		t.Fatalf("seller buys after reselling: %v", err)
	}
	rep, err := w.s().Report(ctx, w.org, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ResaleSold != 1 || rep.ResaleVolume != 9800 || rep.TicketsSold != 5 || rep.NoShows != 5 {
		t.Fatalf("report %+v", rep)
	}
	var csv bytes.Buffer
	if err := w.s().WriteReportCSV(ctx, w.org, ev.ID, &csv); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(csv.String(), "resale_volume,9800\n") || !strings.Contains(csv.String(), "𠮷田　花子") {
		t.Fatalf("CSV:\n%s", csv.String())
	}
}

// TestVouchers: residents only, one per person, redeemed once by code.
func TestVouchers(t *testing.T) {
	w := newWorld(t, DialectSQLite, 1)
	ev := w.event(EventRequest{Kind: "voucher", Name: "千代田区プレミアム商品券", Date: "2026-06-30", Identity: IdentityFull, Residency: "東京都千代田区", MaxPerPerson: 1,
		Classes: []SeatClass{{Name: "10000円券", Price: 8000, Capacity: 100}}})
	a := w.buyer(ev, "Taro", taro())
	ts, err := w.s().Purchase(ctx, a, ev.ID, "10000円券", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts[0].Voucher) != 16 {
		t.Fatalf("voucher %+v has no code", ts[0])
	}
	// Only the code's hash is stored: the database holds nothing that can be redeemed.
	var inClear int
	w.s().db.w.QueryRow(`SELECT COUNT(*) FROM tickets WHERE voucher_code = $1 OR voucher_code LIKE $2`, ts[0].Voucher, "%"+ts[0].Voucher+"%").Scan(&inClear)
	if inClear != 0 {
		t.Fatal("the voucher code is stored in clear")
	}
	a2 := w.buyer(ev, "Taro 2", taro())
	if _, err := w.s().Purchase(ctx, a2, ev.ID, "10000円券", 1, ""); ReasonOf(err) != "over-limit" {
		t.Fatalf("second voucher for the same person: %v", err)
	}
	b := w.buyer(ev, "Anna", person{sub: "sub-anna", name: "SMITH ANNA", birth: "1990-07-07", address: "大阪府大阪市北区梅田１丁目１番"})
	if _, err := w.s().Purchase(ctx, b, ev.ID, "10000円券", 1, ""); ReasonOf(err) != "not-eligible" {
		t.Fatalf("non-resident: %v", err)
	}
	if err := w.s().List(ctx, a, ts[0].ID); ReasonOf(err) != "not-listable" {
		t.Fatalf("a voucher listed for resale: %v", err)
	}
	o2, _, _ := w.s().CreateOrganiser(ctx, "Another town")
	if _, err := w.s().Redeem(ctx, o2, ts[0].Voucher); ReasonOf(err) != "unknown-code" {
		t.Fatalf("another organiser redeemed: %v", err)
	}
	if _, err := w.s().Redeem(ctx, w.org, ts[0].Voucher); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s().Redeem(ctx, w.org, ts[0].Voucher); ReasonOf(err) != "already-redeemed" {
		t.Fatalf("second redemption: %v", err)
	}
	if _, err := w.s().Redeem(ctx, w.org, "short"); ReasonOf(err) != "invalid-code" {
		t.Fatalf("malformed code: %v", err)
	}
	_ = time.Second
}
