package ticket

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAgeOn(t *testing.T) {
	d := func(s string) time.Time { v, _ := time.Parse("2006-01-02", s); return v }
	for _, c := range []struct {
		birth, day string
		want       int
	}{
		{"2006-03-02", "2026-03-02", 20}, // the birthday itself
		{"2006-03-03", "2026-03-02", 19},
		{"2004-02-29", "2025-02-28", 20}, // a 29 February birthday in a common year: 1 March
		{"2004-02-29", "2025-03-01", 21},
		{"2004-02-29", "2024-02-29", 20},
	} {
		if got := AgeOn(d(c.birth), d(c.day)); got != c.want {
			t.Errorf("AgeOn(%s, %s) = %d, want %d", c.birth, c.day, got, c.want)
		}
	}
}

// TestEligibilityWithoutKeepingFacts: an under-age or non-resident person is refused with a
// reason naming the rule; the organiser's view of holders has names only; and neither the date
// of birth nor the address is anywhere in the database file after the decisions.
func TestEligibilityWithoutKeepingFacts(t *testing.T) {
	w := newWorld(t, DialectSQLite, 1)
	sake := w.event(EventRequest{Name: "Sake Night", Venue: "Shibuya", Date: "2026-03-02", Identity: IdentityFull, MinAge: 20, MaxPerPerson: 2,
		Classes: []SeatClass{{Name: "GA", Price: 4000, Capacity: 10}}})
	voucher := w.event(EventRequest{Kind: "voucher", Name: "千代田区商品券", Date: "2026-06-30", Identity: IdentityFull, Residency: "東京都千代田区", MaxPerPerson: 1,
		Classes: []SeatClass{{Name: "10000円券", Price: 8000, Capacity: 10}}})
	young := person{sub: "sub-young", name: "若井　春", birth: "2006-03-03", address: "大阪府大阪市北区梅田１丁目１番"}
	adult := taro()

	a, _ := w.account("Haru")
	v, err := w.verify(a, sake.ID, young, false)
	if err != nil {
		t.Fatal(err)
	}
	if v.Eligible || v.Reason != "under the minimum age of 20 on the event day" {
		t.Fatalf("19-year-old on the event day: %+v, want refused for the age rule", v)
	}
	if _, err := w.s().Purchase(ctx, a, sake.ID, "GA", 1, ""); ReasonOf(err) != "not-eligible" || !strings.Contains(err.Error(), "minimum age") {
		t.Fatalf("under-age purchase: %v, want not-eligible naming the age rule", err)
	}
	if v, err = w.verify(a, voucher.ID, young, false); err != nil || v.Eligible || v.Reason != "not resident in 東京都千代田区" {
		t.Fatalf("non-resident: %+v %v", v, err)
	}
	b, _ := w.account("Taro")
	if v, err = w.verify(b, sake.ID, adult, false); err != nil || !v.Eligible {
		t.Fatalf("adult: %+v %v", v, err)
	}
	if v, err = w.verify(b, voucher.ID, adult, false); err != nil || !v.Eligible {
		t.Fatalf("resident: %+v %v", v, err)
	}
	ts, err := w.s().Purchase(ctx, b, sake.ID, "GA", 2, "")
	if err != nil || len(ts) != 2 || ts[0].HolderName != adult.name || ts[0].Venue != "Shibuya" || ts[0].Notice != NoResaleNotice {
		t.Fatalf("purchase: %+v %v", ts, err)
	}
	// An account belongs to one person: another card is refused on it.
	if _, err := w.verify(b, sake.ID, young, false); ReasonOf(err) != "other-person" {
		t.Fatalf("another person's card on Taro's account: %v, want other-person", err)
	}

	holders, err := w.s().Holders(ctx, w.org, sake.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(holders) != 2 || holders[0].Name != adult.name {
		t.Fatalf("holders %+v", holders)
	}
	// Nothing but name, seat and status reaches the organiser.
	if hs := strings.Join([]string{holders[0].Name, holders[0].Seat, holders[0].Status}, "|"); strings.Contains(hs, "1985") || strings.Contains(hs, "東京都") {
		t.Fatalf("organiser view leaks a fact: %s", hs)
	}

	// Checkpoint the WAL into the file, then look for the facts in every file of the database.
	if _, err := w.s().db.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(w.dsn, "sqlite:")
	files, _ := filepath.Glob(path + "*")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{young.birth, adult.birth, "1985-04", "2006-03", "大阪府", "梅田", "霞が関", "千代田区霞"} {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("%s holds %q", filepath.Base(f), secret)
			}
		}
		if !bytes.Contains(data, []byte(adult.name)) && filepath.Ext(f) == ".db" {
			t.Errorf("%s lacks the holder's name: the search would not find what is there", filepath.Base(f))
		}
	}
}

// TestLimitPerPersonAcrossAccounts: one person with three accounts holds at most the limit, and
// the refusal says so.
func TestLimitPerPersonAcrossAccounts(t *testing.T) {
	w := newWorld(t, DialectSQLite, 1)
	ev := w.event(EventRequest{Name: "TGC", Venue: "Yoyogi", Date: "2026-03-02", Identity: IdentityFull, MaxPerPerson: 2,
		Classes: []SeatClass{{Name: "S", Price: 9800, Capacity: 100}}})
	var accts []*Account
	for range 3 {
		a, _ := w.account("Taro")
		if _, err := w.verify(a, ev.ID, taro(), false); err != nil {
			t.Fatal(err)
		}
		accts = append(accts, a)
	}
	if _, err := w.s().Purchase(ctx, accts[0], ev.ID, "S", 1, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s().Purchase(ctx, accts[1], ev.ID, "S", 1, ""); err != nil {
		t.Fatal(err)
	}
	_, err := w.s().Purchase(ctx, accts[2], ev.ID, "S", 1, "")
	if ReasonOf(err) != "over-limit" || !strings.Contains(err.Error(), "across all of the person's accounts") {
		t.Fatalf("third ticket from a third account: %v, want over-limit", err)
	}
	if _, err := w.s().Purchase(ctx, accts[0], ev.ID, "S", 3, ""); ReasonOf(err) != "over-limit" {
		t.Fatalf("3 at once: %v, want over-limit", err)
	}
	// Idempotency: a retry returns the same tickets and buys nothing more.
	b, _ := w.account("Hanako")
	if _, err := w.verify(b, ev.ID, person{sub: "sub-hanako", name: "𠮷田　花子", birth: "1992-02-29", address: "東京都清瀬市"}, false); err != nil {
		t.Fatal(err)
	}
	t1, err := w.s().Purchase(ctx, b, ev.ID, "S", 2, "k1")
	if err != nil {
		t.Fatal(err)
	}
	t2, err := w.s().Purchase(ctx, b, ev.ID, "S", 2, "k1")
	if err != nil || len(t2) != 2 || t1[0].ID != t2[0].ID || t1[1].ID != t2[1].ID {
		t.Fatalf("retry with the same key: %+v %v, want the same two tickets", t2, err)
	}
}
