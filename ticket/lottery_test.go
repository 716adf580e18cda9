package ticket

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mynagate/mynagate/ticket/draw"
)

func (w *world) lottery(capacity int64, max int) *Event {
	w.t.Helper()
	return w.event(EventRequest{Name: "TGC 2026 S/S", Venue: "国立代々木競技場第一体育館", Date: "2026-03-02", Identity: IdentityFull, MinAge: 16, MaxPerPerson: max,
		Sale: SaleLottery, ApplyCloses: w.clk.Now().Add(24 * time.Hour), PayWindow: 72 * time.Hour,
		Classes: []SeatClass{{Name: "S", Price: 9800, Capacity: capacity}}})
}

// TestLotteryOnePersonOneApplication: the same person from three accounts gets one
// application; over-limit applications and companions are refused with a clear reason.
func TestLotteryOnePersonOneApplication(t *testing.T) {
	w := newWorld(t, DialectSQLite, 1)
	ev := w.lottery(10, 2)
	if len(ev.Draws) != 1 || len(ev.Draws[0].SeedHash) != 64 {
		t.Fatalf("round 1's commitment is not public at creation: %+v", ev.Draws)
	}
	var accts []*Account
	for range 3 {
		a, _ := w.account("Taro")
		if _, err := w.verify(a, ev.ID, taro(), false); err != nil {
			t.Fatal(err)
		}
		accts = append(accts, a)
	}
	if _, err := w.s().Apply(ctx, accts[0], ev.ID, "S", 3, nil); ReasonOf(err) != "over-limit" {
		t.Fatalf("3 seats with a limit of 2: %v, want over-limit", err)
	}
	if _, err := w.s().Apply(ctx, accts[0], ev.ID, "S", 2, nil); err != nil {
		t.Fatal(err)
	}
	for _, a := range accts[1:] {
		_, err := w.s().Apply(ctx, a, ev.ID, "S", 1, nil)
		if ReasonOf(err) != "already-applied" || !strings.Contains(err.Error(), "whichever account") {
			t.Fatalf("second account of the same person: %v, want already-applied", err)
		}
	}
	var apps int
	w.s().db.w.QueryRow(`SELECT COUNT(*) FROM applications WHERE event_id = $1`, ev.ID).Scan(&apps)
	if apps != 1 {
		t.Fatalf("%d applications, want 1", apps)
	}

	// Companions: each verifies, counts against their own limit, and is in one application.
	b, _ := w.account("Hanako")
	hanako := person{sub: "sub-hanako", name: "𠮷田　花子", birth: "1992-02-29", address: "東京都清瀬市"}
	if _, err := w.verify(b, ev.ID, hanako, false); err != nil {
		t.Fatal(err)
	}
	cTaro, err := w.verify(b, ev.ID, taro(), true) // Taro already applied himself
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s().Apply(ctx, b, ev.ID, "S", 1, []string{cTaro.ID}); ReasonOf(err) != "companion-already-applied" {
		t.Fatalf("a companion who applied already: %v, want companion-already-applied", err)
	}
	kid := person{sub: "sub-kid", name: "山田　結衣", birth: "2012-06-10", address: "東京都千代田区"}
	cKid, err := w.verify(b, ev.ID, kid, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s().Apply(ctx, b, ev.ID, "S", 1, []string{cKid.ID}); ReasonOf(err) != "not-eligible" || !strings.Contains(err.Error(), "companion "+cKid.ID) {
		t.Fatalf("an under-age companion: %v, want not-eligible naming the companion", err)
	}
	if _, err := w.s().Apply(ctx, b, ev.ID, "S", 1, []string{"ver_nope"}); ReasonOf(err) != "invalid-companion" {
		t.Fatalf("an unknown companion verification: %v", err)
	}
	if _, err := w.s().Apply(ctx, b, ev.ID, "S", 2, []string{cTaro.ID, cTaro.ID}); ReasonOf(err) == "" {
		t.Fatal("the same companion twice was accepted")
	}
	// A companion verification of another account cannot be borrowed.
	c, _ := w.account("Ken")
	ken := person{sub: "sub-ken", name: "佐藤　健", birth: "2001-11-03", address: "福岡県福岡市"}
	cKen, err := w.verify(c, ev.ID, ken, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s().Apply(ctx, b, ev.ID, "S", 1, []string{cKen.ID}); ReasonOf(err) != "invalid-companion" {
		t.Fatalf("another account's companion verification: %v, want invalid-companion", err)
	}
	app, err := w.s().Apply(ctx, c, ev.ID, "S", 1, nil)
	if err == nil {
		t.Fatalf("Ken has no verification of his own but applied: %+v", app)
	}
	var dups int
	w.s().db.w.QueryRow(`SELECT n FROM refusals WHERE event_id = $1 AND reason = 'duplicate'`, ev.ID).Scan(&dups)
	if dups != 3 {
		t.Errorf("duplicates prevented = %d, want 3", dups)
	}
}

// TestLotteryDrawPayAndSecondRound: the published draw re-runs to the same winners; tampering
// is caught; winners pay and get tickets for themselves and their companions; unpaid seats go
// to a second round among the losers.
func TestLotteryDrawPayAndSecondRound(t *testing.T) {
	w := newWorld(t, DialectSQLite, 1)
	ev := w.lottery(6, 2)
	type buyer struct {
		a   *Account
		app *Application
	}
	var buyers []buyer
	for i := range 12 {
		a, _ := w.account(fmt.Sprintf("buyer %d", i))
		p := person{sub: fmt.Sprintf("sub-%d", i), name: fmt.Sprintf("購入者　%d", i), birth: "1990-01-01", address: "東京都"}
		if _, err := w.verify(a, ev.ID, p, false); err != nil {
			t.Fatal(err)
		}
		var comps []string
		if i%3 == 0 { // every third brings a companion
			c, err := w.verify(a, ev.ID, person{sub: fmt.Sprintf("sub-c%d", i), name: fmt.Sprintf("同行者　%d", i), birth: "1990-01-01", address: "東京都"}, true)
			if err != nil {
				t.Fatal(err)
			}
			comps = []string{c.ID}
		}
		app, err := w.s().Apply(ctx, a, ev.ID, "S", 1, comps)
		if err != nil {
			t.Fatal(err)
		}
		buyers = append(buyers, buyer{a, app})
	}
	if _, err := w.s().Draw(ctx, w.org, ev.ID); ReasonOf(err) != "window-open" {
		t.Fatalf("draw before the window closed: %v", err)
	}
	before, _ := w.s().DrawDocument(ctx, ev.ID, 1)
	if before.Seed != "" || before.SeedHash != ev.Draws[0].SeedHash {
		t.Fatalf("the seed is out before the draw: %+v", before)
	}
	w.clk.Advance(25 * time.Hour)
	if _, err := w.s().Apply(ctx, buyers[0].a, ev.ID, "S", 1, nil); ReasonOf(err) != "window-closed" {
		t.Fatalf("application after the window: %v", err)
	}
	res, err := w.s().Draw(ctx, w.org, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Entries != 12 || res.Winners == 0 {
		t.Fatalf("draw %+v", res)
	}
	if _, err := w.s().Draw(ctx, w.org, ev.ID); ReasonOf(err) != "window-open" {
		t.Fatalf("round 2 before the payment window ended: %v", err)
	}
	doc, err := w.s().DrawDocument(ctx, ev.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Anyone re-runs it from the published document (through JSON, as they would get it).
	data, _ := json.Marshal(doc)
	var pub draw.Document
	if err := json.Unmarshal(data, &pub); err != nil {
		t.Fatal(err)
	}
	if err := draw.Verify(&pub); err != nil {
		t.Fatalf("published draw does not re-run: %v", err)
	}
	if pub.SeedHash != ev.Draws[0].SeedHash || len(pub.Entries) != 12 {
		t.Fatalf("published draw %+v", pub)
	}
	seats := int64(0)
	for _, e := range pub.Entries {
		for _, wnr := range pub.Winners {
			if wnr == e.ID {
				seats += int64(e.Seats)
			}
		}
	}
	if seats > 6 {
		t.Fatalf("winners hold %d seats of 6", seats)
	}
	tampered := pub
	tampered.Winners = append([]string{pub.Entries[0].ID}, pub.Winners...)
	if draw.Verify(&tampered) == nil {
		t.Fatal("an extra winner passed verification")
	}
	swapped := pub
	swapped.Seed = strings.Repeat("00", 32)
	if draw.Verify(&swapped) == nil {
		t.Fatal("another seed passed verification")
	}

	// Winners pay, except one; losers cannot pay.
	var unpaid *buyer
	paidSeats := 0
	for i := range buyers {
		b := &buyers[i]
		apps, _ := w.s().Applications(ctx, b.a)
		switch apps[0].Status {
		case "won":
			if unpaid == nil {
				unpaid = b
				continue
			}
			ts, err := w.s().Pay(ctx, b.a, b.app.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) != 1+len(b.app.Companions) {
				t.Fatalf("paid application with %d companions got %d tickets", len(b.app.Companions), len(ts))
			}
			if len(b.app.Companions) == 1 && ts[0].HolderName == ts[1].HolderName {
				t.Fatalf("the companion's ticket is not bound to the companion: %+v", ts)
			}
			paidSeats += len(ts)
		case "lost":
			if _, err := w.s().Pay(ctx, b.a, b.app.ID); ReasonOf(err) != "not-payable" {
				t.Fatalf("a loser paid: %v", err)
			}
		}
	}
	if unpaid == nil {
		t.Fatal("no winner")
	}
	w.clk.Advance(73 * time.Hour)
	if _, err := w.s().Pay(ctx, unpaid.a, unpaid.app.ID); ReasonOf(err) != "payment-window-closed" {
		t.Fatalf("payment after the window: %v", err)
	}
	res2, err := w.s().Draw(ctx, w.org, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Round != 2 || res2.Expired != 1 || res2.Entries != 12-res.Winners {
		t.Fatalf("round 2 %+v after round 1 %+v", res2, res)
	}
	doc2, err := w.s().DrawDocument(ctx, ev.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := draw.Verify(doc2); err != nil {
		t.Fatal(err)
	}
	if doc2.Capacity["S"] != int64(6-paidSeats) {
		t.Fatalf("round 2 drew for %d seats, want the %d not paid for", doc2.Capacity["S"], 6-paidSeats)
	}
	if _, err := w.s().Draw(ctx, w.org, ev.ID); ReasonOf(err) != "already-drawn" {
		t.Fatalf("a third draw: %v", err)
	}
	var taken, overLimit int
	w.s().db.w.QueryRow(`SELECT taken FROM seat_classes WHERE event_id = $1`, ev.ID).Scan(&taken)
	w.s().db.w.QueryRow(`SELECT COUNT(*) FROM holdings WHERE n > max_n OR n < 0`).Scan(&overLimit)
	if taken > 6 || overLimit != 0 {
		t.Fatalf("taken %d of 6, %d holdings out of bounds", taken, overLimit)
	}
}

// TestLotteryCompanionOverLimitAndOwnership: a companion already at their limit is refused with
// a reason naming the companion; another account cannot pay, list or see an application or
// ticket that is not its own, and another organiser cannot draw.
func TestLotteryCompanionOverLimitAndOwnership(t *testing.T) {
	w := newWorld(t, DialectSQLite, 1)
	ev := w.lottery(10, 2)
	a := w.buyer(ev, "Taro", taro())
	comp := person{sub: "sub-c", name: "同行　者", birth: "1990-01-01", address: "東京都"}
	cv, err := w.verify(a, ev.ID, comp, true)
	if err != nil {
		t.Fatal(err)
	}
	// The companion already holds their limit for this event (as through the resale).
	if _, err := w.s().db.w.Exec(`INSERT INTO holdings (event_id, holder, n, max_n) VALUES ($1, $2, 2, 2)`, ev.ID, "sub:sub-c"); err != nil {
		t.Fatal(err)
	}
	_, err = w.s().Apply(ctx, a, ev.ID, "S", 1, []string{cv.ID})
	if ReasonOf(err) != "companion-over-limit" || !strings.Contains(err.Error(), cv.ID) {
		t.Fatalf("a companion at their limit: %v, want companion-over-limit naming them", err)
	}
	// Nothing of the refused application stayed.
	var apps, members int
	w.s().db.w.QueryRow(`SELECT COUNT(*) FROM applications`).Scan(&apps)
	w.s().db.w.QueryRow(`SELECT COUNT(*) FROM application_members`).Scan(&members)
	if apps != 0 || members != 0 {
		t.Fatalf("%d applications, %d members after a refused application", apps, members)
	}
	app, err := w.s().Apply(ctx, a, ev.ID, "S", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := w.buyer(ev, "Hanako", person{sub: "sub-h", name: "花子", birth: "1990-01-01", address: "東京都"})
	if _, err := w.s().Pay(ctx, b, app.ID); ReasonOf(err) != "not-found" {
		t.Fatalf("another account pays Taro's application: %v", err)
	}
	o2, _, _ := w.s().CreateOrganiser(ctx, "Other")
	w.clk.Advance(25 * time.Hour)
	if _, err := w.s().Draw(ctx, o2, ev.ID); ReasonOf(err) != "not-found" {
		t.Fatalf("another organiser draws: %v", err)
	}
	if _, err := w.s().Draw(ctx, w.org, ev.ID); err != nil {
		t.Fatal(err)
	}
	ts, err := w.s().Pay(ctx, a, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.s().List(ctx, b, ts[0].ID); ReasonOf(err) != "not-listable" {
		t.Fatalf("another account lists Taro's ticket: %v", err)
	}
	if err := w.s().Unlist(ctx, b, ts[0].ID); ReasonOf(err) != "not-listed" {
		t.Fatalf("another account unlists Taro's ticket: %v", err)
	}
	if _, err := w.s().Pay(ctx, a, app.ID); ReasonOf(err) != "not-payable" {
		t.Fatalf("paying twice: %v", err)
	}
}
